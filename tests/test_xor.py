"""Tests of nnfs.xor (Chapter 2: the NumPy XOR networks, many runs at once).

References: the pure-Python trainer of nnfs.scalar (same maths, loops instead of
arrays) and PyTorch autograd in float64 built from the same parameters.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from nnfs.scalar import XOR_T, XOR_X, init_xor_net, parity_data, train_xor_python
from nnfs.xor import (
    init_xor_params,
    params_from_python,
    train_xor,
    xor_forward,
    xor_loss,
    xor_solved,
)

from helpers import assert_each_names_itself, raised_by_module  # noqa: E402

pytestmark = pytest.mark.ch2

KEYS = ("W1", "b1", "W2", "b2")


raises_here = raised_by_module("nnfs.xor")


def copy_params(p):
    return {k: np.array(v, copy=True) for k, v in p.items()}


# ---------------------------------------------------------------------------
# NumPy agrees with the pure-Python loops
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("n_hidden", [2, 3])
@pytest.mark.parametrize("seed", [0, 1, 7])
def test_numpy_matches_pure_python(seed, n_hidden):
    p0 = init_xor_net(n_hidden, rng=random.Random(seed))
    trained_py, losses_py = train_xor_python(p0, lr=2.0, epochs=300)
    trained_np, losses_np = train_xor(params_from_python(p0), lr=2.0, epochs=300, hidden="sigmoid", loss="mse")

    assert losses_np.shape == (300, 1)
    np.testing.assert_allclose(losses_np[:, 0], losses_py, rtol=0, atol=1e-12)
    assert losses_py[-1] < losses_py[0]  # it did learn something, so the comparison is not of constants
    for k in KEYS:
        np.testing.assert_allclose(trained_np[k][0], np.asarray(trained_py[k]), rtol=0, atol=1e-12, err_msg=k)


def test_params_from_python_layout():
    p0 = init_xor_net(3, rng=random.Random(2))
    p = params_from_python(p0)
    assert {k: v.shape for k, v in p.items()} == {"W1": (1, 2, 3), "b1": (1, 3), "W2": (1, 3), "b2": (1,)}
    assert all(v.dtype == np.float64 for v in p.values())
    assert p["W1"][0, 1, 2] == p0["W1"][1][2]
    assert p["b2"][0] == p0["b2"]


# ---------------------------------------------------------------------------
# One step of train_xor against PyTorch autograd
# ---------------------------------------------------------------------------

TORCH_ACT = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu}


def torch_loss(params, hidden, loss):
    """Per-run loss (S,) of the same S networks in torch, and the leaf tensors."""
    leaves = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in params.items()}
    X = torch.tensor(XOR_X, dtype=torch.float64)
    T = torch.tensor(XOR_T, dtype=torch.float64)
    Hid = TORCH_ACT[hidden](torch.einsum("nd,sdh->snh", X, leaves["W1"]) + leaves["b1"][:, None, :])
    y = torch.sigmoid(torch.einsum("snh,sh->sn", Hid, leaves["W2"]) + leaves["b2"][:, None])
    if loss == "mse":
        per_run = 0.5 * ((y - T) ** 2).mean(dim=1)
    else:
        per_run = torch.nn.functional.binary_cross_entropy(y, T.expand_as(y), reduction="none").mean(dim=1)
    return per_run, leaves


@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
@pytest.mark.parametrize("hidden", ["sigmoid", "tanh", "relu"])
def test_one_step_matches_torch(hidden, loss):
    lr = 0.7
    params = init_xor_params(6, 3, np.random.default_rng(11), scale=1.5)
    after, history = train_xor(params, lr, 1, hidden, loss)

    per_run, leaves = torch_loss(params, hidden, loss)
    # The runs are independent, so the gradient of the sum is each run's own gradient.
    per_run.sum().backward()
    np.testing.assert_allclose(history[0], per_run.detach().numpy(), rtol=1e-12, atol=0)
    for k in KEYS:
        assert np.abs(leaves[k].grad.numpy()).max() > 1e-6  # a real gradient, not zeros
        expected = params[k] - lr * leaves[k].grad.numpy()
        np.testing.assert_allclose(after[k], expected, rtol=0, atol=1e-12, err_msg=k)


@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
@pytest.mark.parametrize("hidden", ["sigmoid", "tanh", "relu"])
def test_xor_loss_matches_torch_and_first_recorded_loss(hidden, loss):
    params = init_xor_params(5, 4, np.random.default_rng(3))
    per_run, _ = torch_loss(params, hidden, loss)
    ours = xor_loss(params, hidden, loss)
    assert ours.shape == (5,)
    np.testing.assert_allclose(ours, per_run.detach().numpy(), rtol=1e-12, atol=0)
    _, history = train_xor(params, 0.5, 3, hidden, loss)
    np.testing.assert_allclose(history[0], ours, rtol=1e-14, atol=0)


def test_forward_shapes():
    params = init_xor_params(5, 3, np.random.default_rng(0))
    Hid, y = xor_forward(params, XOR_X, "tanh")
    assert Hid.shape == (5, 4, 3) and y.shape == (5, 4)
    assert np.all((y > 0) & (y < 1))


# ---------------------------------------------------------------------------
# Behaviour
# ---------------------------------------------------------------------------


def test_chapter_settings_solve_xor():
    """The chapter's claim, on a fresh set of 100 starts (the chapter uses seed 12345)."""
    params = init_xor_params(100, 4, np.random.default_rng(2024), scale=1.0)
    trained, losses = train_xor(params, lr=0.5, epochs=2000, hidden="tanh", loss="cross_entropy")

    # Solved, checked independently of xor_solved: every output on the right side of 1/2.
    X, T = np.asarray(XOR_X, float), np.asarray(XOR_T)
    Hid = np.tanh(np.einsum("nd,sdh->snh", X, trained["W1"]) + trained["b1"][:, None, :])
    y = 1 / (1 + np.exp(-(np.einsum("snh,sh->sn", Hid, trained["W2"]) + trained["b2"][:, None])))
    solved = np.all((y > 0.5) == (T == 1), axis=1)
    np.testing.assert_array_equal(xor_solved(trained, "tanh"), solved)
    assert solved.mean() >= 0.95, f"solved from only {solved.mean():.0%} of 100 starts"
    assert np.all(losses[-1] <= losses[0])


def test_solves_parity_3():
    """The trainer is not specific to two inputs."""
    X3, T3 = parity_data(3)
    params = init_xor_params(20, 6, np.random.default_rng(5), n_inputs=3)
    trained, _ = train_xor(params, 0.5, 3000, hidden="tanh", loss="cross_entropy", X=X3, T=T3)
    assert xor_solved(trained, "tanh", X=X3, T=T3).mean() >= 0.5


@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
@pytest.mark.parametrize("hidden", ["sigmoid", "tanh", "relu"])
@pytest.mark.parametrize("n_hidden", [3, 4])
def test_symmetric_init_keeps_hidden_units_identical(n_hidden, hidden, loss):
    params = init_xor_params(10, n_hidden, np.random.default_rng(8), symmetric=True)
    for k in KEYS:  # every weight and bias of a run starts at the same value
        flat = params[k].reshape(10, -1)
        assert np.all(flat == flat[:, :1])
    assert len(np.unique(params["b2"])) == 10  # drawn once per run

    trained, losses = train_xor(params, 1.0, 500, hidden, loss)
    assert np.all(np.isfinite(losses))
    for k, axis in [("W1", 2), ("b1", 1), ("W2", 1)]:
        first = np.take(trained[k], [0], axis=axis)
        assert np.all(trained[k] == first), f"{k}: hidden units drifted apart"
    if hidden != "relu":  # (dead ReLUs may not move at all)
        assert not np.array_equal(trained["W1"], params["W1"])


# ---------------------------------------------------------------------------
# Errors and input handling
# ---------------------------------------------------------------------------


def test_train_xor_rejects_unknown_hidden_and_loss():
    params = init_xor_params(2, 2, np.random.default_rng(0))
    with pytest.raises(ValueError, match="softplus") as info:
        train_xor(params, 0.5, 10, hidden="softplus")
    assert raises_here(info)
    with pytest.raises(ValueError, match="hinge") as info:
        train_xor(params, 0.5, 10, loss="hinge")
    assert raises_here(info)


def test_xor_loss_rejects_unknown_loss():
    params = init_xor_params(2, 2, np.random.default_rng(0))
    with pytest.raises(ValueError, match="hinge") as info:
        xor_loss(params, "tanh", loss="hinge")
    assert raises_here(info)


@pytest.mark.parametrize("fn", [xor_forward, xor_loss, xor_solved])
def test_unknown_hidden_is_a_value_error_everywhere(fn):
    params = init_xor_params(2, 2, np.random.default_rng(0))
    with pytest.raises(ValueError, match="softplus") as info:
        fn(params, hidden="softplus") if fn is not xor_forward else fn(params, XOR_X, "softplus")
    assert raises_here(info)


@pytest.mark.parametrize("X", [np.zeros((4, 3)), np.zeros((4, 1)), np.zeros(4), np.zeros((2, 4, 2))])
def test_train_xor_rejects_inputs_of_the_wrong_width(X):
    params = init_xor_params(2, 2, np.random.default_rng(0))
    with pytest.raises(ValueError, match="shape") as info:
        train_xor(params, 0.5, 10, X=X, T=np.zeros(len(X)))
    assert raises_here(info)


def test_train_xor_rejects_targets_of_the_wrong_length():
    params = init_xor_params(2, 2, np.random.default_rng(0))
    with pytest.raises(ValueError) as info:
        train_xor(params, 0.5, 10, X=XOR_X, T=[0, 1, 1])
    assert raises_here(info)


@pytest.mark.parametrize("sizes", [(0, 2, 2), (3, 0, 2), (3, 2, 0)])
def test_init_xor_params_rejects_zero_sizes(sizes):
    n_runs, n_hidden, n_inputs = sizes
    with pytest.raises(ValueError) as info:
        init_xor_params(n_runs, n_hidden, np.random.default_rng(0), n_inputs=n_inputs)
    assert raises_here(info)


def test_init_xor_params_shapes_and_range():
    p = init_xor_params(7, 5, np.random.default_rng(0), scale=0.25, n_inputs=3)
    assert {k: v.shape for k, v in p.items()} == {"W1": (7, 3, 5), "b1": (7, 5), "W2": (7, 5), "b2": (7,)}
    assert all(np.abs(v).max() <= 0.25 for v in p.values())
    q = init_xor_params(7, 5, np.random.default_rng(0), scale=0.25, n_inputs=3)
    assert all(np.array_equal(p[k], q[k]) for k in KEYS)


@pytest.mark.parametrize("symmetric", [False, True])
def test_train_xor_does_not_modify_params(symmetric):
    params = init_xor_params(4, 3, np.random.default_rng(1), symmetric=symmetric)
    before = copy_params(params)
    trained, _ = train_xor(params, 0.5, 20, "tanh", "cross_entropy")
    for k in KEYS:
        np.testing.assert_array_equal(params[k], before[k])
        assert not np.shares_memory(trained[k], params[k])


# ---------------------------------------------------------------------------
# Bad input, as a property: wrong shapes, dtypes, empties and NaNs for every
# public function; the error must come from nnfs.xor and name the argument
# and what was expected.
# ---------------------------------------------------------------------------
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from nnfs.xor import train_xor_logged  # noqa: E402


@st.composite
def bad_array(draw, shape: tuple[int, ...]):
    """A spoiled version of a float array of ``shape`` and the words its
    error must contain."""
    kind = draw(st.sampled_from(["rank", "width", "empty", "nan", "str"]))
    good = np.ones(shape)
    if kind == "rank":
        return np.ones(shape + (draw(st.integers(1, 3)),)), "shape"
    if kind == "width":
        last = shape[-1] + draw(st.integers(1, 3)) if shape else 2
        return np.ones(shape[:-1] + (last,)), "shape"
    if kind == "empty":
        return np.ones((0,) + shape[1:]), "empty" if shape else "shape"
    if kind == "nan":
        idx = tuple(draw(st.integers(0, n - 1)) for n in shape)
        good[idx] = draw(st.sampled_from([np.nan, np.inf]))
        return good, "NaN or infinite"
    return good.astype(str), "real numbers"


@given(
    st.integers(1, 3),  # S
    st.integers(1, 4),  # H
    st.sampled_from(["X", "T", "W1", "b1", "W2", "b2"]),
    st.sampled_from(["forward", "train", "loss", "solved"]),
    st.data(),
)
def test_bad_arrays_are_named_by_our_code(S, H, arg, func, data):
    params = init_xor_params(S, H, np.random.default_rng(0))
    X, T = np.asarray(XOR_X, float), np.asarray(XOR_T, float)
    if arg == "T" and func == "forward":
        func = "loss"  # xor_forward takes no targets
    good = {"X": X, "T": T, **params}[arg]
    bad, words = data.draw(bad_array(good.shape))
    if arg in params:
        params = {**params, arg: bad}
        name = f"params[{arg!r}]"
    else:
        X, T = (bad, T) if arg == "X" else (X, bad)
        name = arg
    if words == "empty" and arg in ("T", "b1", "W2", "b2"):
        words = "shape"  # 0 rows no longer match X's N or W1's S
    with pytest.raises((TypeError, ValueError)) as info:
        if func == "forward":
            xor_forward(params, X)
        elif func == "train":
            train_xor(params, 0.5, 2, X=X, T=T)
        elif func == "loss":
            xor_loss(params, X=X, T=T)
        else:
            xor_solved(params, X=X, T=T)
    assert raises_here(info), info.traceback[-1]
    message = str(info.value)
    assert name in message and words in message, (name, words, message)


NAN = float("nan")


def _p():
    return init_xor_params(2, 2, np.random.default_rng(0))


BAD_CALLS = [  # (description, call, words that the message must contain)
    ("init n_runs 0", lambda: init_xor_params(0, 2, np.random.default_rng(0)),
     ["n_runs", ">= 1"]),
    ("init n_hidden 1.5",
     lambda: init_xor_params(1, 1.5, np.random.default_rng(0)),
     ["n_hidden", "int"]),
    ("init rng int", lambda: init_xor_params(1, 2, 0),
     ["rng", "Generator"]),
    ("init scale nan",
     lambda: init_xor_params(1, 2, np.random.default_rng(0), NAN),
     ["scale", "finite"]),
    ("init scale str",
     lambda: init_xor_params(1, 2, np.random.default_rng(0), "1"),
     ["scale", "real"]),
    ("train lr nan", lambda: train_xor(_p(), NAN, 2), ["lr", "finite"]),
    ("train lr -1", lambda: train_xor(_p(), -1.0, 2), ["lr", "> 0"]),
    ("train lr str", lambda: train_xor(_p(), "a", 2), ["lr", "real"]),
    ("train epochs -1", lambda: train_xor(_p(), 0.5, -1), ["epochs", ">= 0"]),
    ("train epochs 1.5", lambda: train_xor(_p(), 0.5, 1.5), ["epochs", "int"]),
    ("train hidden", lambda: train_xor(_p(), 0.5, 1, "soft"), ["hidden"]),
    ("train loss", lambda: train_xor(_p(), 0.5, 1, "tanh", "l1"), ["loss"]),
    ("train params {}", lambda: train_xor({}, 0.5, 1), ["params", "W1"]),
    ("train params list", lambda: train_xor([1], 0.5, 1), ["params", "dict"]),
    ("from_python {}", lambda: params_from_python({}), ["params", "W1"]),
    ("from_python ragged",
     lambda: params_from_python(
         {"W1": [[1, 2], [3]], "b1": [0, 0], "W2": [1, 1], "b2": 0}
     ), ["params['W1']", "shape"]),
    ("from_python b1 width",
     lambda: params_from_python(
         {"W1": [[1, 2], [3, 4]], "b1": [0], "W2": [1, 1], "b2": 0}
     ), ["params['b1']", "shape"]),
    ("solved hidden", lambda: xor_solved(_p(), "bad"), ["hidden"]),
    ("logged missing", lambda: train_xor_logged({"n_hidden": 2}),
     ["config", "lr"]),
    ("logged unknown",
     lambda: train_xor_logged(
         {"n_hidden": 2, "lr": 0.5, "epochs": 2, "learning_rate": 1}
     ), ["config", "learning_rate"]),
    ("logged epochs str",
     lambda: train_xor_logged({"n_hidden": 2, "lr": 0.5, "epochs": "2"}),
     ["epochs", "int"]),
    ("logged log_every 0",
     lambda: train_xor_logged(
         {"n_hidden": 2, "lr": 0.5, "epochs": 2}, log_every=0
     ), ["log_every", ">= 1"]),
]


@given(st.permutations(BAD_CALLS))
def test_bad_settings_are_named_by_our_code(cases):
    # every example tries every case, in a new order
    assert_each_names_itself(cases, "nnfs.xor")
