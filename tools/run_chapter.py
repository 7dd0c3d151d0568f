"""Execute one chapter as the book build would, without building the site.

    python tools/run_chapter.py book/03_mlp.md [--save out.ipynb]

Reads the MyST Markdown chapter with jupytext, runs it with nbclient in the
chapter's folder (as myst-nb does), and prints the time, every cell that wrote
to stderr and the first error. A quick check while editing one chapter; the
real check is the full forced build (`make book-fresh`).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import datetime
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chapter", type=Path)
    parser.add_argument("--save", type=Path, help="write the executed notebook here")
    parser.add_argument("--timeout", type=int, default=600)
    parser.add_argument("--slowest", type=int, default=0, metavar="N",
                        help="also print the N slowest cells with their first line")
    args = parser.parse_args(argv)
    nb = jupytext.read(args.chapter)
    os.environ.setdefault("NNFS_PROGRESS", "0")
    client = NotebookClient(nb, timeout=args.timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(args.chapter.parent)}})
    start = time.perf_counter()
    status = 0
    try:
        client.execute()
    except CellExecutionError as err:
        print(f"ERROR: {str(err)[-3000:]}", file=sys.stderr)
        status = 1
    print(f"{args.chapter}: executed in {time.perf_counter() - start:.1f} s")
    for k, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                print(f"cell {k} wrote to stderr: {out['text'][:500]}")
    if args.slowest:
        print_slowest(nb, args.slowest)
    if args.save:
        nbformat.write(nb, args.save)
    return status


def cell_seconds(cell) -> float:
    """Seconds from execute_input to execute_reply, as nbclient records them."""
    times = cell.get("metadata", {}).get("execution", {})
    start, end = times.get("iopub.execute_input"), times.get("shell.execute_reply")
    if not (start and end):
        return 0.0
    parse = datetime.fromisoformat
    return (parse(end.replace("Z", "+00:00"))
            - parse(start.replace("Z", "+00:00"))).total_seconds()


def print_slowest(nb, n: int) -> None:
    code = [(cell_seconds(c), k, c) for k, c in enumerate(nb.cells)
            if c.cell_type == "code"]
    for seconds, k, cell in sorted(code, key=lambda t: -t[0])[:n]:
        lines = [ln for ln in cell.source.splitlines()
                 if ln.strip() and not ln.startswith("#|")]
        print(f"{seconds:7.1f} s  cell {k}: {(lines or [''])[0][:60]}")


if __name__ == "__main__":
    sys.exit(main())
