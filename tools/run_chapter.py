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
    if args.save:
        nbformat.write(nb, args.save)
    return status


if __name__ == "__main__":
    sys.exit(main())
