"""Tests of nnfs.kernels (Chapter 4): our GPU kernels against their NumPy references.

The numba.cuda kernels run everywhere: in numba's CUDA simulator on a machine
without a GPU (tests/conftest.py sets NUMBA_ENABLE_CUDASIM=1 before numba.cuda
is imported), on the real device otherwise.  The simulator runs every thread of
every block in Python, so the sizes are tiny (under 40); what it checks is the
indexing, the bounds and the barriers, which is where kernels go wrong: hence
shapes that are not multiples of the 16×16 tile, 1×1, tall and wide ones, an
inner size of 1 and inner sizes that need several tiles.

The CuPy RawKernel versions need a real GPU and are marked ``gpu``.

Tolerance of the float32 products.  Both kernels accumulate the K products of
a row and a column in float32, in the order k = 0..K-1 (the tiled kernel adds
exact zeros for its padding).  The standard bound for a float32 dot product
computed in any order, with or without fused multiply-adds, is
|fl(a·b) − a·b| ≤ γ_K Σ|a_k b_k| with γ_K = K u / (1 − K u) and u = 2⁻²⁴
(Higham, Accuracy and Stability of Numerical Algorithms, §3.1).  We allow
K · ε₃₂ = 2 K u ≥ γ_K times Σ|a_k b_k| against the exact (float64) product of
the same float32 inputs, and twice that against NumPy's float32 product, which
obeys the same bound.  A wrong index or a missed tile is off by O(Σ|a_k b_k|),
about 10⁵ times more.  Integer-valued inputs make every product and sum exact,
so there the kernels must agree with NumPy bit for bit.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nnfs import kernels as K

pytestmark = pytest.mark.ch4

ROOT = Path(__file__).resolve().parent.parent
EPS32 = float(np.finfo(np.float32).eps)  # 2**-23 = 2u

# (M, K, N): A is M×K, B is K×N.
MATMUL_SHAPES = [
    pytest.param((17, 19, 5), id="17x19@19x5-not-tile-multiples"),
    pytest.param((1, 1, 1), id="1x1@1x1"),
    pytest.param((3, 7, 2), id="3x7@7x2-non-square"),
    pytest.param((33, 2, 1), id="33x2@2x1-tall-skinny"),
    pytest.param((1, 3, 33), id="1x3@3x33-wide"),
    pytest.param((2, 37, 3), id="2x37@37x3-three-inner-tiles"),
    pytest.param((5, 1, 7), id="5x1@1x7-K1"),
    pytest.param((16, 17, 15), id="16x17@17x15-tile-plus-minus-one"),
    pytest.param((16, 16, 16), id="16x16@16x16-one-tile"),
    pytest.param((32, 32, 32), id="32x32@32x32-two-tiles"),
]
MATMULS_NUMBA = [pytest.param(K.matmul_naive_numba, id="naive"), pytest.param(K.matmul_tiled_numba, id="tiled")]
BIAS_RELU_SHAPES = [(17, 19), (1, 1), (33, 2), (2, 33), (16, 16), (32, 32)]


@pytest.fixture(scope="module")
def numba_cuda():
    """numba.cuda, simulated or real; skip if neither (NUMBA_ENABLE_CUDASIM=0 by hand on a machine without a GPU)."""
    from numba import config, cuda

    if not config.ENABLE_CUDASIM:
        try:
            usable = cuda.is_available()
        except Exception:  # noqa: BLE001 - a broken CUDA installation counts as no GPU
            usable = False
        if not usable:
            pytest.skip("numba.cuda finds no GPU and the CUDA simulator is off (NUMBA_ENABLE_CUDASIM is not 1)")
    return cuda


def float32_inputs(m, k, n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((m, k)).astype(np.float32), rng.standard_normal((k, n)).astype(np.float32)


def assert_float32_product_close(C, A, B):
    """C is A @ B within the float32 rounding bound of a K-term dot product (see the module docstring)."""
    M, n_inner = A.shape
    assert C.shape == (M, B.shape[1]) and C.dtype == np.float32
    assert isinstance(C, np.ndarray)
    A64, B64 = A.astype(np.float64), B.astype(np.float64)
    bound = n_inner * EPS32 * (np.abs(A64) @ np.abs(B64))
    exact_err = np.abs(C.astype(np.float64) - A64 @ B64)
    assert np.all(exact_err <= bound), f"max excess over the bound: {(exact_err - bound).max():.3g}"
    numpy_err = np.abs(C.astype(np.float64) - K.matmul_reference(A, B).astype(np.float64))
    assert np.all(numpy_err <= 2 * bound), f"max excess over the bound: {(numpy_err - 2 * bound).max():.3g}"


# ---------------------------------------------------------------------------
# Set-up: the simulator is on where it should be, and off is fine for importing
# ---------------------------------------------------------------------------


def test_simulator_setting_was_read_after_conftest_set_it():
    """numba reads NUMBA_ENABLE_CUDASIM once; conftest must have set it before numba.cuda was imported."""
    from numba import config

    assert bool(config.ENABLE_CUDASIM) == (os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0"))


def test_kernels_import_without_the_simulator_in_a_fresh_interpreter():
    """`import nnfs.kernels` must not need a GPU or the simulator: @cuda.jit compiles lazily."""
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    code = ("import numba, nnfs.kernels as k\n"
            "assert not numba.config.ENABLE_CUDASIM\n"
            "assert k.TILE == 16 and callable(k.matmul_tiled_numba)\n")
    result = subprocess.run([sys.executable, "-W", "error", "-c", code], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_tile_is_16():
    assert K.TILE == 16


# ---------------------------------------------------------------------------
# numba.cuda matrix products
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("shape", MATMUL_SHAPES)
@pytest.mark.parametrize("matmul", MATMULS_NUMBA)
def test_numba_matmul_matches_numpy(numba_cuda, matmul, shape):
    A, B = float32_inputs(*shape)
    A_before, B_before = A.copy(), B.copy()
    C = matmul(A, B)
    assert_float32_product_close(C, A, B)
    np.testing.assert_array_equal(A, A_before)  # inputs left alone
    np.testing.assert_array_equal(B, B_before)


@pytest.mark.parametrize("matmul", MATMULS_NUMBA)
def test_numba_matmul_is_exact_on_integer_valued_inputs(numba_cuda, matmul):
    """Small integers: every product and partial sum is exact in float32, so no rounding can hide an error."""
    rng = np.random.default_rng(1)
    A = rng.integers(-4, 5, (17, 19)).astype(np.float32)
    B = rng.integers(-4, 5, (19, 5)).astype(np.float32)
    np.testing.assert_array_equal(matmul(A, B), K.matmul_reference(A, B))


@pytest.mark.parametrize("matmul", MATMULS_NUMBA)
def test_numba_matmul_with_empty_inner_size_is_zero(numba_cuda, matmul):
    A, B = np.ones((2, 0), dtype=np.float32), np.ones((0, 3), dtype=np.float32)
    np.testing.assert_array_equal(matmul(A, B), np.zeros((2, 3), dtype=np.float32))


@pytest.mark.parametrize("matmul", MATMULS_NUMBA)
def test_numba_matmul_writes_into_out(numba_cuda, matmul):
    A, B = float32_inputs(17, 19, 5)
    out = np.full((17, 5), np.nan, dtype=np.float32)
    assert matmul(A, B, out=out) is out
    assert_float32_product_close(out, A, B)


@pytest.mark.parametrize("matmul", MATMULS_NUMBA)
@pytest.mark.parametrize("a_shape, b_shape", [((2, 3), (4, 3)), ((3, 1), (2, 3)), ((17, 19), (5, 19))])
def test_numba_matmul_rejects_mismatched_inner_sizes(matmul, a_shape, b_shape):
    A, B = np.ones(a_shape, dtype=np.float32), np.ones(b_shape, dtype=np.float32)
    with pytest.raises(ValueError, match="matmul") as info:
        matmul(A, B)
    assert str(a_shape) in str(info.value) and str(b_shape) in str(info.value)


@pytest.mark.parametrize("matmul", MATMULS_NUMBA)
@pytest.mark.parametrize("a, b", [
    (np.ones(3, dtype=np.float32), np.ones((3, 2), dtype=np.float32)),        # A is 1-D
    (np.ones((2, 3), dtype=np.float32), np.ones((3, 2, 1), dtype=np.float32)),  # B is 3-D
], ids=["1-D", "3-D"])
def test_numba_matmul_rejects_arrays_that_are_not_matrices(matmul, a, b):
    with pytest.raises(ValueError, match="matmul"):
        matmul(a, b)


@pytest.mark.parametrize("matmul", MATMULS_NUMBA)
@pytest.mark.parametrize("dtype", [np.float64, np.int32, np.float16])
def test_numba_matmul_rejects_other_dtypes(matmul, dtype):
    """The kernels accumulate in float32: another dtype is refused, not silently converted."""
    A, B = np.ones((2, 3), dtype=dtype), np.ones((3, 2), dtype=np.float32)
    with pytest.raises(ValueError, match=rf"float32.*{np.dtype(dtype).name}"):
        matmul(A, B)
    with pytest.raises(ValueError, match=rf"float32.*{np.dtype(dtype).name}"):
        matmul(B.T.copy(), A.T.copy())


@pytest.mark.parametrize("matmul", MATMULS_NUMBA)
def test_numba_matmul_rejects_an_out_of_the_wrong_shape(matmul):
    A, B = np.ones((2, 3), dtype=np.float32), np.ones((3, 4), dtype=np.float32)
    with pytest.raises(ValueError, match=r"out.*\(2, 4\).*\(4, 2\)"):
        matmul(A, B, out=np.empty((4, 2), dtype=np.float32))


# ---------------------------------------------------------------------------
# numba.cuda fused bias + ReLU
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("shape", BIAS_RELU_SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_numba_bias_relu_matches_numpy_exactly(numba_cuda, shape):
    """x + b is one correctly rounded float32 addition either way, and max(·, 0) is exact: bit-for-bit equal."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal(shape).astype(np.float32)
    b = rng.standard_normal(shape[1]).astype(np.float32)  # distinct per column: b[row] instead of b[col] shows
    x[0, 0] = -b[0]  # exactly zero before the ReLU
    x_before = x.copy()
    out = K.bias_relu_numba(x, b)
    expected = K.bias_relu_reference(x, b)
    assert out.shape == shape and out.dtype == np.float32 and isinstance(out, np.ndarray)
    np.testing.assert_array_equal(out, expected)
    assert 0 < np.count_nonzero(out) < out.size or out.size == 1
    np.testing.assert_array_equal(x, x_before)


def test_numba_bias_relu_writes_into_out(numba_cuda):
    rng = np.random.default_rng(3)
    x, b = rng.standard_normal((17, 19)).astype(np.float32), rng.standard_normal(19).astype(np.float32)
    out = np.full_like(x, np.nan)
    assert K.bias_relu_numba(x, b, out=out) is out
    np.testing.assert_array_equal(out, K.bias_relu_reference(x, b))


@pytest.mark.parametrize("x_shape, b_shape, out_shape", [
    ((3, 4), (3,), None),     # b per row instead of per column
    ((3, 4), (1, 4), None),   # b 2-D
    ((4,), (4,), None),       # x 1-D
    ((3, 4), (4,), (4, 3)),   # out transposed
], ids=["b-rows", "b-2d", "x-1d", "out-shape"])
def test_numba_bias_relu_rejects_wrong_shapes(x_shape, b_shape, out_shape):
    x, b = np.ones(x_shape, dtype=np.float32), np.ones(b_shape, dtype=np.float32)
    out = None if out_shape is None else np.empty(out_shape, dtype=np.float32)
    with pytest.raises(ValueError, match="bias_relu"):
        K.bias_relu_numba(x, b, out=out)


def test_numba_bias_relu_rejects_other_dtypes():
    with pytest.raises(ValueError, match="float32.*float64"):
        K.bias_relu_numba(np.ones((2, 3)), np.ones(3, dtype=np.float32))
    with pytest.raises(ValueError, match="float32.*float64"):
        K.bias_relu_numba(np.ones((2, 3), dtype=np.float32), np.ones(3))


def test_numba_bias_relu_handles_infinities_like_numpy(numba_cuda):
    x = np.array([[np.inf, -np.inf, 1.0], [-1.0, 0.0, 3.0e38]], dtype=np.float32)
    b = np.array([0.0, 1.0, -2.0], dtype=np.float32)
    np.testing.assert_array_equal(K.bias_relu_numba(x, b), K.bias_relu_reference(x, b))


def test_numba_bias_relu_propagates_nan_like_numpy(numba_cuda):
    """A NaN activation (a diverged run) must stay NaN, as in the NumPy reference and in torch.relu.

    The kernel computes ``v if v > 0 else 0``, which turns NaN into 0 and hides the divergence.
    """
    x = np.array([[np.nan, 1.0, -1.0]], dtype=np.float32)
    b = np.zeros(3, dtype=np.float32)
    expected = K.bias_relu_reference(x, b)
    assert np.isnan(expected[0, 0])
    np.testing.assert_array_equal(K.bias_relu_numba(x, b), expected)  # assert_array_equal treats NaN == NaN


# ---------------------------------------------------------------------------
# CuPy RawKernels (and the numba kernels on CuPy device arrays), on a real GPU
# ---------------------------------------------------------------------------

GPU_SHAPES = [(17, 19, 5), (1, 1, 1), (33, 2, 1), (1, 3, 33), (2, 37, 3), (5, 1, 7), (16, 16, 16), (32, 32, 32),
              (100, 70, 130)]


@pytest.fixture
def cupy():
    from nnfs.backend import get_backend

    return get_backend("cupy")  # the conftest probe has already skipped this test if it cannot run


@pytest.mark.gpu
@pytest.mark.parametrize("shape", GPU_SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("name", ["matmul_naive_cupy", "matmul_tiled_cupy"])
def test_cupy_matmul_matches_numpy(cupy, name, shape):
    A, B = float32_inputs(*shape)
    C = getattr(K, name)(cupy.asarray(A), cupy.asarray(B))
    assert isinstance(C, cupy.ndarray)
    assert_float32_product_close(cupy.asnumpy(C), A, B)


@pytest.mark.gpu
@pytest.mark.parametrize("name", ["matmul_naive_cupy", "matmul_tiled_cupy"])
def test_cupy_matmul_rejects_mismatched_inner_sizes(cupy, name):
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4, 3\)"):
        getattr(K, name)(cupy.ones((2, 3), dtype=cupy.float32), cupy.ones((4, 3), dtype=cupy.float32))
    with pytest.raises(ValueError, match="float32.*float64"):
        getattr(K, name)(cupy.ones((2, 3)), cupy.ones((3, 4), dtype=cupy.float32))


@pytest.mark.gpu
@pytest.mark.parametrize("name", ["matmul_naive_cupy", "matmul_tiled_cupy"])
def test_cupy_matmul_writes_into_out(cupy, name):
    A, B = float32_inputs(17, 19, 5)
    out = cupy.full((17, 5), cupy.nan, dtype=cupy.float32)
    assert getattr(K, name)(cupy.asarray(A), cupy.asarray(B), out=out) is out
    assert_float32_product_close(cupy.asnumpy(out), A, B)


@pytest.mark.gpu
@pytest.mark.parametrize("shape", BIAS_RELU_SHAPES + [(100, 130)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_cupy_bias_relu_matches_numpy_exactly(cupy, shape):
    rng = np.random.default_rng(2)
    x = rng.standard_normal(shape).astype(np.float32)
    b = rng.standard_normal(shape[1]).astype(np.float32)
    out = K.bias_relu_cupy(cupy.asarray(x), cupy.asarray(b))
    assert isinstance(out, cupy.ndarray) and out.dtype == cupy.float32
    np.testing.assert_array_equal(cupy.asnumpy(out), K.bias_relu_reference(x, b))
    preallocated = cupy.full(shape, cupy.nan, dtype=cupy.float32)
    assert K.bias_relu_cupy(cupy.asarray(x), cupy.asarray(b), out=preallocated) is preallocated
    np.testing.assert_array_equal(cupy.asnumpy(preallocated), K.bias_relu_reference(x, b))


@pytest.mark.gpu
def test_cupy_bias_relu_propagates_nan_like_numpy(cupy):
    x = np.array([[np.nan, 1.0, -1.0]], dtype=np.float32)
    b = np.zeros(3, dtype=np.float32)
    got = cupy.asnumpy(K.bias_relu_cupy(cupy.asarray(x), cupy.asarray(b)))
    np.testing.assert_array_equal(got, K.bias_relu_reference(x, b))


@pytest.mark.gpu
@pytest.mark.parametrize("matmul", MATMULS_NUMBA)
def test_numba_matmul_on_cupy_device_arrays(cupy, numba_cuda, matmul):
    """The benchmark suite passes CuPy arrays to the numba kernels: the result stays on the device."""
    A, B = float32_inputs(100, 70, 130)
    C = matmul(cupy.asarray(A), cupy.asarray(B))
    assert hasattr(C, "__cuda_array_interface__")
    assert_float32_product_close(cupy.asnumpy(cupy.asarray(C)), A, B)


# ---------------------------------------------------------------------------
# Bad input, empties and NaNs (hypothesis): errors raised by nnfs.kernels
# ---------------------------------------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

from helpers import raised_by_module  # noqa: E402

raises_here = raised_by_module("nnfs.kernels")
ALL_NUMBA = [K.matmul_naive_numba, K.matmul_tiled_numba]
small = st.integers(0, 5)
other_dtypes = st.sampled_from([np.float64, np.float16, np.int32, np.int64, np.bool_, np.complex64])


@settings(max_examples=40)
@given(matmul=st.sampled_from(ALL_NUMBA), m=small, k=small, k2=small, n=small)
def test_numba_matmul_names_both_shapes_when_the_inner_sizes_differ(matmul, m, k, k2, n):
    if k == k2:
        k2 += 1
    A, B = np.ones((m, k), np.float32), np.ones((k2, n), np.float32)
    with pytest.raises(ValueError, match=rf"matmul: A is \({m}, {k}\) but B is \({k2}, {n}\); need \(M, K\) and \(K, N\)") as info:
        matmul(A, B)
    assert raises_here(info)


@settings(max_examples=40)
@given(matmul=st.sampled_from(ALL_NUMBA),
       a_shape=hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=3),
       b_shape=hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=3))
def test_numba_matmul_rejects_what_is_not_a_pair_of_matrices(matmul, a_shape, b_shape):
    if len(a_shape) == 2 and len(b_shape) == 2:
        a_shape = a_shape + (1,)
    with pytest.raises(ValueError, match="need \\(M, K\\) and \\(K, N\\)") as info:
        matmul(np.ones(a_shape, np.float32), np.ones(b_shape, np.float32))
    assert raises_here(info)


@settings(max_examples=40)
@given(matmul=st.sampled_from(ALL_NUMBA), dtype=other_dtypes, which=st.sampled_from(["A", "B", "out"]))
def test_numba_matmul_names_the_argument_of_the_wrong_dtype(matmul, dtype, which):
    arrays = {"A": np.ones((2, 3), np.float32), "B": np.ones((3, 4), np.float32), "out": np.zeros((2, 4), np.float32)}
    arrays[which] = arrays[which].astype(dtype)
    with pytest.raises(ValueError, match=f"matmul: {which} must be float32; got {np.dtype(dtype)}") as info:
        matmul(arrays["A"], arrays["B"], out=arrays["out"])
    assert raises_here(info)


@pytest.mark.parametrize("fn, args, name", [
    (K.matmul_naive_numba, ([[1.0]], np.ones((1, 1), np.float32)), "A"),
    (K.matmul_tiled_numba, (np.ones((1, 1), np.float32), 2.0), "B"),
    (K.bias_relu_numba, ([[1.0, 2.0]], np.ones(2, np.float32)), "x"),
    (K.bias_relu_numba, (np.ones((1, 2), np.float32), (0.0, 0.0)), "b"),
], ids=["matmul-list", "matmul-scalar", "bias-relu-list", "bias-relu-tuple"])
def test_numba_kernels_reject_what_is_not_an_array(fn, args, name):
    with pytest.raises(TypeError, match=f"{name} must be a float32 array \\(NumPy, numba or CuPy\\)") as info:
        fn(*args)
    assert raises_here(info)


@settings(max_examples=30)
@given(x_shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4),
       b_shape=hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=4))
def test_numba_bias_relu_names_the_shapes_it_needs(x_shape, b_shape):
    if len(x_shape) == 2 and b_shape == (x_shape[1],):
        b_shape = (x_shape[1] + 1,)
    with pytest.raises(ValueError, match=r"bias_relu: x must be \(N, D\) and b \(D,\); got") as info:
        K.bias_relu_numba(np.ones(x_shape, np.float32), np.ones(b_shape, np.float32))
    assert raises_here(info)


@settings(max_examples=20)
@given(dtype=other_dtypes, which=st.sampled_from(["x", "b", "out"]))
def test_numba_bias_relu_names_the_argument_of_the_wrong_dtype(dtype, which):
    arrays = {"x": np.ones((2, 3), np.float32), "b": np.ones(3, np.float32), "out": np.zeros((2, 3), np.float32)}
    arrays[which] = arrays[which].astype(dtype)
    with pytest.raises(ValueError, match=f"bias_relu: {which} must be float32; got {np.dtype(dtype)}") as info:
        K.bias_relu_numba(arrays["x"], arrays["b"], out=arrays["out"])
    assert raises_here(info)


@settings(max_examples=15)
@given(matmul=st.sampled_from(ALL_NUMBA), m=small, k=small, n=small)
def test_numba_matmul_of_empty_matrices_is_numpys_empty_or_zero_product(numba_cuda, matmul, m, k, n):
    if m * n and k:  # only shapes with an empty side: M = 0, N = 0 or K = 0
        k = 0
    A, B = np.ones((m, k), np.float32), np.ones((k, n), np.float32)
    got = matmul(A, B)
    assert got.shape == (m, n) and got.dtype == np.float32
    np.testing.assert_array_equal(got, A @ B)  # zeros when K = 0


@settings(max_examples=10)
@given(d=st.integers(0, 4))
def test_numba_bias_relu_of_no_rows_is_empty(numba_cuda, d):
    out = K.bias_relu_numba(np.ones((0, d), np.float32), np.ones(d, np.float32))
    assert out.shape == (0, d) and out.dtype == np.float32


@settings(max_examples=10)
@given(matmul=st.sampled_from(ALL_NUMBA), shape=st.tuples(st.integers(1, 4), st.integers(1, 4), st.integers(1, 4)),
       where=st.tuples(st.integers(0, 3), st.integers(0, 3)), value=st.sampled_from([np.nan, np.inf]))
def test_numba_matmul_spreads_a_nan_or_infinity_as_numpy_does(numba_cuda, matmul, shape, where, value):
    m, k, n = shape
    A = np.ones((m, k), np.float32)
    A[where[0] % m, where[1] % k] = value
    B = np.ones((k, n), np.float32)
    got = matmul(A, B)
    with np.errstate(invalid="ignore"):  # BLAS may raise the flag in its own padding
        want = K.matmul_reference(A, B)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(got[~np.isnan(want)], want[~np.isnan(want)])
