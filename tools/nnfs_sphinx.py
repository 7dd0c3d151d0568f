"""Sphinx extension for the book: hide the tangler's ``#|`` directives from readers.

The directives (``#| export`` and friends) tell ``tools/tangle.py`` where a
cell's code goes; they mean nothing to a reader.  After myst-nb has turned a
chapter into a doctree, this strips the leading directive lines from every
code cell's displayed source (and so from the copy button too).  A cell that
held nothing but directives loses its input box altogether.
"""

from __future__ import annotations

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


def setup(app):
    app.connect("doctree-read", strip_directives)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
