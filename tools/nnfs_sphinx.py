"""Sphinx extension for the book: what readers see of the tangler and of cell outputs.

**Directives.** The directives (``#| export`` and friends) tell ``tools/tangle.py`` where a
cell's code goes; they mean nothing to a reader.  After myst-nb has turned a
chapter into a doctree, this strips the leading directive lines from every
code cell's displayed source (and so from the copy button too).  A cell that
held nothing but directives loses its input box altogether.  The lab's
solution markers (``### BEGIN SOLUTION`` / ``### END SOLUTION``) go the same
way: in the book the solution is simply the code.

**The lab's sheets.** The pages under ``book/lab/`` describe the exercise
sheets with four directives that ``tools/lab.py`` turns into notebook cells
(``lab-code``, ``lab-solution``, ``lab-check``, ``lab-answer``).  On the site
they show what the student gets: the given code, the book's code with every
solution region replaced by its stub, the check that follows it, and the form
of a written answer.

**Offline outputs.** Matplotlib's JavaScript animation player (``to_jshtml``)
links Font Awesome 4 from a CDN for its button icons.  The book's theme already
ships Font Awesome 6, which draws the same icons (it still knows the v4 names),
so the CDN link is dropped: a page must not fetch anything from elsewhere to
look right, and a reader offline would otherwise see blank buttons.

**Colab.** The theme's Colab button opens the chapter's source file from the
repository, but Colab reads only ``.ipynb``.  It is pointed instead at the
chapter's notebook on the ``notebooks`` branch, which the deployment workflow
fills with ``tools/notebooks.py``.

**One search box.** With pydata-sphinx-theme 0.17 under sphinx-book-theme 1.3
the top bar shows a second search field beside the sidebar's; the theme option
that places it is emptied.  (Set here: an ``html_theme_options`` entry in
``_config.yml`` would replace the options Jupyter Book builds, not add to them.)
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import Directive, directives

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tangle import reader_view  # noqa: E402

import lab  # noqa: E402


def strip_directives(app, doctree: nodes.document) -> None:
    for container in list(doctree.findall(nodes.container)):
        if container.get("nb_element") != "cell_code_source":
            continue
        for block in list(container.findall(nodes.literal_block)):
            code = reader_view(block.astext())
            if code == block.astext():
                continue
            if code.strip():
                block.children = [nodes.Text(code)]
                block.rawsource = code
            else:
                container.parent.remove(container)
                break


CDN_ICON_FONT = re.compile(
    r"<link[^>]*href=\"https://maxcdn\.bootstrapcdn\.com/font-awesome/[^\"]*\"[^>]*>\s*", re.S)


def drop_cdn_icon_font(app, doctree: nodes.document) -> None:
    for raw in list(doctree.findall(nodes.raw)):
        if "html" in raw.get("format", "") and CDN_ICON_FONT.search(raw.astext()):
            html = CDN_ICON_FONT.sub("", raw.astext())
            raw.children = [nodes.Text(html)]
            raw.rawsource = html


COLAB_BRANCH = "notebooks"


def colab_from_notebooks_branch(app, pagename, templatename, context, doctree) -> None:
    for group in context.get("header_buttons", []):
        if group.get("label") != "launch-buttons":
            continue
        for button in group["buttons"]:
            if button.get("text") == "Colab":
                head, _, path = button["url"].partition("/blob/")
                path = path.split("/", 1)[1]   # drop the source branch
                button["url"] = f"{head}/blob/{COLAB_BRANCH}/{Path(path).with_suffix('.ipynb').as_posix()}"


def one_search_box(app, config) -> None:
    config.html_theme_options["navbar_persistent"] = []


def _code(text: str) -> nodes.literal_block:
    block = nodes.literal_block(text, text, language="python")
    block["classes"].append("lab-cell")
    return block


def _note(text: str) -> nodes.paragraph:
    para = nodes.paragraph()
    para += nodes.emphasis(text, text)
    return para


class LabCode(Directive):
    """Given code of a lab sheet."""

    has_content = True
    option_spec = {"editable": directives.flag}

    def run(self):
        return [_code("\n".join(self.content))]


class LabSolution(Directive):
    """The book's definitions as the student gets them: solutions stubbed."""

    required_arguments = 1
    final_argument_whitespace = True
    option_spec = {"id": directives.unchanged}

    def run(self):
        try:
            source, chapter = lab.book_source(self.arguments[0])
        except lab.LabError as exc:
            raise self.error(str(exc)) from None
        names = ", ".join(f"{n.split('.')[-1]}" for n in self.arguments[0].split())
        self.state.document.settings.record_dependencies.add(str(lab.ROOT / chapter))
        note = f"In the notebook: {names} from {chapter}, your parts replaced by stubs."
        return [_note(note), _code(lab.stub(source))]


class LabCheck(Directive):
    """A graded check cell."""

    has_content = True
    option_spec = {"exercise": directives.unchanged_required,
                   "points": directives.unchanged}

    def run(self):
        points = self.options.get("points", "1")
        note = (f"Check of Exercise {self.options.get('exercise', '?')} "
                f"({points} point{'s' if points != '1' else ''}):")
        return [_note(note), _code("\n".join(self.content))]


class LabAnswer(Directive):
    """A written answer, graded by hand: the form to fill in."""

    has_content = True
    option_spec = {"id": directives.unchanged_required,
                   "points": directives.unchanged}

    def run(self):
        box = nodes.admonition()
        title = f"Your answer ({self.options.get('points', '1')} points, graded by hand)"
        box += nodes.title(title, title)
        self.state.nested_parse(self.content, self.content_offset, box)
        return [box]


def setup(app):
    app.add_directive("lab-code", LabCode)
    app.add_directive("lab-solution", LabSolution)
    app.add_directive("lab-check", LabCheck)
    app.add_directive("lab-answer", LabAnswer)
    app.connect("config-inited", one_search_box)
    app.connect("html-page-context", colab_from_notebooks_branch, priority=600)
    app.connect("doctree-read", strip_directives)
    app.connect("doctree-read", drop_cdn_icon_font)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
