"""Small helpers shared by the test modules (pytest puts this folder on sys.path)."""

from __future__ import annotations

import functools


def raised_by(info, module: str) -> bool:
    """Whether the exception captured in pytest's ExceptionInfo was raised by ``module``'s own code.

    Our errors must come from our validation, not from deep inside NumPy.
    """
    return info.traceback[-1].frame.f_globals["__name__"] == module


def raised_by_module(module: str):
    """``raises_here(info)`` for one module, as each test file uses it."""
    return functools.partial(raised_by, module=module)
