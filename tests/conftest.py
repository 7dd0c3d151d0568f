"""Shared test configuration.

Hypothesis runs derandomised and without deadlines by default, so that the
suite gives the same verdict on every run and on a loaded CI machine.  Set
HYPOTHESIS_PROFILE=explore to let it search with fresh random examples.

GPU code on a CPU-only CI (GUIDE §3):

- numba.cuda kernels run in numba's CUDA simulator.  numba reads
  NUMBA_ENABLE_CUDASIM once, when numba.cuda is first imported, so it is set
  here, at import time of this conftest (before any test module is collected),
  and only where no real GPU is usable: no ``nvidia-smi`` on the PATH (CI,
  laptops: no probe, no cost), or an ``nvidia-smi`` but a numba that cannot
  compile and launch a one-thread kernel in a child process (no driver access,
  no libNVVM).  A value the user set is never overridden:
  NUMBA_ENABLE_CUDASIM=0 forces the real device, =1 the simulator.
- CuPy paths are parametrised over the ``backend`` fixture ("numpy", "cupy").
  The "cupy" case, and every test marked ``gpu``, runs only when a guarded
  probe (``cupy_unavailable_reason``) finds a working GPU, and is skipped with
  the probe's reason otherwise.  So plain ``pytest`` on a GPU machine
  exercises them.
"""

import functools
import os
import re
import shutil
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, settings

_NUMBA_GPU_PROBE = """
import numpy as np
from numba import cuda

@cuda.jit
def one(a):
    a[0] = 1.0

a = np.zeros(1, dtype=np.float32)
one[1, 1](a)
assert a[0] == 1.0
"""


def _numba_gpu_unusable_reason() -> str | None:
    """Why numba.cuda cannot run on a real GPU here (None if it can); only machines with nvidia-smi are probed."""
    if shutil.which("nvidia-smi") is None:
        return "no nvidia-smi on the PATH"
    try:
        probe = subprocess.run([sys.executable, "-c", _NUMBA_GPU_PROBE],
                               env={**os.environ, "NUMBA_ENABLE_CUDASIM": "0"},
                               capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"the numba GPU probe did not run ({type(exc).__name__})"
    if probe.returncode != 0:  # name the exception that ended the probe
        errors = re.findall(r"^[A-Za-z_][\w.]*(?:Error|Exception)\b.*$", probe.stderr, flags=re.MULTILINE)
        what = errors[-1].strip() if errors else f"exit status {probe.returncode}"
        return f"numba cannot launch a kernel on the GPU ({what})"
    return None


if "NUMBA_ENABLE_CUDASIM" in os.environ:
    NUMBA_CUDA_MODE = f"NUMBA_ENABLE_CUDASIM={os.environ['NUMBA_ENABLE_CUDASIM']} (set by the user)"
elif (_reason := _numba_gpu_unusable_reason()) is not None:
    os.environ["NUMBA_ENABLE_CUDASIM"] = "1"  # before anything imports numba.cuda
    NUMBA_CUDA_MODE = f"CUDA simulator: {_reason}"
else:
    NUMBA_CUDA_MODE = "real GPU"

settings.register_profile(
    "ci",
    deadline=None,
    derandomize=True,
    max_examples=50,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("explore", deadline=None, max_examples=500)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@functools.cache
def cupy_unavailable_reason() -> str | None:
    """None if CuPy can run a kernel on a GPU here, else why not (computed once per session).

    Guarded: a missing CuPy (ImportError), no driver or device (BackendUnavailable),
    and any CUDA runtime or compiler error of a broken installation all mean "no GPU";
    the probe itself never fails the run.
    """
    try:
        from nnfs.backend import get_backend

        cp = get_backend("cupy")
        # Run a kernel and bring the result back: a driver too old for the runtime fails only here.
        if float((cp.arange(3, dtype=cp.float32) * 2).sum()) != 6.0:
            return "CuPy runs kernels but computes wrong results"
    except Exception as exc:  # noqa: BLE001 - any failure of the probe means "no usable GPU"
        return f"needs a CUDA GPU with CuPy ({type(exc).__name__}: {exc})"
    return None


def pytest_report_header(config):
    return f"numba.cuda kernels: {NUMBA_CUDA_MODE}"


def pytest_collection_modifyitems(config, items):
    """Skip every test marked ``gpu`` unless the probe finds a GPU (probing only if there are such tests)."""
    gpu_items = [item for item in items if item.get_closest_marker("gpu")]
    if gpu_items and (reason := cupy_unavailable_reason()) is not None:
        for item in gpu_items:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session", params=[
    pytest.param("numpy", id="numpy"),
    pytest.param("cupy", id="cupy", marks=pytest.mark.gpu),
])
def backend(request) -> str:
    """The name of an array backend: every test that uses it runs on NumPy and, where a GPU is usable, CuPy.

    Session-scoped (it is only a name) so that it can be combined with hypothesis' @given.
    """
    if request.param == "cupy" and (reason := cupy_unavailable_reason()) is not None:
        pytest.skip(reason)
    return request.param


@pytest.fixture(scope="session")
def xp(backend):
    """The array module of ``backend`` (numpy or cupy)."""
    from nnfs.backend import get_backend

    return get_backend(backend)
