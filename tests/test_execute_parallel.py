"""tools/execute_parallel.py fills the execution cache that the book build reads."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import execute_parallel  # noqa: E402
from helpers import CHAPTER_FRONT_MATTER  # noqa: E402

pytestmark = pytest.mark.tangle

CHAPTER = CHAPTER_FRONT_MATTER + """

# Chapter {k}

Some prose that the cache must not care about.

```{{code-cell}} ipython3
import os, pathlib
print(pathlib.Path.cwd().name, os.environ["NNFS_BUILD_WORKERS"],
      os.environ["OPENBLAS_NUM_THREADS"], {k})
{last}
```
"""


def write_chapters(folder: Path, lasts: list[str]) -> list[Path]:
    folder.mkdir()
    paths = []
    for k, last in enumerate(lasts):
        path = folder / f"0{k}_chapter.md"
        path.write_text(CHAPTER.format(k=k, last=last))
        paths.append(path)
    return paths


def test_chapters_are_cached_where_the_book_build_finds_them(tmp_path, capsys,
                                                             monkeypatch):
    from jupyter_cache import get_cache
    from myst_nb.core.read import read_myst_markdown_notebook

    # the tool sets these in its own environment; monkeypatch restores them
    for name in (*execute_parallel.THREAD_VARIABLES, "NNFS_BUILD_WORKERS"):
        monkeypatch.setenv(name, "before")
    chapters = write_chapters(tmp_path / "book", ["", "1 / 0"])
    cache_dir = tmp_path / "cache"
    assert execute_parallel.main([*map(str, chapters), "--cache", str(cache_dir),
                                  "--workers", "2"]) == 0
    out = capsys.readouterr().out
    assert "left to the build: 01_chapter.md" in out  # the failing one
    cache = get_cache(str(cache_dir))
    # What the build does in cache mode: read the chapter with myst-nb's reader
    # and look its code up in the cache.
    threads = str(max(1, (os.cpu_count() or 1) // 2))
    good = read_myst_markdown_notebook(chapters[0].read_text(), path=str(chapters[0]))
    record = cache.match_cache_notebook(good)
    _, merged = cache.merge_match_into_notebook(good)
    text = merged.cells[-1].outputs[0]["text"]
    assert record is not None and text.split() == ["book", "2", threads, "0"]
    bad = read_myst_markdown_notebook(chapters[1].read_text(), path=str(chapters[1]))
    with pytest.raises(KeyError):
        cache.match_cache_notebook(bad)
    # A prose edit keeps the match; a code edit loses it.
    edited = chapters[0].read_text().replace("Some prose", "Other prose")
    assert cache.match_cache_notebook(
        read_myst_markdown_notebook(edited, path=str(chapters[0]))).pk == record.pk
    with pytest.raises(KeyError):
        cache.match_cache_notebook(read_myst_markdown_notebook(
            chapters[0].read_text().replace(", 0)", ", 9)"), path=str(chapters[0])))


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(SystemExit):
        execute_parallel.main([str(tmp_path / "missing.md")])
    chapter = write_chapters(tmp_path / "book", [""])[0]
    with pytest.raises(SystemExit):
        execute_parallel.main([str(chapter), "--workers", "0"])


def test_the_pool_processes_start_their_kernels_apart(monkeypatch):
    import multiprocessing

    slept = []
    monkeypatch.setattr(execute_parallel.time, "sleep", slept.append)
    started = multiprocessing.Value("i", 0)
    for _ in range(3):
        execute_parallel._stagger(started)
    step = execute_parallel.STAGGER_S
    assert step > 0 and slept == [0, step, 2 * step]
