#!/usr/bin/env python3
"""The lab: student notebooks made from the chapters, and grading with nbgrader.

Each page ``book/lab/sheetN.md`` is one exercise sheet.  It is ordinary MyST
Markdown (the instructions) with four directives that become notebook cells:

    ```{lab-code}            given code, a read-only cell (imports, set-up); with
                             ``:editable:``, a cell the student may change
    ```{lab-solution} NAMES  the book's own definitions of NAMES (``nnfs.nn.Linear``,
                             or several from one module: ``nnfs.nn.Linear ReLU``), with
                             every ``### BEGIN SOLUTION`` region in them left for the student
    ```{lab-check}           a graded check cell; ``:exercise: 3.1`` names the exercise
                             whose report it requires, ``:points:`` its weight
    ```{lab-answer}          a written answer (a review form, a proposal), graded by hand;
                             ``:id:`` and ``:points:``; the content is the template

``build`` writes, for every sheet, an nbgrader *source* notebook (solutions and
hidden tests included) under ``<out>/course/source/sheetN/``, lets nbgrader's
``generate_assignment`` make the student version, and names each stub's
exercise in its ``NotImplementedError``.  The student notebooks land in
``<out>/sheets/sheetN.ipynb``.

``grade`` runs nbgrader's ``autograde`` (a fresh kernel per submission, a time
limit per cell) on a folder of submitted notebooks, then ``generate_feedback``,
and writes ``grades.csv`` (one row per submission, a column per graded cell)
and ``feedback/<student>.html`` and ``.txt``.

Usage:
    python tools/lab.py build [--out _build/lab]
    python tools/lab.py grade SHEET SUBMISSIONS [--out DIR] [--timeout SECONDS]
"""

from __future__ import annotations

import argparse
import ast
import csv
import functools
import os
import re
import shutil
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from markdown_it import MarkdownIt

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
import tangle  # noqa: E402

LAB = ROOT / "book" / "lab"
DEFAULT_OUT = ROOT / "_build" / "lab"
DIRECTIVES = ("lab-code", "lab-solution", "lab-check", "lab-answer")
STUB = "# YOUR CODE HERE\nraise NotImplementedError()"   # nbgrader's code stub
TEXT_STUB = "YOUR ANSWER HERE"
COURSE_ID = "nnfs-lab"


class LabError(Exception):
    """A sheet is malformed; the message starts with file:line."""


# ---------------------------------------------------------------------------
# The book's definitions, with their solution regions
# ---------------------------------------------------------------------------


@functools.cache
def _modules() -> dict[str, tangle.Module]:
    return tangle.collect(ROOT)


def _definitions(module: str) -> dict[str, tuple[str, str]]:
    """{name: (source with markers, chapter)} of every top-level definition."""
    modules = _modules()
    if module not in modules:
        raise LabError(f"no chapter exports a module nnfs.{module}")
    found: dict[str, tuple[str, str]] = {}
    for block in modules[module].blocks:
        lines = block.source.split("\n")
        for node in ast.parse(block.source).body:
            names = []
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                names = [node.name]
            elif isinstance(node, ast.Assign):
                names = [t.id for t in node.targets if isinstance(t, ast.Name)]
            first = min([node.lineno] + [d.lineno for d in
                                         getattr(node, "decorator_list", [])])
            end = node.end_lineno   # a closing marker after the last line is a comment
            while end < len(lines) and lines[end].strip() == tangle.END_SOLUTION:
                end += 1
            text = "\n".join(lines[first - 1:end])
            for name in names:
                found[name] = (text, block.chapter)
    return found


def book_source(spec: str) -> tuple[str, str]:
    """(source, chapter) of ``nnfs.MODULE.NAME [NAME ...]``, markers included."""
    first, *more = spec.split()
    parts = first.split(".")
    if len(parts) != 3 or parts[0] != "nnfs":
        raise LabError(f"expected nnfs.MODULE.NAME, got {first!r}")
    definitions = _definitions(parts[1])
    texts, chapter = [], ""
    for name in [parts[2], *more]:
        if name not in definitions:
            raise LabError(f"nnfs.{parts[1]} has no top-level {name!r}")
        text, chapter = definitions[name]
        texts.append(text)
    return "\n\n\n".join(texts), chapter


def _region_owners(source: str) -> list[str]:
    """For each solution region, the qualified name of its enclosing function."""
    regions = tangle.solution_regions(source)
    scopes: list[tuple[int, int, str]] = []

    def visit(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                if isinstance(child, ast.FunctionDef):
                    scopes.append((child.lineno, child.end_lineno, name))
                visit(child, name + ".")
            else:
                visit(child, prefix)
    visit(ast.parse(source), "")
    owners = []
    for begin, _ in regions:
        line = begin + 1
        inside = [s for s in scopes if s[0] <= line <= s[1]]
        owners.append(max(inside, key=lambda s: s[0])[2] if inside else "this")
    return owners


def stub(source: str, named: bool = True) -> str:
    """``source`` with every solution region replaced by nbgrader's stub.

    With ``named``, the NotImplementedError says which function is the
    student's to write.  (With ``named=False`` this is exactly what
    nbgrader's ClearSolutions makes, which ``build`` checks.)
    """
    owners = iter(_region_owners(source))
    out, inside = [], False
    for line in source.split("\n"):
        marker = line.strip()
        if marker == tangle.BEGIN_SOLUTION:
            indent = line[: len(line) - len(line.lstrip())]
            owner = next(owners)
            for stub_line in STUB.split("\n"):
                if named and stub_line.startswith("raise"):
                    message = f'"{owner}: your code goes here"'
                    stub_line = f"raise NotImplementedError({message})"
                    if len(indent + stub_line) > tangle.MAX_CODE_WIDTH:
                        # the page's column: the message on a line of its own
                        stub_line = ("raise NotImplementedError(\n"
                                     f"{indent}    {message})")
                out.append(indent + stub_line)
            inside = True
        elif marker == tangle.END_SOLUTION:
            inside = False
        elif not inside:
            out.append(line)
    return "\n".join(out)


def solution(source: str) -> str:
    """``source`` with the marker lines dropped: the book's code."""
    return tangle.strip_solution_markers(source)


# ---------------------------------------------------------------------------
# Reading a sheet
# ---------------------------------------------------------------------------


@dataclass
class Part:
    kind: str            # "markdown" or one of DIRECTIVES
    text: str            # Markdown, or the directive's content
    argument: str = ""
    options: dict = field(default_factory=dict)
    line: int = 0


def _options(content: str) -> tuple[dict, str]:
    """MyST's ':key: value' lines at the top of a directive's content."""
    lines, options = content.split("\n"), {}
    while lines and re.match(r"^:[\w-]+:", lines[0]):
        key, _, value = lines.pop(0)[1:].partition(":")
        options[key] = value.strip()
    return options, "\n".join(lines).strip("\n")


def read_sheet(path: Path) -> tuple[str, list[Part]]:
    """(title, parts) of one lab page; directives parsed with markdown-it."""
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    rel = path.relative_to(ROOT).as_posix()
    parts: list[Part] = []
    cursor = 0
    for token in MarkdownIt("commonmark").parse(text):
        if token.type != "fence" or not token.info.startswith("{lab-"):
            continue
        name, _, argument = token.info.partition("}")
        name = name[1:]
        start, end = token.map
        if name not in DIRECTIVES:
            raise LabError(f"{rel}:{start + 1}: unknown directive {{{name}}}")
        before = "\n".join(lines[cursor:start]).strip("\n")
        if before.strip():
            parts.append(Part("markdown", before, line=cursor + 1))
        options, content = _options(token.content)
        parts.append(Part(name, content, argument.strip(), options, start + 1))
        cursor = end
    rest = "\n".join(lines[cursor:]).strip("\n")
    if rest.strip():
        parts.append(Part("markdown", rest, line=cursor + 1))
    title = next((ln[2:].strip() for ln in lines if ln.startswith("# ")), "")
    return title, parts


ROLE = re.compile(r"\{(\w+)\}`([^`]*)`")


def _title(page: Path) -> str:
    for line in page.read_text(encoding="utf-8").split("\n"):
        if line.startswith("# "):
            return line[2:].strip()
    return page.stem


def plain_markdown(text: str, page: Path) -> str:
    """Markdown for Jupyter: MyST roles, which it cannot render, in words.

    {doc}`../03_mlp` becomes the page's title, {download}`text <path>` its text,
    {eq}`label` "(label)", {cite:p}`key` "[key]", any other role its content.
    """
    def replace(match: re.Match) -> str:
        role, content = match.groups()
        label, _, target = content.partition(" <")
        target = target.rstrip(">") or label
        if role == "doc":
            doc = (page.parent / target).with_suffix(".md")
            return f"*{_title(doc)}*" if target == label else label
        if role == "download":
            return label if target != label else Path(target).name
        if role == "eq":
            return f"equation ({content})"
        if role == "cite":
            return f"[{content}]"
        return content
    return ROLE.sub(lambda m: replace(m), text.replace("{cite:p}", "{cite}"))


def sheets() -> list[Path]:
    return sorted(LAB.glob("sheet*.md"))


# ---------------------------------------------------------------------------
# Writing the nbgrader source notebook
# ---------------------------------------------------------------------------


def solution_id(part: Part) -> str:
    """nbgrader's grade id of a lab-solution cell: ``:id:``, else its first name."""
    return part.options.get("id") or part.argument.split()[0].split(".")[-1]


def _meta(grade_id: str, *, solution=False, grade=False, locked=False,
          points=None) -> dict:
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked,
            "schema_version": 3, "solution": solution}
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def source_notebook(path: Path) -> nbformat.NotebookNode:
    """The nbgrader source notebook of one sheet: solutions and hidden tests."""
    rel = path.relative_to(ROOT).as_posix()
    _, parts = read_sheet(path)
    cells, ids = [], set()

    def unique(grade_id: str, part: Part) -> str:
        if grade_id in ids:
            raise LabError(f"{rel}:{part.line}: grade id {grade_id!r} is used twice")
        ids.add(grade_id)
        return grade_id

    for k, part in enumerate(parts):
        where = f"{rel}:{part.line}"
        if part.kind == "markdown":
            cells.append(nbformat.v4.new_markdown_cell(plain_markdown(part.text, path)))
        elif part.kind == "lab-code" and "editable" in part.options:
            cells.append(nbformat.v4.new_code_cell(part.text))
        elif part.kind == "lab-code":
            cells.append(nbformat.v4.new_code_cell(
                part.text, metadata=_meta(unique(f"code-{k}", part), locked=True)))
        elif part.kind == "lab-solution":
            try:
                source, chapter = book_source(part.argument)
            except LabError as exc:
                raise LabError(f"{where}: {exc}") from None
            if not tangle.solution_regions(source):
                raise LabError(f"{where}: {part.argument} has no solution region")
            names = part.argument.split()
            head = (f"# The book's {', '.join(n.split('.')[-1] for n in names)}"
                    f" ({chapter}), with your part to write.\n")
            grade_id = solution_id(part)
            cells.append(nbformat.v4.new_code_cell(
                head + source,
                metadata=_meta(unique(grade_id, part), solution=True)))
        elif part.kind == "lab-check":
            number = part.options.get("exercise")
            if not number:
                raise LabError(f"{where}: a lab-check needs :exercise: N.M")
            hidden = (f"\n### BEGIN HIDDEN TESTS\nlab.require({number!r})"
                      "\n### END HIDDEN TESTS")
            points = float(part.options.get("points", 1))
            cells.append(nbformat.v4.new_code_cell(
                part.text + hidden, metadata=_meta(
                    unique(f"exercise-{number.replace('.', '_')}", part), grade=True, locked=True,
                    points=points)))
        elif part.kind == "lab-answer":
            grade_id = part.options.get("id")
            if not grade_id:
                raise LabError(f"{where}: a lab-answer needs :id:")
            cells.append(nbformat.v4.new_markdown_cell(
                plain_markdown(part.text, path), metadata=_meta(
                    unique(grade_id, part), solution=True, grade=True,
                    points=float(part.options.get("points", 1)))))
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "python3", "language": "python",
                                       "display_name": "Python 3"}
    notebook.metadata["language_info"] = {"name": "python"}
    for i, cell in enumerate(notebook.cells):
        cell["id"] = f"{path.stem}-{i}"
    return notebook


def exercises(notebook: nbformat.NotebookNode) -> list[str]:
    """The exercise numbers of a sheet's graded checks, experiments included."""
    return [c.metadata["nbgrader"]["grade_id"].removeprefix("exercise-")
            .replace("_", ".") for c in notebook.cells
            if c.metadata.get("nbgrader", {}).get("grade")
            and c.cell_type == "code"]


# ---------------------------------------------------------------------------
# nbgrader
# ---------------------------------------------------------------------------


def _api(course: Path, timeout: int | None = None):
    """nbgrader's Python API on the course directory ``course``."""
    # nbgrader runs alembic (its database migrations) as a program: it must be on PATH.
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config
    config = Config()
    config.CourseDirectory.root = str(course)
    config.CourseDirectory.course_id = COURSE_ID
    config.Exchange.root = str(course / "exchange")
    if timeout is not None:
        config.Execute.timeout = timeout
    coursedir = CourseDirectory(config=config)
    return NbGraderAPI(coursedir=coursedir, config=config)


def _run(api, step: str, *args) -> None:
    with warnings.catch_warnings():   # nbgrader's SQLAlchemy session warnings are its own
        warnings.simplefilter("ignore")
        result = getattr(api, step)(*args)
    if not result["success"]:
        raise LabError(f"nbgrader {step} {' '.join(args)} failed:\n"
                       f"{result.get('error') or result.get('log')}")


def _name_stubs(released: nbformat.NotebookNode,
                source: nbformat.NotebookNode) -> None:
    """Give each stub of nbgrader's student version the name of its exercise."""
    originals = {c.metadata["nbgrader"]["grade_id"]: c for c in source.cells
                 if "nbgrader" in c.metadata}
    for cell in released.cells:
        meta = cell.metadata.get("nbgrader", {})
        if not meta.get("solution"):
            continue
        original = originals[meta["grade_id"]]
        if cell.cell_type == "markdown":
            cell.source = original.source     # keep the form to fill in
            continue
        if cell.source != stub(original.source, named=False):
            raise LabError(f"nbgrader's stub of {meta['grade_id']} is not the "
                           "one tools/lab.py expects")
        cell.source = stub(original.source)


def build(out: Path = DEFAULT_OUT) -> list[Path]:
    """Write every sheet's source and student notebooks; return the latter."""
    course = out / "course"
    shutil.rmtree(course, ignore_errors=True)
    written, sources = [], {}
    for path in sheets():
        notebook = source_notebook(path)
        target = course / "source" / path.stem / f"{path.stem}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, target)
        sources[path.stem] = notebook
    api = _api(course)
    (out / "sheets").mkdir(parents=True, exist_ok=True)
    for name, notebook in sources.items():
        _run(api, "generate_assignment", name)
        release = course / "release" / name / f"{name}.ipynb"
        student = nbformat.read(release, as_version=4)
        _name_stubs(student, notebook)
        target = out / "sheets" / f"{name}.ipynb"
        nbformat.write(student, target)
        written.append(target)
    return written


def _submissions(folder: Path, sheet: str) -> dict[str, Path]:
    """{student id: notebook} from NAME.ipynb files or NAME/*.ipynb folders."""
    found: dict[str, Path] = {}
    for entry in sorted(folder.iterdir()):
        if entry.suffix == ".ipynb":
            found[entry.stem] = entry
        elif entry.is_dir():
            notebooks = sorted(entry.glob("*.ipynb"))
            preferred = [n for n in notebooks if n.stem == sheet]
            if preferred or len(notebooks) == 1:
                found[entry.name] = (preferred or notebooks)[0]
            elif notebooks:
                raise LabError(f"{entry}: several notebooks and none is "
                               f"{sheet}.ipynb; keep one")
    bad = [s for s in found if not re.fullmatch(r"[A-Za-z0-9_.-]+", s)]
    if bad:
        raise LabError(f"student ids may hold letters, digits, '.', '_' and "
                       f"'-' only: rename {bad}")
    if not found:
        raise LabError(f"{folder} holds no .ipynb submissions")
    return found


def _text_feedback(autograded: Path) -> str:
    """Each graded cell's points and what its check printed."""
    notebook = nbformat.read(autograded, as_version=4)
    lines = []
    for cell in notebook.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or not meta.get("grade"):
            continue
        printed, error = [], ""
        for output in cell.get("outputs", []):
            if output.get("name") == "stdout":
                printed.append(output["text"].strip())
            elif output.get("output_type") == "error":
                error = f"{output['ename']}: {output['evalue']}"
        score = 0.0 if error else meta.get("points", 0)
        lines.append(f"{meta['grade_id']}: {score:g} of {meta.get('points', 0):g}")
        lines += [f"    {p}" for p in printed if p]
        if error and not printed:
            lines.append(f"    {error}")
    return "\n".join(lines) + "\n"


def grade(sheet: str, folder: Path, out: Path, timeout: int = 300) -> Path:
    """Autograde every submission of ``sheet`` in ``folder``; return grades.csv."""
    if not folder.is_dir():
        raise LabError(f"{folder} is not a folder of submissions")
    path = LAB / f"{sheet}.md"
    if not path.exists():
        raise LabError(f"no sheet {sheet!r}: choose one of "
                       f"{[p.stem for p in sheets()]}")
    submissions = _submissions(folder, sheet)
    course = out / "course"
    shutil.rmtree(course, ignore_errors=True)
    target = course / "source" / sheet / f"{sheet}.ipynb"
    target.parent.mkdir(parents=True)
    nbformat.write(source_notebook(path), target)
    api = _api(course, timeout)
    _run(api, "generate_assignment", sheet)
    feedback = out / "feedback"
    feedback.mkdir(parents=True, exist_ok=True)
    rows = []
    for student, notebook in submissions.items():
        dest = course / "submitted" / student / sheet / f"{sheet}.ipynb"
        dest.parent.mkdir(parents=True)
        shutil.copy(notebook, dest)
        start = time.perf_counter()
        _run(api, "autograde", sheet, student)
        seconds = time.perf_counter() - start
        _run(api, "generate_feedback", sheet, student)
        shutil.copy(course / "feedback" / student / sheet / f"{sheet}.html",
                    feedback / f"{student}.html")
        autograded = course / "autograded" / student / sheet / f"{sheet}.ipynb"
        (feedback / f"{student}.txt").write_text(_text_feedback(autograded))
        rows.append((student, seconds))
        print(f"graded {student} in {seconds:.0f} s", flush=True)
    from nbgrader.api import Gradebook
    table = out / "grades.csv"
    with warnings.catch_warnings(), \
            Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        warnings.simplefilter("ignore")
        grade_ids = None
        with table.open("w", newline="") as fh:
            writer = csv.writer(fh)
            for student, seconds in rows:
                submission = gradebook.find_submission(sheet, student)
                grades = {g.name: g.score for nb in submission.notebooks
                          for g in nb.grades}
                if grade_ids is None:
                    grade_ids = list(grades)
                    writer.writerow(["student", "score", "max_score",
                                     *grade_ids, "seconds"])
                writer.writerow([student, f"{submission.score:g}",
                                 f"{submission.max_score:g}",
                                 *(f"{grades[g]:g}" for g in grade_ids),
                                 f"{seconds:.1f}"])
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_build = sub.add_parser("build", help="write the student notebooks")
    p_build.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p_grade = sub.add_parser("grade", help="grade a folder of submissions")
    p_grade.add_argument("sheet", help="sheet1 ... sheet5 (or 3 for sheet3)")
    p_grade.add_argument("submissions", type=Path)
    p_grade.add_argument("--out", type=Path, default=Path("grades"))
    p_grade.add_argument("--timeout", type=int, default=300,
                         help="seconds each cell may run (default 300)")
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            for path in build(args.out.resolve()):
                notebook = nbformat.read(path, as_version=4)
                print(f"wrote {path} ({len(exercises(notebook))} graded checks)")
        else:
            sheet = args.sheet if args.sheet.startswith("sheet") \
                else f"sheet{args.sheet}"
            table = grade(sheet, args.submissions.resolve(), args.out.resolve(),
                          args.timeout)
            print(f"wrote {table} and {table.parent / 'feedback'}/")
    except LabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
