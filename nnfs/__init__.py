"""nnfs: the package written by the book *Neural Networks from Scratch*.

Every module except this one is generated from the book's chapters by
``tools/tangle.py``; edit the chapter, not the module.  Submodules are imported
on first use, so ``import nnfs`` stays cheap and a module whose optional
dependencies are missing only fails when you ask for it::

    import nnfs
    w = nnfs.regression.fit_least_squares(X, t)

This file is hand-written (it has no tangler header), so the tangler never
overwrites it.
"""

from __future__ import annotations

import importlib
import pkgutil

__version__ = "0.1.0"

# The package's submodules, found on disk rather than listed by hand, so that a
# newly tangled chapter module is reachable as ``nnfs.<name>`` at once.
_SUBMODULES = frozenset(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))

__all__ = ["__version__", *sorted(_SUBMODULES)]


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _SUBMODULES)
