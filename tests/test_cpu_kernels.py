"""Tests of the fused CPU kernels of nnfs.kernels (Chapter 4, "Fusion on the CPU first").

FusedSGD must leave the weights of nnfs.optim.SGD bit for bit, and fall back
to SGD's NumPy code for what its loop cannot take.

bias_relu_cpu, softmax_rows_cpu and softmax_rows_backward_cpu are numba
``@njit(parallel=True, cache=True)`` loops that Chapter 4 times against
NumPy.  They must equal the NumPy formulas they replace (written out below
with NumPy's own sums, so that these tests do not depend on a later chapter's
module), take ``out=`` (also the input itself),
and reject what they cannot take with an error from nnfs.kernels that says
what was expected and what came.

Tolerance of the softmax (u = 2**-24, the unit roundoff of float32).  Both
sides compute the same float32 differences z - max(z); after that:

- exp: NumPy's float32 exp is a SIMD approximation (up to ~2.4 ulp from the
  exact value on a sweep of [-87, 0] on this build), numba calls the C
  library's expf (under 1 ulp); one ulp is at most 2u relative, so the two
  differ by at most 3.5 ulp <= 7u;
- the sum: NumPy adds a float32 row of n <= 64 positive numbers pairwise, in
  8 interleaved partial sums of <= 8 terms (<= 7 roundings), 3 roundings to
  combine them and <= 7 for the leftover terms: <= 16u relative, by the
  standard bound for sums of positive terms (Higham, Accuracy and Stability
  of Numerical Algorithms, §4.2); ours adds in float64, error negligible;
- the division: one rounding each, <= 2u together.

Total 25u ~ 1.5e-6 relative (the differences measured are under half that);
an off-by-one row, a missed mask or a wrong shift is off by far more.  Below
float32's smallest normal number (1.2e-38) the spacing is absolute, so
that is the absolute tolerance.  The backward, p * (g - s) with s =
sum(g * p), is compared on the scale of its terms: both sides are within
about 21u * |p| * sum|g * p| + 3u * |p * g| of each other by the same
counts (NumPy's pairwise sum of products, one rounding per product and per
operation after it), so 25u * |p| * (|g| + sum|g * p|) bounds the difference;
near-cancelling terms make a relative bound on the result meaningless.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from helpers import assert_each_names_itself
from nnfs import kernels as K

pytestmark = pytest.mark.ch4

ROOT = Path(__file__).resolve().parent.parent
U32 = 2.0**-24  # unit roundoff of float32
RTOL = 25 * U32  # derived in the module docstring
TINY = float(np.finfo(np.float32).tiny)  # smallest normal float32


def softmax_numpy(z):
    with np.errstate(invalid="ignore"):  # a row of only -inf: -inf - -inf, NaN
        e = z - z.max(axis=-1, keepdims=True)
    np.exp(e, out=e)
    e /= e.sum(axis=-1, keepdims=True)
    return e


def softmax_backward_numpy(p, g):
    out = g * p
    out -= p * out.sum(axis=-1, keepdims=True)
    return out


def assert_softmax_close(got, want):
    assert got.shape == want.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=TINY)  # NaN == NaN


def assert_backward_close(got, p, g):
    want = softmax_backward_numpy(p, g)
    assert got.shape == want.shape and got.dtype == np.float32
    assert np.array_equal(np.isnan(got), np.isnan(want))
    p64, g64 = p.astype(np.float64), g.astype(np.float64)
    scale = np.abs(p64) * (np.abs(g64) + np.abs(g64 * p64).sum(-1, keepdims=True))
    ok = np.isnan(want) | (np.abs(got - want.astype(np.float64)) <= RTOL * scale + TINY)
    assert ok.all(), np.abs(got - want)[~ok][:5]


leading_shapes = st.lists(st.integers(0, 3), min_size=0, max_size=2)
row_lengths = st.integers(1, 64)  # 64: the attention rows of Chapter 5


@st.composite
def scores_with_masks(draw):
    """float32 scores of shape (..., n) with some entries -inf, as a mask makes them."""
    shape = (*draw(leading_shapes), draw(row_lengths))
    z = draw(hnp.arrays(np.float32, shape, elements=st.floats(-100, 100, width=32)))  # exp(100) overflows: the shift matters
    mask = draw(hnp.arrays(np.bool_, shape))
    z[mask] = -np.inf
    return z


# ---------------------------------------------------------------------------
# bias + ReLU
# ---------------------------------------------------------------------------


@given(x=hnp.arrays(np.float32, st.tuples(st.integers(0, 40), st.integers(1, 40)),
                    elements=st.floats(width=32)),  # NaN and infinities included
       data=st.data())
def test_bias_relu_cpu_equals_numpy_exactly(x, data):
    b = data.draw(hnp.arrays(np.float32, x.shape[1], elements=st.floats(width=32)))
    got, want = K.bias_relu_cpu(x, b), K.bias_relu_reference(x, b)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, want)
    finite = ~np.isnan(want)  # and the sign of zero too: max(-0, 0) is +0 in NumPy
    assert np.array_equal(np.signbit(got[finite]), np.signbit(want[finite]))


def test_bias_relu_cpu_writes_into_out_and_into_x_itself():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((37, 29), dtype=np.float32)
    b = rng.standard_normal(29, dtype=np.float32)
    want = K.bias_relu_reference(x, b)
    out = np.empty_like(x)
    assert K.bias_relu_cpu(x, b, out=out) is out
    np.testing.assert_array_equal(out, want)
    assert K.bias_relu_cpu(x, b, out=x) is x
    np.testing.assert_array_equal(x, want)


# ---------------------------------------------------------------------------
# softmax forward and backward
# ---------------------------------------------------------------------------


@given(z=scores_with_masks())
def test_softmax_rows_cpu_matches_numpy_with_masks(z):
    assert_softmax_close(K.softmax_rows_cpu(z), softmax_numpy(z))


@given(z=scores_with_masks(), data=st.data())
def test_softmax_rows_backward_cpu_matches_numpy(z, data):
    p = softmax_numpy(z)  # zeros under the mask; NaN rows where all is masked
    g = data.draw(hnp.arrays(np.float32, z.shape, elements=st.floats(-1e3, 1e3, width=32)))
    assert_backward_close(K.softmax_rows_backward_cpu(p, g), p, g)


def test_softmax_of_rows_of_length_one_is_one():
    z = np.array([[3.0], [-1e30], [0.0]], dtype=np.float32)
    np.testing.assert_array_equal(K.softmax_rows_cpu(z), np.ones((3, 1), np.float32))


def test_softmax_of_a_causal_mask_gives_masked_positions_no_weight():
    t = 7
    z = np.random.default_rng(1).standard_normal((2, t, t)).astype(np.float32)
    z[:, np.triu(np.ones((t, t), bool), k=1)] = -np.inf
    p = K.softmax_rows_cpu(z)
    assert (p[:, np.triu(np.ones((t, t), bool), k=1)] == 0).all()
    assert_softmax_close(p, softmax_numpy(z))


def test_softmax_spreads_nan_and_infinities_as_numpy_does():
    z = np.array([[np.nan, 1, 2], [np.inf, 1, 2], [-np.inf, -np.inf, -np.inf],
                  [np.inf, np.inf, 0], [1, -np.inf, 2], [-np.inf, 5, -np.inf]], dtype=np.float32)
    want = softmax_numpy(z)
    got = K.softmax_rows_cpu(z)
    assert np.array_equal(np.isnan(got), np.isnan(want))
    assert_softmax_close(got, want)
    g = np.array([[1, np.nan, 2]], dtype=np.float32)
    p = np.array([[0.5, 0.0, 0.5]], dtype=np.float32)
    assert np.isnan(K.softmax_rows_backward_cpu(p, g)).all()  # as NumPy: the sum is NaN


def test_softmax_of_no_rows_is_empty():
    for shape in [(0, 5), (3, 0, 4)]:
        z = np.zeros(shape, np.float32)
        assert K.softmax_rows_cpu(z).shape == shape
        assert K.softmax_rows_backward_cpu(z, z).shape == shape


def test_softmax_writes_into_out_and_into_its_inputs():
    rng = np.random.default_rng(2)
    z = 3 * rng.standard_normal((4, 5, 16), dtype=np.float32)
    g = rng.standard_normal(z.shape, dtype=np.float32)
    p_want = softmax_numpy(z)
    out = np.empty_like(z)
    assert K.softmax_rows_cpu(z, out=out) is out
    assert_softmax_close(out, p_want)
    z_view = z[...]  # another view of the same memory counts as z itself
    assert K.softmax_rows_cpu(z, out=z_view) is z_view
    assert_softmax_close(z, p_want)
    p = z  # now holds the softmax
    for target in ("grad_p", "p"):
        p_in, g_in = p.copy(), g.copy()
        out = g_in if target == "grad_p" else p_in
        assert K.softmax_rows_backward_cpu(p_in, g_in, out=out) is out
        assert_backward_close(out, p, g)


# ---------------------------------------------------------------------------
# what they refuse
# ---------------------------------------------------------------------------


class LooksLikeADeviceArray:
    """Has shape, dtype and ndim like a CuPy array, but is not a NumPy array."""

    shape, dtype, ndim = (2, 3), np.dtype(np.float32), 2


def test_bad_inputs_raise_errors_that_name_what_was_expected():
    f32 = np.zeros((4, 6), np.float32)
    b = np.zeros(6, np.float32)
    buf = np.zeros((5, 6), np.float32)  # two shifted views of it overlap
    read_only = np.zeros((4, 6), np.float32)
    read_only.setflags(write=False)
    cases = [
        ("float64 x", lambda: K.bias_relu_cpu(f32.astype(np.float64), b), ["bias_relu_cpu", "float32", "float64"]),
        ("int b", lambda: K.bias_relu_cpu(f32, b.astype(np.int32)), ["b must be float32", "int32"]),
        ("b too short", lambda: K.bias_relu_cpu(f32, b[:5]), ["(D,)", "(4, 6) and (5,)"]),
        ("3-D x", lambda: K.bias_relu_cpu(f32[None], b), ["(N, D)", "(1, 4, 6)"]),
        ("out of the wrong shape", lambda: K.bias_relu_cpu(f32, b, out=f32[:3]), ["(4, 6)", "(3, 6)"]),
        ("a list", lambda: K.bias_relu_cpu([[1.0]], b), ["float32 array", "list"]),
        ("not a NumPy array", lambda: K.bias_relu_cpu(LooksLikeADeviceArray(), b[:3]),
         ["NumPy array", "LooksLikeADeviceArray"]),
        ("strided x", lambda: K.bias_relu_cpu(np.zeros((4, 12), np.float32)[:, ::2], b),
         ["C-contiguous", "strides", "ascontiguousarray"]),
        ("read-only out", lambda: K.bias_relu_cpu(f32, b, out=read_only), ["writeable", "read-only"]),
        ("out overlapping x, shifted", lambda: K.bias_relu_cpu(buf[:4], b, out=buf[1:]),
         ["out overlaps x", "out=x"]),
        ("out overlapping z, shifted", lambda: K.softmax_rows_cpu(buf[1:], out=buf[:4]), ["out overlaps z"]),
        ("float64 z", lambda: K.softmax_rows_cpu(f32.astype(np.float64)), ["softmax_rows_cpu", "float32", "float64"]),
        ("0-d z", lambda: K.softmax_rows_cpu(np.ones((), np.float32)), ["(..., n)", "()"]),
        ("rows of length 0", lambda: K.softmax_rows_cpu(np.zeros((3, 0), np.float32)), ["n >= 1", "(3, 0)"]),
        ("transposed z", lambda: K.softmax_rows_cpu(np.zeros((6, 4), np.float32).T), ["C-contiguous"]),
        ("out of the wrong shape", lambda: K.softmax_rows_cpu(f32, out=b), ["out must have the shape of z", "(4, 6)", "(6,)"]),
        ("p and grad_p differ", lambda: K.softmax_rows_backward_cpu(f32, f32[:, :5]),
         ["softmax_rows_backward_cpu", "grad_p", "(4, 6)", "(4, 5)"]),
        ("int grad_p", lambda: K.softmax_rows_backward_cpu(f32, f32.astype(np.int64)), ["grad_p must be float32", "int64"]),
    ]
    assert_each_names_itself(cases, "nnfs.kernels")


# ---------------------------------------------------------------------------
# compiling: no warnings, the cache is used, no GPU needed
# ---------------------------------------------------------------------------

_FRESH_RUN = textwrap.dedent("""
    import numpy as np
    import nnfs.kernels as K
    x = np.ones((1, 1), np.float32)
    K.bias_relu_cpu(x, np.ones(1, np.float32))          # one row: one thread's work
    K.softmax_rows_cpu(np.zeros((0, 3), np.float32))     # no rows at all
    p = K.softmax_rows_cpu(x)
    K.softmax_rows_backward_cpu(p, x)
    hits = sum(sum(f.stats.cache_hits.values()) for f in
               (K._bias_relu_rows, K._softmax_rows, K._softmax_rows_backward))
    print("cache hits", hits)
""")


def test_kernels_compile_without_warnings_and_load_from_the_cache_next_time(tmp_path):
    """In fresh interpreters with warnings as errors and no GPU (simulator off): the first
    compiles (on tiny inputs, where numba might complain that there is nothing to
    parallelise), the second loads all three kernels from the cache."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path), "NUMBA_ENABLE_CUDASIM": "0"}
    runs = [subprocess.run([sys.executable, "-W", "error", "-c", _FRESH_RUN], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=300) for _ in range(2)]
    for run in runs:
        assert run.returncode == 0 and run.stderr == "", run.stderr
    assert runs[0].stdout.split() == ["cache", "hits", "0"]
    assert runs[1].stdout.split() == ["cache", "hits", "3"]


# ---------------------------------------------------------------------------
# FusedSGD: Chapter 3's SGD, one fused loop per parameter
# ---------------------------------------------------------------------------


def _two_networks(dtype=np.float32, seed=0):
    from nnfs.nn import Linear, ReLU, Sequential
    nets = []
    for _ in range(2):
        gen = np.random.default_rng(seed)
        nets.append(Sequential(Linear(7, 5, gen, dtype=dtype), ReLU(), Linear(5, 3, gen, dtype=dtype)))
    return nets


@pytest.fixture
def fused_calls(monkeypatch):
    """Counts the calls of the fused loop, so that a test sees which path FusedSGD took."""
    calls, loop = [], K._sgd_update
    monkeypatch.setattr(K, "_sgd_update", lambda *args: (calls.append(args[0].size), loop(*args)))
    return calls


def _train_both(groups_of, steps=6, dtype=np.float32):
    """Run SGD and FusedSGD on equal networks with equal random gradients; return both."""
    from nnfs.optim import SGD
    nets = _two_networks(dtype)
    opts = [SGD(groups_of(nets[0]), lr=0.05), K.FusedSGD(groups_of(nets[1]), lr=0.05)]
    gen = np.random.default_rng(1)
    for _ in range(steps):
        grads = [gen.standard_normal(p.grad.shape).astype(dtype) for p in nets[0].parameters()]
        for net, opt in zip(nets, opts):
            opt.zero_grad()
            for p, g in zip(net.parameters(), grads):
                p.grad += g
            opt.step()
    return nets


@pytest.mark.parametrize("momentum", [0.0, 0.9])
@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_fused_sgd_leaves_the_weights_of_sgd_bit_for_bit(momentum, weight_decay, fused_calls):
    def groups(net):
        ps = net.parameters()
        return [{"params": ps[:2], "momentum": momentum, "weight_decay": weight_decay},
                {"params": ps[2:], "lr": 0.2, "momentum": 0.5}]  # a group of its own settings
    ref, fused = _train_both(groups)
    for a, b in zip(ref.parameters(), fused.parameters()):
        assert a.data.dtype == np.float32
        np.testing.assert_array_equal(a.data, b.data)
    assert not np.array_equal(ref.parameters()[0].data, _two_networks()[0].parameters()[0].data)
    assert fused_calls == [35, 5, 15, 3] * 6  # each parameter, every step, whole


def test_fused_sgd_falls_back_to_numpy_for_float64(fused_calls):
    ref, fused = _train_both(lambda net: [{"params": net.parameters(), "momentum": 0.9}],
                             dtype=np.float64)
    for a, b in zip(ref.parameters(), fused.parameters()):
        assert b.data.dtype == np.float64
        np.testing.assert_array_equal(a.data, b.data)
    assert fused_calls == []


def test_fused_sgd_falls_back_for_a_parameter_that_is_not_c_contiguous(fused_calls):
    from nnfs.nn import Parameter
    from nnfs.optim import SGD
    w = [Parameter(np.asfortranarray(np.arange(12, dtype=np.float32).reshape(3, 4))) for _ in range(2)]
    for p in w:
        p.grad[...] = 1
    SGD([w[0]], lr=0.1, momentum=0.9).step()
    K.FusedSGD([w[1]], lr=0.1, momentum=0.9).step()
    np.testing.assert_array_equal(w[0].data, w[1].data)
    assert fused_calls == [] and not np.array_equal(w[1].data, np.arange(12).reshape(3, 4))
