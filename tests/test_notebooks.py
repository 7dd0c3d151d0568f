"""Tests of what the site offers readers beyond the pages: the Colab notebooks
(tools/notebooks.py) and the launch-button rewrite in tools/nnfs_sphinx.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import jupytext
import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import nnfs_sphinx  # noqa: E402
import notebooks  # noqa: E402
import tangle  # noqa: E402

CHAPTERS_WITH_CODE = sorted(p for p in (ROOT / "book").glob("*.md") if "```{code-cell}" in p.read_text())


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("notebooks")
    assert notebooks.main(["--out", str(out)]) == 0
    return out / "book"


def test_one_notebook_per_chapter_with_code(written):
    assert sorted(p.stem for p in written.glob("*.ipynb")) == [p.stem for p in CHAPTERS_WITH_CODE]
    assert not (written / "references.ipynb").exists()   # no code, no notebook


@pytest.mark.parametrize("chapter", CHAPTERS_WITH_CODE, ids=lambda p: p.stem)
def test_notebook_holds_the_chapter_as_readers_see_it(written, chapter):
    nb = nbformat.read(written / chapter.with_suffix(".ipynb").name, as_version=4)
    nbformat.validate(nb)
    source = jupytext.read(chapter)
    assert nb.cells[0].metadata["tags"] == [notebooks.SETUP_TAG]
    assert [c.cell_type for c in nb.cells[1:]] == [c.cell_type for c in source.cells]
    for ours, theirs in zip(nb.cells[1:], source.cells):
        assert not any(line.lstrip().startswith("#|") for line in ours.source.splitlines())
        if ours.cell_type == "code":
            assert "### BEGIN SOLUTION" not in ours.source, ours.source
        # only the directive lines and the lab's solution markers were dropped
        code = ours.cell_type == "code"
        assert ours.source == (tangle.reader_view(theirs.source) if code else theirs.source)
        assert ours.get("outputs", []) == []
    assert len({c["id"] for c in nb.cells}) == len(nb.cells)


def test_setup_cell_does_nothing_outside_colab(written, tmp_path):
    setup = nbformat.read(written / "01_regression.ipynb", as_version=4).cells[0].source
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    script = f"import os\n{setup}\nprint(os.getcwd())"
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(tmp_path)
    assert list(tmp_path.iterdir()) == []            # nothing cloned, nothing written


def test_setup_cell_clones_the_configured_repository(written):
    url, name, branch = notebooks.repository()
    setup = nbformat.read(written / "01_regression.ipynb", as_version=4).cells[0].source
    assert f'"{url}.git"' in setup and f'"{branch}"' in setup and f"/content/{name}" in setup


def test_colab_button_opens_the_notebook_on_the_notebooks_branch():
    context = {"header_buttons": [
        {"label": "download-buttons", "buttons": [{"text": ".md", "url": "x"}]},
        {"label": "launch-buttons", "buttons": [
            {"text": "Binder", "url": "https://mybinder.org/v2/gh/o/r/main?urlpath=lab/tree/book/03_mlp.md"},
            {"text": "Colab", "url": "https://colab.research.google.com/github/o/r/blob/main/book/03_mlp.md"},
        ]},
    ]}
    nnfs_sphinx.colab_from_notebooks_branch(None, "book/03_mlp", "page.html", context, None)
    binder, colab = context["header_buttons"][1]["buttons"]
    assert colab["url"] == "https://colab.research.google.com/github/o/r/blob/notebooks/book/03_mlp.ipynb"
    assert binder["url"].endswith("urlpath=lab/tree/book/03_mlp.md")   # Binder opens the chapter itself
