"""Shared pieces of the benchmark scripts."""

from __future__ import annotations

import os
import statistics
import sys
import time

FORCED_OPENBLAS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def rerun_without_forced_openblas() -> None:
    """Re-run this script without OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE unless --keep-openblas-env is given.

    Some of our machines set them to work around bugs in old OpenBLAS builds; with a current NumPy they
    only force a slower kernel.  NumPy reads them when it is imported, so the process must start anew.
    """
    forced = [v for v in FORCED_OPENBLAS if v in os.environ]
    if forced and "--keep-openblas-env" not in sys.argv:
        print(f"re-running without {', '.join(forced)} (pass --keep-openblas-env to keep them)", flush=True)
        env = {k: v for k, v in os.environ.items() if k not in forced}
        os.execve(sys.executable, [sys.executable, *sys.argv], env)


def median_seconds_per_call(run, calls: int, repeats: int) -> float:
    """Median over ``repeats`` of the time per call of ``run()``, which makes ``calls`` calls; one warm-up run."""
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) / calls)
    return statistics.median(times)


def products_seconds(products, repeats: int) -> float:
    """Median time of computing every ``a @ b`` in ``products`` once (one warm-up).

    The "BLAS floor" of a training step: the same matrix products, with the same
    shapes, dtypes and memory layouts (a transposed operand is passed as the
    ``.T`` view the layer passes), through the same library, and nothing else.
    A step's time divided by this is its overhead above BLAS, whose physical floor
    is 1.0 on any CPU; the ratio against PyTorch also depends on the two BLAS builds.
    """
    def run():
        for a, b in products:
            a @ b
    return median_seconds_per_call(run, 1, repeats)


def torch_products(products):
    """The same products as PyTorch tensors sharing the arrays' memory and strides
    (torch.from_numpy), for PyTorch's own BLAS floor: its step time divided by it
    is PyTorch's overhead above its BLAS, measured the same way as ours."""
    import torch
    return [(torch.from_numpy(a), torch.from_numpy(b)) for a, b in products]


def random_array(rng, shape, transposed: bool = False, dtype="float32"):
    """A random array; ``transposed`` gives the last-two-axes transpose of a C-ordered one,
    the view a layer passes for ``x.T`` or ``k.transpose(0, 1, 3, 2)``."""
    shape = tuple(shape)
    if not transposed:
        return rng.random(shape, dtype=dtype)
    swapped = shape[:-2] + (shape[-1], shape[-2])
    return rng.random(swapped, dtype=dtype).swapaxes(-1, -2)
