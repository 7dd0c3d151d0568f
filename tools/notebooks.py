#!/usr/bin/env python3
"""Write each chapter as a Jupyter notebook that runs on Google Colab.

Colab opens notebooks from a GitHub branch, not MyST Markdown, and a fresh Colab
machine has neither ``nnfs`` nor the chapter's data files.  For every chapter
with code this writes ``<out>/book/<chapter>.ipynb``:

- the chapter's cells, as the book shows them (the tangler's ``#|`` lines and the
  lab's solution markers removed);
- one extra first cell that, on Colab only, clones the repository, installs the
  package with the extras the book uses, and moves into ``book/`` so that the
  chapter finds its files (``data/``, ``slurm/``) as it does in the build.
  Anywhere else the cell does nothing.

The notebooks carry no outputs: readers run them.  (The download button of the
site offers the executed notebooks, with outputs.)  The deployment workflow pushes
this folder to the ``notebooks`` branch, which the Colab buttons point at.

Usage: python tools/notebooks.py [--out DIR]   (default: _build/notebooks)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jupytext
import nbformat
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from tangle import reader_view  # noqa: E402

SETUP_TAG = "colab-setup"
SETUP = '''\
# On Google Colab: fetch the book's repository, install nnfs from it, and work in book/
# as the chapters expect.  Elsewhere (Binder, your own clone) this cell does nothing.
import importlib, os, subprocess, sys
if "google.colab" in sys.modules:
    repo = "/content/{name}"
    if not os.path.isdir(repo):
        subprocess.run(["git", "clone", "--depth", "1", "--branch", "{branch}", "{url}", repo], check=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", repo + "[track,mpi]"], check=True)
        importlib.invalidate_caches()
    os.chdir(repo + "/book")
'''


def repository() -> tuple[str, str, str]:
    """(url, name, branch) of the book's repository, from _config.yml."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]
    url = config["url"].rstrip("/")
    return url, url.rsplit("/", 1)[-1], config.get("branch", "main")


def has_code_cells(chapter: Path) -> bool:
    """Whether a chapter is a notebook.  Only ``{code-cell}`` blocks count: the preface's
    fenced ```python examples are text, not cells."""
    return "```{code-cell}" in chapter.read_text()


def colab_notebook(chapter: Path) -> nbformat.NotebookNode | None:
    """The Colab version of one chapter, or None if the chapter has no code cells."""
    if not has_code_cells(chapter):
        return None
    notebook = jupytext.read(chapter)
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        cell.source = reader_view(cell.source)
    url, name, branch = repository()
    setup = nbformat.v4.new_code_cell(SETUP.format(url=url + ".git", name=name, branch=branch),
                                      metadata={"tags": [SETUP_TAG]})
    notebook.cells.insert(0, setup)
    notebook.metadata.pop("jupytext", None)
    notebook.metadata["colab"] = {"provenance": []}
    # nbformat 4.5 wants an id on every cell; derive them from the position so two runs agree.
    for i, cell in enumerate(notebook.cells):
        cell["id"] = f"cell-{i}"
    notebook.nbformat, notebook.nbformat_minor = 4, 5
    nbformat.validate(notebook)
    return notebook


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "_build" / "notebooks"))
    args = parser.parse_args(argv)
    out = Path(args.out)
    written = 0
    for chapter in sorted((ROOT / "book").glob("*.md")):
        notebook = colab_notebook(chapter)
        if notebook is None:
            continue
        target = out / "book" / chapter.with_suffix(".ipynb").name
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, target)
        written += 1
    print(f"wrote {written} notebooks to {out / 'book'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
