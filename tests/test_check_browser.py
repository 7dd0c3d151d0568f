"""Tests of the browser check of the built site (tools/check_browser.py).

The check guards the published book, so it must itself be shown to fail: each
test below builds a two-page site in a temporary folder, breaks one thing a
reader would notice (an image that does not load, MyST that leaked into the
text, a dangling cross-reference, a traceback, a figure that vanishes in dark
mode, ...), runs the check in Chromium and expects it to name that problem.
The unbroken site must pass, so the failures come from the breakage.

Needs Playwright (test extra) and Debian's ``chromium``; skipped where either
is missing, except on CI (the ``CI`` variable is set), which installs both.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import check_browser  # noqa: E402

CHROMIUM = os.environ.get("NNFS_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.site


def _need_browser():
    missing = []
    if importlib.util.find_spec("playwright") is None:
        missing.append("the playwright package (pip install -e '.[test]')")
    if not Path(CHROMIUM).exists():
        missing.append(f"Chromium at {CHROMIUM} (apt install chromium)")
    if missing:
        message = "the browser check needs " + " and ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(f"{message}; CI is set and .ci/run installs both, so this fails instead of skipping")
        pytest.skip(message)


def _png(path: Path, transparent: bool = False) -> None:
    """A small figure: dark strokes, on white or on nothing."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(2, 1.5), dpi=50)
    ax.plot(np.linspace(0, 1, 10), np.linspace(0, 1, 10) ** 2, color="black")
    fig.savefig(path, transparent=transparent)
    plt.close(fig)


TITLE = check_browser.BOOK_TITLE
PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{h1} — {title}</title>
<style>html[data-theme=dark] body {{ background: #121212; color: #eee; }}</style></head>
<body><main><article>
<h1>{h1}</h1>
{body}
</article></main></body></html>
"""

CHAPTER = """
<p>Some prose, with a link to <a class="reference internal" href="other.html#results">the results</a>
and to <a class="reference internal" href="#fig-curve">Fig. 1</a>.</p>
<figure id="fig-curve"><img src="curve.png" alt="a curve"><figcaption>Fig. 1 A curve.</figcaption></figure>
<div class="cell" id="cell-1"><div class="cell_input"><pre>print(1 + 1)</pre></div>
<div class="cell_output"><pre>2</pre></div></div>
"""

OTHER = """<section id="results"><h2>Results</h2><p>Nothing to see.</p></section>"""


def make_site(root: Path, chapter: str = CHAPTER) -> Path:
    site = root / "html"
    site.mkdir()
    _png(site / "curve.png")
    (site / "index.html").write_text(PAGE.format(h1="A chapter", title=TITLE, body=chapter))
    (site / "other.html").write_text(PAGE.format(h1="Another page", title=TITLE, body=OTHER))
    return site


def run_check(tmp_path: Path, site: Path, allow: str = "") -> int:
    allowlist = tmp_path / "external_links.txt"
    allowlist.write_text(allow)
    args = [str(site), "--chromium", CHROMIUM, "--external-links", str(allowlist), "--toc", "none",
            "--screenshots", str(tmp_path / "shots"), "--mathjax", str(tmp_path / "no-mathjax")]
    return check_browser.main(args)


@pytest.fixture
def checked(tmp_path, capsys):
    """Build the site (optionally broken), run the check, return (exit status, its report)."""
    _need_browser()

    def run(chapter: str = CHAPTER, allow: str = "", extra=None):
        site = make_site(tmp_path, chapter)
        if extra is not None:
            extra(site)
        status = run_check(tmp_path, site, allow)
        return status, capsys.readouterr().out

    return run


def test_an_intact_site_passes(checked):
    status, report = checked()
    assert status == 0, report
    assert "checked 2 pages in Chromium: OK" in report


BREAKAGES = {
    "missing image": (CHAPTER.replace("curve.png", "gone.png"),
                      ["image gone.png did not decode", "failed request"]),
    "corrupt image": (CHAPTER.replace("curve.png", "corrupt.png"), ["image corrupt.png did not decode"]),
    "leaked code-cell directive": (CHAPTER + "<p>```{code-cell} ipython3</p>", ["raw MyST '{code-cell}'"]),
    "leaked glue role": (CHAPTER + "<p>The loss was {glue:text}`loss`.</p>", ["raw MyST '{glue:'"]),
    "leaked colon fence": (CHAPTER + "<p>:::{note}</p>", ["raw MyST ':::'"]),
    "tangler directive in code": (CHAPTER.replace("print(1 + 1)", "#| export\nprint(1 + 1)"),
                                  ["tangler directive"]),
    "dangling anchor": (CHAPTER.replace("other.html#results", "other.html#resluts"),
                        ["points to #resluts, which other.html does not have"]),
    "missing page": (CHAPTER.replace("other.html#results", "gone.html"), ["points to gone.html, which does not exist"]),
    "numbered reference to a non-figure": (CHAPTER.replace('href="#fig-curve"', 'href="other.html#results"'),
                                           ["'Fig. 1' links to other.html#results, which is not a figure or table"]),
    "traceback in an output": (CHAPTER.replace("<pre>2</pre>", "<pre>Traceback (most recent call last):\n"
                                               "ValueError: boom</pre>"), ["shows a Python traceback"]),
    "untypeset math": (CHAPTER + '<p>The loss <span class="math notranslate">\\(L\\)</span>.</p>',
                       ["1 of 1 math elements were not typeset"]),
    "unlisted external link": (CHAPTER + '<p><a href="https://example.org/paper">a paper</a></p>',
                               ["external link https://example.org/paper is not listed"]),
    "external resource": (CHAPTER + '<link rel="stylesheet" href="https://cdn.example.org/icons.css">',
                          ["requested an external resource", "https://cdn.example.org/icons.css"]),
    "too wide for a phone": (CHAPTER + '<div style="width: 900px">a wide banner</div>',
                             ["on a phone (390 px wide) the page is", "scrolls sideways"]),
    "code that scrolls sideways, in a hidden cell": (
        CHAPTER + '<details><summary>show code</summary><div class="cell_input">'
        '<pre style="overflow: auto">x = 1  # ' + "y" * 300 + "</pre></div></details>",
        ["at 1280 px a code block scrolls sideways", "widest line (309 characters)"]),
    "transparent figure in dark mode": (CHAPTER.replace("curve.png", "clear.png"),
                                        ["in dark mode, clear.png is", "transparent"]),
}


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_a_broken_site_fails_and_the_report_names_the_problem(checked, breakage):
    chapter, expected = BREAKAGES[breakage]

    def extra(site):
        (site / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a png" * 10)
        _png(site / "clear.png", transparent=True)

    status, report = checked(chapter, extra=extra)
    assert status == 1, report
    for text in expected:
        assert text in report, report


def test_a_listed_external_link_passes(checked):
    status, report = checked(CHAPTER + '<p><a href="https://example.org/paper">a paper</a></p>',
                             allow="# comment\nhttps://example.org/*\n")
    assert status == 0, report


def test_a_wrong_title_fails(checked):
    def retitle(site):
        page = site / "other.html"
        page.write_text(page.read_text().replace(f"Another page — {TITLE}", "Untitled"))

    status, report = checked(extra=retitle)
    assert status == 1
    assert "other.html: title 'Untitled' should be the heading 'Another page'" in report


def test_a_chapter_without_a_page_fails(tmp_path, capsys):
    _need_browser()
    site = make_site(tmp_path)
    toc = tmp_path / "_toc.yml"
    toc.write_text("format: jb-book\nroot: index\nchapters:\n  - file: other\n  - file: missing\n")
    (tmp_path / "links.txt").write_text("")
    status = check_browser.main([str(site), "--chromium", CHROMIUM, "--toc", str(toc),
                                 "--external-links", str(tmp_path / "links.txt"),
                                 "--screenshots", str(tmp_path / "shots")])
    report = capsys.readouterr().out
    assert status == 1
    assert "missing.html: the chapter is in the table of contents but has no page" in report
    # The chapters that exist got a screenshot of their first screen, in light and dark mode.
    assert sorted(p.name for p in (tmp_path / "shots").iterdir()) == [
        "index-dark.png", "index.png", "other-dark.png", "other.png"]


# The pieces that need no browser.

def test_allowlist_matches_exact_urls_and_prefixes():
    allow = ["https://a.org/x", "https://b.org/*"]
    assert check_browser.allowed("https://a.org/x", allow)
    assert not check_browser.allowed("https://a.org/xy", allow)
    assert check_browser.allowed("https://b.org/anything?q=1", allow)
    assert not check_browser.allowed("https://c.org/", allow)


def test_luminance_orders_colours():
    assert check_browser.luminance("rgb(255, 255, 255)") == pytest.approx(1.0)
    assert check_browser.luminance("rgba(0, 0, 0, 0.5)") == pytest.approx(0.0)
    assert check_browser.luminance("rgb(206, 214, 221)") > 0.4 > check_browser.luminance("rgb(18, 18, 18)")


def test_launch_buttons_must_open_files_the_repository_has():
    binder = "https://mybinder.org/v2/gh/o/r/main?urlpath=lab/tree/book/{}"
    colab = "https://colab.research.google.com/github/o/r/blob/notebooks/book/{}"
    assert check_browser.check_launch("p", binder.format("01_regression.md")) == []
    assert check_browser.check_launch("p", colab.format("01_regression.ipynb")) == []
    assert "does not have" in check_browser.check_launch("p", binder.format("99_missing.md"))[0]
    assert "does not write" in check_browser.check_launch("p", colab.format("01_regression.md"))[0]
    # A chapter without code gets no notebook, so no Colab button may point at one.
    assert "does not write" in check_browser.check_launch("p", colab.format("references.ipynb"))[0]


def test_the_real_allowlist_is_well_formed():
    entries = check_browser.load_external_allowlist(ROOT / "tools" / "external_links.txt")
    assert entries, "tools/external_links.txt lists no links"
    assert all(e.startswith("https://") or e.startswith("http://") for e in entries), entries
    assert len(entries) == len(set(entries)), "a link is listed twice"
