"""The program that tests/test_distributed.py starts on several MPI ranks (not a test module itself).

    mpirun -n P python -m mpi4py tests/mpi_worker.py OUT.npz --batch-size B --steps K --average weighted mean

Every rank runs the same checks; rank 0 gathers what the ranks report and writes it to OUT.npz, and the
test process does all the asserting (an assert that fired on one rank only would leave the others
waiting in a collective). What it does, in this order:

1. for each ``--average``: ``train_data_parallel`` of a small float64 MLP (SGD with momentum) on
   synthetic seeded data; saved: rank 0's final weights, the logged global losses, the bytes of one
   Allreduce, and the largest difference between any rank's final weights and rank 0's;
2. ``broadcast_parameters`` on models built from a different seed on each rank; saved: every
   rank's flattened weights before and after;
3. ``broadcast_parameters`` on models of different shapes (hidden width 16 + rank); saved: the
   ValueError message of each rank ("" if it did not raise).

The problem and the model are defined here (``problem``, ``model``, ``optimizer``) so that the test
builds its single-process reference from the very same definitions.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # the ranks import nnfs from this checkout, wherever they were started
    sys.path.insert(0, str(ROOT))

from nnfs.nn import Linear, ReLU, Sequential, SoftmaxCrossEntropy  # noqa: E402
from nnfs.optim import SGD  # noqa: E402

N, D, HIDDEN, CLASSES = 240, 20, 16, 4
LR, MOMENTUM = 0.1, 0.9
DATA_SEED, MODEL_SEED, BATCH_SEED = 1, 2, 3


def problem() -> tuple[np.ndarray, np.ndarray]:
    """x: (240, 20) float64 standard normal; y: (240,) labels in 0..3 (seeded, no data files)."""
    rng = np.random.default_rng(DATA_SEED)
    return rng.standard_normal((N, D)), rng.integers(0, CLASSES, N)


def model(seed: int = MODEL_SEED, hidden: int = HIDDEN) -> Sequential:
    rng = np.random.default_rng(seed)
    return Sequential(Linear(D, hidden, rng, dtype=np.float64), ReLU(),
                      Linear(hidden, CLASSES, rng, init="glorot", dtype=np.float64))


def optimizer(net: Sequential) -> SGD:
    return SGD(net.parameters(), lr=LR, momentum=MOMENTUM)


def flat(net: Sequential) -> np.ndarray:
    return np.concatenate([p.data.ravel() for p in net.parameters()])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="the .npz file that rank 0 writes")
    parser.add_argument("--batch-size", type=int, required=True)
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--average", nargs="+", choices=["weighted", "mean"], default=["weighted"])
    args = parser.parse_args(argv)

    from nnfs.distributed import broadcast_parameters, mpi, train_data_parallel

    comm = mpi().COMM_WORLD
    rank = comm.Get_rank()
    report: dict[str, np.ndarray] = {"size": np.array(comm.Get_size())}

    x, y = problem()
    for average in args.average:  # 1. training
        net = model()
        log = train_data_parallel(net, SoftmaxCrossEntropy(), optimizer(net), x, y, args.batch_size, args.steps,
                                  comm, seed=BATCH_SEED, average=average)
        mine = flat(net)
        everyone = comm.gather(mine, root=0)
        if rank == 0:
            for i, p in enumerate(net.parameters()):
                report[f"{average}_param{i}"] = p.data
            report[f"{average}_loss"] = np.array(log["loss"])
            report[f"{average}_bytes"] = np.array(log["bytes"])
            report[f"{average}_rank_spread"] = np.array(max(np.abs(w - mine).max() for w in everyone))

    net = model(seed=100 + rank)  # 2. broadcast from different starting points
    before = flat(net)
    broadcast_parameters(net.parameters(), comm)
    befores, afters = comm.gather(before, root=0), comm.gather(flat(net), root=0)
    if rank == 0:
        report["broadcast_before"], report["broadcast_after"] = np.stack(befores), np.stack(afters)

    net = model(hidden=HIDDEN + rank)  # 3. models that differ in shape: every rank must raise
    try:
        broadcast_parameters(net.parameters(), comm)
        message = ""
    except ValueError as exc:
        message = str(exc)
    messages = comm.gather(message, root=0)
    if rank == 0:
        report["mismatch_messages"] = np.array(messages)
        np.savez(args.out, **report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
