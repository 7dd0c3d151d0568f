"""Tests of nnfs.nn (Chapter 3: layers, losses and initialisers).

Every gradient is checked two ways: against central finite differences of
``sum(out * G)`` with a *random* upstream gradient G (never ones, which makes
the softmax gradient vanish), and against PyTorch's autograd in float64 built
from the same weights.  Reference values are computed independently in the
test, never copied from the module.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given
from hypothesis import strategies as st

from nnfs.backend import get_array_module, get_backend, model_to, to_device, to_host
from nnfs.nn import (
    INITIALISERS,
    Linear,
    Module,
    MSELoss,
    Parameter,
    ReLU,
    Sequential,
    Sigmoid,
    SoftmaxCrossEntropy,
    Tanh,
    glorot_uniform,
    he_normal,
    scaled_normal,
)

from helpers import numerical_grad, raised_by_module  # noqa: E402

pytestmark = pytest.mark.ch3

EPS_FD = 1e-6     # central-difference step
TOL_FD = 1e-6     # relative error allowed against finite differences
RTOL_TORCH = 1e-6  # allowed against torch in float64 (observed ~1e-15)
ATOL_TORCH = 1e-12  # for entries that are zero up to rounding
RELU_MARGIN = 1e-3  # keep ReLU inputs this far from the kink


def rel_err(a, ref) -> float:
    """max|a − ref| / max(max|a|, max|ref|): the ∞-norm relative error, 0 when both are all zero.

    Why norm-wise and not entry by entry: central differences carry a rounding
    error of about ε_machine·|loss|/EPS_FD ≈ 1e-10 in *absolute* terms, so an
    entry whose true value is ~1e-9 (a cancellation in x.T @ G, say) would show
    a large entry-wise relative error although the gradient is right.  Scaling
    by the tensor's largest entry still demands that *every* entry be right to
    1e-6 of the gradient's scale, which is what a wrong formula cannot achieve.
    """
    a, ref = np.asarray(a, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    assert a.shape == ref.shape, (a.shape, ref.shape)
    if a.size == 0:
        return 0.0
    scale = max(np.abs(a).max(), np.abs(ref).max())
    return 0.0 if scale == 0 else float(np.abs(a - ref).max() / scale)


def assert_fd_close(analytic, numeric, noise: float, what: str = "") -> None:
    """rel_err(analytic, numeric) < TOL_FD once the rounding floor of central differences is allowed for.

    The floor: f = sum(out * G) is computed with an absolute rounding error of
    a few ε_machine·Σ|out·G|, and the difference quotient divides it by 2·EPS_FD.
    A deep Sequential can have a parameter whose whole gradient is ~1e-4
    (it passes through sigmoid' ≤ 1/4 and tanh'), where that floor alone is
    ~1e-7 of the tensor's scale; ``noise`` (10·ε·Σ|out·G|/EPS_FD) is subtracted
    before the relative comparison.  A wrong formula is off by O(1) of the
    gradient's scale, far above both.
    """
    a, b = np.asarray(analytic, dtype=np.float64), np.asarray(numeric, dtype=np.float64)
    assert a.shape == b.shape, what
    if a.size == 0:
        return
    scale = max(np.abs(a).max(), np.abs(b).max())
    excess = max(np.abs(a - b).max() - noise, 0.0)
    assert excess <= TOL_FD * scale, f"{what}: rel_err {rel_err(a, b):.3g}, rounding floor {noise:.3g}"


def fd_noise(out: np.ndarray, G: np.ndarray) -> float:
    """The rounding floor of a central difference of sum(out * G) (see assert_fd_close)."""
    return 10 * np.finfo(np.float64).eps * float(np.abs(out * G).sum()) / EPS_FD


raises_here = raised_by_module("nnfs.nn")


def away_from_zero(x: np.ndarray, margin: float = RELU_MARGIN) -> np.ndarray:
    """x with every entry moved at least ``margin`` away from 0 (sign kept)."""
    return np.where(x >= 0, x + 2 * margin, x - 2 * margin)


# ---------------------------------------------------------------------------
# Modules under test, built in float64 from a seed
# ---------------------------------------------------------------------------


def f64_linear(n_in, n_out, rng, **kw):
    layer = Linear(n_in, n_out, rng=rng, dtype=np.float64, **kw)
    layer.bias.data[...] = rng.standard_normal(n_out)  # a zero bias would hide a bias bug in forward
    return layer


def make_module(kind: str, n_in: int, n_hidden: int, n_out: int, rng):
    """(module, input x, first Linear or None) for one kind of layer."""
    if kind == "linear":
        return f64_linear(n_in, n_out, rng), None, None
    if kind == "relu":
        return ReLU(), None, None
    if kind == "sigmoid":
        return Sigmoid(), None, None
    if kind == "tanh":
        return Tanh(), None, None
    if kind == "sequential":
        first = f64_linear(n_in, n_hidden, rng)
        model = Sequential(first, ReLU(), f64_linear(n_hidden, n_hidden, rng), Sigmoid(),
                           f64_linear(n_hidden, n_out, rng), Tanh())
        return model, None, first
    raise AssertionError(kind)


LAYER_KINDS = ["linear", "relu", "sigmoid", "tanh", "sequential"]


@st.composite
def layer_cases(draw):
    n = draw(st.integers(1, 6), label="batch")
    n_in = draw(st.integers(1, 7), label="in features")
    n_hidden = draw(st.integers(1, 7), label="hidden")
    n_out = draw(st.integers(1, 7), label="out features")
    seed = draw(st.integers(0, 2**32 - 1), label="seed")
    return n, n_in, n_hidden, n_out, seed


def build_case(kind, case):
    """(module, x, G): the module, a float64 input and a random upstream gradient of the output's shape."""
    n, n_in, n_hidden, n_out, seed = case
    rng = np.random.default_rng(seed)
    module, _, first = make_module(kind, n_in, n_hidden, n_out, rng)
    x = rng.standard_normal((n, n_in))
    if kind == "relu":
        x = away_from_zero(x)
    if first is not None:  # the ReLU after the first Linear must not sit on its kink either
        z = x @ first.weight.data + first.bias.data
        assume(np.abs(z).min() > RELU_MARGIN)
    out = module(x)
    G = rng.standard_normal(out.shape)
    return module, x, G


# ---------------------------------------------------------------------------
# Gradient checks against central differences
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", LAYER_KINDS)
@given(case=layer_cases())
def test_layer_gradients_match_central_differences(kind, case):
    module, x, G = build_case(kind, case)
    x = x.copy()

    def loss():
        return float(np.sum(module(x) * G))

    # Numerical gradients first (they perturb x and the parameters in place and restore them).
    num_x = numerical_grad(loss, x)
    num_params = {name: numerical_grad(loss, p.data) for name, p in module.named_parameters()}

    module.zero_grad()
    out = module(x)
    grad_x = module.backward(G)
    noise = fd_noise(out, G)
    assert grad_x.shape == x.shape and grad_x.dtype == np.float64
    assert_fd_close(grad_x, num_x, noise, "input")
    for name, p in module.named_parameters():
        assert p.grad.shape == p.data.shape
        assert_fd_close(p.grad, num_params[name], noise, name)


@given(case=layer_cases())
def test_linear_without_input_grad_returns_none_but_fills_parameter_grads(case):
    n, n_in, _, n_out, seed = case
    rng = np.random.default_rng(seed)
    layer = f64_linear(n_in, n_out, rng, input_grad=False)
    reference = Linear(n_in, n_out, dtype=np.float64)
    reference.weight.data[...] = layer.weight.data
    reference.bias.data[...] = layer.bias.data
    x = rng.standard_normal((n, n_in))
    G = rng.standard_normal((n, n_out))

    def loss():
        return float(np.sum(layer(x) * G))

    num_w = numerical_grad(loss, layer.weight.data)
    num_b = numerical_grad(loss, layer.bias.data)
    noise = fd_noise(layer(x), G)
    assert layer.backward(G) is None
    assert_fd_close(layer.weight.grad, num_w, noise, "weight")
    assert_fd_close(layer.bias.grad, num_b, noise, "bias")
    # Same parameter gradients as a layer that does compute the input gradient.
    reference(x)
    assert reference.backward(G) is not None
    np.testing.assert_array_equal(layer.weight.grad, reference.weight.grad)
    np.testing.assert_array_equal(layer.bias.grad, reference.bias.grad)


def test_sequential_with_first_layer_without_input_grad_returns_none():
    rng = np.random.default_rng(0)
    model = Sequential(Linear(5, 4, rng=rng, input_grad=False), ReLU(), Linear(4, 3, rng=rng))
    out = model(rng.standard_normal((6, 5)).astype(np.float32))
    assert model.backward(rng.standard_normal(out.shape).astype(np.float32)) is None
    assert all(np.any(p.grad != 0) for p in model.parameters() if p.data.ndim == 2)


@st.composite
def loss_cases(draw):
    n = draw(st.integers(1, 6), label="batch")
    c = draw(st.integers(2, 6), label="classes")
    seed = draw(st.integers(0, 2**32 - 1), label="seed")
    scale = 10.0 ** draw(st.floats(-1, 1), label="log10 logit scale")
    return n, c, seed, scale


@given(case=loss_cases())
def test_softmax_cross_entropy_gradient_matches_central_differences(case):
    n, c, seed, scale = case
    rng = np.random.default_rng(seed)
    logits = scale * rng.standard_normal((n, c))
    labels = rng.integers(0, c, n)
    g = float(rng.standard_normal())  # a random upstream gradient for the scalar loss
    loss_fn = SoftmaxCrossEntropy()

    def loss():
        return g * loss_fn(logits, labels)

    num = numerical_grad(loss, logits)
    loss_fn(logits, labels)
    grad = loss_fn.backward(g)
    assert grad.shape == logits.shape
    # Rounding floor: the loss is a difference of terms of size ~max|logit|, so a gradient entry
    # like 1 − p ≈ 1e-15 (a confident, correct row) is below what central differences resolve.
    noise = 10 * np.finfo(np.float64).eps * abs(g) * (np.abs(logits).max() + 1) / EPS_FD
    assert_fd_close(grad, num, noise, "logits")
    # The value itself, written out independently: −mean log softmax at the label.
    expected = -np.mean([logits[i, labels[i]] - math.log(sum(math.exp(v) for v in logits[i])) for i in range(n)])
    assert loss_fn(logits, labels) == pytest.approx(expected, rel=1e-12, abs=1e-12)


@given(case=loss_cases())
def test_mse_loss_gradient_matches_central_differences(case):
    n, d, seed, scale = case
    rng = np.random.default_rng(seed)
    prediction = scale * rng.standard_normal((n, d))
    target = rng.standard_normal((n, d))
    g = float(rng.standard_normal())
    loss_fn = MSELoss()

    def loss():
        return g * loss_fn(prediction, target)

    num = numerical_grad(loss, prediction)
    value = loss_fn(prediction, target)
    assert value == pytest.approx(float(np.sum((prediction - target) ** 2)) / prediction.size, rel=1e-12)
    noise = 10 * np.finfo(np.float64).eps * abs(g) * value / EPS_FD
    assert_fd_close(loss_fn.backward(g), num, noise, "prediction")


# ---------------------------------------------------------------------------
# Gradient accumulation and incoming gradients left alone
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", LAYER_KINDS)
def test_backward_accumulates_into_grad_and_leaves_grad_out_alone(kind):
    rng = np.random.default_rng(42)
    module, _, _ = make_module(kind, 5, 4, 3, rng)
    x = away_from_zero(rng.standard_normal((6, 5)))
    out = module(x)
    G = rng.standard_normal(out.shape)
    G_before = G.copy()

    module.zero_grad()
    grad_x_once = module.backward(G)
    once = {name: p.grad.copy() for name, p in module.named_parameters()}
    grad_x_twice = module.backward(G)

    np.testing.assert_array_equal(G, G_before)  # never mutate an incoming gradient
    np.testing.assert_array_equal(grad_x_once, grad_x_twice)  # backward leaves its cache intact
    assert grad_x_once is not G
    for name, p in module.named_parameters():
        assert np.any(once[name] != 0), name
        np.testing.assert_allclose(p.grad, 2 * once[name], rtol=1e-15, atol=0, err_msg=name)


@pytest.mark.parametrize("loss_cls", [SoftmaxCrossEntropy, MSELoss])
def test_loss_backward_is_repeatable(loss_cls):
    rng = np.random.default_rng(1)
    logits = rng.standard_normal((5, 4))
    target = rng.integers(0, 4, 5) if loss_cls is SoftmaxCrossEntropy else rng.standard_normal((5, 4))
    loss_fn = loss_cls()
    loss_fn(logits, target)
    first = loss_fn.backward()
    second = loss_fn.backward()
    np.testing.assert_array_equal(first, second)
    np.testing.assert_allclose(loss_fn.backward(2.5), 2.5 * first, rtol=1e-15)


# ---------------------------------------------------------------------------
# Parity with PyTorch (float64, identical weights)
# ---------------------------------------------------------------------------


def torch_twin(module):
    """The same network in torch, built from our weights (torch's Linear weight is our weight.T)."""
    if isinstance(module, Linear):
        twin = torch.nn.Linear(module.in_features, module.out_features, dtype=torch.float64)
        with torch.no_grad():
            twin.weight.copy_(torch.from_numpy(module.weight.data.T.copy()))
            twin.bias.copy_(torch.from_numpy(module.bias.data.copy()))
        return twin
    if isinstance(module, Sequential):
        return torch.nn.Sequential(*(torch_twin(layer) for layer in module.layers))
    return {ReLU: torch.nn.ReLU, Sigmoid: torch.nn.Sigmoid, Tanh: torch.nn.Tanh}[type(module)]()


def torch_param_grads(module, twin):
    """Torch's parameter gradients, named and shaped like ours."""
    if isinstance(module, Linear):
        return {"weight": twin.weight.grad.numpy().T, "bias": twin.bias.grad.numpy()}
    if isinstance(module, Sequential):
        grads = {}
        for i, (layer, t_layer) in enumerate(zip(module.layers, twin)):
            grads.update({f"layers.{i}.{k}": v for k, v in torch_param_grads(layer, t_layer).items()})
        return grads
    return {}


def assert_torch_close(ours, ref, what):
    ours = to_host(ours)  # from whichever backend computed it
    assert ours.shape == ref.shape, what
    np.testing.assert_allclose(ours, ref, rtol=RTOL_TORCH, atol=ATOL_TORCH, err_msg=what)


def assert_on_backend(arr, backend, what):
    """``arr`` lives where the computation ran (a NumPy result from a CuPy model would mean a silent copy)."""
    assert get_array_module(arr) is get_backend(backend), f"{what}: {type(arr)} on the {backend} backend"


@pytest.mark.parametrize("kind", LAYER_KINDS)
@given(case=layer_cases())
def test_layer_matches_torch(kind, case, backend):
    n, n_in, _, _, seed = case
    module, x, G = build_case(kind, case)
    if kind == "relu":  # torch's convention at the kink is a zero gradient: include exact zeros
        x[np.random.default_rng(seed).random(x.shape) < 0.2] = 0.0
    twin = torch_twin(module)
    x_t = torch.tensor(x, requires_grad=True)
    out_t = twin(x_t)
    out_t.backward(torch.from_numpy(G))

    model_to(module, backend)  # the twin was built from the host weights; ours run on the backend
    module.zero_grad()
    out = module(to_device(x, backend))
    grad_x = module.backward(to_device(G, backend))
    assert_on_backend(out, backend, "output")
    assert_on_backend(grad_x, backend, "input gradient")
    assert_torch_close(out, out_t.detach().numpy(), "output")
    assert_torch_close(grad_x, x_t.grad.numpy(), "input gradient")
    ours = dict(module.named_parameters())
    ref = torch_param_grads(module, twin)
    assert set(ours) == set(ref)
    for name, g_ref in ref.items():
        assert_torch_close(ours[name].grad, g_ref, name)


def assert_loss_scalar(value, backend):
    """A Python float on the host; a 0-d array that stays on the GPU (no sync)."""
    if backend == "numpy":
        assert isinstance(value, float)
    else:
        assert_on_backend(value, backend, "loss")
        assert value.shape == ()


@given(case=loss_cases())
def test_softmax_cross_entropy_matches_torch(case, backend):
    n, c, seed, scale = case
    rng = np.random.default_rng(seed)
    logits = scale * rng.standard_normal((n, c))
    labels = rng.integers(0, c, n).astype(np.uint8)  # unsigned labels (as in the IDX files) are fine
    g = float(rng.standard_normal())
    logits_t = torch.tensor(logits, requires_grad=True)
    loss_t = F.cross_entropy(logits_t, torch.from_numpy(labels.astype(np.int64)), reduction="mean")
    (g * loss_t).backward()

    loss_fn = SoftmaxCrossEntropy()
    value = loss_fn(to_device(logits, backend), to_device(labels, backend))
    assert_loss_scalar(value, backend)
    value = float(value)
    assert value == pytest.approx(loss_t.item(), rel=RTOL_TORCH, abs=ATOL_TORCH)
    grad = loss_fn.backward(g)
    assert_on_backend(grad, backend, "logits gradient")
    assert_torch_close(grad, logits_t.grad.numpy(), "logits gradient")


@given(case=loss_cases())
def test_mse_loss_matches_torch(case, backend):
    n, d, seed, scale = case
    rng = np.random.default_rng(seed)
    prediction = scale * rng.standard_normal((n, d))
    target = rng.standard_normal((n, d))
    g = float(rng.standard_normal())
    pred_t = torch.tensor(prediction, requires_grad=True)
    loss_t = F.mse_loss(pred_t, torch.from_numpy(target), reduction="mean")
    (g * loss_t).backward()

    loss_fn = MSELoss()
    value = loss_fn(to_device(prediction, backend), to_device(target, backend))
    assert_loss_scalar(value, backend)
    value = float(value)
    assert value == pytest.approx(loss_t.item(), rel=RTOL_TORCH, abs=ATOL_TORCH)
    grad = loss_fn.backward(g)
    assert_on_backend(grad, backend, "prediction gradient")
    assert_torch_close(grad, pred_t.grad.numpy(), "prediction gradient")


# ---------------------------------------------------------------------------
# Numerical stability and dtypes
# ---------------------------------------------------------------------------


def reference_cross_entropy(logits64: np.ndarray, labels: np.ndarray) -> float:
    """Mean cross-entropy in float64 via the shifted log-sum-exp, written out again here."""
    m = logits64.max(axis=1, keepdims=True)
    lse = m[:, 0] + np.log(np.exp(logits64 - m).sum(axis=1))
    return float(np.mean(lse - logits64[np.arange(len(labels)), labels]))


@pytest.mark.parametrize("offset", [1e4, -1e4, 3e4])
def test_softmax_cross_entropy_is_stable_for_huge_float32_logits(offset):
    rng = np.random.default_rng(7)
    # Logits around ±1e4 with a spread of hundreds: exp() of the raw logits overflows float32
    # (and float64), so only a shifted computation gives a finite answer.
    logits = (offset + 300 * rng.standard_normal((16, 10))).astype(np.float32)
    labels = rng.integers(0, 10, 16)
    loss_fn = SoftmaxCrossEntropy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # Overflow or an invalid operation would raise here; underflow of exp() to 0 is expected.
        with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
            value = loss_fn(logits, labels)
            grad = loss_fn.backward()
    assert math.isfinite(value)
    expected = reference_cross_entropy(logits.astype(np.float64), labels)
    assert value == pytest.approx(expected, rel=1e-5)
    assert grad.dtype == np.float32 and np.all(np.isfinite(grad))
    # The gradient, too, agrees with float64 softmax − onehot, over N.
    z = logits.astype(np.float64) - logits.astype(np.float64).max(axis=1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    p[np.arange(16), labels] -= 1
    np.testing.assert_allclose(grad, p / 16, rtol=1e-4, atol=1e-7)


def reference_sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)) in float64, written without overflow: exp(x) / (1 + exp(x)) for x < 0."""
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def test_sigmoid_and_tanh_saturate_without_overflow():
    x = np.array([[-1e4, -100.0, -20.0, 0.0, 20.0, 100.0, 1e4]], dtype=np.float32)
    # Overflow or an invalid operation would raise; underflow towards 0 is the right answer far left.
    with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
        s = Sigmoid()(x)
        t = Tanh()(x)
    assert s.dtype == np.float32 and t.dtype == np.float32
    assert np.all((s >= 0) & (s <= 1))
    assert s[0, 3] == 0.5 and s[0, -1] == 1.0 and s[0, 0] == 0.0
    # float32 denormals (below 1.2e-38) carry few digits, hence the absolute floor.
    np.testing.assert_allclose(s, reference_sigmoid(x).astype(np.float32), rtol=1e-6, atol=1e-40)
    np.testing.assert_array_equal(t[0, [0, 1, 3, 5, 6]], np.array([-1.0, -1.0, 0.0, 1.0, 1.0], dtype=np.float32))


def test_sigmoid_is_accurate_far_left():
    """sigmoid(-30) ≈ 9.4e-14: a formula like tanh(x/2)/2 + 1/2 loses every digit to cancellation there."""
    x = np.array([[-40.0, -30.0, -10.0, -1e-3, 1e-3, 10.0]])
    np.testing.assert_allclose(Sigmoid()(x), reference_sigmoid(x), rtol=1e-13, atol=0)


def test_float32_network_stays_float32_end_to_end():
    rng = np.random.default_rng(3)
    model = Sequential(Linear(12, 16, rng=rng), ReLU(), Linear(16, 8, rng=rng, init="glorot"), Sigmoid(),
                       Linear(8, 8, rng=rng), Tanh(), Linear(8, 5, rng=rng))
    x = rng.standard_normal((7, 12)).astype(np.float32)
    labels = rng.integers(0, 5, 7)
    for loss_fn, target in [(SoftmaxCrossEntropy(), labels),
                            (MSELoss(), rng.standard_normal((7, 5)).astype(np.float32))]:
        model.zero_grad()
        out = model(x)
        assert out.dtype == np.float32
        loss_fn(out, target)
        grad_out = loss_fn.backward()
        assert grad_out.dtype == np.float32
        grad_x = model.backward(grad_out)
        assert grad_x.dtype == np.float32
        for name, p in model.named_parameters():
            assert p.data.dtype == np.float32, name
            assert p.grad.dtype == np.float32, name
        # Each intermediate activation, too.
        h = x
        for layer in model.layers:
            h = layer(h)
            assert h.dtype == np.float32, layer


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("init", ["he", "glorot", scaled_normal(0.1)])
def test_linear_dtype_and_zero_bias(dtype, init):
    layer = Linear(6, 4, rng=np.random.default_rng(0), init=init, dtype=dtype)
    assert layer.weight.data.dtype == dtype and layer.bias.data.dtype == dtype
    assert layer.weight.grad.dtype == dtype and layer.bias.grad.dtype == dtype
    assert layer.weight.shape == (6, 4) and layer.bias.shape == (4,)
    np.testing.assert_array_equal(layer.bias.data, 0)
    np.testing.assert_array_equal(layer.weight.grad, 0)


# ---------------------------------------------------------------------------
# Initialisers
# ---------------------------------------------------------------------------

# On a 500 × 700 matrix (N = 350,000 draws) the sample variance of a uniform on ±L
# has relative standard error sqrt(L⁴/5 − L⁴/9)/(L²/3)/sqrt(N) = 0.894/sqrt(N) ≈ 0.0015,
# and the sample std of a normal has relative standard error 1/sqrt(2N) ≈ 0.0012.
# A 1% tolerance is more than 6 standard errors; the seeds are fixed, so the
# verdict is deterministic, and a wrong fan (fan_out instead of fan_in,
# fan_in + fan_out instead of fan_in) would be off by 8% or more.
FAN_IN, FAN_OUT = 500, 700
STAT_RTOL = 0.01


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_glorot_uniform_bounds_and_variance(dtype):
    w = glorot_uniform((FAN_IN, FAN_OUT), np.random.default_rng(11), dtype=dtype)
    assert w.shape == (FAN_IN, FAN_OUT) and w.dtype == dtype
    limit = math.sqrt(6 / (FAN_IN + FAN_OUT))
    assert np.abs(w).max() <= limit
    assert w.max() > 0.999 * limit and w.min() < -0.999 * limit  # it uses the whole interval
    w64 = w.astype(np.float64)
    assert abs(w64.mean()) < 5 * limit / math.sqrt(3 * w.size)
    assert w64.var() == pytest.approx(2 / (FAN_IN + FAN_OUT), rel=STAT_RTOL)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_he_normal_std(dtype):
    w = he_normal((FAN_IN, FAN_OUT), np.random.default_rng(12), dtype=dtype)
    assert w.shape == (FAN_IN, FAN_OUT) and w.dtype == dtype
    std = math.sqrt(2 / FAN_IN)
    w64 = w.astype(np.float64)
    assert abs(w64.mean()) < 5 * std / math.sqrt(w.size)
    assert w64.std() == pytest.approx(std, rel=STAT_RTOL)
    # Normal, not uniform: the kurtosis of a normal is 3 (a uniform's is 1.8).
    assert np.mean(w64**4) / np.mean(w64**2) ** 2 == pytest.approx(3.0, abs=0.05)


def test_initialisers_are_reproducible_per_seed():
    for init in (glorot_uniform, he_normal, scaled_normal(0.5)):
        a = init((4, 3), np.random.default_rng(5))
        b = init((4, 3), np.random.default_rng(5))
        c = init((4, 3), np.random.default_rng(6))
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, c)
    assert INITIALISERS["he"] is he_normal and INITIALISERS["glorot"] is glorot_uniform


def test_scaled_normal_std():
    w = scaled_normal(0.05)((FAN_IN, FAN_OUT), np.random.default_rng(13))
    assert w.dtype == np.float32
    assert w.astype(np.float64).std() == pytest.approx(0.05, rel=STAT_RTOL)


# ---------------------------------------------------------------------------
# Parameters, names, zero_grad
# ---------------------------------------------------------------------------


def test_named_parameters_of_a_sequential():
    rng = np.random.default_rng(0)
    model = Sequential(Linear(4, 3, rng=rng), ReLU(), Linear(3, 3, rng=rng), Tanh(), Linear(3, 2, rng=rng))
    names = [name for name, _ in model.named_parameters()]
    assert names == ["layers.0.weight", "layers.0.bias", "layers.2.weight", "layers.2.bias",
                     "layers.4.weight", "layers.4.bias"]
    params = model.parameters()
    assert params[0] is model.layers[0].weight and params[-1] is model.layers[4].bias
    assert all(isinstance(p, Parameter) for p in params)
    # Nested containers get nested names.
    outer = Sequential(model, Linear(2, 2, rng=rng))
    assert [n for n, _ in outer.named_parameters()][:2] == ["layers.0.layers.0.weight", "layers.0.layers.0.bias"]
    assert [n for n, _ in outer.named_parameters()][-1] == "layers.1.bias"
    assert [n for n, _ in ReLU().named_parameters()] == []


def test_zero_grad_zeroes_every_gradient_in_place():
    rng = np.random.default_rng(0)
    model = Sequential(Linear(4, 3, rng=rng), ReLU(), Linear(3, 2, rng=rng))
    out = model(rng.standard_normal((5, 4)).astype(np.float32))
    model.backward(rng.standard_normal(out.shape).astype(np.float32))
    grads = [p.grad for p in model.parameters()]
    assert all(np.any(g != 0) for g in grads)
    model.zero_grad()
    for p, g in zip(model.parameters(), grads):
        assert p.grad is g  # in place, so an optimiser holding the array sees the zeros
        np.testing.assert_array_equal(p.grad, 0)


def test_parameter_grad_matches_data():
    p = Parameter(np.ones((2, 3), dtype=np.float32))
    assert p.grad.shape == (2, 3) and p.grad.dtype == np.float32
    np.testing.assert_array_equal(p.grad, 0)
    assert p.grad is not p.data
    assert p.shape == (2, 3)


def test_module_base_class_is_abstract():
    with pytest.raises(NotImplementedError):
        Module()(np.zeros(1))
    with pytest.raises(NotImplementedError):
        Module().backward(np.zeros(1))


# ---------------------------------------------------------------------------
# Bad input: errors from our code, naming what is wrong
# ---------------------------------------------------------------------------


def test_linear_wrong_feature_size_names_layer_and_sizes():
    layer = Linear(784, 128, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"Linear\(784, 128\).*784.*\(32, 100\)") as info:
        layer(np.zeros((32, 100), dtype=np.float32))
    assert raises_here(info)
    named = Linear(3, 2, rng=np.random.default_rng(0), name="hidden1")
    with pytest.raises(ValueError, match=r"hidden1.*\(N, 3\).*\(4, 5\)") as info:
        named(np.zeros((4, 5)))
    assert raises_here(info)
    # A 1-D or 3-D input is refused too, rather than broadcast.
    for bad in (np.zeros(3), np.zeros((2, 2, 3))):
        with pytest.raises(ValueError, match=r"hidden1.*\(N, 3\)") as info:
            named(bad)
        assert raises_here(info)


@pytest.mark.parametrize("layer_dtype, input_dtype", [(np.float32, np.float64), (np.float64, np.float32),
                                                      (np.float32, np.int64)])
def test_linear_refuses_an_input_of_another_dtype(layer_dtype, input_dtype):
    """A float64 batch into a float32 layer would silently upcast everything after it (GUIDE §4)."""
    layer = Linear(3, 2, rng=np.random.default_rng(0), dtype=layer_dtype, name="fc")
    with pytest.raises(ValueError, match=rf"fc.*{np.dtype(input_dtype)}.*{np.dtype(layer_dtype)}") as info:
        layer(np.zeros((4, 3), dtype=input_dtype))
    assert raises_here(info)


def test_linear_backward_before_forward_is_an_error():
    layer = Linear(3, 2, rng=np.random.default_rng(0), name="fc")
    with pytest.raises(RuntimeError, match=r"fc.*before forward") as info:
        layer.backward(np.zeros((4, 2), dtype=np.float32))
    assert raises_here(info)


def test_linear_unknown_initialiser_name():
    with pytest.raises(ValueError, match=r"unknown initialiser 'xavier'.*glorot.*he") as info:
        Linear(3, 2, init="xavier")
    assert raises_here(info)


def test_softmax_cross_entropy_rejects_logits_that_are_not_a_matrix():
    for logits in (np.zeros(4), np.zeros((2, 3, 4))):
        with pytest.raises(ValueError, match=r"SoftmaxCrossEntropy.*\(N, C\)") as info:
            SoftmaxCrossEntropy()(logits, np.zeros(2, dtype=int))
        assert raises_here(info)


def test_linear_inside_sequential_names_the_failing_layer():
    rng = np.random.default_rng(0)
    model = Sequential(Linear(4, 3, rng=rng), ReLU(), Linear(5, 2, rng=rng))
    with pytest.raises(ValueError, match=r"Linear\(5, 2\).*\(N, 5\).*\(2, 3\)") as info:
        model(np.zeros((2, 4), dtype=np.float32))
    assert raises_here(info)


@pytest.mark.parametrize(
    "labels, pattern",
    [
        (np.array([0, 1, -1]), r"0\.\.3.*-1"),  # negative
        (np.array([0, 4, 1]), r"0\.\.3.*4"),  # == C
        (np.array([0, 1, 9]), r"0\.\.3.*9"),  # > C
        (np.array([0.0, 1.0, 2.0]), r"integer.*float64"),  # float labels
        (np.array([True, False, True]), r"integer.*bool"),  # bool labels
        (np.array([0, 1]), r"shape \(3,\).*\(2,\)"),  # too few
        (np.array([[0], [1], [2]]), r"shape \(3,\).*\(3, 1\)"),  # one-hot-like column
        (np.array([[1, 0, 0, 0]] * 3), r"shape \(3,\).*\(3, 4\)"),  # one-hot
    ],
    ids=["negative", "equal-C", "above-C", "float", "bool", "too-few", "column", "one-hot"],
)
def test_softmax_cross_entropy_rejects_bad_labels(labels, pattern):
    logits = np.zeros((3, 4))
    with pytest.raises(ValueError, match=pattern) as info:
        SoftmaxCrossEntropy()(logits, labels)
    assert raises_here(info)
    assert "SoftmaxCrossEntropy" in str(info.value)


def test_mse_loss_rejects_shape_mismatch():
    with pytest.raises(ValueError, match=r"MSELoss.*\(4, 3\).*\(4, 1\)") as info:
        MSELoss()(np.zeros((4, 3)), np.zeros((4, 1)))
    assert raises_here(info)
    with pytest.raises(ValueError, match=r"MSELoss.*\(4,\).*\(4, 1\)") as info:  # no silent broadcast
        MSELoss()(np.zeros(4), np.zeros((4, 1)))
    assert raises_here(info)
