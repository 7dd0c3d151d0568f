"""tools/check_site.py must notice a directive or a traceback on a built page."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import check_site  # noqa: E402

pytestmark = pytest.mark.tangle

PAGE = """<html><body>
<div class="cell docutils container"><div class="cell_input docutils container">
<div class="highlight-ipython3 notranslate"><div class="highlight"><pre>{code}</pre></div></div>
</div><div class="cell_output docutils container"><div class="output stream"><pre>{output}</pre></div></div></div>
</body></html>"""


def parse(code: str, output: str) -> check_site.CellText:
    cells = check_site.CellText()
    cells.feed(PAGE.format(code=code, output=output))
    return cells


def test_cell_text_separates_inputs_and_outputs():
    cells = parse("x = 1\n", "1\n")
    assert [t.strip() for t in cells.inputs] == ["x = 1"]
    assert [t.strip() for t in cells.outputs] == ["1"]


def test_main_flags_directives_and_tracebacks(tmp_path: Path, monkeypatch, capsys):
    (tmp_path / "book").mkdir()
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: book/index\nchapters:\n  - file: book/one\n")
    (tmp_path / "book" / "index.html").write_text(PAGE.format(code="x = 1", output="fine"))
    (tmp_path / "book" / "one.html").write_text(
        PAGE.format(code="#| export\nx = 1\n    ### BEGIN SOLUTION",
                    output="Traceback (most recent call last):")
    )
    monkeypatch.setattr(check_site, "ROOT", tmp_path)
    assert check_site.main(str(tmp_path)) == 1
    out = capsys.readouterr().out
    assert "still shows the directive '#| export'" in out
    assert "still shows the lab's marker '### BEGIN SOLUTION'" in out
    assert "contains a traceback" in out
    (tmp_path / "book" / "one.html").write_text(PAGE.format(code="x = 1", output="ok"))
    assert check_site.main(str(tmp_path)) == 0
    (tmp_path / "book" / "one.html").unlink()
    assert check_site.main(str(tmp_path)) == 1
    assert "not built" in capsys.readouterr().out


def test_leaked_tex_is_flagged_but_math_and_code_are_not(tmp_path: Path, monkeypatch, capsys):
    (tmp_path / "book").mkdir()
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: book/index\n")
    good = (
        '<p>Inline <span class="math notranslate nohighlight">\\(\\lambda\\)</span> is fine.</p>'
        '<div class="math notranslate nohighlight">\\[ \\sum_n x_n \\]</div>'
        "<pre>price = '$400'</pre>"
    )
    (tmp_path / "book" / "index.html").write_text(f"<html><body>{good}</body></html>")
    monkeypatch.setattr(check_site, "ROOT", tmp_path)
    assert check_site.main(str(tmp_path)) == 0
    broken = good + "<ul><li><p>\\lambda\\lVert v \\rVert^2 &gt; 0$, so the matrix</p></li></ul>"
    (tmp_path / "book" / "index.html").write_text(f"<html><body>{broken}</body></html>")
    assert check_site.main(str(tmp_path)) == 1
    assert "TeX outside a formula" in capsys.readouterr().out


def test_a_code_line_wider_than_the_column_is_flagged_but_a_wide_output_is_not(
        tmp_path: Path, monkeypatch, capsys):
    (tmp_path / "book").mkdir()
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: book/index\n")
    limit = check_site.MAX_CODE_WIDTH
    fits = "x = " + "1" * (limit - 4)
    page = tmp_path / "book" / "index.html"
    page.write_text(PAGE.format(code=f"{fits}\n", output="y" * 3 * limit))
    monkeypatch.setattr(check_site, "ROOT", tmp_path)
    assert check_site.main(str(tmp_path)) == 0
    page.write_text(PAGE.format(code=f"{fits}1\n", output="ok")
                    + f"<pre>{'z' * (limit + 5)}</pre>")
    assert check_site.main(str(tmp_path)) == 1
    out = capsys.readouterr().out
    assert f"a code line of {limit + 1} characters" in out
    assert f"a code line of {limit + 5} characters" in out


def _stream(text: str, name: str = "stdout") -> dict:
    return {"output_type": "stream", "name": name, "text": text}


def test_repeated_stdout_in_a_downloaded_notebook_is_flagged(
        tmp_path: Path, monkeypatch, capsys):
    def notebook(*outputs):
        return {"cells": [{"cell_type": "code", "source": "", "outputs": list(o)}
                          for o in outputs]}

    clean = notebook([_stream("loss 0.1\n")], [_stream("loss 0.2\n")], [])
    assert check_site.repeated_streams(clean) == []
    repeated = notebook([_stream("loss 0.1\n")], [_stream("loss 0.1\n")])
    assert check_site.repeated_streams(repeated) == [
        "code cell 2 repeats the printed output of code cell 1: 'loss 0.1'"]
    twice = notebook([_stream("a\n"), _stream("b\n"), _stream("a\n")])
    assert check_site.repeated_streams(twice) == [
        "code cell 1 prints the same output twice: 'a'"]
    # split by a glued value between two prints: one output on the page
    split = notebook([_stream("a\n"), _stream("b\n")])
    assert check_site.repeated_streams(split) == []
    # main() reads the executed notebook the site offers for download.
    (tmp_path / "book").mkdir()
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: book/index\n")
    (tmp_path / "book" / "index.html").write_text(PAGE.format(code="x = 1", output="1"))
    sources = tmp_path / "_sources" / "book"
    sources.mkdir(parents=True)
    (sources / "index.ipynb").write_text(json.dumps(repeated))
    monkeypatch.setattr(check_site, "ROOT", tmp_path)
    assert check_site.main(str(tmp_path)) == 1
    assert "repeats the printed output of code cell 1" in capsys.readouterr().out
