#!/usr/bin/env python3
"""Chapter 3 benchmark: one float32 training step of nnfs.nn against PyTorch on the CPU, in the same run.

    .venv/bin/python benchmarks/bench_mlp_step.py [--threads N]

MLP 784-256-256-10 with ReLU, batch 128, softmax cross-entropy, SGD with
momentum 0.9.  Both sides get the same thread count (NumPy's BLAS through
threadpoolctl, PyTorch through torch.set_num_threads), the same weights and
the same batches; each timing is the median over repeats after a warm-up.
Prints both times, the ratio nnfs / PyTorch (the target is <= 1.0) and the
step's overhead above its BLAS: the step time divided by the time of the same
matrix products alone, through NumPy's BLAS (the floor is 1.0; target <= 1.15).
It also prints this CPU's floor for that overhead with the work that no
implementation of the step can skip besides its products, each part timed
alone: the loss and its gradient at the logits' shape, and one fused pass of
the update over every parameter.
The nnfs step is timed twice: with Chapter 3's SGD, the NumPy reference, and
with Chapter 4's FusedSGD, the same update as one numba loop per parameter.

NumPy and PyTorch are measured one after the other, never interleaved: their
BLAS and OpenMP thread pools spin while idle, so alternating steps of the two in
one process slows both.
"""

from __future__ import annotations

import argparse
import os

import numpy as np
import torch
from threadpoolctl import threadpool_info, threadpool_limits

from _common import (median_seconds_per_call, products_seconds, random_array,
                     rerun_without_forced_openblas, torch_products)
from nnfs.kernels import FusedSGD
from nnfs.nn import Linear, ReLU, Sequential, SoftmaxCrossEntropy
from nnfs.optim import SGD

SIZES = (784, 256, 256, 10)
BATCH, STEPS, REPEATS = 128, 50, 15


def make_batches(rng):
    x = rng.random((STEPS, BATCH, SIZES[0]), dtype=np.float32)
    y = rng.integers(0, SIZES[-1], (STEPS, BATCH))
    return x, y


def nnfs_model(rng):
    layers = []
    for k in range(len(SIZES) - 1):
        layers.append(Linear(SIZES[k], SIZES[k + 1], rng, input_grad=k > 0))
        if k < len(SIZES) - 2:
            layers.append(ReLU())
    return Sequential(*layers)


def torch_model(model):
    layers = []
    for layer in model.layers:
        if isinstance(layer, Linear):
            lin = torch.nn.Linear(layer.in_features, layer.out_features)
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(layer.weight.data.T.copy()))
                lin.bias.copy_(torch.from_numpy(layer.bias.data.copy()))
            layers.append(lin)
        else:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


def step_products(rng):
    """The matrix products of one step, as nnfs.nn.Linear computes them.

    Forward x @ W per layer; backward x.T @ g for every weight, and g @ W.T for
    every layer but the first (its input needs no gradient).
    """
    products = []
    for k, (a, b) in enumerate(zip(SIZES[:-1], SIZES[1:])):
        x, w = random_array(rng, (BATCH, a)), random_array(rng, (a, b))
        g = random_array(rng, (BATCH, b))
        products += [(x, w), (x.T, g)]
        if k > 0:
            products.append((g, w.T))
    return products


def unavoidable_seconds(fopt, y):
    """Time of the step's work besides its products that no implementation
    can skip, each part timed alone: softmax cross-entropy and its gradient on
    the batch's logits, and the momentum update as one fused pass over every
    parameter (FusedSGD: read w, g, v once, write w, v once)."""
    logits = random_array(np.random.default_rng(3), (BATCH, SIZES[-1]))
    loss_fn = SoftmaxCrossEntropy()

    def loss():
        for _ in range(STEPS):
            loss_fn(logits, y)
            loss_fn.backward()

    def update():
        for _ in range(STEPS):
            fopt.step()
    return time_epochs(loss) + time_epochs(update)


def time_epochs(run, repeats=REPEATS):
    return median_seconds_per_call(run, STEPS, repeats)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--keep-openblas-env", action="store_true",
                        help="keep OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE if set (they force an older, slower kernel)")
    args = parser.parse_args()
    threads = args.threads
    rng = np.random.default_rng(0)
    x, y = make_batches(rng)
    model = nnfs_model(rng)
    tmodel = torch_model(model)
    loss_fn = SoftmaxCrossEntropy()
    opt = SGD(model.parameters(), lr=0.01, momentum=0.9)
    topt = torch.optim.SGD(tmodel.parameters(), lr=0.01, momentum=0.9)
    tloss = torch.nn.CrossEntropyLoss()
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)

    def nnfs_epoch(model=model, opt=opt):
        for k in range(STEPS):
            opt.zero_grad()
            loss_fn(model(x[k]), y[k])
            model.backward(loss_fn.backward())
            opt.step()

    # the same step with Chapter 4's fused update (bit for bit the same weights)
    fmodel = nnfs_model(np.random.default_rng(0))
    fopt = FusedSGD(fmodel.parameters(), lr=0.01, momentum=0.9)
    fopt.step()  # compiles the loop, or loads it from numba's cache

    def torch_epoch():
        for k in range(STEPS):
            topt.zero_grad()
            tloss(tmodel(tx[k]), ty[k]).backward()
            topt.step()

    torch.set_num_threads(threads)
    with threadpool_limits(limits=threads):
        blas = ", ".join(f"{i['internal_api']} {i.get('architecture', '')} ({i['num_threads']} threads)"
                         for i in threadpool_info())
        t_nnfs = time_epochs(nnfs_epoch)
        t_fused = time_epochs(lambda: nnfs_epoch(fmodel, fopt))
        products = step_products(np.random.default_rng(2))
        t_blas = products_seconds(products, REPEATS * STEPS)
        t_torch_blas = products_seconds(torch_products(products), REPEATS * STEPS)
        t_torch = time_epochs(torch_epoch)
        t_floor = t_blas + unavoidable_seconds(fopt, y[0])
    print(f"numpy {np.__version__} [{blas}]; torch {torch.__version__} ({torch.get_num_threads()} threads)")
    print(f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '')!r}")
    print(f"MLP {'-'.join(map(str, SIZES))}, batch {BATCH}, SGD momentum, float32")
    print(f"nnfs   : {t_nnfs * 1e3:7.3f} ms/step")
    print(f"nnfs with FusedSGD (Chapter 4): {t_fused * 1e3:7.3f} ms/step")
    print(f"PyTorch: {t_torch * 1e3:7.3f} ms/step")
    print(f"its matrix products alone: {t_blas * 1e3:7.3f} ms/step; "
          f"through PyTorch's BLAS: {t_torch_blas * 1e3:7.3f} ms/step "
          f"(NumPy's BLAS / PyTorch's = {t_blas / t_torch_blas:.2f})")
    print(f"ratio nnfs / PyTorch = {t_nnfs / t_torch:.2f}  (target <= 1.0)")
    print(f"overhead above BLAS = {t_nnfs / t_blas:.2f}  (floor 1.0, target <= 1.15)")
    print(f"overhead floor with the loss and one fused update pass, each "
          f"timed alone = {t_floor / t_blas:.2f}")
    print(f"overhead of PyTorch above its own BLAS = {t_torch / t_torch_blas:.2f}")
    print(f"ratio with FusedSGD = {t_fused / t_torch:.2f}; overhead with FusedSGD = {t_fused / t_blas:.2f}")


if __name__ == "__main__":
    rerun_without_forced_openblas()
    main()
