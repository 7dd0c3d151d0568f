#!/usr/bin/env python3
"""Check the built HTML site for things the Sphinx build does not flag.

    python tools/check_site.py _build/html

- every page listed in _toc.yml was built;
- no code cell shown to readers still carries a tangler directive (``#|``) or
  one of the lab's solution markers (``### BEGIN SOLUTION``);
- no executed cell output shows a Python traceback;
- no line of code shown on a page (a code cell's input, a code block) is wider
  than the page's column, MAX_CODE_WIDTH characters (outputs wrap; code must not);
- no executed notebook offered for download repeats a cell's printed output in
  another cell, or splits one cell's stdout into several outputs;
- no TeX leaked into the prose: a dollar sign or a backslash command outside the math
  elements means a formula the Markdown parser did not recognise.

Exits 1 and lists the problems if any check fails.
"""

from __future__ import annotations

import json
import re
import sys
from html.parser import HTMLParser
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from tangle import MAX_CODE_WIDTH  # noqa: E402


class CellText(HTMLParser):
    """Collect the text inside <div class="... cell_input ..."> and cell_output blocks."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str | None] = []  # the cell kind each open <div> started, if any
        self.inputs: list[str] = []
        self.outputs: list[str] = []
        self.current: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag != "div":
            return
        classes = (dict(attrs).get("class") or "").split()
        kind = "input" if "cell_input" in classes else "output" if "cell_output" in classes else None
        if kind and self.current is None:
            self.current = []
            self.stack.append(kind)
        else:
            self.stack.append(None)

    def handle_endtag(self, tag):
        if tag != "div" or not self.stack:
            return
        kind = self.stack.pop()
        if kind is not None and self.current is not None:
            (self.inputs if kind == "input" else self.outputs).append("".join(self.current))
            self.current = None

    def handle_data(self, data):
        if self.current is not None:
            self.current.append(data)


class CodeText(HTMLParser):
    """Collect the text of every <pre> that shows code: all but the cell outputs."""

    def __init__(self) -> None:
        super().__init__()
        self.divs: list[bool] = []  # for each open <div>: is it a cell output?
        self.pre_depth = 0
        self.blocks: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "div":
            self.divs.append("cell_output" in (dict(attrs).get("class") or "").split())
        elif tag == "pre":
            self.pre_depth += 1
            if self.pre_depth == 1 and not any(self.divs):
                self.blocks.append("")

    def handle_endtag(self, tag):
        if tag == "div" and self.divs:
            self.divs.pop()
        elif tag == "pre" and self.pre_depth:
            self.pre_depth -= 1

    def handle_data(self, data):
        if self.pre_depth and not any(self.divs):
            self.blocks[-1] += data


def wide_code(page_html: str, limit: int = MAX_CODE_WIDTH) -> list[str]:
    """The lines of code on a page wider than ``limit`` characters."""
    parser = CodeText()
    parser.feed(page_html)
    return [line for block in parser.blocks for line in block.splitlines()
            if len(line.rstrip()) > limit]


def repeated_streams(notebook: dict) -> list[str]:
    """Printed output that an executed notebook (nbformat 4 JSON) repeats.

    A stream whose text another stream already printed, in an earlier cell
    or in the same one, is a defect a reader of the downloaded notebook sees
    twice.  A cell's stdout split into several outputs is not: a glued value
    between two prints does that, and the page shows the parts as one.
    """
    problems: list[str] = []
    first_cell: dict[str, int] = {}
    code_cells = [c for c in notebook.get("cells", []) if c.get("cell_type") == "code"]
    for number, cell in enumerate(code_cells, 1):
        seen_here: set[str] = set()
        for output in cell.get("outputs", []):
            if output.get("output_type") != "stream":
                continue
            text = "".join(output.get("text", "")).strip()
            if not text:
                continue
            if text in seen_here:
                problems.append(f"code cell {number} prints the same output twice: "
                                f"{text[:60]!r}")
            elif first_cell.setdefault(text, number) != number:
                problems.append(f"code cell {number} repeats the printed output of "
                                f"code cell {first_cell[text]}: {text[:60]!r}")
            seen_here.add(text)
    return problems


class ProseText(HTMLParser):
    """Collect the page's text outside math, code, cells, scripts and styles."""

    SKIP_TAGS = {"script", "style", "pre", "code", "head", "nav"}
    SKIP_CLASSES = {"math", "cell_input", "cell_output", "highlight"}

    def __init__(self) -> None:
        super().__init__()
        self.skip_tag: str | None = None
        self.skip_depth = 0
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        if self.skip_tag is not None:
            self.skip_depth += tag == self.skip_tag
            return
        classes = set((dict(attrs).get("class") or "").split())
        if tag in self.SKIP_TAGS or classes & self.SKIP_CLASSES:
            self.skip_tag, self.skip_depth = tag, 1

    def handle_endtag(self, tag):
        if self.skip_tag == tag:
            self.skip_depth -= 1
            if self.skip_depth == 0:
                self.skip_tag = None

    def handle_data(self, data):
        if self.skip_tag is None:
            self.text.append(data)


LEAKED_TEX = re.compile(r"\$|\\[A-Za-z]+")


def toc_files(toc: dict) -> list[str]:
    files = [toc["root"]]
    stack = list(toc.get("parts", [])) + list(toc.get("chapters", []))
    while stack:
        entry = stack.pop(0)
        if "file" in entry:
            files.append(entry["file"])
        stack.extend(entry.get("chapters", []) + entry.get("sections", []))
    return files


def main(html_dir: str) -> int:
    html = Path(html_dir)
    problems: list[str] = []
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    for name in toc_files(toc):
        page = html / f"{name}.html"
        if not page.exists():
            problems.append(f"{page}: listed in _toc.yml but not built")
            continue
        cells = CellText()
        cells.feed(page.read_text(encoding="utf-8"))
        for text in cells.inputs:
            for line in text.splitlines():
                if line.lstrip().startswith("#|"):
                    problems.append(f"{page}: a code cell still shows the directive {line.strip()!r}")
                if line.strip() in ("### BEGIN SOLUTION", "### END SOLUTION"):
                    problems.append(f"{page}: a code cell still shows the lab's marker {line.strip()!r}")
        for text in cells.outputs:
            if "Traceback (most recent call last)" in text:
                problems.append(f"{page}: a cell output contains a traceback")
        for line in wide_code(page.read_text(encoding="utf-8")):
            problems.append(f"{page}: a code line of {len(line.rstrip())} characters, wider "
                            f"than the column of {MAX_CODE_WIDTH}: {line.strip()[:60]!r}")
        notebook = html / "_sources" / f"{name}.ipynb"
        if notebook.exists():
            for problem in repeated_streams(json.loads(notebook.read_text(encoding="utf-8"))):
                problems.append(f"{notebook}: {problem}")
        prose = ProseText()
        prose.feed(page.read_text(encoding="utf-8"))
        for line in "".join(prose.text).splitlines():
            if LEAKED_TEX.search(line):
                problems.append(f"{page}: TeX outside a formula in the text: {line.strip()[:100]!r}")
    for problem in problems:
        print(problem)
    print(f"checked {len(toc_files(toc))} pages: {'OK' if not problems else f'{len(problems)} problem(s)'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "_build/html"))
