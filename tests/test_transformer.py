"""Tests of nnfs.transformer (Chapter 5: a GPT-style Transformer with hand-written backward passes).

Every backward pass is checked against central finite differences of
``sum(out * G)`` with a *random* upstream gradient G in float64, and the whole
model against a GPT written independently in PyTorch (float64, our weights
loaded into it): logits, loss, every parameter gradient, and five AdamW steps.
Reference values are computed independently in the test, never copied from
the module.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from nnfs.backend import get_array_module, get_backend, model_to, to_device, to_host
from nnfs.nn import Parameter, SoftmaxCrossEntropy
from nnfs.optim import AdamW
from nnfs.transformer import (
    GELU,
    GPT,
    Block,
    CharTokenizer,
    Embedding,
    FeedForward,
    LayerNorm,
    MultiHeadAttention,
    clip_grad_norm,
    sinusoidal_positions,
    softmax_backward,
    softmax_last,
)

from helpers import numerical_grad, raised_by_module  # noqa: E402

pytestmark = pytest.mark.ch5

EPS_FD = 1e-6      # central-difference step
TOL_FD = 1e-6      # relative error allowed against finite differences (see grad_rel_err)
RTOL_TORCH = 1e-6  # allowed against torch in float64 (observed ~1e-12 and below)
ATOL_TORCH = 1e-12  # for entries that are zero up to rounding (the key bias gradient, for one)
LN_EPS = 1e-5      # LayerNorm's default epsilon (torch's too)
F64 = np.float64


raises_here = raised_by_module("nnfs.transformer")


def grad_rel_err(analytic, numeric, noise: float = 0.0) -> float:
    """max|a − n| / max|a|: the error measured against the scale of the tensor's (analytic) gradient.

    Why against the tensor's scale and not entry by entry: a central difference
    of a float64 loss carries an absolute rounding error, so an entry whose
    true value is ~1e-12 (the key bias of attention, whose exact gradient is
    zero because softmax ignores a constant added to a row of scores) has a
    huge entry-wise relative error although the formula is right.  Requiring
    every entry to be right to 1e-6 of the largest gradient in the same tensor
    still fails any wrong formula (a wrong term is off by O(1) of that scale),
    while the truncation error of the central difference (EPS_FD² times the
    third derivative, ~1e-12) stays far below it.

    ``noise`` is the rounding floor of the difference quotient (see fd_noise),
    subtracted from the error first: the loss is computed with an absolute
    rounding error of a few ε_machine·Σ|terms|, divided by 2·EPS_FD.  It
    matters only for a tensor whose whole gradient is tiny, such as the input
    of a LayerNorm over two features (its output is ±1 whatever the input, so
    the input gradient is ~1e-4 while the loss is ~1 and the floor ~1e-10).
    A tensor whose analytic gradient is exactly zero is compared absolutely.
    """
    a, n = np.asarray(analytic, dtype=F64), np.asarray(numeric, dtype=F64)
    assert a.shape == n.shape, (a.shape, n.shape)
    if a.size == 0:
        return 0.0
    scale = np.abs(a).max()
    diff = max(np.abs(a - n).max() - noise, 0.0)
    return float(diff) if scale == 0 else float(diff / scale)


def fd_noise(loss_terms) -> float:
    """The rounding floor of a central difference of a loss that sums ``loss_terms`` (see grad_rel_err)."""
    return 10 * np.finfo(F64).eps * float(np.abs(loss_terms).sum()) / EPS_FD


def assert_fd_close(analytic, numeric, what: str, noise: float = 0.0) -> None:
    err = grad_rel_err(analytic, numeric, noise)
    assert err < TOL_FD, f"{what}: relative error {err:.3g} against the gradient's scale (floor {noise:.3g})"


def randomize_parameters(module, rng) -> None:
    """Give every parameter generic values: LayerNorm's ones/zeros and Linear's zero biases hide bugs."""
    for name, p in module.named_parameters():
        leaf = name.rsplit(".", 1)[-1]
        if leaf == "gamma":
            p.data[...] = 1 + 0.3 * rng.standard_normal(p.shape)
        elif leaf in ("beta", "bias"):
            p.data[...] = 0.3 * rng.standard_normal(p.shape)
        elif name in ("tok.weight", "pos.weight") or isinstance(module, Embedding):
            p.data[...] = 0.7 * rng.standard_normal(p.shape)


def check_module_gradients(module, x: np.ndarray, rng, what: str) -> None:
    """Input and every parameter gradient of ``module`` against central differences of sum(out * G)."""
    x = x.copy()
    G = rng.standard_normal(module(x).shape)

    def loss():
        return float(np.sum(module(x) * G))

    num_x = numerical_grad(loss, x)
    num_params = {name: numerical_grad(loss, p.data) for name, p in list(module.named_parameters())}
    module.zero_grad()
    noise = fd_noise(module(x) * G)
    G_before = G.copy()
    grad_x = module.backward(G)
    np.testing.assert_array_equal(G, G_before)  # the incoming gradient is never mutated
    assert grad_x.shape == x.shape and grad_x.dtype == F64
    assert_fd_close(grad_x, num_x, f"{what}: input", noise)
    for name, p in module.named_parameters():
        assert p.grad.shape == p.data.shape and p.grad.dtype == F64, name
        assert_fd_close(p.grad, num_params[name], f"{what}: {name}", noise)


def tiny_gpt(seed: int = 0, positional: str = "learned", vocab: int = 7, context: int = 5, d_model: int = 4,
             n_heads: int = 2, n_layers: int = 2, dtype=F64) -> GPT:
    rng = np.random.default_rng(seed)
    model = GPT(vocab, context, d_model, n_heads, n_layers, rng=rng, dtype=dtype, positional=positional)
    randomize_parameters(model, rng)
    return model


def reference_sinusoidal(n: int, dim: int) -> np.ndarray:
    """PE[p, 2i] = sin(p / 10000^(2i/dim)), PE[p, 2i+1] = cos(p / 10000^(2i/dim)), written out entry by entry."""
    pe = np.zeros((n, dim))
    for p in range(n):
        for j in range(dim):
            angle = p / 10000 ** ((j - j % 2) / dim)
            pe[p, j] = math.sin(angle) if j % 2 == 0 else math.cos(angle)
    return pe


# ---------------------------------------------------------------------------
# Embedding
# ---------------------------------------------------------------------------


@given(b=st.integers(1, 3), t=st.integers(1, 6), num=st.integers(1, 6), dim=st.integers(1, 4),
       seed=st.integers(0, 2**32 - 1))
def test_embedding_lookup_and_scatter_add_gradient(b, t, num, dim, seed):
    rng = np.random.default_rng(seed)
    emb = Embedding(num, dim, rng=rng, dtype=F64)
    # Few distinct ids in many positions: repeats are certain once b*t > num.
    idx = rng.integers(0, num, (b, t))
    idx[0, 0] = idx[-1, -1]  # at least one repeat even for b*t <= num (when b*t > 1)
    out = emb(idx)
    assert out.shape == (b, t, dim) and out.dtype == F64
    np.testing.assert_array_equal(out, emb.weight.data[idx])
    G = rng.standard_normal(out.shape)
    assert emb.backward(G) is None
    expected = np.zeros((num, dim))
    np.add.at(expected, idx, G)  # independent scatter-add over repeated ids
    np.testing.assert_allclose(emb.weight.grad, expected, rtol=1e-12, atol=1e-14)
    # It accumulates, like every backward pass.
    emb.backward(G)
    np.testing.assert_allclose(emb.weight.grad, 2 * expected, rtol=1e-12, atol=1e-14)


def test_embedding_gradient_of_unused_rows_is_zero_and_repeats_add_up():
    emb = Embedding(5, 3, rng=np.random.default_rng(0), dtype=F64)
    idx = np.array([[2, 2, 2, 0]])
    emb(idx)
    G = np.arange(12, dtype=F64).reshape(1, 4, 3)
    emb.backward(G)
    np.testing.assert_array_equal(emb.weight.grad[[1, 3, 4]], 0)
    np.testing.assert_allclose(emb.weight.grad[2], G[0, 0] + G[0, 1] + G[0, 2])
    np.testing.assert_allclose(emb.weight.grad[0], G[0, 3])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_embedding_keeps_its_dtype(dtype):
    emb = Embedding(4, 3, rng=np.random.default_rng(0), dtype=dtype)
    out = emb(np.array([[0, 3]], dtype=np.int32))
    assert out.dtype == dtype and emb.weight.grad.dtype == dtype
    emb.backward(np.ones_like(out))
    assert emb.weight.grad.dtype == dtype


@pytest.mark.parametrize("ids, pattern", [
    (np.array([[0, -1]]), r"words.*0\.\.4.*-1"),
    (np.array([[0, 5]]), r"words.*0\.\.4.*5"),
    (np.array([[0.0, 1.0]]), r"words.*integers.*float64"),
    (np.array([[True, False]]), r"words.*integers.*bool"),
], ids=["negative", "equal-num", "float", "bool"])
def test_embedding_rejects_bad_ids_naming_itself(ids, pattern):
    emb = Embedding(5, 2, rng=np.random.default_rng(0), name="words")
    with pytest.raises(ValueError, match=pattern) as info:
        emb(ids)
    assert raises_here(info)


# ---------------------------------------------------------------------------
# LayerNorm, GELU, softmax
# ---------------------------------------------------------------------------


@given(b=st.integers(1, 3), t=st.integers(1, 5), dim=st.integers(1, 6), seed=st.integers(0, 2**32 - 1),
       log_scale=st.floats(-1, 1))
def test_layernorm_gradients_match_central_differences(b, t, dim, seed, log_scale):
    rng = np.random.default_rng(seed)
    ln = LayerNorm(dim, dtype=F64)
    randomize_parameters(ln, rng)
    x = 10.0**log_scale * rng.standard_normal((b, t, dim)) + rng.standard_normal()
    check_module_gradients(ln, x, rng, "LayerNorm")


@given(b=st.integers(1, 3), t=st.integers(1, 5), dim=st.integers(1, 6), seed=st.integers(0, 2**32 - 1))
def test_layernorm_forward_matches_torch(b, t, dim, seed):
    rng = np.random.default_rng(seed)
    ln = LayerNorm(dim, dtype=F64)
    randomize_parameters(ln, rng)
    x = 3 * rng.standard_normal((b, t, dim)) + 5
    ref = F.layer_norm(torch.from_numpy(x), (dim,), torch.from_numpy(ln.gamma.data.copy()),
                       torch.from_numpy(ln.beta.data.copy()), eps=LN_EPS).numpy()
    np.testing.assert_allclose(ln(x), ref, rtol=RTOL_TORCH, atol=ATOL_TORCH)


def test_layernorm_defaults_and_normalisation():
    ln = LayerNorm(6)
    assert ln.gamma.data.dtype == np.float32 and ln.eps == LN_EPS
    np.testing.assert_array_equal(ln.gamma.data, 1)
    np.testing.assert_array_equal(ln.beta.data, 0)
    x = np.random.default_rng(0).standard_normal((2, 3, 6)) * 4 + 7
    y = LayerNorm(6, dtype=F64)(x)
    np.testing.assert_allclose(y.mean(axis=-1), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=-1), x.var(axis=-1) / (x.var(axis=-1) + LN_EPS), rtol=1e-12)


@given(shape=st.lists(st.integers(1, 5), min_size=1, max_size=3), seed=st.integers(0, 2**32 - 1),
       log_scale=st.floats(-1, 1))
def test_gelu_gradient_matches_central_differences(shape, seed, log_scale):
    rng = np.random.default_rng(seed)
    # Clipped to |x| <= 5: further left, 1 + tanh(...) < 1e-7 is computed by cancellation (the
    # formula's, in torch too), so an input gradient of ~1e-10 or less carries an absolute error of
    # ~1e-16 that is a large fraction of itself; the far tail is checked against torch absolutely.
    x = np.clip(10.0**log_scale * rng.standard_normal(shape), -5, 5)
    check_module_gradients(GELU(), x, rng, "GELU")


@pytest.mark.parametrize("shape", [(), (0,), (3, 5), (2, 3, 4), (7,)])
@pytest.mark.parametrize("block", [1, 4, 7, 16])
def test_gelu_blocks_give_the_same_bits_as_one_block(shape, block):
    # Blocks that divide the array, leave a short last block, or exceed it; with two or more
    # axes the input is a transposed (non-contiguous) view, whose flat view is a copy.
    x = np.random.default_rng(3).standard_normal(shape[::-1]).astype(np.float32).T
    whole, blocked = GELU(), GELU()
    whole.block, blocked.block = max(x.size, 1), block
    y, y_b = whole(x), blocked(x)
    assert y_b.shape == x.shape and y_b.dtype == np.float32
    np.testing.assert_array_equal(y_b, y)
    np.testing.assert_array_equal(blocked.d, whole.d)
    G = np.random.default_rng(4).standard_normal(shape[::-1]).astype(np.float32).T
    np.testing.assert_array_equal(blocked.backward(G), whole.backward(G))
    # and the default block size, on an array several blocks long with a short last one
    big = np.random.default_rng(5).standard_normal(3 * GELU.block + 11).astype(np.float32)
    one = GELU()
    one.block = big.size
    np.testing.assert_array_equal(GELU()(big), one(big))


def test_gelu_is_the_tanh_approximation():
    x = np.linspace(-8, 8, 161)
    expected = np.array([0.5 * v * (1 + math.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v**3))) for v in x])
    out = GELU()(x)
    np.testing.assert_allclose(out, expected, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(out, F.gelu(torch.from_numpy(x), approximate="tanh").numpy(), rtol=1e-13, atol=1e-15)
    # The input gradient, against torch's autograd too.
    x_t = torch.from_numpy(x.copy()).requires_grad_()
    G = np.random.default_rng(0).standard_normal(x.shape)
    F.gelu(x_t, approximate="tanh").backward(torch.from_numpy(G))
    gelu = GELU()
    gelu(x)
    # In the far left tail both compute 1 + tanh(...) ≈ 1e-9 by cancellation, so entries of size
    # ~1e-9 agree only to ~1e-15 absolutely: compare against the gradient's scale (~1) there.
    np.testing.assert_allclose(gelu.backward(G), x_t.grad.numpy(), rtol=1e-12, atol=1e-13)
    assert GELU()(x.astype(np.float32)).dtype == np.float32


@given(shape=st.lists(st.integers(1, 5), min_size=1, max_size=3), seed=st.integers(0, 2**32 - 1),
       log_scale=st.floats(-1, 1.5))
def test_softmax_backward_matches_numeric_vjp_and_jvp(shape, seed, log_scale):
    rng = np.random.default_rng(seed)
    z = 10.0**log_scale * rng.standard_normal(shape)
    G = rng.standard_normal(shape)
    p = softmax_last(z)
    np.testing.assert_allclose(p.sum(axis=-1), 1, rtol=1e-14)
    # Vector-Jacobian product: the gradient of sum(softmax(z) * G) with respect to z.
    num = numerical_grad(lambda: float(np.sum(softmax_last(z) * G)), z)
    analytic = softmax_backward(p, G)
    assert analytic.shape == z.shape
    # A one-column softmax is constant (p = 1), so its gradient is exactly zero.
    assert_fd_close(analytic, num, "softmax VJP", fd_noise(p * G))
    # Jacobian-vector product along a random direction v: the softmax Jacobian is symmetric,
    # diag(p) − p pᵀ, so softmax_backward(p, v) must equal the directional derivative J v.
    v = rng.standard_normal(shape)
    jvp = (softmax_last(z + EPS_FD * v) - softmax_last(z - EPS_FD * v)) / (2 * EPS_FD)
    assert_fd_close(softmax_backward(p, v), jvp, "softmax JVP", fd_noise(p))


def test_softmax_last_matches_torch_and_is_stable():
    rng = np.random.default_rng(0)
    z = 5 * rng.standard_normal((3, 4, 7))
    np.testing.assert_allclose(softmax_last(z), torch.softmax(torch.from_numpy(z), dim=-1).numpy(), rtol=1e-13)
    np.testing.assert_allclose(softmax_last(z + 1000.0), softmax_last(z), rtol=1e-12)  # shift invariant
    big = np.array([[1e4, -1e4, 1e4 - 1.0]], dtype=np.float32)
    with np.errstate(over="raise", invalid="raise", under="ignore"):
        p = softmax_last(big)
    assert p.dtype == np.float32
    np.testing.assert_allclose(p, [[1 / (1 + math.exp(-1)), 0, math.exp(-1) / (1 + math.exp(-1))]], rtol=1e-6)
    # -inf (a masked score) gives an exact zero.
    p = softmax_last(np.array([[0.0, -np.inf, 1.0]]))
    assert p[0, 1] == 0.0 and p.sum() == pytest.approx(1.0, rel=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_functions_write_into_out_even_when_it_is_their_input(dtype):
    rng = np.random.default_rng(3)
    z, G = (rng.standard_normal((2, 3, 6)).astype(dtype) for _ in range(2))
    p = softmax_last(z)
    grad = softmax_backward(p, G)
    z_before, p_before, G_before = z.copy(), p.copy(), G.copy()
    out = np.empty_like(z)
    assert softmax_last(z, out=out) is out
    np.testing.assert_array_equal(out, p)
    out = np.empty_like(z)
    assert softmax_backward(p, G, out=out) is out
    np.testing.assert_array_equal(out, grad)
    # without out= neither function touches its arguments
    for before, after in ((z_before, z), (p_before, p), (G_before, G)):
        np.testing.assert_array_equal(before, after)
    # out may be the input itself, as in the attention layer
    assert softmax_last(z, out=z) is z
    np.testing.assert_array_equal(z, p)
    assert softmax_backward(p, G, out=G) is G
    np.testing.assert_array_equal(G, grad)


# ---------------------------------------------------------------------------
# Attention, feed-forward, block
# ---------------------------------------------------------------------------


@st.composite
def attention_cases(draw):
    b = draw(st.integers(1, 3), label="batch")
    t = draw(st.integers(1, 5), label="time")
    heads = draw(st.integers(1, 3), label="heads")
    head_dim = draw(st.integers(1, 4), label="head_dim")
    seed = draw(st.integers(0, 2**32 - 1), label="seed")
    return b, t, heads, head_dim, seed


def make_attention(heads, head_dim, causal, rng) -> MultiHeadAttention:
    attn = MultiHeadAttention(heads * head_dim, heads, causal=causal, rng=rng, dtype=F64)
    randomize_parameters(attn, rng)
    return attn


@pytest.mark.parametrize("causal", [True, False], ids=["causal", "full"])
@settings(max_examples=25)
@given(case=attention_cases())
def test_attention_gradients_match_central_differences(causal, case):
    b, t, heads, head_dim, seed = case
    rng = np.random.default_rng(seed)
    attn = make_attention(heads, head_dim, causal, rng)
    x = rng.standard_normal((b, t, heads * head_dim))
    check_module_gradients(attn, x, rng, f"attention (causal={causal})")


def torch_attention(x, wq, wk, wv, bq, bk, bv, wo, bo, heads, causal):
    """Multi-head attention in torch from separate q, k, v weights in torch's (out, in) layout."""
    B, T, C = x.shape
    hd = C // heads

    def split(t):  # (B, T, C) -> (B, H, T, hd): head h is the contiguous block of columns h*hd..(h+1)*hd
        return t.view(B, T, heads, hd).transpose(1, 2)

    q, k, v = split(F.linear(x, wq, bq)), split(F.linear(x, wk, bk)), split(F.linear(x, wv, bv))
    scores = q @ k.transpose(-2, -1) / math.sqrt(hd)
    if causal:
        scores = scores.masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), float("-inf"))
    y = (scores.softmax(dim=-1) @ v).transpose(1, 2).reshape(B, T, C)
    return F.linear(y, wo, bo)


def split_qkv(w: np.ndarray, b: np.ndarray, d: int):
    """Our qkv Linear (d, 3d) with columns [q | k | v] -> torch (out, in) weights and biases of q, k, v."""
    return [torch.tensor(w[:, i * d:(i + 1) * d].T.copy(), requires_grad=True) for i in range(3)], \
           [torch.tensor(b[i * d:(i + 1) * d].copy(), requires_grad=True) for i in range(3)]


@pytest.mark.parametrize("causal", [True, False], ids=["causal", "full"])
@settings(max_examples=25)
@given(case=attention_cases())
def test_attention_matches_torch(causal, case):
    """The layout of qkv (columns [q | k | v], heads as contiguous blocks) and the mask, against torch."""
    b, t, heads, head_dim, seed = case
    rng = np.random.default_rng(seed)
    d = heads * head_dim
    attn = make_attention(heads, head_dim, causal, rng)
    x = rng.standard_normal((b, t, d))
    G = rng.standard_normal((b, t, d))
    (wq, wk, wv), (bq, bk, bv) = split_qkv(attn.qkv.weight.data, attn.qkv.bias.data, d)
    wo = torch.tensor(attn.proj.weight.data.T.copy(), requires_grad=True)
    bo = torch.tensor(attn.proj.bias.data.copy(), requires_grad=True)
    x_t = torch.tensor(x, requires_grad=True)
    out_t = torch_attention(x_t, wq, wk, wv, bq, bk, bv, wo, bo, heads, causal)
    out_t.backward(torch.from_numpy(G))

    out = attn(x)
    grad_x = attn.backward(G)
    np.testing.assert_allclose(out, out_t.detach().numpy(), rtol=RTOL_TORCH, atol=ATOL_TORCH)
    np.testing.assert_allclose(grad_x, x_t.grad.numpy(), rtol=RTOL_TORCH, atol=ATOL_TORCH)
    ref_w = np.concatenate([wq.grad.numpy().T, wk.grad.numpy().T, wv.grad.numpy().T], axis=1)
    ref_b = np.concatenate([bq.grad.numpy(), bk.grad.numpy(), bv.grad.numpy()])
    np.testing.assert_allclose(attn.qkv.weight.grad, ref_w, rtol=RTOL_TORCH, atol=ATOL_TORCH)
    np.testing.assert_allclose(attn.qkv.bias.grad, ref_b, rtol=RTOL_TORCH, atol=ATOL_TORCH)
    np.testing.assert_allclose(attn.proj.weight.grad, wo.grad.numpy().T, rtol=RTOL_TORCH, atol=ATOL_TORCH)
    np.testing.assert_allclose(attn.proj.bias.grad, bo.grad.numpy(), rtol=RTOL_TORCH, atol=ATOL_TORCH)
    # Softmax ignores a constant added to a row of scores, and the key bias adds q·b_k to every
    # score of a row: its exact gradient is zero.
    np.testing.assert_allclose(attn.qkv.bias.grad[d:2 * d], 0, atol=1e-12)


@settings(max_examples=25)
@given(case=attention_cases(), data=st.data())
def test_attention_is_causal_only_when_asked(case, data):
    b, t, heads, head_dim, seed = case
    rng = np.random.default_rng(seed)
    d = heads * head_dim
    x = rng.standard_normal((b, t, d))
    cut = data.draw(st.integers(0, t - 1), label="last unchanged position")
    x2 = x.copy()
    x2[:, cut + 1:] = rng.standard_normal(x2[:, cut + 1:].shape)
    causal = make_attention(heads, head_dim, True, np.random.default_rng(seed))
    np.testing.assert_allclose(causal(x2)[:, :cut + 1], causal(x)[:, :cut + 1], rtol=0, atol=1e-12)
    if cut + 1 < t:  # without the mask the earlier positions do see the change
        full = make_attention(heads, head_dim, False, np.random.default_rng(seed))
        assert not np.allclose(full(x2)[:, :cut + 1], full(x)[:, :cut + 1], rtol=0, atol=1e-9)


@pytest.mark.parametrize("b, t, d, seed", [(1, 1, 1, 0), (2, 3, 4, 1), (3, 2, 3, 2)])
def test_feedforward_gradients_match_central_differences(b, t, d, seed):
    rng = np.random.default_rng(seed)
    ffn = FeedForward(d, rng=rng, dtype=F64)
    randomize_parameters(ffn, rng)
    assert ffn.fc.weight.shape == (d, 4 * d) and ffn.out.weight.shape == (4 * d, d)
    check_module_gradients(ffn, rng.standard_normal((b, t, d)), rng, "FeedForward")


@pytest.mark.parametrize("heads", [1, 2, 3])
def test_block_gradients_match_central_differences(heads):
    rng = np.random.default_rng(heads)
    block = Block(6, heads, rng=rng, dtype=F64)
    randomize_parameters(block, rng)
    assert block.attn.causal
    check_module_gradients(block, rng.standard_normal((2, 4, 6)), rng, f"Block (heads={heads})")


# ---------------------------------------------------------------------------
# The whole GPT: finite differences
# ---------------------------------------------------------------------------


def gpt_loss_and_grads(model, idx, targets, loss_fn=None):
    """Mean cross-entropy of the model on (idx, targets) and, after backward, nothing (grads are in place)."""
    loss_fn = loss_fn or SoftmaxCrossEntropy()
    logits = model(idx)
    B, T, V = logits.shape
    loss = loss_fn(logits.reshape(B * T, V), targets.reshape(B * T))
    model.backward(loss_fn.backward().reshape(B, T, V))
    return loss, logits


@pytest.mark.parametrize("positional", ["learned", "sinusoidal"])
def test_gpt_gradients_match_central_differences(positional):
    rng = np.random.default_rng(11)
    model = tiny_gpt(3, positional)
    idx = rng.integers(0, 7, (2, 5))
    idx[0, :3] = 4  # repeated tokens
    targets = rng.integers(0, 7, (2, 5))
    loss_fn = SoftmaxCrossEntropy()

    def loss():
        logits = model(idx)
        return loss_fn(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))

    # list(): the first forward adds cache attributes to the modules, so vars() must not be iterated meanwhile.
    numeric = {name: numerical_grad(loss, p.data) for name, p in list(model.named_parameters())}
    model.zero_grad()
    gpt_loss_and_grads(model, idx, targets)
    names = [name for name, _ in model.named_parameters()]
    assert ("pos.weight" in names) == (positional == "learned")
    assert len(names) == 3 + (positional == "learned") + 2 * 12  # tok, ln_f (2), pos, 12 per block
    for name, p in model.named_parameters():
        assert np.any(p.grad != 0), name
        # No rounding floor needed: the mean loss is ~2, so its central differences are good to
        # ~1e-10 absolutely, and every tensor's gradient here is ≳1e-2 (observed errors ≲2e-8).
        assert_fd_close(p.grad, numeric[name], name)


def test_gpt_backward_accumulates_and_leaves_dlogits_alone():
    model = tiny_gpt(1)
    idx = np.random.default_rng(0).integers(0, 7, (2, 4))
    logits = model(idx)
    G = np.random.default_rng(1).standard_normal(logits.shape)
    G_before = G.copy()
    model.zero_grad()
    assert model.backward(G) is None
    once = {name: p.grad.copy() for name, p in model.named_parameters()}
    model.backward(G)
    np.testing.assert_array_equal(G, G_before)
    for name, p in model.named_parameters():
        np.testing.assert_allclose(p.grad, 2 * once[name], rtol=1e-13, atol=1e-15, err_msg=name)


# ---------------------------------------------------------------------------
# The whole GPT: parity with PyTorch
# ---------------------------------------------------------------------------


class TorchBlock(torch.nn.Module):
    def __init__(self, d: int, heads: int):
        super().__init__()
        kw = dict(dtype=torch.float64)
        self.heads = heads
        self.ln1, self.ln2 = torch.nn.LayerNorm(d, eps=LN_EPS, **kw), torch.nn.LayerNorm(d, eps=LN_EPS, **kw)
        self.q, self.k, self.v = (torch.nn.Linear(d, d, **kw) for _ in range(3))
        self.proj = torch.nn.Linear(d, d, **kw)
        self.fc, self.out = torch.nn.Linear(d, 4 * d, **kw), torch.nn.Linear(4 * d, d, **kw)

    def forward(self, x):
        h = self.ln1(x)
        x = x + torch_attention(h, self.q.weight, self.k.weight, self.v.weight, self.q.bias, self.k.bias,
                                self.v.bias, self.proj.weight, self.proj.bias, self.heads, causal=True)
        return x + self.out(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))


class TorchGPT(torch.nn.Module):
    """A pre-LN GPT with tied input/output embeddings, written with torch.nn, holding a copy of our weights."""

    def __init__(self, model: GPT, d: int, heads: int, positional: str):
        super().__init__()
        kw = dict(dtype=torch.float64)
        V, ctx = model.vocab_size, model.context_length
        self.tok = torch.nn.Embedding(V, d, **kw)
        self.learned = positional == "learned"
        if self.learned:
            self.pos = torch.nn.Embedding(ctx, d, **kw)
        else:
            self.register_buffer("pos_table", torch.from_numpy(reference_sinusoidal(ctx, d)))
        self.blocks = torch.nn.ModuleList(TorchBlock(d, heads) for _ in model.blocks)
        self.ln_f = torch.nn.LayerNorm(d, eps=LN_EPS, **kw)
        self.load_ours(model)

    def load_ours(self, model: GPT) -> None:
        def put(t, a):
            t.copy_(torch.from_numpy(np.array(to_host(a), dtype=F64)))

        with torch.no_grad():
            put(self.tok.weight, model.tok.weight.data)
            if self.learned:
                put(self.pos.weight, model.pos.weight.data)
            d = self.tok.weight.shape[1]
            for ours, tb in zip(model.blocks, self.blocks):
                put(tb.ln1.weight, ours.ln1.gamma.data)
                put(tb.ln1.bias, ours.ln1.beta.data)
                w, b = to_host(ours.attn.qkv.weight.data), to_host(ours.attn.qkv.bias.data)
                for i, lin in enumerate((tb.q, tb.k, tb.v)):  # columns [q | k | v]; torch stores weight.T
                    put(lin.weight, w[:, i * d:(i + 1) * d].T)
                    put(lin.bias, b[i * d:(i + 1) * d])
                put(tb.proj.weight, to_host(ours.attn.proj.weight.data).T)
                put(tb.proj.bias, ours.attn.proj.bias.data)
                put(tb.ln2.weight, ours.ln2.gamma.data)
                put(tb.ln2.bias, ours.ln2.beta.data)
                put(tb.fc.weight, to_host(ours.ffn.fc.weight.data).T)
                put(tb.fc.bias, ours.ffn.fc.bias.data)
                put(tb.out.weight, to_host(ours.ffn.out.weight.data).T)
                put(tb.out.bias, ours.ffn.out.bias.data)
            put(self.ln_f.weight, model.ln_f.gamma.data)
            put(self.ln_f.bias, model.ln_f.beta.data)

    def forward(self, idx):
        T = idx.shape[1]
        x = self.tok(idx) + (self.pos(torch.arange(T)) if self.learned else self.pos_table[:T])
        for block in self.blocks:
            x = block(x)
        return F.linear(self.ln_f(x), self.tok.weight)  # the tied output head

    def arrays(self, which: str) -> dict[str, np.ndarray]:
        """Torch's parameters ("data") or gradients ("grad"), named and shaped like ours."""
        def get(t):
            return getattr(t, which).detach().numpy()

        out = {"tok.weight": get(self.tok.weight)}
        if self.learned:
            out["pos.weight"] = get(self.pos.weight)
        for i, tb in enumerate(self.blocks):
            p = f"blocks.{i}."
            out[p + "ln1.gamma"], out[p + "ln1.beta"] = get(tb.ln1.weight), get(tb.ln1.bias)
            out[p + "attn.qkv.weight"] = np.concatenate([get(tb.q.weight).T, get(tb.k.weight).T,
                                                         get(tb.v.weight).T], axis=1)
            out[p + "attn.qkv.bias"] = np.concatenate([get(tb.q.bias), get(tb.k.bias), get(tb.v.bias)])
            out[p + "attn.proj.weight"], out[p + "attn.proj.bias"] = get(tb.proj.weight).T, get(tb.proj.bias)
            out[p + "ln2.gamma"], out[p + "ln2.beta"] = get(tb.ln2.weight), get(tb.ln2.bias)
            out[p + "ffn.fc.weight"], out[p + "ffn.fc.bias"] = get(tb.fc.weight).T, get(tb.fc.bias)
            out[p + "ffn.out.weight"], out[p + "ffn.out.bias"] = get(tb.out.weight).T, get(tb.out.bias)
        out["ln_f.gamma"], out["ln_f.beta"] = get(self.ln_f.weight), get(self.ln_f.bias)
        return out


def assert_torch_close(ours, ref, what: str) -> None:
    ours = to_host(ours)
    assert ours.shape == ref.shape, what
    np.testing.assert_allclose(ours, ref, rtol=RTOL_TORCH, atol=ATOL_TORCH, err_msg=what)


def assert_on_backend(arr, backend, what):
    """``arr`` lives where the computation ran (a NumPy result from a CuPy model would mean a silent copy)."""
    assert get_array_module(arr) is get_backend(backend), f"{what}: {type(arr)} on the {backend} backend"


GPT_CONFIG = dict(vocab=11, context=6, d_model=8, n_heads=2, n_layers=2)


@pytest.mark.parametrize("positional", ["learned", "sinusoidal"])
def test_gpt_matches_torch(positional, backend):
    rng = np.random.default_rng(5)
    model = tiny_gpt(21, positional, **GPT_CONFIG)
    twin = TorchGPT(model, GPT_CONFIG["d_model"], GPT_CONFIG["n_heads"], positional)
    idx = rng.integers(0, 11, (3, 6))
    targets = rng.integers(0, 11, (3, 6))
    idx_t = torch.from_numpy(idx)
    logits_t = twin(idx_t)
    loss_t = F.cross_entropy(logits_t.reshape(-1, 11), torch.from_numpy(targets.reshape(-1)))
    loss_t.backward()

    model_to(model, backend)  # the twin was built from the host weights; ours run on the backend
    model.zero_grad()
    loss, logits = gpt_loss_and_grads(model, to_device(idx, backend), to_device(targets, backend))
    assert_on_backend(logits, backend, "logits")
    assert logits.shape == (3, 6, 11)
    assert_torch_close(logits, logits_t.detach().numpy(), "logits")
    assert loss == pytest.approx(loss_t.item(), rel=RTOL_TORCH, abs=ATOL_TORCH)
    ours = dict(model.named_parameters())
    ref = twin.arrays("grad")
    assert set(ours) == set(ref)
    for name, g_ref in ref.items():
        assert_on_backend(ours[name].grad, backend, name)
        assert_torch_close(ours[name].grad, g_ref, f"gradient of {name}")


@pytest.mark.parametrize("positional", ["learned", "sinusoidal"])
def test_gpt_adamw_training_tracks_torch(positional, backend):
    rng = np.random.default_rng(8)
    model = tiny_gpt(4, positional, **GPT_CONFIG)
    twin = TorchGPT(model, GPT_CONFIG["d_model"], GPT_CONFIG["n_heads"], positional)
    start = {name: p.data.copy() for name, p in model.named_parameters()}
    hyper = dict(lr=3e-2, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
    model_to(model, backend)
    opt = AdamW(model.parameters(), **hyper)  # created after the move, as model_to asks
    t_opt = torch.optim.AdamW(twin.parameters(), **hyper, foreach=False)
    loss_fn = SoftmaxCrossEntropy()
    for step in range(5):
        idx = rng.integers(0, 11, (2, 6))
        targets = rng.integers(0, 11, (2, 6))
        opt.zero_grad()
        loss, _ = gpt_loss_and_grads(model, to_device(idx, backend), to_device(targets, backend), loss_fn)
        opt.step()
        t_opt.zero_grad()
        loss_t = F.cross_entropy(twin(torch.from_numpy(idx)).reshape(-1, 11), torch.from_numpy(targets.reshape(-1)))
        loss_t.backward()
        t_opt.step()
        assert loss == pytest.approx(loss_t.item(), rel=RTOL_TORCH), f"loss at step {step + 1}"
        ref = twin.arrays("data")
        for name, p in model.named_parameters():
            ours = to_host(p.data)
            np.testing.assert_allclose(ours, ref[name], rtol=RTOL_TORCH, atol=0,
                                       err_msg=f"step {step + 1}, {name}")
            # The displacement from the start, too: an lr-sized error is visible there even when
            # it is small next to the parameter itself.  atol: the key bias's exact gradient is zero
            # (softmax ignores q·b_k, a constant per row of scores), so both sides hold rounding noise
            # of ~1e-17 there, which Adam divides by eps = 1e-8 and multiplies by lr: ~1e-10 of
            # displacement that legitimately differs.  An lr-sized error (~1e-2) is far above it.
            np.testing.assert_allclose(ours - start[name], ref[name] - start[name], rtol=RTOL_TORCH, atol=1e-9,
                                       err_msg=f"step {step + 1}, {name}, update")


@pytest.mark.parametrize("positional", ["learned", "sinusoidal"])
def test_gpt_float32_stays_float32(positional):
    model = tiny_gpt(2, positional, dtype=np.float32)
    idx = np.random.default_rng(0).integers(0, 7, (2, 5))
    logits = model(idx)
    assert logits.dtype == np.float32
    model.backward(np.ones_like(logits) / logits.size)
    for name, p in model.named_parameters():
        assert p.data.dtype == np.float32 and p.grad.dtype == np.float32, name
    out = model.generate(idx[:, :2], 3, rng=np.random.default_rng(0))
    assert out.shape == (2, 5) and out.dtype == idx.dtype


@pytest.mark.parametrize("n, dim", [(1, 1), (6, 4), (7, 5), (50, 16)])
def test_sinusoidal_positions_match_the_formula(n, dim):
    pe = sinusoidal_positions(n, dim, dtype=F64)
    assert pe.shape == (n, dim) and pe.dtype == F64
    np.testing.assert_allclose(pe, reference_sinusoidal(n, dim), rtol=1e-12, atol=1e-13)
    assert sinusoidal_positions(n, dim).dtype == np.float32  # the default dtype
    assert np.all(np.abs(pe) <= 1)


def test_sinusoidal_gpt_adds_the_table_to_the_token_embeddings():
    """With no blocks, the sinusoidal GPT's logits are LN(E[idx] + PE[:T]) @ Eᵀ."""
    model = tiny_gpt(0, "sinusoidal", n_layers=0)
    idx = np.array([[1, 6, 0]])
    x = model.tok.weight.data[idx] + reference_sinusoidal(5, 4)[:3]
    xhat = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + LN_EPS)
    h = xhat * model.ln_f.gamma.data + model.ln_f.beta.data
    np.testing.assert_allclose(model(idx), h @ model.tok.weight.data.T, rtol=1e-12, atol=1e-14)


# ---------------------------------------------------------------------------
# Causality
# ---------------------------------------------------------------------------


@settings(max_examples=30)
@given(b=st.integers(1, 3), t=st.integers(1, 6), seed=st.integers(0, 2**32 - 1),
       positional=st.sampled_from(["learned", "sinusoidal"]), data=st.data())
def test_gpt_future_tokens_never_change_past_logits(b, t, seed, positional, data):
    rng = np.random.default_rng(seed)
    model = tiny_gpt(seed % 1000, positional, **GPT_CONFIG)
    idx = rng.integers(0, 11, (b, t))
    cut = data.draw(st.integers(0, t - 1), label="last unchanged position")
    idx2 = idx.copy()
    idx2[:, cut + 1:] = (idx2[:, cut + 1:] + rng.integers(1, 11, idx2[:, cut + 1:].shape)) % 11  # all changed
    before = model(idx)
    after = model(idx2)
    np.testing.assert_allclose(after[:, :cut + 1], before[:, :cut + 1], rtol=0, atol=1e-12)
    if cut + 1 < t:  # the changed positions themselves do change (the test is not vacuous)
        assert not np.allclose(after[:, cut + 1:], before[:, cut + 1:], rtol=0, atol=1e-9)


# ---------------------------------------------------------------------------
# Generation
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lm():
    return tiny_gpt(7, "learned", **GPT_CONFIG)


def greedy_reference(model, idx, n_new):
    """Argmax decoding written out: each step reads only the last context_length tokens."""
    idx = idx.copy()
    for _ in range(n_new):
        logits = model(idx[:, -model.context_length:])[:, -1]
        idx = np.concatenate([idx, logits.argmax(axis=-1)[:, None]], axis=1)
    return idx


def test_generate_shape_dtype_and_prompt(lm):
    prompt = np.array([[1, 2, 3], [4, 5, 6]], dtype=np.int32)
    before = prompt.copy()
    out = lm.generate(prompt, 4, rng=np.random.default_rng(0))
    assert out.shape == (2, 7) and out.dtype == np.int32
    np.testing.assert_array_equal(out[:, :3], prompt)
    np.testing.assert_array_equal(prompt, before)  # the prompt is not modified
    assert out.min() >= 0 and out.max() < 11
    np.testing.assert_array_equal(lm.generate(prompt, 0, rng=np.random.default_rng(0)), prompt)


def test_generate_is_deterministic_per_seed_and_differs_between_seeds(lm):
    prompt = np.array([[3, 1], [0, 9]])
    a = lm.generate(prompt, 20, temperature=5.0, rng=np.random.default_rng(123))
    b = lm.generate(prompt, 20, temperature=5.0, rng=np.random.default_rng(123))
    c = lm.generate(prompt, 20, temperature=5.0, rng=np.random.default_rng(124))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_generate_top_k_1_is_greedy(lm):
    prompt = np.array([[3, 1, 4], [1, 5, 9]])
    expected = greedy_reference(lm, prompt, 9)  # runs past the context length of 6
    for seed in (0, 1):
        np.testing.assert_array_equal(lm.generate(prompt, 9, top_k=1, rng=np.random.default_rng(seed)), expected)
    # Temperature does not change the argmax.
    np.testing.assert_array_equal(lm.generate(prompt, 9, temperature=3.0, top_k=1), expected)


def test_generate_crops_to_the_context(lm):
    ctx = lm.context_length
    rng = np.random.default_rng(2)
    prompt = rng.integers(0, 11, (2, ctx + 4))  # longer than the context: forward alone refuses it
    with pytest.raises(ValueError, match="context length"):
        lm(prompt)
    out = lm.generate(prompt, 5, temperature=2.0, rng=np.random.default_rng(9))
    assert out.shape == (2, ctx + 9)
    cropped = lm.generate(prompt[:, -ctx:], 5, temperature=2.0, rng=np.random.default_rng(9))
    np.testing.assert_array_equal(out[:, -5:], cropped[:, -5:])
    # Tokens before the last context_length do not influence what comes next.
    other = prompt.copy()
    other[:, :4] = (other[:, :4] + 1) % 11
    np.testing.assert_array_equal(lm.generate(other, 5, temperature=2.0, rng=np.random.default_rng(9))[:, -5:],
                                  out[:, -5:])


def test_generate_conditions_on_exactly_the_last_context_length_tokens(lm):
    """Over many long prompts, greedy decoding picks the argmax of forward(prompt[:, -context_length:]).

    A crop one token short (or long: forward refuses it) changes every position's embedding, so
    some of the 300 argmaxes would differ.
    """
    ctx = lm.context_length
    prompts = np.random.default_rng(4).integers(0, 11, (300, ctx + 3))
    out = lm.generate(prompts, 1, top_k=1, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(out[:, -1], lm(prompts[:, -ctx:])[:, -1].argmax(axis=-1))
    # The same for prompts exactly as long as the context, and shorter.
    for length in (ctx, 2):
        out = lm.generate(prompts[:, :length], 1, top_k=1, rng=np.random.default_rng(0))
        np.testing.assert_array_equal(out[:, -1], lm(prompts[:, :length])[:, -1].argmax(axis=-1))


@pytest.mark.parametrize("temperature, top_k", [(1.0, None), (0.6, None), (2.5, None), (1.0, 3)])
def test_generate_samples_from_the_tempered_top_k_distribution(lm, temperature, top_k):
    """4000 draws of the first new token against softmax(logits / temperature) restricted to the top k."""
    n = 4000
    prompt = np.tile(np.array([[2, 7, 1]]), (n, 1))
    logits = lm(prompt[:1])[0, -1]
    z = logits / temperature
    if top_k is not None:
        z = np.where(logits >= np.sort(logits)[-top_k], z, -np.inf)
    p = np.exp(z - z.max())
    p /= p.sum()
    new = lm.generate(prompt, 1, temperature=temperature, top_k=top_k, rng=np.random.default_rng(31))[:, -1]
    freq = np.bincount(new, minlength=11) / n
    if top_k is not None:
        assert np.all(freq[p == 0] == 0)  # never outside the top k
    # 5 binomial standard errors (fixed seed, so the verdict is deterministic); a wrong temperature
    # (logits * T instead of / T) or no top-k filtering is off by many times that.
    assert np.all(np.abs(freq - p) <= 5 * np.sqrt(p * (1 - p) / n) + 1e-9), (freq, p)


def test_generate_on_backend_matches_numpy(backend):
    model = tiny_gpt(7, "sinusoidal", **GPT_CONFIG)
    prompt = np.array([[1, 2, 3, 4, 5, 6, 7, 8]])
    expected = model.generate(prompt, 4, top_k=5, rng=np.random.default_rng(0))
    model_to(model, backend)
    out = model.generate(to_device(prompt, backend), 4, top_k=5, rng=np.random.default_rng(0))
    assert_on_backend(out, backend, "generated ids")
    np.testing.assert_array_equal(to_host(out), expected)


# ---------------------------------------------------------------------------
# Bad input: errors from our code, naming the problem
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [-1, -7, 11, 12, 1000])
def test_gpt_rejects_token_ids_outside_the_vocabulary(lm, bad):
    idx = np.array([[0, 1, bad, 2]])
    with pytest.raises(ValueError, match=rf"token embedding.*0\.\.10.*{bad}") as info:
        lm(idx)
    assert raises_here(info)
    with pytest.raises(ValueError, match=rf"0\.\.10.*{bad}") as info:
        lm.generate(idx, 2, rng=np.random.default_rng(0))
    assert raises_here(info)


@pytest.mark.parametrize("dtype", [np.float64, np.float32, bool])
def test_gpt_rejects_non_integer_token_ids(lm, dtype):
    idx = np.array([[0, 1, 1]]).astype(dtype)
    with pytest.raises(ValueError, match=rf"integers.*{np.dtype(dtype)}") as info:
        lm(idx)
    assert raises_here(info)


def test_gpt_rejects_a_sequence_longer_than_the_context(lm):
    with pytest.raises(ValueError, match=r"sequence length 7 exceeds the context length 6") as info:
        lm(np.zeros((2, 7), dtype=np.int64))
    assert raises_here(info)
    lm(np.zeros((2, 6), dtype=np.int64))  # exactly the context is fine


@pytest.mark.parametrize("idx", [np.zeros(4, dtype=np.int64), np.zeros((1, 2, 3), dtype=np.int64)],
                         ids=["1-D", "3-D"])
def test_gpt_rejects_idx_that_is_not_a_matrix(lm, idx):
    with pytest.raises(ValueError, match=r"\(B, T\)") as info:
        lm(idx)
    assert raises_here(info)


@pytest.mark.parametrize("prompt", [np.zeros((1, 0), dtype=np.int64), np.zeros((3, 0), dtype=np.int64),
                                    np.zeros(0, dtype=np.int64)], ids=["1x0", "3x0", "1-D"])
def test_generate_rejects_an_empty_prompt(lm, prompt):
    with pytest.raises(ValueError, match=r"non-empty prompt") as info:
        lm.generate(prompt, 3, rng=np.random.default_rng(0))
    assert raises_here(info)


@pytest.mark.parametrize("temperature", [0.0, -1.0])
def test_generate_rejects_a_non_positive_temperature(lm, temperature):
    with pytest.raises(ValueError, match=r"temperature must be > 0") as info:
        lm.generate(np.zeros((1, 2), dtype=np.int64), 3, temperature=temperature)
    assert raises_here(info)


@pytest.mark.parametrize("top_k", [0, -1])
def test_generate_rejects_a_top_k_below_one(lm, top_k):
    """top_k=-1 today keeps every token but the least likely one, top_k=0 disables the filter: both silently."""
    with pytest.raises(ValueError, match=r"top_k") as info:
        lm.generate(np.zeros((1, 2), dtype=np.int64), 3, top_k=top_k, rng=np.random.default_rng(0))
    assert raises_here(info)


@pytest.mark.parametrize("d_model, n_heads", [(10, 3), (8, 3), (4, 8)])
def test_d_model_must_be_divisible_by_n_heads(d_model, n_heads):
    pattern = rf"d_model \({d_model}\).*n_heads \({n_heads}\)"
    with pytest.raises(ValueError, match=pattern) as info:
        GPT(11, 6, d_model, n_heads, 1, rng=np.random.default_rng(0))
    assert raises_here(info)
    with pytest.raises(ValueError, match=pattern) as info:
        MultiHeadAttention(d_model, n_heads, rng=np.random.default_rng(0))
    assert raises_here(info)


@pytest.mark.parametrize("cls", ["GPT", "MultiHeadAttention"])
def test_zero_heads_is_a_value_error(cls):
    """n_heads=0 today ends in ZeroDivisionError from ``d_model % n_heads``, which names nothing."""
    with pytest.raises(ValueError, match=r"n_heads.*0") as info:
        if cls == "GPT":
            GPT(11, 6, 8, 0, 1, rng=np.random.default_rng(0))
        else:
            MultiHeadAttention(8, 0, rng=np.random.default_rng(0))
    assert raises_here(info)


def test_gpt_rejects_an_unknown_positional_kind():
    with pytest.raises(ValueError, match=r"positional.*'rotary'") as info:
        GPT(11, 6, 8, 2, 1, rng=np.random.default_rng(0), positional="rotary")
    assert raises_here(info)


# ---------------------------------------------------------------------------
# clip_grad_norm
# ---------------------------------------------------------------------------

CLIP_SHAPES = [(4, 3), (3,), (2, 5), (1,)]


def params_with_grads(seed, dtype=F64, scale=1.0):
    rng = np.random.default_rng(seed)
    params = [Parameter(rng.standard_normal(s).astype(dtype)) for s in CLIP_SHAPES]
    for p in params:
        p.grad[...] = scale * rng.standard_normal(p.shape)
    return params


def global_norm(grads) -> float:
    return float(np.linalg.norm(np.concatenate([np.asarray(g, dtype=F64).ravel() for g in grads])))


@pytest.mark.parametrize("ratio", [0.01, 0.5, 0.999])
def test_clip_grad_norm_scales_down_to_max_norm(ratio):
    params = params_with_grads(0)
    grads = [p.grad for p in params]
    before = [g.copy() for g in grads]
    norm = global_norm(before)
    total = clip_grad_norm(params, ratio * norm)
    assert isinstance(total, float)
    assert total == pytest.approx(norm, rel=1e-12)
    assert global_norm(p.grad for p in params) == pytest.approx(ratio * norm, rel=1e-9)
    for p, g, g0 in zip(params, grads, before):
        assert p.grad is g  # in place
        np.testing.assert_allclose(p.grad, g0 * ratio, rtol=1e-9)  # one common factor: the direction is kept


@pytest.mark.parametrize("ratio", [1.0, 1.5, 100.0])
def test_clip_grad_norm_leaves_small_gradients_alone(ratio):
    params = params_with_grads(1)
    before = [p.grad.copy() for p in params]
    norm = global_norm(before)
    assert clip_grad_norm(params, ratio * norm) == pytest.approx(norm, rel=1e-12)
    for p, g0 in zip(params, before):
        np.testing.assert_array_equal(p.grad, g0)


def test_clip_grad_norm_of_zero_gradients():
    params = params_with_grads(2, scale=0.0)
    assert clip_grad_norm(params, 1.0) == 0.0
    for p in params:
        np.testing.assert_array_equal(p.grad, 0)


def test_clip_grad_norm_float32_does_not_overflow():
    """Squares of 1e20 overflow float32; the norm must still come out right, and the grads stay float32."""
    params = params_with_grads(3, dtype=np.float32, scale=1e20)
    before = [p.grad.astype(F64) for p in params]
    norm = global_norm(before)
    with np.errstate(over="raise", invalid="raise"):
        total = clip_grad_norm(params, 1.0)
    assert total == pytest.approx(norm, rel=1e-6)
    assert all(p.grad.dtype == np.float32 for p in params)
    assert global_norm(p.grad for p in params) == pytest.approx(1.0, rel=1e-5)


def test_clip_grad_norm_over_a_gpt(backend):
    model = tiny_gpt(0)
    model_to(model, backend)
    idx = to_device(np.random.default_rng(0).integers(0, 7, (2, 5)), backend)
    targets = to_device(np.random.default_rng(1).integers(0, 7, (2, 5)), backend)
    gpt_loss_and_grads(model, idx, targets)
    norm = global_norm(to_host(p.grad) for p in model.parameters())
    assert clip_grad_norm(model.parameters(), norm / 4) == pytest.approx(norm, rel=1e-12)
    assert global_norm(to_host(p.grad) for p in model.parameters()) == pytest.approx(norm / 4, rel=1e-9)
    for p in model.parameters():
        assert_on_backend(p.grad, backend, "gradient")


# ---------------------------------------------------------------------------
# CharTokenizer
# ---------------------------------------------------------------------------


def test_char_tokenizer_vocabulary_is_the_sorted_characters():
    tok = CharTokenizer("hello world")
    assert tok.vocab_size == 8
    ids = tok.encode("hello")
    assert ids.dtype == np.int64
    np.testing.assert_array_equal(ids, [3, 2, 4, 4, 5])  # ' ', d, e, h, l, o, r, w
    assert tok.decode(ids) == "hello"
    assert tok.decode([7, 5, 6]) == "wor"
    assert tok.decode(np.array([1, 0], dtype=np.uint8)) == "d "
    assert tok.encode("").shape == (0,) and tok.decode([]) == ""


@given(text=st.text(min_size=1, max_size=40), data=st.data())
def test_char_tokenizer_round_trips(text, data):
    tok = CharTokenizer(text)
    assert tok.vocab_size == len(set(text))
    s = "".join(data.draw(st.lists(st.sampled_from(sorted(set(text))), max_size=30), label="message"))
    ids = tok.encode(s)
    assert ids.shape == (len(s),)
    assert ids.size == 0 or (ids.min() >= 0 and ids.max() < tok.vocab_size)
    assert tok.decode(ids) == s
    assert tok.decode(tok.encode(text)) == text


@pytest.mark.parametrize("unknown", ["z", "é", "\n"])
def test_char_tokenizer_unknown_character_is_a_key_error_naming_it(unknown):
    tok = CharTokenizer("abc abc")
    with pytest.raises(KeyError) as info:
        tok.encode("ab" + unknown + "c")
    assert raises_here(info)
    message = info.value.args[0]  # str() of a KeyError is the repr of its message, escapes doubled
    assert repr(unknown) in message and "vocabulary" in message


@pytest.mark.parametrize("bad", [-1, 3, 100])
def test_char_tokenizer_decode_rejects_ids_outside_the_vocabulary(bad):
    """decode([-1]) today returns the last character (Python's negative indexing), silently."""
    tok = CharTokenizer("abc")
    with pytest.raises(ValueError, match=rf"0\.\.2.*{bad}") as info:
        tok.decode([0, bad])
    assert raises_here(info)
