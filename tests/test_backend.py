"""Tests of nnfs.backend (Chapter 4): choosing NumPy or CuPy, and failing usefully without a GPU.

CuPy's absence is simulated with ``sys.modules["cupy"] = None`` (Python's marker
for "this import is blocked": ``import cupy`` then raises ImportError), and a
broken or GPU-less CuPy with a fake module whose device count raises or is 0.
So these tests give the same verdict on a laptop, on CI and on a GPU machine.
The real CuPy path is exercised by the ``backend``-parametrised layer and
optimiser tests in test_nn.py and test_optim.py.
"""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

from nnfs import backend as B
from nnfs.nn import Linear, ReLU, Sequential, SoftmaxCrossEntropy
from nnfs.optim import SGD

pytestmark = pytest.mark.ch4


@pytest.fixture
def no_cupy(monkeypatch):
    """CuPy is not installed (import cupy raises ImportError)."""
    monkeypatch.setitem(sys.modules, "cupy", None)
    monkeypatch.delenv("NNFS_BACKEND", raising=False)


class FakeCUDARuntimeError(RuntimeError):
    """Stands in for cupy_backends.cuda.api.runtime.CUDARuntimeError."""


def fake_cupy(monkeypatch, device_count):
    """Install a fake ``cupy`` whose cuda.runtime.getDeviceCount returns ``device_count`` or raises it."""
    cupy = types.ModuleType("cupy")

    def get_device_count():
        if isinstance(device_count, BaseException):
            raise device_count
        return device_count

    cupy.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=get_device_count))
    cupy.get_array_module = lambda *arrays: np  # a real CuPy returns numpy for NumPy arrays
    monkeypatch.setitem(sys.modules, "cupy", cupy)
    monkeypatch.delenv("NNFS_BACKEND", raising=False)
    return cupy


# ---------------------------------------------------------------------------
# Without CuPy
# ---------------------------------------------------------------------------


def test_cupy_backend_without_cupy_says_it_is_not_installed_and_how_to_fall_back(no_cupy):
    with pytest.raises(B.BackendUnavailable) as info:
        B.get_backend("cupy")
    message = str(info.value)
    assert "CuPy" in message and "not installed" in message
    assert "backend='numpy'" in message and "NNFS_BACKEND=numpy" in message  # the way out
    assert "pip install" in message  # and the way in
    assert isinstance(info.value.__cause__, ImportError)
    assert isinstance(info.value, RuntimeError)  # callers may catch it as a RuntimeError


def test_gpu_available_is_false_without_cupy(no_cupy):
    assert B.gpu_available() is False


def test_cupy_from_the_environment_without_cupy_is_unavailable(no_cupy, monkeypatch):
    monkeypatch.setenv("NNFS_BACKEND", "cupy")
    with pytest.raises(B.BackendUnavailable, match="not installed"):
        B.get_backend()
    with pytest.raises(B.BackendUnavailable, match="not installed"):
        B.to_device(np.zeros(3))
    assert B.get_backend("numpy") is np  # an explicit name wins over the environment


def test_to_device_and_model_to_cupy_without_cupy_raise_and_leave_the_model_alone(no_cupy):
    model = Sequential(Linear(3, 2, rng=np.random.default_rng(0)))
    weights = [p.data for p in model.parameters()]
    with pytest.raises(B.BackendUnavailable):
        B.to_device(np.zeros(3), "cupy")
    with pytest.raises(B.BackendUnavailable):
        B.model_to(model, "cupy")
    assert all(p.data is w for p, w in zip(model.parameters(), weights))


def test_to_host_without_cupy(no_cupy):
    x = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(B.to_host(x), x)
    np.testing.assert_array_equal(B.to_host(B.to_device(x, "numpy")), x)


def test_get_array_module_without_cupy_is_numpy(no_cupy):
    """With CuPy blocked (sys.modules["cupy"] is None) get_array_module must still answer numpy.

    None in sys.modules is Python's documented "import blocked" marker (``import cupy``
    then raises ImportError), so it means "CuPy absent"; get_array_module must not call
    None.get_array_module.
    """
    assert B.get_array_module(np.arange(6.0)) is np


# ---------------------------------------------------------------------------
# Choosing a backend by name and from NNFS_BACKEND
# ---------------------------------------------------------------------------


def test_default_backend_is_numpy(monkeypatch):
    monkeypatch.delenv("NNFS_BACKEND", raising=False)
    assert B.get_backend() is np
    assert B.get_backend(None) is np
    monkeypatch.setenv("NNFS_BACKEND", "")  # set but empty: still the default
    assert B.get_backend() is np


def test_backend_from_environment(monkeypatch):
    monkeypatch.setenv("NNFS_BACKEND", "numpy")
    assert B.get_backend() is np


@pytest.mark.parametrize("name", ["tensorflow", "CuPy", "NumPy", "gpu", " numpy"])
def test_unknown_backend_name_is_a_value_error(monkeypatch, name):
    monkeypatch.delenv("NNFS_BACKEND", raising=False)
    with pytest.raises(ValueError, match="unknown backend") as info:
        B.get_backend(name)
    assert repr(name) in str(info.value) and "'numpy'" in str(info.value) and "'cupy'" in str(info.value)
    assert not isinstance(info.value, B.BackendUnavailable)


def test_unknown_backend_from_environment_is_a_value_error(monkeypatch):
    monkeypatch.setenv("NNFS_BACKEND", "tensorflow")
    with pytest.raises(ValueError, match="unknown backend 'tensorflow'"):
        B.get_backend()
    with pytest.raises(ValueError, match="unknown backend 'tensorflow'"):
        B.to_device([1.0])
    assert B.get_backend("numpy") is np


# ---------------------------------------------------------------------------
# A CuPy that imports but cannot reach a GPU
# ---------------------------------------------------------------------------


def test_cupy_whose_device_count_raises_is_unavailable(monkeypatch):
    fake_cupy(monkeypatch, FakeCUDARuntimeError("cudaErrorInsufficientDriver: CUDA driver version is insufficient"))
    with pytest.raises(B.BackendUnavailable) as info:
        B.get_backend("cupy")
    message = str(info.value)
    assert "cannot reach a GPU" in message
    assert "FakeCUDARuntimeError" in message and "cudaErrorInsufficientDriver" in message  # the cause, named
    assert "NNFS_BACKEND=numpy" in message
    assert isinstance(info.value.__cause__, FakeCUDARuntimeError)
    assert B.gpu_available() is False


def test_cupy_with_no_device_is_unavailable(monkeypatch):
    fake_cupy(monkeypatch, 0)
    with pytest.raises(B.BackendUnavailable, match="finds no GPU") as info:
        B.get_backend("cupy")
    assert "NNFS_BACKEND=numpy" in str(info.value)
    assert B.gpu_available() is False


def test_cupy_with_a_device_is_returned(monkeypatch):
    cupy = fake_cupy(monkeypatch, 2)
    assert B.get_backend("cupy") is cupy
    assert B.gpu_available() is True
    monkeypatch.setenv("NNFS_BACKEND", "cupy")
    assert B.get_backend() is cupy


# ---------------------------------------------------------------------------
# The NumPy fallback
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.uint8])
def test_numpy_to_device_to_host_round_trip(dtype):
    x = (np.arange(12).reshape(3, 4) % 7).astype(dtype)
    on_device = B.to_device(x, "numpy")
    assert isinstance(on_device, np.ndarray) and on_device.dtype == dtype
    back = B.to_host(on_device)
    assert isinstance(back, np.ndarray) and back.dtype == dtype
    np.testing.assert_array_equal(back, x)


def test_to_device_and_to_host_accept_lists_and_scalars():
    np.testing.assert_array_equal(B.to_device([[1.0, 2.0]], "numpy"), np.array([[1.0, 2.0]]))
    assert isinstance(B.to_host([1, 2, 3]), np.ndarray)
    assert B.to_host(np.float32(2.5)) == np.float32(2.5)


def test_to_device_uses_the_default_backend(monkeypatch):
    monkeypatch.delenv("NNFS_BACKEND", raising=False)
    assert isinstance(B.to_device([1.0, 2.0]), np.ndarray)


def test_get_array_module_is_numpy_for_host_values():
    for value in (np.zeros(3), np.float64(1.0), 1.0, [1, 2]):
        assert B.get_array_module(value) is np


def test_model_to_numpy_keeps_training_working():
    rng = np.random.default_rng(0)
    model = Sequential(Linear(4, 16, rng=rng), ReLU(), Linear(16, 3, rng=rng))
    x = rng.standard_normal((32, 4)).astype(np.float32)
    y = rng.integers(0, 3, 32)
    assert B.model_to(model, "numpy") is model  # in place, returns the model
    for p in model.parameters():
        assert isinstance(p.data, np.ndarray) and p.data.dtype == np.float32
        assert isinstance(p.grad, np.ndarray) and p.grad.shape == p.data.shape and p.grad.dtype == np.float32
        np.testing.assert_array_equal(p.grad, 0)
    opt = SGD(model.parameters(), lr=0.1, momentum=0.9)  # created after the move
    loss_fn = SoftmaxCrossEntropy()
    x_dev, y_dev = B.to_device(x, "numpy"), B.to_device(y, "numpy")
    losses = []
    for _ in range(8):
        opt.zero_grad()
        losses.append(loss_fn(model(x_dev), y_dev))
        model.backward(loss_fn.backward())
        opt.step()
    assert losses[-1] < 0.9 * losses[0], losses
    assert all(np.isfinite(losses))


def test_model_to_keeps_values_and_resets_gradients():
    rng = np.random.default_rng(1)
    model = Sequential(Linear(3, 2, rng=rng))
    before = [p.data.copy() for p in model.parameters()]
    for p in model.parameters():
        p.grad[...] = 5.0
    B.model_to(model, "numpy")
    for p, b in zip(model.parameters(), before):
        np.testing.assert_array_equal(p.data, b)
        np.testing.assert_array_equal(p.grad, 0)


# ---------------------------------------------------------------------------
# Bad input, empties and NaNs: errors raised by nnfs.backend, naming the expectation
# ---------------------------------------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

from helpers import raised_by_module  # noqa: E402

raises_here = raised_by_module("nnfs.backend")


@given(name=st.one_of(st.integers(), st.floats(allow_nan=True), st.binary(min_size=1),
                      st.lists(st.just("numpy"), min_size=1, max_size=2), st.just(True)))
def test_a_backend_name_that_is_not_a_string_is_a_type_error(name):
    for fn in (B.get_backend, lambda n: B.to_device(np.ones(2), n)):
        with pytest.raises(TypeError, match="backend name must be a string") as info:
            fn(name)
        assert raises_here(info)


@given(name=st.text(max_size=8).filter(lambda s: s not in ("", "numpy", "cupy")))
def test_an_unknown_backend_name_is_a_value_error_naming_the_choices(name):
    with pytest.raises(ValueError, match=r"unknown backend .*choose one of \('numpy', 'cupy'\)") as info:
        B.get_backend(name)
    assert raises_here(info)


@pytest.mark.parametrize("x", [[[1.0], [1.0, 2.0]], [[1, 2], 3], [np.ones(2), np.ones(3)]],
                         ids=["ragged", "mixed-depth", "arrays-of-two-sizes"])
def test_to_device_rejects_what_is_not_array_like(x):
    with pytest.raises(ValueError, match="to_device: x must be array-like") as info:
        B.to_device(x, "numpy")
    assert raises_here(info)


@pytest.mark.parametrize("model", [None, 3, np.ones(3), [Linear(2, 2, np.random.default_rng(0))]],
                         ids=["None", "int", "array", "list-of-layers"])
def test_model_to_rejects_what_is_not_a_module(model):
    with pytest.raises(TypeError, match="model_to: model must be a Module with parameters") as info:
        B.model_to(model, "numpy")
    assert raises_here(info)


@settings(max_examples=60)
@given(x=hnp.arrays(dtype=st.sampled_from([np.float32, np.float64, np.int64, np.bool_]),
                    shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)))
def test_numpy_round_trip_keeps_every_shape_dtype_and_value_including_empties(x):
    back = B.to_host(B.to_device(x, "numpy"))
    assert back.shape == x.shape and back.dtype == x.dtype
    np.testing.assert_array_equal(back, x)


@settings(max_examples=30)
@given(x=hnp.arrays(np.float32, hnp.array_shapes(min_dims=1, max_dims=2, max_side=5),
                    elements=st.sampled_from([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.5])))
def test_numpy_round_trip_keeps_nans_and_infinities(x):
    back = B.to_host(B.to_device(x, "numpy"))
    np.testing.assert_array_equal(np.isnan(back), np.isnan(x))
    np.testing.assert_array_equal(back[~np.isnan(x)], x[~np.isnan(x)])
    assert np.array_equal(np.signbit(back), np.signbit(x))
