"""Sphinx extension for the book: what readers see of the tangler and of cell outputs.

**Directives.** The directives (``#| export`` and friends) tell ``tools/tangle.py`` where a
cell's code goes; they mean nothing to a reader.  After myst-nb has turned a
chapter into a doctree, this strips the leading directive lines from every
code cell's displayed source (and so from the copy button too).  A cell that
held nothing but directives loses its input box altogether.

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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tangle import split_directives  # noqa: E402


def strip_directives(app, doctree: nodes.document) -> None:
    for container in list(doctree.findall(nodes.container)):
        if container.get("nb_element") != "cell_code_source":
            continue
        for block in list(container.findall(nodes.literal_block)):
            directives, code, _ = split_directives(block.astext())
            if not directives:
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


def setup(app):
    app.connect("config-inited", one_search_box)
    app.connect("html-page-context", colab_from_notebooks_branch, priority=600)
    app.connect("doctree-read", strip_directives)
    app.connect("doctree-read", drop_cdn_icon_font)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
