"""tools/run_chapter.py executes one chapter and reports its errors."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import run_chapter  # noqa: E402
from helpers import CHAPTER_FRONT_MATTER  # noqa: E402

pytestmark = pytest.mark.tangle

CHAPTER = CHAPTER_FRONT_MATTER + """

# A chapter

```{{code-cell}} ipython3
import pathlib, sys
print("cwd is", pathlib.Path.cwd().name)
print("a warning", file=sys.stderr)
{last}
```
"""


def test_a_chapter_runs_in_its_folder_and_stderr_is_reported(tmp_path, capsys):
    folder = tmp_path / "book"
    folder.mkdir()
    path = folder / "one.md"
    path.write_text(CHAPTER.format(last="x = 1"))
    saved = tmp_path / "out.ipynb"
    assert run_chapter.main([str(path), "--save", str(saved)]) == 0
    report = capsys.readouterr().out
    assert "executed in" in report and "wrote to stderr: a warning" in report
    assert "cwd is book" in saved.read_text()
    path.write_text(CHAPTER.format(last="raise ValueError('planted')"))
    assert run_chapter.main([str(path)]) == 1
    assert "planted" in capsys.readouterr().err


def test_slowest_lists_the_cells_by_their_time(tmp_path, capsys):
    folder = tmp_path / "book"
    folder.mkdir()
    path = folder / "one.md"
    path.write_text(CHAPTER.format(last="x = 1")
                    + "\n```{code-cell} ipython3\nimport time\ntime.sleep(0.3)\n```\n")
    assert run_chapter.main([str(path), "--slowest", "2"]) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if " s  cell " in ln]
    assert len(lines) == 2
    assert lines[0].endswith("cell 2: import time")   # the sleeping cell first
    assert float(lines[0].split()[0]) >= 0.3 > float(lines[1].split()[0])
