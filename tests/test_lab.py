"""Tests of the lab: the sheets (tools/lab.py), their checks (nnfs.lab) and grading.

The checks are tested like code (GUIDE §7).  For every graded exercise of every
sheet, the sheet's own cells run in-process three ways:

- with every solution region stubbed (the student's starting point): the check
  must report "not yet implemented";
- with the book's solutions: it must pass;
- with a planted typical mistake in the book's solution: it must fail, with a
  message that names the mistake.

Then the real thing: ``tools/lab.py build`` makes the notebooks with nbgrader,
every student notebook runs top to bottom in a fresh kernel, every solution
notebook passes its hidden tests, and ``tools/lab.py grade`` scores four
submissions of sheet 3 (the solution, the stub, a planted mistake, one that hangs).
"""

from __future__ import annotations

import __future__
import csv
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import lab as labtool  # noqa: E402
import tangle  # noqa: E402

from nnfs import lab  # noqa: E402

pytestmark = pytest.mark.lab

SHEETS = {path.stem: labtool.read_sheet(path)[1] for path in labtool.sheets()}

# Experiments that train for long are run with the book's solutions by the
# notebook tests below, not once more here.
SLOW = {"3.9", "5.8"}

# (exercise, solution cell, book code, planted mistake, words the report must contain);
# a mistake that changes several lines gives tuples of old and new code.
MISTAKES = [
    ("1.1", "polynomial_features", "np.arange(degree + 1)", "np.arange(degree + 1)[::-1]",
     "columns reversed"),
    ("1.2", "fit_least_squares", "if lam > 0:", "if False:", "without the penalty"),
    ("1.3", "rms_error", "np.sqrt(np.mean((y - t) ** 2))", "np.mean((y - t) ** 2)",
     "without the square root"),
    ("1.4", "gradient_descent", "(X_B @ w - t_B) / len(t_B)", "(X_B @ w - t_B)",
     "without dividing the gradient by the batch size"),
    ("1.5", "rms_error", "np.sqrt(np.mean((y - t) ** 2))", "np.mean((y - t) ** 2)",
     "training and test errors"),
    ("2.1", "Value", "other.grad += out.grad", "other.grad = out.grad",
     "collect both contributions"),
    ("2.1", "Value", "self.grad += other.data * out.grad", "self.grad += self.data * out.grad",
     "gradients of a * b"),
    ("2.2", "Value", "self.grad += out.grad / self.data", "self.grad += out.grad * self.data",
     "gradients of a.log()"),
    ("2.3", "Value", "self.grad += (1 - out.data**2) * out.grad",
     "self.grad += (1 - self.data**2) * out.grad", "gradients of a.tanh()"),
    ("2.4", "Value", "            node.grad = 0.0\n", "            pass\n",
     "keeping the old gradients"),
    ("2.4", "Value", "        self.grad = 1.0\n", "", "every gradient is 0"),
    ("2.5", "train_xor", "delta2 = err / N", "delta2 = err", "without dividing by N"),
    ("2.6", "train_xor", "delta2 = err / N", "delta2 = err", "runs solved XOR"),
    ("3.1", "Linear", "        out += self.bias.data\n", "", "without the bias"),
    ("3.2", "Linear", "self.weight.grad += self.x.T @ grad_out",
     "self.weight.grad += self.x.T @ grad_out / len(grad_out)",
     "weight.grad has the right shape but is off by a factor of 0.2 (= 1/N, the batch size)"),
    ("3.2", "Linear", "grad_out.sum(axis=0)", "grad_out.mean(axis=0)",
     "bias.grad has the right shape but is off by a factor of 0.2 (= 1/N"),
    ("3.2", "Linear", "grad_out @ self.weight.data.T", "grad_out @ self.weight.data",
     "without the transpose of weight"),
    ("3.2", "Linear", "self.weight.grad += self.x.T @ grad_out",
     "self.weight.grad += grad_out.T @ self.x", "is the transpose of what it should be"),
    ("3.2", "Linear", "self.weight.grad += self.x.T", "self.weight.grad = self.x.T",
     "use += so that gradients accumulate"),
    ("3.3", "ReLU", "return grad_out * self.mask", "return self.mask", "mask alone"),
    ("3.4", "SoftmaxCrossEntropy", "shifted = logits - logits.max(axis=1, keepdims=True)",
     "shifted = logits", "overflows"),
    ("3.5", "SoftmaxCrossEntropy", "grad_out / len(grad)", "grad_out",
     "off by a factor of 6 (= N, the batch size)"),
    ("3.6", "SGD", "v *= mu", "v *= 0.0", "without momentum"),
    ("3.7", "Adam", ("step_size = lr / (1 - b1**self.t)",
                     "root_correction = math.sqrt(1 - b2**self.t)"),
     ("step_size = lr", "root_correction = 1.0"), "without the bias correction"),
    ("3.8", "fit", "            optimizer.zero_grad()\n", "", "zero_grad"),
    ("3.9", "Adam", "p.data -= update", "p.data += update",
     "one step with your code differs from the book's"),
    ("4.1", "model_to", "p.grad = xp.zeros_like(p.data)", "p.grad = p.grad",
     "not zero after the move"),
    ("4.2", "_bias_relu_kernel", "v = x[row, col] + b[col]", "v = x[row, col]",
     "without the bias"),
    ("4.2", "_bias_relu_kernel", "if row < x.shape[0] and col < x.shape[1]:", "if True:",
     "raised IndexError"),
    ("4.3", "_matmul_naive_kernel", "for k in range(A.shape[1]):",
     "for k in range(A.shape[1] - 1):", "differs from the reference"),
    ("4.4", "_matmul_tiled_kernel", "for k in range(TILE):", "for k in range(TILE - 1):",
     "differs from the reference"),
    ("4.5", "_matmul_naive_kernel", "for k in range(A.shape[1]):",
     "for k in range(A.shape[1] - 1):", "the naive kernel"),
    ("5.1", "softmax_backward", "    out -= p * s\n", "", "without the term"),
    ("5.2", "MultiHeadAttention", "        scores *= self.scale\n", "", "without the 1/√d scale"),
    ("5.3", "MultiHeadAttention", "        d_scores *= self.scale\n", "",
     "without the 1/√d scale in the backward pass"),
    ("5.4", "LayerNorm", "out = xc * self.gamma.data\n        out += self.beta.data",
     "out = xc.copy()", "without gamma and beta"),
    ("5.5", "LayerNorm", "(g - _row_sum(g) / d", "(g", "without the mean of g"),
    ("5.6", "GELU", "return grad_out * d", "return d", "without multiplying by grad_out"),
    ("5.7", "Block", "x = x + self.attn(self.ln1(x))", "x = self.attn(self.ln1(x))",
     "without the first residual connection"),
    ("5.7", "Block", "g = grad_out + self.ln2.backward", "g = self.ln2.backward",
     "without passing the gradient through the residual"),
    ("5.8", "Block", "g = grad_out + self.ln2.backward", "g = self.ln2.backward",
     "one step with your code differs from the book's"),
]


def _checks() -> list[tuple[str, str]]:
    return [(sheet, part.options["exercise"]) for sheet, parts in SHEETS.items()
            for part in parts if part.kind == "lab-check"]


def run_check(sheet: str, number: str, edit=None, stubbed: bool = False) -> lab.Report:
    """Run a sheet's cells in one namespace and return exercise ``number``'s report.

    Every code and solution cell runs (the book's solution, a stub if ``stubbed``,
    or ``edit(cell_id, solution)``); of the checks, only ``number``'s.  A check
    cell runs its ``lab.`` lines: sheet 2's W&B logger is exercised by the
    notebook tests, and here stands in as None.
    """
    parts = SHEETS[sheet]
    future = any("from __future__ import annotations" in p.text for p in parts)
    flags = __future__.annotations.compiler_flag if future else 0
    namespace: dict = {"__name__": f"lab_{sheet}", "logger": None}

    def execute(code: str, name: str) -> None:
        exec(compile(code, f"<{sheet}: {name}>", "exec", flags=flags, dont_inherit=True),
             namespace)

    lab.RESULTS.pop(number, None)
    for part in parts:
        if part.kind == "lab-code":
            execute(part.text, "given code")
        elif part.kind == "lab-solution":
            source, _ = labtool.book_source(part.argument)
            code = labtool.stub(source) if stubbed else labtool.solution(source)
            if edit is not None:
                code = edit(labtool.solution_id(part), code)
            execute(code, labtool.solution_id(part))
        elif part.kind == "lab-check" and part.options["exercise"] == number:
            lines = [ln for ln in part.text.split("\n") if ln.startswith("lab.")]
            execute("\n".join(lines), f"check {number}")
    return lab.RESULTS[number]


@pytest.mark.parametrize("sheet,number", _checks())
def test_check_reports_a_stub_as_not_yet_implemented(sheet, number, capsys):
    report = run_check(sheet, number, stubbed=True)
    assert report.status == "todo", str(report)
    assert "not yet implemented" in report.message
    assert "your code goes here" in report.message     # the stub's own words
    assert "Traceback" not in capsys.readouterr().out


@pytest.mark.parametrize("sheet,number", [c for c in _checks() if c[1] not in SLOW])
def test_check_passes_the_book_solution(sheet, number):
    report = run_check(sheet, number)
    assert report.passed, str(report)


@pytest.mark.parametrize("number,cell,old,new,words", MISTAKES,
                         ids=[f"{m[0]}-{str(m[3])[:30]}" for m in MISTAKES])
def test_check_names_a_planted_mistake(number, cell, old, new, words):
    sheet = f"sheet{number.split('.')[0]}"

    def plant(cell_id: str, code: str) -> str:
        if cell_id != cell:
            return code
        pairs = zip(old, new) if isinstance(old, tuple) else [(old, new)]
        for before, after in pairs:
            assert code.count(before) == 1, f"{before!r} is not once in the book's {cell}"
            code = code.replace(before, after)
        return code

    report = run_check(sheet, number, edit=plant)
    assert report.status == "failed", str(report)
    assert words in report.message, str(report)


def test_every_exercise_has_a_planted_mistake():
    numbers = {number for _, number in _checks()}
    assert numbers == {m[0] for m in MISTAKES}


def test_at_least_25_exercises_across_five_sheets():
    """Experiments not counted: an exercise is a check of code the student writes."""
    assert sorted(SHEETS) == [f"sheet{k}" for k in range(1, 6)]
    checks = [p for parts in SHEETS.values() for p in parts if p.kind == "lab-check"]
    numbers = [p.options["exercise"] for p in checks]
    written = [p for p in checks if "lab.check_" in p.text]
    assert len(written) >= 25, len(written)
    assert len(numbers) == len(set(numbers))


# ---------------------------------------------------------------------------
# One source: the tangler, the stubs, the markers
# ---------------------------------------------------------------------------


def test_stub_is_nbgraders_and_names_the_function():
    source = textwrap.dedent('''
        class A:
            def f(self, x):
                y = x
                ### BEGIN SOLUTION
                return y + 1
                ### END SOLUTION

        def g():
            ### BEGIN SOLUTION
            return 2
            ### END SOLUTION
        ''').strip("\n") + "\n"
    plain = labtool.stub(source, named=False)
    assert "    # YOUR CODE HERE\n        raise NotImplementedError()" in plain
    assert "return y + 1" not in plain and "return 2" not in plain
    named = labtool.stub(source)
    assert 'raise NotImplementedError("A.f: your code goes here")' in named
    assert 'raise NotImplementedError("g: your code goes here")' in named
    assert labtool.solution(source) == tangle.strip_solution_markers(source)


def test_a_long_stub_message_is_wrapped_to_the_page_column():
    name = "ALongClassName"   # one line would be 91 characters
    source = (f"class {name}:\n    def a_long_method_name(self):\n"
              "        ### BEGIN SOLUTION\n        return 1\n"
              "        ### END SOLUTION\n")
    named = labtool.stub(source)
    assert max(map(len, named.split("\n"))) <= tangle.MAX_CODE_WIDTH
    assert (f'        raise NotImplementedError(\n            "{name}.'
            'a_long_method_name: your code goes here")') in named
    compile(named, "stub", "exec")


@pytest.mark.parametrize("source,message", [
    ("### BEGIN SOLUTION\nx = 1\n", "never closed"),
    ("x = 1\n### END SOLUTION\n", "without a '### BEGIN SOLUTION'"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\nx\n### END SOLUTION\n", "inside another"),
    ("### BEGIN SOLUTION\n### END SOLUTION\n", "empty solution region"),
])
def test_malformed_solution_regions_are_refused(source, message):
    with pytest.raises(ValueError, match=message):
        tangle.solution_regions(source)


def test_the_package_has_no_solution_markers_and_the_book_shows_none():
    for module in (ROOT / "nnfs").glob("*.py"):
        assert "BEGIN SOLUTION" not in module.read_text(), module
    marked = "#| export\ndef f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\n"
    assert tangle.reader_view(marked) == "def f():\n    return 1\n"


def test_every_marked_definition_is_on_a_sheet():
    """A solution region that no sheet offers would be dead weight in the chapters."""
    offered = set()
    for parts in SHEETS.values():
        for part in parts:
            if part.kind == "lab-solution":
                first, *more = part.argument.split()
                module = first.rsplit(".", 1)[0]
                offered |= {first, *(f"{module}.{name}" for name in more)}
    marked = {f"nnfs.{module}.{name}" for module in tangle.collect(ROOT)
              for name, (text, _) in labtool._definitions(module).items()
              if tangle.solution_regions(text)}
    assert marked <= offered, marked - offered
    assert all(tangle.solution_regions(labtool.book_source(spec)[0])
               for parts in SHEETS.values() for spec in
               [p.argument for p in parts if p.kind == "lab-solution"])


def test_notebook_markdown_has_no_myst_roles():
    page = ROOT / "book" / "lab" / "sheet3.md"
    text = labtool.plain_markdown("see {doc}`../03_mlp` and {eq}`eq-x`, "
                                  "{download}`sheet3.ipynb </_build/x.ipynb>`", page)
    assert text == ("see *A multi-layer perceptron from scratch* and equation (eq-x), "
                    "sheet3.ipynb")


# ---------------------------------------------------------------------------
# The real pipeline: nbgrader, fresh kernels, grading
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("lab")
    subprocess.run([sys.executable, "tools/lab.py", "build", "--out", str(out)], cwd=ROOT,
                   check=True, capture_output=True, text=True)
    return out


def _execute(path: Path, cwd: Path) -> nbformat.NotebookNode:
    from nbclient import NotebookClient
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(cwd)}}).execute()
    return notebook


def _printed(notebook) -> str:
    return "\n".join(o.get("text", "") for c in notebook.cells for o in c.get("outputs", [])
                     if o.get("name") == "stdout")


def test_student_notebooks_hold_no_solutions(built):
    for k in range(1, 6):
        notebook = nbformat.read(built / "sheets" / f"sheet{k}.ipynb", as_version=4)
        text = "\n".join(c.source for c in notebook.cells)
        for leaked in ("BEGIN SOLUTION", "HIDDEN TESTS", "lab.require"):
            assert leaked not in text, (k, leaked)
        stubs = [c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("solution")
                 and c.cell_type == "code"]
        assert stubs and all("your code goes here" in c.source for c in stubs)
    sheet3 = (built / "sheets" / "sheet3.ipynb").read_text()
    assert "self.x.T @ grad_out" not in sheet3 and "v *= mu" not in sheet3


@pytest.mark.parametrize("k", range(1, 6))
def test_student_notebook_runs_in_its_stub_state(built, k, tmp_path):
    notebook = _execute(built / "sheets" / f"sheet{k}.ipynb", tmp_path)
    printed = _printed(notebook)
    assert "[TO DO]" in printed and "[PASSED]" not in printed and "[FAILED]" not in printed


@pytest.mark.parametrize("k", [1, 2, 4, 5])   # sheet 3's solution runs in the grading test
def test_solution_notebook_passes_every_hidden_test(built, k, tmp_path):
    notebook = _execute(built / "course" / "source" / f"sheet{k}" / f"sheet{k}.ipynb", tmp_path)
    printed = _printed(notebook)
    assert "[TO DO]" not in printed and "[FAILED]" not in printed
    assert printed.count("[PASSED]") == len(labtool.exercises(notebook))


def _filled(built: Path, edit=None) -> nbformat.NotebookNode:
    """Sheet 3's student notebook with the book's solutions typed in (and edited)."""
    source = nbformat.read(built / "course" / "source" / "sheet3" / "sheet3.ipynb", 4)
    originals = {c.metadata["nbgrader"]["grade_id"]: c.source for c in source.cells
                 if "nbgrader" in c.metadata}
    notebook = nbformat.read(built / "sheets" / "sheet3.ipynb", 4)
    for cell in notebook.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.metadata.get("nbgrader", {}).get("solution"):
            cell.source = labtool.solution(originals[grade_id])
            if edit is not None:
                cell.source = edit(grade_id, cell.source)
    return notebook


def test_grading_submissions_of_sheet_3(built, tmp_path):
    """The solution, the untouched stub, a planted mistake, and one that hangs."""
    submissions = tmp_path / "submitted"
    submissions.mkdir()
    nbformat.write(_filled(built), submissions / "solution.ipynb")
    (submissions / "stub").mkdir()
    nbformat.write(nbformat.read(built / "sheets" / "sheet3.ipynb", 4),
                   submissions / "stub" / "sheet3.ipynb")

    def average(grade_id, code):
        old = "self.weight.grad += self.x.T @ grad_out"
        return code.replace(old, old + " / len(grad_out)") if grade_id == "Linear" else code
    nbformat.write(_filled(built, average), submissions / "mistake.ipynb")

    def hang(grade_id, code):               # a step that never returns: the time limit
        old = "        for k, p in enumerate(self.params):"
        return code.replace(old, "        while True:\n            pass\n" + old) \
            if grade_id == "SGD" else code
    nbformat.write(_filled(built, hang), submissions / "hangs.ipynb")

    out = tmp_path / "grades"
    result = subprocess.run([sys.executable, "tools/lab.py", "grade", "3", str(submissions),
                             "--out", str(out), "--timeout", "30"],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    with (out / "grades.csv").open() as table:
        rows = {row["student"]: row for row in csv.DictReader(table)}
    assert set(rows) == {"solution", "stub", "mistake", "hangs"}
    assert float(rows["solution"]["score"]) == float(rows["solution"]["max_score"]) == 20
    assert float(rows["stub"]["score"]) == 0
    # Linear.backward's 3 points are lost, and so are the experiment's 4: its first
    # training step differs from the book's, so it stops before training.
    assert float(rows["mistake"]["score"]) == 13
    assert float(rows["mistake"]["exercise-3_2"]) == float(rows["mistake"]["exercise-3_9"]) == 0
    # The cell that hangs is interrupted after 30 s; the rest of the notebook is graded.
    assert float(rows["hangs"]["exercise-3_6"]) == 0 and float(rows["hangs"]["score"]) == 18
    for student, row in rows.items():
        assert float(row["seconds"]) <= 60, (student, row["seconds"])
        assert (out / "feedback" / f"{student}.html").exists()
    feedback = (out / "feedback" / "mistake.txt").read_text()
    assert "off by a factor of 0.2 (= 1/N, the batch size)" in feedback
    assert "not yet implemented" in (out / "feedback" / "stub.txt").read_text()


def test_grade_refuses_what_it_cannot_grade(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    (tmp_path / "two").mkdir()
    for name in ("a.ipynb", "b.ipynb"):
        (tmp_path / "two" / name).write_text("{}")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "group one.ipynb").write_text("{}")
    for args, message in ((["9", str(empty)], "no sheet 'sheet9'"),
                          (["3", str(tmp_path / "missing")], "is not a folder"),
                          (["3", str(empty)], "holds no .ipynb submissions"),
                          (["3", str(tmp_path)], "several notebooks and none is sheet3.ipynb"),
                          (["3", str(bad)], "rename ['group one']")):
        assert labtool.main(["grade", *args, "--out", str(tmp_path / "g")]) == 2
        assert message in capsys.readouterr().err
