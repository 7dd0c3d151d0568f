"""Dropout in the GPT (as in nanoGPT) and AdamW parameter groups that decay only the matrices.

Dropout sits on the sum of the embeddings, on the attention weights and at
the end of every residual branch.  With dropout=0 (the default) the model
computes exactly what it computed without it (the PyTorch parity tests of
test_transformer.py run with the default); with dropout > 0 the training
mode is random, the evaluation mode is deterministic and equal to the model
without dropout, and the backward pass is checked against central
differences with the masks held fixed.
"""

from __future__ import annotations

import numpy as np
import pytest

from nnfs.nn import Dropout
from nnfs.optim import AdamW
from nnfs.transformer import GPT, Block, FeedForward, MultiHeadAttention, decay_groups, train_reversal

from helpers import numerical_grad, raised_by_module  # noqa: E402

pytestmark = pytest.mark.ch5

F64 = np.float64
CONFIG = dict(vocab_size=11, context_length=6, d_model=8, n_heads=2, n_layers=2, dtype=F64)
TOL_FD = 1e-6


def make(dropout=0.0, seed=3, positional="learned"):
    model = GPT(**CONFIG, rng=np.random.default_rng(seed), dropout=dropout, positional=positional)
    # generic LayerNorm gains and shifts and non-zero biases, so that no term hides behind a 1 or a 0
    rng = np.random.default_rng(seed + 100)
    for name, p in model.named_parameters():
        if name.endswith(("gamma", "beta", "bias")):
            p.data[...] = (name.endswith("gamma")) + 0.3 * rng.standard_normal(p.shape)
    return model


def dropouts(model):
    return [m for m in model.modules() if isinstance(m, Dropout)]


IDX = np.random.default_rng(0).integers(0, 11, (3, 6))


def test_every_dropout_place_of_nanogpt_is_there():
    model = make(0.1)
    # embeddings, then per block: attention weights, attention output, feed-forward output
    assert len(dropouts(model)) == 1 + 3 * CONFIG["n_layers"]
    assert all(d.p == 0.1 for d in dropouts(model))
    assert isinstance(model.drop, Dropout)
    for block in model.blocks:
        assert isinstance(block.attn.attn_drop, Dropout) and isinstance(block.attn.resid_drop, Dropout)
        assert isinstance(block.ffn.drop, Dropout)


@pytest.mark.parametrize("positional", ["learned", "sinusoidal"])
def test_dropout_does_not_change_the_weights(positional):
    a, b = make(0.0, positional=positional), make(0.3, positional=positional)
    for (name, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_array_equal(p.data, q.data, err_msg=name)


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_dropout_zero_is_the_model_without_dropout_in_both_modes(mode):
    """dropout=0 and the default give bit-identical logits and gradients, in training and in evaluation mode."""
    default = GPT(**CONFIG, rng=np.random.default_rng(3))
    zero = GPT(**CONFIG, rng=np.random.default_rng(3), dropout=0.0)
    getattr(zero, mode)()
    G = np.random.default_rng(1).standard_normal((3, 6, 11))
    out_default, out_zero = default(IDX), zero(IDX)
    np.testing.assert_array_equal(out_zero, out_default)
    np.testing.assert_array_equal(zero(IDX), out_zero)   # deterministic
    default.backward(G)
    zero.backward(G)
    for (name, p), (_, q) in zip(default.named_parameters(), zero.named_parameters()):
        np.testing.assert_array_equal(q.grad, p.grad, err_msg=name)


def test_training_mode_is_random_and_evaluation_mode_equals_no_dropout():
    plain, dropped = make(0.0), make(0.25)
    assert dropped.training
    a, b = dropped(IDX), dropped(IDX)
    assert not np.allclose(a, b)                              # new masks every pass
    assert not np.allclose(a, plain(IDX))
    assert dropped.eval() is dropped
    assert not any(m.training for m in dropped.modules())    # reaches every sub-module
    out = dropped(IDX)
    np.testing.assert_array_equal(out, dropped(IDX))         # deterministic
    np.testing.assert_allclose(out, plain(IDX), rtol=0, atol=0)
    dropped.train()
    assert all(m.training for m in dropped.modules())
    assert not np.allclose(dropped(IDX), out)


def test_training_masks_are_reproducible_from_the_seed():
    a, b = make(0.25, seed=5), make(0.25, seed=5)
    np.testing.assert_array_equal(a(IDX), b(IDX))
    np.testing.assert_array_equal(a(IDX), b(IDX))


def test_attention_dropout_drops_weights_and_scales_the_rest():
    mha = MultiHeadAttention(8, 2, True, np.random.default_rng(0), F64, dropout=0.5)
    x = np.random.default_rng(1).standard_normal((4, 6, 8))
    mha(x)
    kept = mha.att_d != 0
    np.testing.assert_allclose(mha.att_d[kept], 2 * mha.att[kept])    # 1 / (1 - p)
    share = 1 - kept[mha.att > 0].mean()
    assert 0.35 < share < 0.65            # about half of the visible weights dropped (4*2*21 of them)
    mha.eval()
    mha(x)
    assert mha.att_d is mha.att


def fixed_mask_check(module, forward, G, what):
    """Gradients of sum(forward() * G) against central differences, every Dropout's masks held fixed.

    Before every forward pass each Dropout gets a fresh Generator with the same seed: the masks
    depend on the generator and the shapes only, so every pass draws the same ones.
    """
    layers = dropouts(module)

    def reseed():
        for k, layer in enumerate(layers):
            layer.rng = np.random.default_rng(1000 + k)

    def loss():
        reseed()
        return float(np.sum(forward() * G))

    reseed()
    module.zero_grad()
    forward()
    dx = module.backward(G)
    assert any((layer.mask == 0).any() for layer in layers), "no entry was dropped: the check is vacuous"
    for name, p in module.named_parameters():
        numeric = numerical_grad(loss, p.data)
        err = np.abs(p.grad - numeric).max() / max(np.abs(p.grad).max(), 1e-300)
        assert err < TOL_FD, f"{what}: {name}: relative error {err:.2e}"
    return dx, loss


@pytest.mark.parametrize("positional", ["learned", "sinusoidal"])
def test_gpt_gradients_with_dropout_match_central_differences(positional):
    model = make(0.3, positional=positional)

    def logits():
        return model(IDX)

    out = logits()
    G = np.random.default_rng(4).standard_normal(out.shape)
    fixed_mask_check(model, logits, G, f"GPT with dropout ({positional})")
    # and the gradients really go through the masks: they differ from the model without dropout
    plain = make(0.0, positional=positional)
    plain(IDX)
    plain.backward(G)
    assert not np.allclose(model.tok.weight.grad, plain.tok.weight.grad)


@pytest.mark.parametrize("cls", ["MultiHeadAttention", "FeedForward", "Block"])
def test_layer_input_gradients_with_dropout_match_central_differences(cls):
    rng = np.random.default_rng(7)
    if cls == "MultiHeadAttention":
        layer = MultiHeadAttention(8, 2, True, rng, F64, dropout=0.4)
    elif cls == "FeedForward":
        layer = FeedForward(8, rng, F64, dropout=0.4)
    else:
        layer = Block(8, 2, rng, F64, dropout=0.4)
    x = rng.standard_normal((2, 5, 8))
    G = rng.standard_normal((2, 5, 8))
    dx, loss = fixed_mask_check(layer, lambda: layer(x), G, cls)
    numeric = numerical_grad(loss, x)
    err = np.abs(dx - numeric).max() / np.abs(dx).max()
    assert err < TOL_FD, f"{cls}: input: relative error {err:.2e}"


@pytest.mark.parametrize("p", [1.0, -0.1, 1.5])
def test_gpt_rejects_a_dropout_outside_0_1(p):
    with pytest.raises(ValueError, match=r"p must be a number with 0 <= p < 1") as info:
        GPT(**CONFIG, rng=np.random.default_rng(0), dropout=p)
    assert raised_by_module("nnfs.nn")(info)


# ---------------------------------------------------------------------------
# Parameter groups: decay the matrices, not the gains and biases
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("positional", ["learned", "sinusoidal"])
def test_decay_groups_partition_the_parameters(positional):
    model = make(0.0, positional=positional)
    groups = decay_groups(model, 0.1)
    assert [g["weight_decay"] for g in groups] == [0.1, 0.0]
    ids = [id(p) for g in groups for p in g["params"]]
    assert len(ids) == len(set(ids))                                   # nothing twice
    assert set(ids) == {id(p) for p in model.parameters()}             # nothing missing
    names = {id(p): name for name, p in model.named_parameters()}
    decayed = sorted(names[id(p)] for p in groups[0]["params"])
    expected = ["tok.weight"] + (["pos.weight"] if positional == "learned" else [])
    expected += [f"blocks.{i}.{layer}.weight" for i in range(2)
                 for layer in ("attn.qkv", "attn.proj", "ffn.fc", "ffn.out")]
    assert decayed == sorted(expected)
    for p in groups[1]["params"]:
        assert names[id(p)].rsplit(".", 1)[-1] in ("gamma", "beta", "bias")


def test_adamw_with_decay_groups_shrinks_matrices_and_leaves_gains_alone():
    """With zero gradients, an AdamW step is the decay alone: w *= 1 - lr * wd for the matrices only."""
    model = make(0.0)
    before = {name: p.data.copy() for name, p in model.named_parameters()}
    opt = AdamW(decay_groups(model, 0.1), lr=0.5)
    assert len(opt.param_groups) == 2
    model.zero_grad()
    opt.step()
    for name, p in model.named_parameters():
        if p.data.ndim >= 2:
            np.testing.assert_allclose(p.data, before[name] * (1 - 0.5 * 0.1), rtol=1e-15, err_msg=name)
        else:
            np.testing.assert_array_equal(p.data, before[name], err_msg=name)


def test_train_reversal_uses_the_decay_groups(monkeypatch):
    """The optimiser that train_reversal makes decays exactly the matrices, by 0.01."""
    import nnfs.optim

    made = []

    class Recording(nnfs.optim.AdamW):
        def __init__(self, params, *args, **kwargs):
            super().__init__(params, *args, **kwargs)
            made.append(self)

    monkeypatch.setattr(nnfs.optim, "AdamW", Recording)
    model = GPT(11, 16, 8, 2, 1, rng=np.random.default_rng(0))
    _, losses = train_reversal(model, steps=2, batch=4)
    assert len(losses) == 2
    (opt,) = made
    decay = {id(p): g["weight_decay"] for g in opt.param_groups for p in g["params"]}
    assert len(decay) == len(model.parameters())
    for name, p in model.named_parameters():
        assert decay[id(p)] == (0.01 if p.data.ndim >= 2 else 0.0), name
