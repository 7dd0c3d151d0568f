"""Tests of the fused CPU path of nnfs.transformer (Chapter 5, "Fusing the
elementwise work on the CPU").

The NumPy layers are the reference: they are tested against finite
differences and PyTorch in test_transformer.py. Here each fused layer must give
the reference's numbers to float32 rounding, forward and backward, causal or
not, with and without dropout; a whole training step must match; for anything
the kernels do not take (float64, a non-contiguous view) the fused classes must
run the reference code itself, bit for bit; and fuse() must switch a model
both ways without touching its weights.
"""

from __future__ import annotations

import numpy as np
import pytest

from nnfs.nn import SoftmaxCrossEntropy
from nnfs.optim import SGD
from nnfs.transformer import (GELU, GPT, FusedAttention, FusedGELU,
                              FusedLayerNorm, LayerNorm, MultiHeadAttention,
                              clip_grad_norm, fuse)

pytestmark = pytest.mark.ch5

F32 = np.float32
# float32 rounding: the fused loops add up in another order than NumPy's
# BLAS-backed row sums, so single entries differ in the last bits or so;
# errors are measured against the largest entry of each array
RTOL_F32 = 2e-6


def close_f32(a, b, rtol=RTOL_F32):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.shape == b.shape
    scale = max(np.abs(b).max(), np.finfo(F32).tiny)
    err = np.abs(a - b).max() / scale
    assert err <= rtol, f"max error {err:.2e} of the scale {scale:.3g}"


def twins(cls, fused_cls, *args, seed=0, **kwargs):
    ref = cls(*args, rng=np.random.default_rng(seed), **kwargs)
    fused = fused_cls(*args, rng=np.random.default_rng(seed), **kwargs)
    return ref, fused


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("b, t, d, h", [(2, 7, 8, 2), (3, 64, 64, 4),
                                        (1, 1, 4, 1), (2, 33, 12, 3)])
def test_fused_attention_matches_the_reference(causal, b, t, d, h):
    ref, fused = twins(MultiHeadAttention, FusedAttention, d, h, causal)
    rng = np.random.default_rng(1)
    for p in ref.parameters():            # biases too, and larger scores
        p.data += F32(0.3) * rng.standard_normal(p.shape, dtype=F32)
    for p, q in zip(ref.parameters(), fused.parameters()):
        q.data = p.data.copy()
    x = 2 * rng.standard_normal((b, t, d), dtype=F32)
    G = rng.standard_normal((b, t, d), dtype=F32)
    y_ref, y = ref(x), fused(x)
    assert y.dtype == F32
    close_f32(y, y_ref)
    close_f32(fused.att, ref.att)
    if causal:                            # exactly 0 above the diagonal
        assert not np.triu(fused.att, 1).any()
    close_f32(fused.backward(G), ref.backward(G))
    for (name, p), q in zip(ref.named_parameters(), fused.parameters()):
        assert q.grad.dtype == F32, name
        close_f32(q.grad, p.grad)


def test_fused_attention_with_dropout_matches_the_reference():
    ref, fused = twins(MultiHeadAttention, FusedAttention, 16, 4, True,
                       dropout=0.2)
    x = np.random.default_rng(2).standard_normal((2, 9, 16), dtype=F32)
    G = np.random.default_rng(3).standard_normal((2, 9, 16), dtype=F32)
    # the same rng stream in each, so the same dropout masks
    close_f32(fused(x), ref(x))
    close_f32(fused.backward(G), ref.backward(G))
    close_f32(fused.qkv.weight.grad, ref.qkv.weight.grad)


# d >= 3: with one or two features every xhat is 0 or +-1 whatever x is,
# so the exact input gradient is 0 and both layers return rounding noise
@pytest.mark.parametrize("shape", [(2, 5, 8), (64, 64), (3, 1, 7), (4, 3)])
def test_fused_layernorm_matches_the_reference(shape):
    rng = np.random.default_rng(4)
    ref, fused = LayerNorm(shape[-1]), FusedLayerNorm(shape[-1])
    for p, q in zip(ref.parameters(), fused.parameters()):
        p.data += rng.standard_normal(p.shape, dtype=F32)
        q.data = p.data.copy()
    x = 3 + 2 * rng.standard_normal(shape, dtype=F32)   # a mean to take out
    G = rng.standard_normal(shape, dtype=F32)
    close_f32(fused(x), ref(x))
    close_f32(fused.backward(G), ref.backward(G))
    for p, q in zip(ref.parameters(), fused.parameters()):
        close_f32(q.grad, p.grad)
    # gradients add up over calls, as every layer's do
    fused.backward(G)
    ref.backward(G)
    close_f32(fused.gamma.grad, ref.gamma.grad)


# (5, 13_111): two whole blocks of GELU.block entries and a part of one
@pytest.mark.parametrize("shape", [(7,), (2, 5, 8), (5, 13_111)])
def test_fused_gelu_matches_the_reference(shape):
    assert np.prod(shape) < 3 * GELU.block
    rng = np.random.default_rng(9)
    x = 4 * rng.standard_normal(shape, dtype=F32)
    x.reshape(-1)[:5] = (0, -30, 30, 1e-20, -8.5)   # where tanh saturates
    ref, fused = GELU(), FusedGELU()
    close_f32(fused(x), ref(x))
    close_f32(fused.d, ref.d)          # the derivative kept for backward
    G = rng.standard_normal(shape, dtype=F32)
    close_f32(fused.backward(G), ref.backward(G))


def test_fused_gelu_passes_nan_and_infinity_like_the_reference():
    x = np.array([np.nan, np.inf, -np.inf, 1.0], F32)
    ref, fused = GELU(), FusedGELU()
    with np.errstate(invalid="ignore"):    # NumPy warns about inf * 0
        y_ref = ref(x)
    y = fused(x)
    np.testing.assert_array_equal(y, y_ref)        # nan, inf, nan, GELU(1)
    np.testing.assert_array_equal(np.isnan(fused.d), np.isnan(ref.d))


def test_fused_layers_run_the_reference_code_on_what_the_kernels_do_not_take():
    rng = np.random.default_rng(5)
    # float64: the NumPy code itself, so exactly the same bits
    ref, fused = twins(MultiHeadAttention, FusedAttention, 8, 2, True,
                       dtype=np.float64)
    x, G = rng.standard_normal((2, 6, 8)), rng.standard_normal((2, 6, 8))
    assert np.array_equal(fused(x), ref(x))
    assert np.array_equal(fused.backward(G), ref.backward(G))
    ln, fln = LayerNorm(8, dtype=np.float64), FusedLayerNorm(8, dtype=np.float64)
    assert np.array_equal(fln(x), ln(x))
    assert np.array_equal(fln.backward(G), ln.backward(G))
    # a float32 view that is not C-contiguous
    x32 = rng.standard_normal((2, 8, 6), dtype=F32).transpose(0, 2, 1)
    ln, fln = LayerNorm(8), FusedLayerNorm(8)
    assert np.array_equal(fln(x32), ln(x32))
    gelu, fgelu = GELU(), FusedGELU()
    assert np.array_equal(fgelu(x), gelu(x))
    assert np.array_equal(fgelu.backward(G), gelu.backward(G))


def test_fused_layers_reject_bad_input_like_the_reference():
    fln, fatt = FusedLayerNorm(8), FusedAttention(8, 2, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="LayerNorm"):
        fln(np.zeros((3, 7), F32))              # 7 features, not 8
    with pytest.raises(ValueError, match="LayerNorm"):
        fln(np.zeros((3, 8), np.float64))       # the wrong dtype
    with pytest.raises(ValueError, match="MultiHeadAttention"):
        fatt(np.zeros((3, 8), F32))             # not (B, T, d)


def step(model, x, y, opt, loss_fn):
    opt.zero_grad()
    logits = model(x)
    loss = loss_fn(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
    model.backward(loss_fn.backward().reshape(logits.shape))
    clip_grad_norm(model.parameters(), 1.0)
    opt.step()
    return loss


def test_fuse_swaps_the_layers_both_ways_and_keeps_the_weights():
    model = GPT(11, 8, 16, 2, 2, rng=np.random.default_rng(6))
    before = [p.data.copy() for p in model.parameters()]
    assert fuse(model) is model
    kinds = [type(m) for m in model.modules()]
    assert MultiHeadAttention not in kinds and LayerNorm not in kinds
    assert kinds.count(FusedAttention) == 2
    assert kinds.count(FusedLayerNorm) == 5     # two per block, and ln_f
    assert GELU not in kinds and kinds.count(FusedGELU) == 2
    fuse(model, on=False)
    kinds = [type(m) for m in model.modules()]
    assert FusedAttention not in kinds and FusedLayerNorm not in kinds
    assert FusedGELU not in kinds
    assert kinds.count(LayerNorm) == 5 and kinds.count(GELU) == 2
    for p, old in zip(model.parameters(), before):
        assert np.array_equal(p.data, old)


def test_a_fused_gpt_trains_like_the_reference():
    rng = np.random.default_rng(7)
    x, y = rng.integers(0, 23, (4, 16)), rng.integers(0, 23, (4, 16))
    ref = GPT(23, 16, 32, 4, 2, rng=np.random.default_rng(8))
    fused = fuse(GPT(23, 16, 32, 4, 2, rng=np.random.default_rng(8)))
    runs = []
    for model in (ref, fused):
        # SGD, not Adam: Adam divides each gradient by its own size, so
        # it would blow the rounding noise of a gradient that is 0 in
        # exact arithmetic (the key bias's) up to a full step
        opt = SGD(model.parameters(), lr=0.5, momentum=0.9)
        runs.append([step(model, x, y, opt, SoftmaxCrossEntropy())
                     for _ in range(5)])
    np.testing.assert_allclose(runs[1], runs[0], rtol=1e-6)
    assert runs[0][-1] < runs[0][0]          # and it did learn something
    for p, q in zip(ref.parameters(), fused.parameters()):
        close_f32(q.data, p.data, rtol=1e-5)
