#!/usr/bin/env python3
"""Chapter 1 benchmark: nnfs.regression against scikit-learn, in the same run.

    .venv/bin/python benchmarks/bench_regression.py

Times ridge regression (fit_least_squares, an augmented SVD least-squares
solve) against scikit-learn's Ridge with its SVD solver (the same numerical
method) and its Cholesky solver (the normal equations, faster but less
accurate), for a few problem sizes. Each timing is the median of several runs
after a warm-up. Prints the ratio ours / reference: below 1 means we are faster.
"""

from __future__ import annotations

import statistics
import time

import numpy as np
from sklearn.linear_model import Ridge
from threadpoolctl import threadpool_info

from nnfs.regression import fit_least_squares


def median_time(fn, repeats: int = 7) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    blas = ", ".join(f"{i['internal_api']} ({i['num_threads']} threads)" for i in threadpool_info())
    print(f"numpy {np.__version__}; BLAS: {blas}")
    print(f"{'N':>7} {'D':>4} {'ours (ms)':>10} {'Ridge svd':>10} {'ratio':>6} {'Ridge chol':>11} {'ratio':>6}  max |w - w_svd|")
    rng = np.random.default_rng(0)
    lam = 1e-2
    for N, D in [(1_000, 10), (10_000, 50), (100_000, 100), (20_000, 500)]:
        X = rng.standard_normal((N, D))
        t = X @ rng.standard_normal(D) + 0.1 * rng.standard_normal(N)
        ours = median_time(lambda: fit_least_squares(X, t, l2=lam))
        ref_svd = median_time(lambda: Ridge(alpha=lam, fit_intercept=False, solver="svd").fit(X, t))
        ref_chol = median_time(lambda: Ridge(alpha=lam, fit_intercept=False, solver="cholesky").fit(X, t))
        diff = np.abs(fit_least_squares(X, t, l2=lam) - Ridge(alpha=lam, fit_intercept=False, solver="svd").fit(X, t).coef_).max()
        print(f"{N:>7} {D:>4} {1e3 * ours:>10.2f} {1e3 * ref_svd:>10.2f} {ours / ref_svd:>6.2f} "
              f"{1e3 * ref_chol:>11.2f} {ours / ref_chol:>6.2f}  {diff:.1e}")


if __name__ == "__main__":
    main()
