"""Tests of nnfs.nn.Dropout and of Module.train()/eval() (Chapter 3).

Dropout is random, so its statistical tests use a seeded generator and a
tolerance derived from the distribution of the quantity tested (stated next
to each test): with the seed fixed the verdict is deterministic, and a wrong
scale or keep probability misses the tolerance by many standard deviations.
PyTorch's torch.nn.Dropout is the reference for the semantics.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from nnfs.backend import get_array_module, get_backend, to_device, to_host
from nnfs.nn import Dropout, Linear, Module, ReLU, Sequential

from helpers import raised_by_module  # noqa: E402

pytestmark = pytest.mark.ch3

raises_here = raised_by_module("nnfs.nn")
PS = [0.1, 0.5, 0.8]


@pytest.mark.parametrize("p", PS)
def test_dropout_preserves_the_expectation(p, backend):
    """E[y] = x (eq. eq-dropout), tested with K independent masks per entry.

    Each y is x/(1-p) with probability 1-p, else 0, so the mean of K draws
    has standard deviation |x| sqrt(p / ((1-p) K)).  The standardised error
    z of each of the 200 entries is then close to N(0, 1), and max |z| < 5
    fails by chance with probability about 200 * 6e-7 ~ 1e-4.  Dropout
    without the 1/(1-p) scale is off by z ~ p sqrt((1-p) K / p) > 50.
    """
    K, D = 20_000, 200
    rng = np.random.default_rng(0)
    x = rng.uniform(0.5, 2.0, D) * rng.choice([-1.0, 1.0], D)
    layer = Dropout(p, rng=1)
    out = to_host(layer(to_device(np.tile(x, (K, 1)), backend)))
    z = (out.mean(axis=0) - x) / (np.abs(x) * math.sqrt(p / ((1 - p) * K)))
    assert np.abs(z).max() < 5, np.abs(z).max()


@pytest.mark.parametrize("p", PS)
def test_fraction_zeroed_and_scale_agree_with_torch(p, backend):
    """Both drop a share p of the entries and scale the rest by 1/(1-p).

    The share zeroed among n entries is Binomial(n, p) / n, standard
    deviation s = sqrt(p (1-p) / n): each share must lie within 5 s of p,
    and the difference of the two within 5 sqrt(2) s.  The kept entries of
    a tensor of ones must equal torch's, 1/(1-p) in float32 (to one ulp).
    """
    n = 1_000_000
    ones = np.ones(n, dtype=np.float32)
    ours = to_host(Dropout(p, rng=2)(to_device(ones, backend)))
    torch.manual_seed(3)
    ref = torch.nn.Dropout(p)(torch.ones(n)).numpy()
    s = math.sqrt(p * (1 - p) / n)
    share_ours, share_ref = np.mean(ours == 0), np.mean(ref == 0)
    assert abs(share_ours - p) < 5 * s, share_ours
    assert abs(share_ref - p) < 5 * s, share_ref
    assert abs(share_ours - share_ref) < 5 * math.sqrt(2) * s
    assert ours.dtype == np.float32
    kept, kept_ref = np.unique(ours[ours != 0]), np.unique(ref[ref != 0])
    assert kept.size == kept_ref.size == 1
    np.testing.assert_allclose(kept, kept_ref, rtol=1.2e-7)
    np.testing.assert_allclose(kept, 1 / (1 - p), rtol=1.2e-7)


@pytest.mark.parametrize("p", PS)
def test_backward_uses_the_forward_mask(p, backend):
    """grad_in == grad_out * mask / (1 - p), with the mask read off the output."""
    rng = np.random.default_rng(4)
    x = rng.uniform(0.5, 2.0, (64, 30))            # no zeros in the input
    grad_out = rng.standard_normal(x.shape)
    layer = Dropout(p, rng=5)
    out = to_host(layer(to_device(x, backend)))
    kept = out != 0
    np.testing.assert_allclose(out[kept], x[kept] / (1 - p), rtol=1e-15)
    grad_in = layer.backward(to_device(grad_out, backend))
    assert get_array_module(grad_in) is get_backend(backend)
    np.testing.assert_allclose(to_host(grad_in), grad_out * kept / (1 - p),
                               rtol=1e-15, atol=0)
    # the same mask again for a second backward; forward draws a new one
    np.testing.assert_array_equal(to_host(layer.backward(
        to_device(grad_out, backend))), to_host(grad_in))
    again = to_host(layer(to_device(x, backend)))
    assert not np.array_equal(again != 0, kept)


def test_backward_matches_torch_through_a_network():
    """Linear -> Dropout -> Linear with our mask imposed on torch's graph."""
    rng = np.random.default_rng(6)
    x = rng.standard_normal((8, 5))
    first = Linear(5, 7, rng, dtype=np.float64)
    second = Linear(7, 3, rng, dtype=np.float64)
    drop = Dropout(0.3, rng=7)
    model = Sequential(first, drop, second)
    out = model(x)
    g = rng.standard_normal(out.shape)
    model.backward(g)
    tx = torch.tensor(x)
    tw = [torch.tensor(a, requires_grad=True) for a in
          (first.weight.data, first.bias.data,
           second.weight.data, second.bias.data)]
    mask = torch.tensor(drop.mask)                  # 0 or 1/(1-p)
    t_out = ((tx @ tw[0] + tw[1]) * mask) @ tw[2] + tw[3]
    (t_out * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(out, t_out.detach().numpy(), rtol=1e-12)
    for ours, ref in zip((first.weight, first.bias, second.weight,
                          second.bias), tw):
        np.testing.assert_allclose(ours.grad, ref.grad.numpy(), rtol=1e-12,
                                   atol=1e-15)
    assert set(np.unique(drop.mask)) <= {0.0, 1 / 0.7}


def test_eval_mode_and_p_zero_are_the_identity(backend):
    x = to_device(np.random.default_rng(8).standard_normal((16, 4)), backend)
    g = to_device(np.random.default_rng(9).standard_normal((16, 4)), backend)
    layer = Dropout(0.5, rng=0)
    assert layer.training
    assert layer.eval() is layer and not layer.training
    np.testing.assert_array_equal(to_host(layer(x)), to_host(x))
    np.testing.assert_array_equal(to_host(layer.backward(g)), to_host(g))
    torch_layer = torch.nn.Dropout(0.5).eval()       # the same in PyTorch
    np.testing.assert_array_equal(
        torch_layer(torch.tensor(to_host(x))).numpy(), to_host(x))
    layer.train()
    assert not np.array_equal(to_host(layer(x)), to_host(x))
    zero = Dropout(0.0, rng=0)
    np.testing.assert_array_equal(to_host(zero(x)), to_host(x))
    np.testing.assert_array_equal(to_host(zero.backward(g)), to_host(g))


def test_dropout_is_reproducible_per_seed_and_keeps_dtype():
    x = np.ones((50, 40), dtype=np.float32)
    a, b = Dropout(0.5, rng=11)(x), Dropout(0.5, rng=11)(x)
    c = Dropout(0.5, rng=np.random.default_rng(11))(x)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)
    assert not np.array_equal(a, Dropout(0.5, rng=12)(x))
    assert a.dtype == np.float32


@pytest.mark.parametrize("p", [-0.1, 1.0, 1.5, math.nan, math.inf, "0.5",
                               True, None])
def test_dropout_rejects_p_outside_0_to_1(p):
    with pytest.raises(ValueError, match="0 <= p < 1") as info:
        Dropout(p)
    assert raises_here(info)
    assert repr(p) in str(info.value)


def test_dropout_backward_errors():
    layer = Dropout(0.5, rng=0)
    with pytest.raises(RuntimeError, match="before forward") as info:
        layer.backward(np.ones(3))
    assert raises_here(info)
    layer(np.ones((4, 3)))
    with pytest.raises(ValueError, match=r"expected .*\(4, 3\).*\(3, 4\)"):
        layer.backward(np.ones((3, 4)))


class _Net(Module):
    """Sub-modules as an attribute, a list, and inside a Sequential."""

    def __init__(self):
        self.head = Dropout(0.2, rng=0)
        self.blocks = [Sequential(Linear(2, 2), Dropout(0.1, rng=1)), ReLU()]
        self.pair = (Dropout(0.3, rng=2),)
        self.not_a_module = [1, "two"]


def test_train_and_eval_reach_every_sub_module():
    net = _Net()
    everything = list(net.modules())
    assert len(everything) == 7          # net, head, Sequential, Linear,
    assert all(m.training for m in everything)   # Dropout, ReLU, pair[0]
    assert net.eval() is net
    assert not any(m.training for m in everything)
    assert net.train() is net and all(m.training for m in everything)
    net.train(False)
    assert not any(m.training for m in everything)
    # a module created later starts in training mode, as in PyTorch
    assert Dropout().training and torch.nn.Dropout().training
    # the same parameters are found as before the modes existed
    assert [n for n, _ in net.named_parameters()] == [
        "blocks.0.layers.0.weight", "blocks.0.layers.0.bias"]


@pytest.mark.parametrize("mode", [1, "yes", None])
def test_train_mode_must_be_a_bool(mode):
    with pytest.raises(TypeError, match="True or False") as info:
        Dropout().train(mode)
    assert raises_here(info)


class _ModeProbe(Module):
    """Records the mode of every forward pass."""

    def __init__(self):
        self.seen = []

    def forward(self, x):
        self.seen.append(self.training)
        return x

    def backward(self, grad_out):
        return grad_out


@pytest.mark.parametrize("start_in_eval", [False, True])
def test_fit_trains_in_train_mode_and_validates_in_eval_mode(start_in_eval):
    from nnfs.nn import SoftmaxCrossEntropy
    from nnfs.optim import SGD
    from nnfs.train import evaluate, fit, predict
    rng = np.random.default_rng(0)
    x = rng.standard_normal((20, 4)).astype(np.float32)
    y = rng.integers(0, 3, 20)
    probe = _ModeProbe()
    model = Sequential(Linear(4, 3, rng), probe)
    if start_in_eval:
        model.eval()
    fit(model, SoftmaxCrossEntropy(), SGD(model.parameters(), lr=0.1), x, y,
        epochs=2, batch_size=10, validation=(x[:5], y[:5]),
        rng=np.random.default_rng(1), progress=False)
    # per epoch: two training steps, then one validation batch
    assert probe.seen == [True, True, False] * 2
    assert model.training is not start_in_eval       # the mode it found
    probe.seen.clear()
    model.train()
    evaluate(model, SoftmaxCrossEntropy(), x, y)
    predict(model, x)
    assert probe.seen == [False, False] and model.training
