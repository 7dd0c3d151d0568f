"""Bad inputs to the public functions of nnfs.nn, nnfs.optim, nnfs.train
and nnfs.data (Chapter 3): wrong shapes, dtypes, empty arrays and NaNs.

Every such call must fail with a TypeError or ValueError raised by our own
validation (the innermost traceback frame is in the module under test, not
in NumPy), whose message names what was expected.  Hypothesis draws the
bad inputs; a few targeted tests pin the messages of the common mistakes.
"""

from __future__ import annotations

import math
import re
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nnfs.data import minibatches, prepare_images, train_val_split
from nnfs.nn import (Dropout, Linear, MSELoss, Parameter, Sequential,
                     SoftmaxCrossEntropy)
from nnfs.optim import SGD, Adam, AdamW, CosineSchedule
from nnfs.train import (accuracy, confusion_matrix, evaluate, fit, load,
                        predict, save)

from helpers import raised_by  # noqa: E402

pytestmark = pytest.mark.ch3

# a message names what was expected: "expected ...", "... must ..."
NAMES_EXPECTATION = re.compile(r"expected|must|needs|appears twice")


def assert_our_error(call, module: str):
    with pytest.raises((TypeError, ValueError)) as info:
        with warnings.catch_warnings():
            warnings.simplefilter("error")   # and no NumPy warning first
            call()
    assert raised_by(info, module), info.traceback[-1]
    assert NAMES_EXPECTATION.search(str(info.value)), str(info.value)
    return info


def arrays(shape, dtype=np.float32):
    return np.random.default_rng(0).standard_normal(shape).astype(dtype)


bad_numbers = st.sampled_from([math.nan, math.inf, -math.inf, -1.0, "0.1",
                               None, True])
shapes = st.lists(st.integers(0, 4), min_size=0, max_size=3).map(tuple)


# ---------------------------------------------------------------------------
# nnfs.nn
# ---------------------------------------------------------------------------

@st.composite
def bad_nn_calls(draw):
    kind = draw(st.sampled_from(["linear-input", "linear-grad", "loss",
                                 "mse", "dropout", "linear-size"]))
    layer = Linear(3, 2, np.random.default_rng(0))
    if kind == "linear-input":
        x = draw(st.sampled_from([
            [[1.0, 2.0, 3.0]],                       # a list
            arrays((4, 5)), arrays((3,)), arrays((0, 2)),
            arrays((2, 3), np.float64), arrays((2, 3), np.int64),
            np.full((2, 4), np.nan, np.float32)]))
        return lambda: layer(x)
    if kind == "linear-grad":
        layer(arrays((4, 3)))
        g = draw(st.sampled_from([arrays((4, 3)), arrays((2,)),
                                  arrays((3, 2)), arrays((0, 2)),
                                  [[0.0, 1.0]] * 4]))
        return lambda: layer.backward(g)
    if kind == "loss":
        logits, labels = draw(st.sampled_from([
            (arrays((0, 3)), np.zeros(0, np.int64)),        # empty batch
            (arrays((4, 0)), np.zeros(4, np.int64)),        # no classes
            (arrays((4,)), np.zeros(4, np.int64)),
            (arrays((4, 3), np.int64), np.zeros(4, np.int64)),
            (arrays((4, 3)), np.full(4, np.nan)),           # NaN labels
            (arrays((4, 3)), np.zeros(3, np.int64)),
            (arrays((4, 3)), np.array([0, 1, 2, 3])),
            (arrays((4, 3)), [0, 1, 2, 0]),
            ([[0.0, 1.0, 2.0]], np.zeros(1, np.int64))]))
        return lambda: SoftmaxCrossEntropy()(logits, labels)
    if kind == "mse":
        a, b = draw(st.sampled_from([(arrays((2, 3)), arrays((3, 2))),
                                     (arrays((0, 3)), arrays((0, 3))),
                                     ([1.0], arrays((1,)))]))
        return lambda: MSELoss()(a, b)
    if kind == "dropout":
        p = draw(st.one_of(bad_numbers, st.floats(1.0, 10.0),
                           st.floats(-10.0, -1e-9)))
        return lambda: Dropout(p)
    size = draw(st.sampled_from([0, -2, 2.5, "3", None]))
    return lambda: Linear(size, 2)


@given(bad_nn_calls())
def test_nn_refuses_bad_inputs_itself(call):
    assert_our_error(call, "nnfs.nn")


def test_linear_backward_names_both_shapes():
    layer = Linear(3, 2, np.random.default_rng(0))
    layer(arrays((4, 3)))
    info = assert_our_error(lambda: layer.backward(arrays((4, 3))), "nnfs.nn")
    assert "(4, 2)" in str(info.value) and "(4, 3)" in str(info.value)


def test_linear_given_a_list_says_an_array_is_expected():
    with pytest.raises(TypeError, match="expected an array.*got list"):
        Linear(3, 2)([[1.0, 2.0, 3.0]])


def test_softmax_cross_entropy_on_an_empty_batch():
    info = assert_our_error(
        lambda: SoftmaxCrossEntropy()(arrays((0, 10)), np.zeros(0, int)),
        "nnfs.nn")
    assert "(0, 10)" in str(info.value)


# ---------------------------------------------------------------------------
# nnfs.optim
# ---------------------------------------------------------------------------

@st.composite
def bad_optim_calls(draw):
    params = [Parameter(np.zeros((2, 2))), Parameter(np.zeros(3))]
    cls = draw(st.sampled_from([SGD, Adam, AdamW]))
    kind = draw(st.sampled_from(["lr", "eps-or-momentum", "groups",
                                 "schedule"]))
    bad = draw(bad_numbers)
    if kind == "lr":
        return lambda: cls(params, lr=bad)
    if kind == "eps-or-momentum":
        key = "momentum" if cls is SGD else "eps"
        return lambda: cls(params, lr=0.1, **{key: bad})
    if kind == "groups":
        groups = draw(st.sampled_from([
            [{"params": params}, {"params": params[:1]}],   # listed twice
            [{"params": params, "lr": bad}],
            [{"params": [np.zeros(2)]}],
            [{"parameters": params}],
            [{"params": params, "weight_decay": bad}],
            []]))
        return lambda: cls(groups, lr=0.1)
    opt = cls(params, lr=0.1)
    args = draw(st.sampled_from([dict(total_steps=0),
                                 dict(total_steps=5, warmup_steps=5),
                                 dict(total_steps=5, warmup_steps=-1),
                                 dict(total_steps=2.5),
                                 dict(total_steps="10"),
                                 dict(total_steps=5, min_lr=bad),
                                 dict(total_steps=5, min_lr=1.0)]))
    if args.get("min_lr") is True:
        args["min_lr"] = math.nan
    return lambda: CosineSchedule(opt, **args)


@given(bad_optim_calls())
def test_optim_refuses_bad_inputs_itself(call):
    assert_our_error(call, "nnfs.optim")


# ---------------------------------------------------------------------------
# nnfs.train
# ---------------------------------------------------------------------------

def _model():
    return Sequential(Linear(3, 2, np.random.default_rng(0)))


@st.composite
def bad_train_calls(draw):
    model = _model()
    loss_fn = SoftmaxCrossEntropy()
    opt = SGD(model.parameters(), lr=0.1)
    good_x, good_y = arrays((6, 3)), np.zeros(6, np.int64)
    x, y = draw(st.sampled_from([
        ([[0.0, 1.0, 2.0]], np.zeros(1, np.int64)),          # a list
        (arrays((0, 3)), np.zeros(0, np.int64)),             # empty
        (good_x, np.zeros(5, np.int64)),                     # lengths
        (np.float32(1.0), np.int64(0))]))                    # 0-d
    kind = draw(st.sampled_from(["fit", "evaluate", "accuracy",
                                 "confusion", "fit-epochs", "predict"]))
    if kind == "fit":
        return lambda: fit(model, loss_fn, opt, x, y, epochs=1,
                           progress=False)
    if kind == "fit-epochs":
        epochs = draw(st.sampled_from([-1, 1.5, "2", None]))
        return lambda: fit(model, loss_fn, opt, good_x, good_y,
                           epochs=epochs, progress=False)
    if kind == "evaluate":
        return lambda: evaluate(model, loss_fn, x, y)
    if kind == "predict":
        return lambda: predict(model, draw(st.sampled_from(
            [arrays((0, 3)), [[1.0, 2.0, 3.0]], np.float32(1.0)])))
    if kind == "accuracy":
        logits, labels = draw(st.sampled_from([
            (arrays((4, 3)), np.zeros(3, np.int64)),
            (arrays((4,)), np.zeros(4, np.int64)),
            (arrays((0, 3)), np.zeros(0, np.int64)),
            ([[1.0]], np.zeros(1, np.int64))]))
        return lambda: accuracy(logits, labels)
    predictions, labels = draw(st.sampled_from([
        (np.array([0.0, np.nan]), np.array([0, 1])),          # NaN, float
        (np.array([0, 1, 2]), np.array([0, 1])),
        (np.array([0, 5]), np.array([0, 1])),
        (np.zeros((2, 2), np.int64), np.zeros((2, 2), np.int64))]))
    return lambda: confusion_matrix(predictions, labels, 3)


@given(bad_train_calls())
def test_train_refuses_bad_inputs_itself(call):
    assert_our_error(call, "nnfs.train")


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty", "npy"])
def test_load_refuses_a_corrupt_checkpoint(tmp_path, damage):
    path = tmp_path / "w.npz"
    save(_model(), path)
    data = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(data[:len(data) // 2])
    elif damage == "garbage":
        path.write_bytes(bytes(range(256)) * 4)
    elif damage == "empty":
        path.write_bytes(b"")
    else:                        # a plain .npy array under the .npz name
        with path.open("wb") as fh:
            np.save(fh, np.zeros(3))
    model = _model()
    before = [p.data.copy() for p in model.parameters()]
    with pytest.raises(ValueError, match="not a valid checkpoint") as info:
        load(model, path)
    assert raised_by(info, "nnfs.train")
    assert str(path) in str(info.value)
    for p, b in zip(model.parameters(), before):   # nothing half-loaded
        np.testing.assert_array_equal(p.data, b)


# ---------------------------------------------------------------------------
# nnfs.data
# ---------------------------------------------------------------------------

@st.composite
def bad_data_calls(draw):
    kind = draw(st.sampled_from(["prepare", "split", "batches"]))
    if kind == "prepare":
        x = draw(st.sampled_from([
            np.zeros((2, 4, 4), np.float32),
            np.full((2, 4, 4), np.nan),
            np.zeros(5, np.uint8),
            [[0, 1], [2, 3]],
            np.zeros((2, 3), np.int64)]))
        return lambda: prepare_images(x)
    x, y = np.zeros((10, 2)), np.zeros(10)
    if draw(st.booleans()):              # a bad pair of arrays
        x, y = draw(st.sampled_from([(np.zeros((10, 2)), np.zeros(9)),
                                     ([[0.0]] * 10, np.zeros(10)),
                                     (np.float64(1.0), np.zeros(1))]))
        count = 2
    else:
        count = draw(st.sampled_from([0, -1, 2.5, math.nan, "3", None]))
    if kind == "split":
        if count == 2 or draw(st.booleans()):
            return lambda: train_val_split(x, y, count,
                                           np.random.default_rng(0))
        return lambda: train_val_split(x, y, 10, np.random.default_rng(0))
    return lambda: next(minibatches(x, y, count))


@given(bad_data_calls())
def test_data_refuses_bad_inputs_itself(call):
    assert_our_error(call, "nnfs.data")
