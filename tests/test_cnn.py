"""Tests of nnfs.cnn (Chapter 6: Conv2d by im2col, MaxPool2d, Flatten and a LeNet-style network).

Every backward pass is checked against central finite differences of
``sum(out * G)`` with a *random* upstream gradient G in float64, and against
PyTorch (``F.conv2d``, ``F.max_pool2d``, autograd with the same G) on shapes,
strides, paddings and channel counts drawn by hypothesis.  The whole LeNet is
checked against a functional PyTorch twin built from our weights: logits, loss
and the gradient of every parameter.  Reference values are computed in the
test, never copied from the module.

Like PyTorch, the output size is floor((H + 2p - k) / s) + 1: the last
(H + 2p - k) mod s rows of the padded input are never read and get a zero
gradient. The shapes compared with PyTorch are drawn freely (size, kernel,
stride and padding independently), so most of them do not divide evenly.
MaxPool2d pads with -inf, like F.max_pool2d (ceil_mode=False), and is also
compared on inputs with ties, -inf and NaN.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from nnfs.backend import get_array_module, to_host
from nnfs.cnn import Conv2d, Flatten, MaxPool2d, lenet, output_size
from nnfs.nn import Linear, SoftmaxCrossEntropy

from helpers import numerical_grad, raised_by_module  # noqa: E402

pytestmark = pytest.mark.ch6

F64 = np.float64
EPS_FD = 1e-6        # central-difference step
TOL_FD = 1e-7        # relative error against finite differences (observed <= 2e-9: the layers are piecewise linear)
RTOL_TORCH = 1e-10   # against torch in float64, relative to the tensor's largest entry (observed ~1e-15)
RTOL_F32 = 1e-5      # float32 against a float64 reference (observed ~3e-7: a few float32 ulps per sum)

raises_here = raised_by_module("nnfs.cnn")


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------

def grad_rel_err(analytic, numeric) -> float:
    """max|a - n| / max|a|: the error against the scale of the tensor's gradient (absolute if it is all zero)."""
    a, n = np.asarray(analytic, dtype=F64), np.asarray(numeric, dtype=F64)
    assert a.shape == n.shape, (a.shape, n.shape)
    diff = float(np.abs(a - n).max())
    scale = float(np.abs(a).max())
    return diff if scale == 0 else diff / scale


def assert_fd_close(analytic, numeric, what: str) -> None:
    err = grad_rel_err(analytic, numeric)
    assert err < TOL_FD, f"{what}: relative error {err:.3g} against central differences"


def check_module_gradients(module, x: np.ndarray, rng, what: str) -> None:
    """Input and every parameter gradient of ``module`` against central differences of sum(out * G)."""
    x = x.copy()
    x_before = x.copy()
    out = module(x)
    np.testing.assert_array_equal(x, x_before)  # forward never mutates its input
    G = rng.standard_normal(out.shape)

    def loss():
        return float(np.sum(module(x) * G))

    num_x = numerical_grad(loss, x)
    num_params = {name: numerical_grad(loss, p.data) for name, p in module.named_parameters()}
    module.zero_grad()
    module(x)
    G_before = G.copy()
    grad_x = module.backward(G)
    np.testing.assert_array_equal(G, G_before)  # the incoming gradient is never mutated
    assert grad_x.shape == x.shape and grad_x.dtype == F64
    assert_fd_close(grad_x, num_x, f"{what}: input")
    for name, p in module.named_parameters():
        assert p.grad.shape == p.data.shape and p.grad.dtype == F64, name
        assert_fd_close(p.grad, num_params[name], f"{what}: {name}")


def make_conv(c, o, kernel, stride, padding, seed, dtype=F64) -> Conv2d:
    """A Conv2d with a random (not zero) bias, so that a bias that is never added would be caught."""
    rng = np.random.default_rng(seed)
    conv = Conv2d(c, o, kernel, stride=stride, padding=padding, rng=rng, dtype=dtype)
    conv.bias.data[...] = 0.5 * rng.standard_normal(o)
    return conv


def assert_close(ours, ref, rtol: float, what: str) -> None:
    """Entry by entry within rtol of the reference, where entries near zero are judged against the tensor's scale."""
    ours = to_host(ours)
    ref = np.asarray(ref)
    assert ours.shape == ref.shape, f"{what}: shape {ours.shape}, expected {ref.shape}"
    scale = float(np.abs(ref).max()) if ref.size else 0.0
    np.testing.assert_allclose(ours, ref, rtol=rtol, atol=rtol * scale, err_msg=what)


def pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


# ---------------------------------------------------------------------------
# output_size
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("size, kernel, stride, padding, expected", [
    (28, 5, 1, 2, 28), (28, 5, 1, 0, 24), (7, 3, 2, 1, 4), (4, 4, 1, 0, 1), (3, 5, 1, 1, 1), (9, 3, 3, 0, 3),
    (28, 3, 2, 1, 14), (8, 3, 2, 1, 4), (28, 5, 2, 0, 12), (7, 2, 2, 0, 3), (6, 3, 2, 0, 2), (29, 3, 3, 0, 9),
])
def test_output_size_formula(size, kernel, stride, padding, expected):
    assert output_size(size, kernel, stride, padding, "here") == expected
    assert expected == (size + 2 * padding - kernel) // stride + 1


def test_output_size_rejects_a_kernel_that_does_not_fit():
    with pytest.raises(ValueError, match=r"somewhere: kernel size 5 is larger than the padded input "
                                         r"\(2 \+ 2\*1 = 4\)") as info:
        output_size(2, 5, 1, 1, "somewhere")
    assert raises_here(info)
    assert output_size(2, 4, 3, 1, "fits exactly") == 1


@pytest.mark.parametrize("size, kernel, stride, padding", [
    (28, 3, 2, 1), (29, 3, 3, 0), (11, 2, 4, 0), (14, 5, 4, 0), (9, 4, 3, 1), (16, 3, 5, 0),
])
def test_conv2d_never_reads_the_last_span_mod_stride_rows(size, kernel, stride, padding):
    """Changing the input rows and columns beyond the last window changes neither output nor gradients."""
    rng = np.random.default_rng(size * 100 + stride)
    unread = (size + 2 * padding - kernel) % stride   # rows of the padded input never read
    lost = max(unread - padding, 0)                   # ... that are pixels of the image
    conv = make_conv(1, 2, kernel, stride, padding, seed=3)
    x = rng.standard_normal((1, 1, size, size))
    out = conv(x)
    G = rng.standard_normal(out.shape)
    grad_x = conv.backward(G)
    x2 = x.copy()
    if lost:
        x2[:, :, size - lost:, :] += 1.0
        x2[:, :, :, size - lost:] += 1.0
        assert np.all(grad_x[:, :, size - lost:, :] == 0) and np.all(grad_x[:, :, :, size - lost:] == 0)
    np.testing.assert_array_equal(conv(x2), out)
    if lost:   # one row more changes the output: exactly ``lost`` rows are unread
        x2[:, :, size - lost - 1, :] += 1.0
        assert not np.array_equal(conv(x2), out)


# ---------------------------------------------------------------------------
# Gradient checks against central differences (float64)
# ---------------------------------------------------------------------------

# (N, C, H, W, out_channels, kernel, stride, padding)
CONV_CASES = [
    (2, 3, 5, 5, 4, 3, 1, 0),
    (2, 2, 6, 6, 3, 3, 1, 1),                      # "same" padding
    (1, 2, 7, 5, 3, (3, 2), (2, 1), (1, 0)),       # non-square kernel, stride and padding
    (2, 1, 8, 9, 2, (2, 3), (2, 3), 0),            # stride equal to the kernel, different per axis
    (1, 2, 6, 6, 2, 2, 3, 1),                      # stride > kernel: some pixels are never read
    (2, 3, 4, 4, 2, 1, 1, 0),                      # 1x1 convolution
    (1, 2, 3, 3, 2, 5, 1, 1),                      # kernel as large as the padded input: 1x1 output
    (2, 1, 6, 6, 2, 5, 1, 2),                      # padding 2 with a 5x5 kernel
    (1, 1, 1, 1, 1, 1, 1, 0),                      # one pixel
    (2, 2, 8, 8, 3, 3, 2, 1),                      # 8 + 2 - 3 = 7 is odd: the last padded row is unread
    (1, 2, 7, 6, 2, 5, 2, 0),                      # 7 - 5 = 2 but 6 - 5 = 1: the last image column is unread
    (1, 1, 9, 10, 2, (4, 3), (3, 4), (1, 2)),      # remainders 1 and 3: one image column unread
]


@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: "N{}C{}H{}W{}O{}-k{}-s{}-p{}".format(*c))
def test_conv2d_gradients_match_central_differences(case):
    n, c, h, w, o, kernel, stride, padding = case
    rng = np.random.default_rng(zlib.crc32(repr(case).encode()))
    conv = make_conv(c, o, kernel, stride, padding, seed=int(rng.integers(2**31)))
    x = rng.standard_normal((n, c, h, w))
    (kh, kw), (sh, sw), (ph, pw) = pair(kernel), pair(stride), pair(padding)
    assert conv(x).shape == (n, o, (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1)
    check_module_gradients(conv, x, rng, f"Conv2d{case}")


# (N, C, H, W, kernel, stride, padding)
POOL_CASES = [
    (2, 2, 4, 4, 2, None, 0),                      # the default: stride = kernel
    (1, 2, 7, 7, 3, 2, 0),                         # overlapping windows (stride < kernel)
    (2, 1, 5, 5, 2, 1, 0),                         # overlapping, stride 1
    (2, 1, 6, 5, (2, 3), (2, 1), 0),               # non-square kernel and stride
    (1, 2, 5, 5, 2, 3, 0),                         # stride > kernel: some pixels are never read
    (1, 3, 6, 9, 3, None, 0),
    (2, 1, 3, 3, 1, None, 0),                      # a 1x1 window: the identity
    (1, 2, 7, 7, 2, None, 0),                      # 7 = 3*2 + 1: the last row and column are unread
    (2, 1, 8, 8, 3, 2, 1),                         # the downsampling pool of ResNet: -inf padding
    (1, 2, 6, 7, (3, 2), (2, 3), (1, 1)),          # padding per axis, remainders 1 and 1
]


@pytest.mark.parametrize("case", POOL_CASES, ids=lambda c: "N{}C{}H{}W{}-k{}-s{}-p{}".format(*c))
def test_maxpool2d_gradients_match_central_differences(case):
    n, c, h, w, kernel, stride, padding = case
    rng = np.random.default_rng(zlib.crc32(repr(case).encode()))
    pool = MaxPool2d(kernel, stride, padding)
    x = rng.standard_normal((n, c, h, w))  # continuous values: no ties, and no tie within 2*EPS_FD
    (kh, kw), (ph, pw) = pair(kernel), pair(padding)
    (sh, sw) = pair(stride) if stride is not None else (kh, kw)
    out = pool(x)
    assert out.shape == (n, c, (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1)
    # The forward, computed here window by window over the -inf-padded input.
    x_pad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=-np.inf)
    expected = np.empty(out.shape)
    for i, j in np.ndindex(out.shape[2:]):
        expected[:, :, i, j] = x_pad[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw].max(axis=(2, 3))
    np.testing.assert_array_equal(out, expected)
    check_module_gradients(pool, x, rng, f"MaxPool2d{case}")
    assert pool.parameters() == []


def test_flatten_gradient_and_shapes():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 2, 4, 5))
    flat = Flatten()
    out = flat(x)
    assert out.shape == (3, 40)
    np.testing.assert_array_equal(out, x.reshape(3, -1))  # C, then H, then W: torch's flatten(1)
    np.testing.assert_array_equal(out, torch.from_numpy(x).flatten(1).numpy())
    check_module_gradients(flat, x, rng, "Flatten")
    assert flat.parameters() == []


# ---------------------------------------------------------------------------
# Parity with PyTorch
# ---------------------------------------------------------------------------

@st.composite
def axis_cases(draw, pool: bool = False):
    """(size, kernel, stride, padding) along one axis, drawn independently: (size + 2p - k) mod s is often
    nonzero. The kernel always fits the padded input; a pool's padding is at most kernel // 2, as torch requires."""
    kernel = draw(st.integers(1, 5))
    stride = draw(st.integers(1, 4))
    padding = draw(st.integers(0, kernel // 2 if pool else 2))
    size = draw(st.integers(max(1, kernel - 2 * padding), kernel - 2 * padding + 3 * stride + 3))
    return size, kernel, stride, padding


@st.composite
def conv_cases(draw):
    (h, kh, sh, ph), (w, kw, sw, pw) = draw(axis_cases()), draw(axis_cases())
    n, c, o = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 4))
    seed = draw(st.integers(0, 2**32 - 1))
    return n, c, h, w, o, (kh, kw), (sh, sw), (ph, pw), seed


def torch_conv_reference(conv: Conv2d, x: np.ndarray, G: np.ndarray):
    """Output and gradients (input, weight, bias) of F.conv2d in float64 with our weights and upstream G."""
    x_t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    w_t = torch.tensor(conv.weight.data, dtype=torch.float64, requires_grad=True)
    b_t = torch.tensor(conv.bias.data, dtype=torch.float64, requires_grad=True)
    out_t = F.conv2d(x_t, w_t, b_t, stride=conv.stride, padding=conv.padding)
    out_t.backward(torch.tensor(G, dtype=torch.float64))
    return out_t.detach().numpy(), x_t.grad.numpy(), w_t.grad.numpy(), b_t.grad.numpy()


@given(case=conv_cases())
def test_conv2d_matches_torch(case):
    n, c, h, w, o, kernel, stride, padding, seed = case
    rng = np.random.default_rng(seed)
    conv = make_conv(c, o, kernel, stride, padding, seed)
    x = rng.standard_normal((n, c, h, w))
    out = conv(x)
    G = rng.standard_normal(out.shape)
    grad_x = conv.backward(G)
    out_ref, gx_ref, gw_ref, gb_ref = torch_conv_reference(conv, x, G)
    assert out.dtype == F64
    assert_close(out, out_ref, RTOL_TORCH, "output")
    assert_close(grad_x, gx_ref, RTOL_TORCH, "input gradient")
    assert_close(conv.weight.grad, gw_ref, RTOL_TORCH, "weight gradient")
    assert_close(conv.bias.grad, gb_ref, RTOL_TORCH, "bias gradient")


def test_conv2d_float32_matches_torch_float64_reference():
    rng = np.random.default_rng(11)
    conv = make_conv(3, 5, (3, 2), (2, 1), (1, 1), seed=12, dtype=np.float32)
    x = rng.standard_normal((4, 3, 9, 8)).astype(np.float32)
    out = conv(x)
    G = rng.standard_normal(out.shape).astype(np.float32)
    grad_x = conv.backward(G)
    assert out.dtype == grad_x.dtype == conv.weight.grad.dtype == conv.bias.grad.dtype == np.float32
    # The reference: the same float32 numbers, computed exactly enough in float64.
    out_ref, gx_ref, gw_ref, gb_ref = torch_conv_reference(conv, x.astype(F64), G.astype(F64))
    assert_close(out, out_ref, RTOL_F32, "output")
    assert_close(grad_x, gx_ref, RTOL_F32, "input gradient")
    assert_close(conv.weight.grad, gw_ref, RTOL_F32, "weight gradient")
    assert_close(conv.bias.grad, gb_ref, RTOL_F32, "bias gradient")


@st.composite
def pool_cases(draw):
    (h, kh, sh, ph), (w, kw, sw, pw) = draw(axis_cases(pool=True)), draw(axis_cases(pool=True))
    default_stride = draw(st.booleans())
    if default_stride:  # stride=None means stride = kernel
        sh, sw = kh, kw
    n, c = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    values = draw(st.sampled_from(["normal", "ties", "specials"]))
    seed = draw(st.integers(0, 2**32 - 1))
    return n, c, h, w, (kh, kw), None if default_stride else (sh, sw), (ph, pw), values, seed


def pool_input(rng, shape, values: str) -> np.ndarray:
    """Continuous values, few distinct values (ties), or ties with -inf and NaN mixed in."""
    if values == "normal":
        return rng.standard_normal(shape)
    x = rng.integers(-1, 2, shape).astype(F64)
    if values == "specials":
        x[rng.random(shape) < 0.2] = -np.inf
        x[rng.random(shape) < 0.1] = np.nan
    return x


def torch_pool_reference(x, G, kernel, stride, padding):
    x_t = torch.tensor(x, requires_grad=True)
    out_t = F.max_pool2d(x_t, kernel_size=kernel, stride=stride if stride is not None else kernel,
                         padding=padding, ceil_mode=False)
    out_t.backward(torch.from_numpy(G))
    return out_t.detach().numpy(), x_t.grad.numpy()


@given(case=pool_cases())
def test_maxpool2d_matches_torch(case):
    """Output and input gradient equal F.max_pool2d's exactly, with floors, -inf padding, ties, -inf and NaN."""
    n, c, h, w, kernel, stride, padding, values, seed = case
    rng = np.random.default_rng(seed)
    pool = MaxPool2d(kernel, stride, padding)
    x = pool_input(rng, (n, c, h, w), values)
    out = pool(x)
    G = rng.standard_normal(out.shape)
    grad_x = pool.backward(G)
    out_ref, grad_ref = torch_pool_reference(x, G, kernel, stride, padding)
    np.testing.assert_array_equal(out, out_ref)   # a max selects, it does not round; NaN where torch has NaN
    # Where windows overlap, torch may add a pixel's gradients in another order: compare with a tolerance.
    assert_close(grad_x, grad_ref, RTOL_TORCH, "input gradient")


def test_maxpool2d_float32_matches_torch():
    rng = np.random.default_rng(5)
    pool = MaxPool2d(3, 2)
    x = rng.standard_normal((2, 3, 9, 7)).astype(np.float32)
    out = pool(x)
    G = rng.standard_normal(out.shape).astype(np.float32)
    grad_x = pool.backward(G)
    assert out.dtype == grad_x.dtype == np.float32
    x_t = torch.tensor(x, requires_grad=True)
    out_t = F.max_pool2d(x_t, kernel_size=3, stride=2)
    out_t.backward(torch.from_numpy(G))
    np.testing.assert_array_equal(out, out_t.detach().numpy())        # a max selects, it does not round
    assert_close(grad_x, x_t.grad.numpy(), RTOL_F32, "input gradient")  # overlapping windows add float32s


def test_maxpool2d_ties_send_the_gradient_to_one_entry_like_torch():
    """On a tie the whole gradient goes to the first maximum in row-major order (torch's CPU convention)."""
    rng = np.random.default_rng(6)
    x = rng.integers(0, 3, (2, 3, 6, 8)).astype(F64)   # few distinct values: many ties
    x[0, 0] = 1.0                                       # a channel that is one big tie
    pool = MaxPool2d(2)
    out = pool(x)
    G = rng.standard_normal(out.shape)
    grad_x = pool.backward(G)
    np.testing.assert_allclose(grad_x.sum(axis=(2, 3)), G.sum(axis=(2, 3)), rtol=1e-13)  # neither split nor doubled
    assert np.count_nonzero(grad_x) == G.size
    np.testing.assert_array_equal(grad_x[0, 0, ::2, ::2], G[0, 0])   # the top-left entry of each window wins
    x_t = torch.tensor(x, requires_grad=True)
    F.max_pool2d(x_t, 2).backward(torch.from_numpy(G))
    np.testing.assert_array_equal(grad_x, x_t.grad.numpy())


def test_maxpool2d_padding_never_wins_even_against_minus_infinity():
    """A window whose pixels are all -inf still sends its gradient to a pixel (the first), not to the padding."""
    rng = np.random.default_rng(8)
    x = rng.standard_normal((1, 2, 5, 6))
    x[0, 0] = -np.inf
    x[0, 1, :2, :2] = -np.inf
    pool = MaxPool2d(3, 2, 1)
    out = pool(x)
    G = rng.standard_normal(out.shape)
    grad_x = pool.backward(G)
    out_ref, grad_ref = torch_pool_reference(x, G, 3, 2, 1)
    np.testing.assert_array_equal(out, out_ref)
    np.testing.assert_allclose(grad_x.sum(), G.sum(), rtol=1e-12)  # no gradient lost in the padding
    assert_close(grad_x, grad_ref, RTOL_TORCH, "input gradient")


# ---------------------------------------------------------------------------
# Accumulation and misuse
# ---------------------------------------------------------------------------

def test_conv2d_gradients_accumulate_across_backward_calls():
    rng = np.random.default_rng(7)
    conv = make_conv(2, 3, 3, 1, 1, seed=8)
    x1, x2 = rng.standard_normal((2, 2, 5, 5)), rng.standard_normal((2, 2, 5, 5))
    G1, G2 = rng.standard_normal((2, 3, 5, 5)), rng.standard_normal((2, 3, 5, 5))

    conv(x1)
    gx1 = conv.backward(G1)
    w1, b1 = conv.weight.grad.copy(), conv.bias.grad.copy()
    assert np.abs(w1).max() > 0 and np.abs(b1).max() > 0
    gx1_again = conv.backward(G1)                      # the same forward, a second backward: adds again
    np.testing.assert_array_equal(gx1_again, gx1)      # the input gradient is returned, not accumulated
    np.testing.assert_allclose(conv.weight.grad, 2 * w1, rtol=1e-15)
    np.testing.assert_allclose(conv.bias.grad, 2 * b1, rtol=1e-15)

    conv.zero_grad()
    conv(x2)
    conv.backward(G2)
    w2, b2 = conv.weight.grad.copy(), conv.bias.grad.copy()
    conv.zero_grad()
    conv(x1)
    conv.backward(G1)
    conv(x2)
    conv.backward(G2)
    np.testing.assert_allclose(conv.weight.grad, w1 + w2, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(conv.bias.grad, b1 + b2, rtol=1e-12, atol=1e-14)


def test_conv2d_without_input_grad_gives_the_same_parameter_gradients():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 3, 9, 8))
    layers = [Conv2d(3, 4, 3, stride=2, padding=1, dtype=F64, input_grad=flag,
                     rng=np.random.default_rng(1)) for flag in (True, False)]
    g = rng.standard_normal(layers[0](x).shape)
    grads = [layer.backward(g) if layer(x) is not None else None
             for layer in layers]
    assert grads[0].shape == x.shape and grads[1] is None
    for name in ("weight", "bias"):
        a, b = (getattr(layer, name).grad for layer in layers)
        assert np.abs(a).max() > 0
        np.testing.assert_array_equal(a, b, err_msg=name)


def test_maxpool2d_backward_twice_gives_the_same_input_gradient():
    rng = np.random.default_rng(9)
    pool = MaxPool2d(3, 2)
    x = rng.standard_normal((1, 2, 7, 7))
    G = rng.standard_normal(pool(x).shape)
    np.testing.assert_array_equal(pool.backward(G), pool.backward(G))


@pytest.mark.parametrize("stride,padding", [(1, 0), (2, 1)])
def test_conv2d_input_gradient_is_a_contiguous_nchw_array(stride, padding):
    """col2im runs in (C, H, W, N) order; what backward returns is copied back
    to NCHW, so the layer below reads contiguous memory."""
    rng = np.random.default_rng(4)
    conv = Conv2d(3, 4, 3, stride=stride, padding=padding, rng=rng)
    x = rng.standard_normal((5, 3, 9, 8)).astype(np.float32)
    grad_x = conv.backward(rng.standard_normal(conv(x).shape).astype(np.float32))
    assert grad_x.shape == x.shape and grad_x.dtype == x.dtype
    assert grad_x.flags.c_contiguous


@pytest.mark.parametrize("layer", [Conv2d(1, 2, 3), MaxPool2d(2)], ids=["Conv2d", "MaxPool2d"])
def test_backward_before_forward_raises(layer):
    with pytest.raises(RuntimeError, match="before forward") as info:
        layer.backward(np.zeros((1, 2, 2, 2), dtype=np.float32))
    assert raises_here(info)
    assert repr(layer).split("(")[0] in str(info.value)  # names the layer


# ---------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------

def test_conv2d_kernel_larger_than_padded_input_names_the_sizes():
    conv = Conv2d(1, 2, 5, padding=1)
    with pytest.raises(ValueError) as info:
        conv(np.zeros((1, 1, 2, 2), np.float32))
    assert raises_here(info)
    message = str(info.value)
    assert "Conv2d(1, 2, kernel_size=5" in message and "along the height" in message
    assert "kernel size 5 is larger than the padded input (2 + 2*1 = 4)" in message


@pytest.mark.parametrize("size", [28, 8, 7])
def test_the_common_downsampling_layers_floor_like_torch(size):
    """Conv2d(k=3, s=2, p=1) and MaxPool2d(2) on sizes where the stride does not divide the span."""
    rng = np.random.default_rng(size)
    conv = make_conv(2, 3, 3, 2, 1, seed=size)
    x = rng.standard_normal((2, 2, size, size))
    out = conv(x)
    assert out.shape == (2, 3, (size + 2 - 3) // 2 + 1, (size + 2 - 3) // 2 + 1)
    G = rng.standard_normal(out.shape)
    grad_x = conv.backward(G)
    for ours, ref, what in zip((out, grad_x, conv.weight.grad, conv.bias.grad), torch_conv_reference(conv, x, G),
                               ("output", "input gradient", "weight gradient", "bias gradient")):
        assert_close(ours, ref, RTOL_TORCH, what)
    pool = MaxPool2d(2)
    pooled = pool(x)
    assert pooled.shape == (2, 2, size // 2, size // 2)
    G = rng.standard_normal(pooled.shape)
    out_ref, grad_ref = torch_pool_reference(x, G, 2, None, 0)
    np.testing.assert_array_equal(pooled, out_ref)
    np.testing.assert_array_equal(pool.backward(G), grad_ref)


def test_maxpool2d_rejects_a_kernel_that_does_not_fit_or_too_much_padding():
    with pytest.raises(ValueError, match=r"MaxPool2d\(kernel_size=3.*kernel size 3 is larger than the padded "
                                         r"input \(2 \+ 2\*0 = 2\)") as info:
        MaxPool2d(3)(np.zeros((1, 1, 2, 5), np.float32))
    assert raises_here(info)
    with pytest.raises(ValueError, match=r"padding must be at most half the kernel size \(3 // 2 = 1\); "
                                         r"got 2") as info:
        MaxPool2d(3, padding=2)
    assert raises_here(info)
    with pytest.raises(RuntimeError, match="pad should be at most half"):   # torch refuses it too
        F.max_pool2d(torch.zeros(1, 1, 5, 5), 3, padding=2)


def test_conv2d_rejects_the_wrong_number_of_channels_naming_itself():
    conv = Conv2d(3, 4, 3)
    with pytest.raises(ValueError) as info:
        conv(np.zeros((2, 1, 8, 8), np.float32))
    assert raises_here(info)
    message = str(info.value)
    assert "Conv2d(3, 4, kernel_size=3" in message
    assert "expected 3 input channel" in message and "(2, 1, 8, 8)" in message


@pytest.mark.parametrize("shape", [(3, 8, 8), (8, 8), (1, 1, 1, 8, 8)])
@pytest.mark.parametrize("layer", [Conv2d(3, 4, 3), MaxPool2d(2)], ids=["Conv2d", "MaxPool2d"])
def test_non_4d_input_is_rejected(layer, shape):
    with pytest.raises(ValueError, match=r"expected images of shape \(N, C, H, W\)") as info:
        layer(np.zeros(shape, np.float32))
    assert raises_here(info)
    assert repr(layer) in str(info.value) and str(shape) in str(info.value)


@pytest.mark.parametrize("layer_dtype, input_dtype", [(np.float32, np.float64), (np.float64, np.float32),
                                                      (np.float32, np.int64)])
def test_conv2d_rejects_a_dtype_mismatch(layer_dtype, input_dtype):
    conv = Conv2d(1, 2, 3, dtype=layer_dtype)
    with pytest.raises(ValueError) as info:
        conv(np.zeros((1, 1, 5, 5), dtype=input_dtype))
    assert raises_here(info)
    message = str(info.value)
    assert "Conv2d(1, 2" in message
    assert np.dtype(input_dtype).name in message and np.dtype(layer_dtype).name in message


@pytest.mark.parametrize("kwargs, bad", [
    (dict(kernel_size=0), "kernel_size"), (dict(kernel_size=(3, 0)), "kernel_size"),
    (dict(kernel_size=-1), "kernel_size"), (dict(kernel_size=(2, 2, 2)), "kernel_size"),
    (dict(kernel_size=3, padding=-1), "padding"), (dict(kernel_size=3, padding=(0, -2)), "padding"),
    (dict(kernel_size=3, stride=0), "stride"), (dict(kernel_size=3, stride=(1, 0)), "stride"),
    (dict(kernel_size=3, stride=-2), "stride"),
], ids=repr)
def test_conv2d_rejects_bad_constructor_arguments(kwargs, bad):
    with pytest.raises(ValueError, match=rf"^{bad} must be an integer >= [01]") as info:
        Conv2d(1, 1, **kwargs)
    assert raises_here(info)
    assert repr(kwargs[bad]) in str(info.value)


@pytest.mark.parametrize("kernel_size, stride, padding", [
    (0, None, 0), ((2, 0), None, 0), (2, 0, 0), (2, (0, 1), 0), (2, -1, 0), (2, None, -1), (2, None, 1.0),
])
def test_maxpool2d_rejects_bad_constructor_arguments(kernel_size, stride, padding):
    with pytest.raises(ValueError, match=r"(kernel_size|stride|padding) must be an integer >= [01]") as info:
        MaxPool2d(kernel_size, stride, padding)
    assert raises_here(info)


# ---------------------------------------------------------------------------
# LeNet
# ---------------------------------------------------------------------------

def test_lenet_output_shape_and_dtype():
    model = lenet(rng=np.random.default_rng(0))
    x = np.random.default_rng(1).standard_normal((3, 1, 28, 28)).astype(np.float32)
    logits = model(x)
    assert logits.shape == (3, 10) and logits.dtype == np.float32
    assert np.all(np.isfinite(logits))
    assert lenet(n_classes=7, rng=np.random.default_rng(0))(x).shape == (3, 7)


def test_lenet_parameter_count_matches_the_chapter_table():
    model = lenet(rng=np.random.default_rng(0))
    per_layer = {}
    for name, p in model.named_parameters():
        layer = int(name.split(".")[1])
        per_layer[layer] = per_layer.get(layer, 0) + p.data.size
    assert per_layer == {0: 416, 3: 12_832, 7: 96_120, 9: 10_164, 11: 850}
    assert sum(p.data.size for p in model.parameters()) == 416 + 12_832 + 96_120 + 10_164 + 850
    assert {name: tuple(p.shape) for name, p in model.named_parameters()} == {
        "layers.0.weight": (16, 1, 5, 5), "layers.0.bias": (16,),
        "layers.3.weight": (32, 16, 5, 5), "layers.3.bias": (32,),
        "layers.7.weight": (800, 120), "layers.7.bias": (120,),
        "layers.9.weight": (120, 84), "layers.9.bias": (84,),
        "layers.11.weight": (84, 10), "layers.11.bias": (10,),
    }


def torch_lenet_loss(params: dict[str, torch.Tensor], x: torch.Tensor, labels: torch.Tensor):
    """LeNet written with torch.nn.functional; our Linear stores weight as (in, out), so F.linear gets weight.T."""
    h = F.max_pool2d(F.relu(F.conv2d(x, params["layers.0.weight"], params["layers.0.bias"], padding=2)), 2)
    h = F.max_pool2d(F.relu(F.conv2d(h, params["layers.3.weight"], params["layers.3.bias"])), 2)
    h = h.flatten(1)
    h = F.relu(F.linear(h, params["layers.7.weight"].T, params["layers.7.bias"]))
    h = F.relu(F.linear(h, params["layers.9.weight"].T, params["layers.9.bias"]))
    logits = F.linear(h, params["layers.11.weight"].T, params["layers.11.bias"])
    return logits, F.cross_entropy(logits, labels)


def test_lenet_forward_and_backward_match_torch():
    rng = np.random.default_rng(2024)
    model = lenet(channels=(4, 8), rng=rng, dtype=F64)
    for name, p in model.named_parameters():  # generic biases: zeros would hide a bias that is never used
        if name.endswith("bias"):
            p.data[...] = 0.1 * rng.standard_normal(p.shape)
    x = rng.standard_normal((3, 1, 28, 28))
    labels = rng.integers(0, 10, 3)

    params = {name: torch.tensor(p.data, requires_grad=True) for name, p in model.named_parameters()}
    logits_t, loss_t = torch_lenet_loss(params, torch.from_numpy(x), torch.from_numpy(labels))
    loss_t.backward()

    model.zero_grad()
    loss_fn = SoftmaxCrossEntropy()
    logits = model(x)
    loss = loss_fn(logits, labels)
    # the first convolution reads the data: no input gradient is computed
    assert model.backward(loss_fn.backward()) is None
    assert_close(logits, logits_t.detach().numpy(), RTOL_TORCH, "logits")
    assert loss == pytest.approx(loss_t.item(), rel=RTOL_TORCH)
    assert isinstance(model.layers[7], Linear)
    for name, p in model.named_parameters():
        assert np.abs(p.grad).max() > 0, f"{name}: gradient is all zero"
        assert_close(p.grad, params[name].grad.numpy(), RTOL_TORCH, f"gradient of {name}")


# ---------------------------------------------------------------------------
# Backends
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-12), (np.float32, RTOL_F32)], ids=["float64", "float32"])
def test_conv_and_pool_run_on_the_backend(xp, dtype, rtol):
    """Conv2d -> MaxPool2d forward and backward on the backend's arrays equal the NumPy result."""
    rng = np.random.default_rng(17)
    x = rng.standard_normal((2, 3, 9, 9)).astype(dtype)
    conv_ref, pool_ref = make_conv(3, 4, 3, 1, 1, seed=18, dtype=dtype), MaxPool2d(3, 2)
    out_ref = pool_ref(conv_ref(x))
    G = rng.standard_normal(out_ref.shape).astype(dtype)
    gx_ref = conv_ref.backward(pool_ref.backward(G))

    conv, pool = make_conv(3, 4, 3, 1, 1, seed=18, dtype=dtype), MaxPool2d(3, 2)
    for p in conv.parameters():
        p.data = xp.asarray(p.data)
        p.grad = xp.zeros_like(p.data)
    out = pool(conv(xp.asarray(x)))
    gx = conv.backward(pool.backward(xp.asarray(G)))
    results = {"output": (out, out_ref), "input gradient": (gx, gx_ref),
               "weight gradient": (conv.weight.grad, conv_ref.weight.grad),
               "bias gradient": (conv.bias.grad, conv_ref.bias.grad)}
    for what, (ours, ref) in results.items():
        assert get_array_module(ours) is xp, f"{what}: {type(ours)} is not on {xp.__name__}"
        assert ours.dtype == dtype, what
        assert_close(ours, ref, rtol, what)


# ---------------------------------------------------------------------------
# Properties of bad input: wrong shapes, dtypes, empty arrays and NaN
# ---------------------------------------------------------------------------

LAYERS = {
    "Conv2d": lambda: Conv2d(2, 3, 3, stride=2, padding=1, dtype=F64),
    "MaxPool2d": lambda: MaxPool2d(3, 2, 1),
}


@given(layer=st.sampled_from(sorted(LAYERS)), shape=st.lists(st.integers(1, 4), min_size=0, max_size=6)
       .filter(lambda s: len(s) != 4))
def test_property_any_non_4d_input_is_a_value_error_naming_nchw(layer, shape):
    module = LAYERS[layer]()
    with pytest.raises(ValueError, match=r"expected images of shape \(N, C, H, W\)") as info:
        module(np.zeros(shape))
    assert raises_here(info)
    assert repr(module) in str(info.value) and str(tuple(shape)) in str(info.value)


@given(channels=st.integers(0, 6).filter(lambda c: c != 2), n=st.integers(0, 2))
def test_property_the_wrong_channel_count_names_the_expected_one(channels, n):
    conv = LAYERS["Conv2d"]()
    with pytest.raises(ValueError, match=rf"expected 2 input channel\(s\) \(N, 2, H, W\); got {channels} in "
                                         rf"shape \({n}, {channels}, 5, 5\)") as info:
        conv(np.zeros((n, channels, 5, 5)))
    assert raises_here(info)


@given(dtype=st.sampled_from([np.int64, np.int32, np.uint8, np.bool_, np.complex128, np.float32, np.float16]))
def test_property_a_wrong_dtype_names_what_was_expected(dtype):
    x = np.zeros((1, 2, 5, 5), dtype=dtype)
    with pytest.raises(ValueError, match=rf"input has dtype {np.dtype(dtype).name} but the weights are "
                                         r"float64") as info:
        LAYERS["Conv2d"]()(x)
    assert raises_here(info)
    if np.dtype(dtype).kind != "f":
        with pytest.raises(TypeError, match=rf"expected a floating-point array; got dtype {np.dtype(dtype)}") as info:
            LAYERS["MaxPool2d"]()(x)
        assert raises_here(info)


@pytest.mark.parametrize("layer", sorted(LAYERS))
@pytest.mark.parametrize("bad", [[[[[0.0]]]], None, 3.0], ids=["nested list", "None", "float"])
def test_an_input_that_is_not_an_array_is_a_type_error(layer, bad):
    with pytest.raises(TypeError, match=r"expected an array of shape \(N, C, H, W\)") as info:
        LAYERS[layer]()(bad)
    assert raises_here(info)


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_empty_images_fail_with_the_kernel_size_and_an_empty_batch_works_like_torch(layer):
    module = LAYERS[layer]()
    with pytest.raises(ValueError, match=r"kernel size 3 is larger than the padded input \(0 \+ 2\*1 = 2\)") as info:
        module(np.zeros((1, 2, 0, 5)))
    assert raises_here(info)
    x = np.zeros((0, 2, 7, 6))                      # no images: an empty batch, as in torch
    out = module(x)
    assert out.shape == (0, module(np.zeros((1, 2, 7, 6))).shape[1], 4, 3)
    module(x)
    grad = module.backward(np.zeros(out.shape))
    assert grad.shape == x.shape
    if layer == "Conv2d":
        ref = F.conv2d(torch.zeros(0, 2, 7, 6, dtype=torch.float64), torch.from_numpy(module.weight.data),
                       stride=2, padding=1)
        assert tuple(ref.shape) == out.shape
        assert np.all(module.weight.grad == 0) and np.all(module.bias.grad == 0)


@given(seed=st.integers(0, 2**32 - 1), frac=st.sampled_from([0.05, 0.3]))
def test_property_nan_and_inf_propagate_through_conv2d_like_torch(seed, frac):
    """A layer does not check for NaN (fit() does, at the loss): it propagates NaN and inf exactly as torch."""
    rng = np.random.default_rng(seed)
    conv = make_conv(2, 3, 3, 2, 1, seed=seed)
    x = rng.standard_normal((2, 2, 6, 7))
    x[rng.random(x.shape) < frac] = np.nan
    x[rng.random(x.shape) < frac / 2] = np.inf
    with np.errstate(invalid="ignore"):            # inf * 0 is NaN, and NumPy says so
        out = conv(x)
        G = rng.standard_normal(out.shape)
        grad_x = conv.backward(G)
    out_ref, gx_ref, gw_ref, _ = torch_conv_reference(conv, x, G)
    np.testing.assert_array_equal(np.isnan(out), np.isnan(out_ref))
    np.testing.assert_array_equal(np.isnan(conv.weight.grad), np.isnan(gw_ref))
    finite = np.isfinite(out_ref)
    np.testing.assert_allclose(out[finite], out_ref[finite], rtol=RTOL_TORCH, atol=RTOL_TORCH * 10)
    assert np.all(np.isfinite(grad_x)) == np.all(np.isfinite(gx_ref))


@given(layer=st.sampled_from(sorted(LAYERS)), extra=st.integers(1, 2), axis=st.integers(0, 3))
def test_property_backward_with_the_wrong_gradient_shape_names_the_expected_shape(layer, extra, axis):
    module = LAYERS[layer]()
    out = module(np.ones((2, 2, 7, 6)))
    shape = list(out.shape)
    shape[axis] += extra
    with pytest.raises(ValueError, match=rf"expected a gradient of the output's shape "
                                         rf"\({', '.join(map(str, out.shape))}\); got \({', '.join(map(str, shape))}\)"
                       ) as info:
        module.backward(np.ones(shape))
    assert raises_here(info)


@pytest.mark.parametrize("shape", [(), (5,)])
def test_flatten_needs_a_batch_axis(shape):
    with pytest.raises(ValueError, match=r"Flatten: expected an array of shape \(N, \.\.\.\) with at least 2 axes"
                       ) as info:
        Flatten()(np.zeros(shape))
    assert raises_here(info)
