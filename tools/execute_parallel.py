"""Execute chapters into Jupyter Book's execution cache, several at a time.

    python tools/execute_parallel.py [--workers N] CHAPTER [CHAPTER ...]

`make book-fresh` runs this before `jupyter-book build`. The build reads each
chapter, finds it in the cache (myst-nb's cache mode matches a notebook by a
hash of its code cells) and executes nothing; a chapter that is missing from
the cache, or failed here, is executed by the build itself as before, so an
error is still reported by the build, with its page.

The chapters run in N processes (default 2), in the order given: give the
longest first, so that the short ones fill in around them. Each kernel gets
cores // N BLAS threads (and as many numba threads, for the fused loops of
Chapters 4 and 5), so that N kernels do not oversubscribe the cores
(OpenBLAS threads spin while they wait, and two pools of them on two cores
slow each other down many times over), and NNFS_BUILD_WORKERS=N, from which a
chapter can tell its reader under which conditions its timings were taken.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "_build" / ".jupyter_cache"
MYST_READER = {"name": "myst_nb_md", "type": "plugin"}  # myst-nb's reader
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                    "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chapters", nargs="+", type=Path)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cache", type=Path, default=CACHE,
                        help="the cache folder (execute.cache in _config.yml)")
    parser.add_argument("--timeout", type=int, default=600,
                        help="seconds per cell, as execute.timeout in _config.yml")
    args = parser.parse_args(argv)
    missing = [str(c) for c in args.chapters if not c.is_file()]
    if missing:
        parser.error(f"no such chapter: {', '.join(missing)}")
    if args.workers < 1:
        parser.error(f"--workers must be at least 1; got {args.workers}")

    threads = max(1, (os.cpu_count() or 1) // args.workers)
    for name in THREAD_VARIABLES:   # inherited by every kernel started below
        os.environ[name] = str(threads)
    os.environ["NNFS_BUILD_WORKERS"] = str(args.workers)
    os.environ.setdefault("NNFS_PROGRESS", "0")

    from jupyter_cache import get_cache
    from jupyter_cache.executors.basic import (ExecutionWorkerLocalMProc,
                                               ProcessData)

    cache = get_cache(str(args.cache))
    records = [cache.add_nb_to_project(str(chapter.resolve()),
                                       read_data=MYST_READER)
               for chapter in args.chapters]
    uris = [record.uri for record in records]
    jobs = [ProcessData(record.pk, record.uri, cache, args.timeout, False)
            for record in records]
    print(f"executing {len(jobs)} chapters in {args.workers} processes, "
          f"{threads} BLAS thread(s) each", flush=True)
    start = time.perf_counter()
    # chunksize 1: each process takes the next chapter in the given order
    started = multiprocessing.Value("i", 0)
    with multiprocessing.Pool(args.workers, initializer=_stagger,
                              initargs=(started,)) as pool:
        outcomes = pool.map(ExecutionWorkerLocalMProc(), jobs, chunksize=1)
    failed = [uri for code, uri in outcomes if code != 0]
    print(f"executed in {time.perf_counter() - start:.0f} s; left to the "
          f"build: {', '.join(Path(u).name for u in failed) or 'none'}")
    for uri in uris:
        cached = cache.get_cached_project_nb(uri)
        seconds = cached.data.get("execution_seconds") if cached else None
        shown = f"{seconds:.0f} s" if seconds is not None else "not cached"
        print(f"  {Path(uri).name}: {shown}")
    return 0


STAGGER_S = 1.0


def _stagger(started) -> None:
    """Start the pool's processes STAGGER_S apart. Each picks its kernel's
    five TCP ports by asking the OS for free ones and releasing them; two
    kernels doing that at the same instant can pick the same port, and one
    then fails to bind it ("Address already in use")."""
    with started.get_lock():
        index = started.value
        started.value += 1
    time.sleep(STAGGER_S * index)


if __name__ == "__main__":
    sys.exit(main())
