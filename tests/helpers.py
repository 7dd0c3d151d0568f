"""Small helpers shared by the test modules (pytest puts this folder on sys.path)."""

from __future__ import annotations

import functools

import numpy as np


def raised_by(info, module: str) -> bool:
    """Whether the exception captured in pytest's ExceptionInfo was raised by ``module``'s own code.

    Our errors must come from our validation, not from deep inside NumPy.
    """
    return info.traceback[-1].frame.f_globals["__name__"] == module


def raised_by_module(module: str):
    """``raises_here(info)`` for one module, as each test file uses it."""
    return functools.partial(raised_by, module=module)


def assert_each_names_itself(cases, module: str) -> None:
    """Every ``(description, call, words)`` in ``cases`` raises a TypeError or
    ValueError from ``module``'s own code whose message holds every word."""
    import pytest

    for description, call, words in cases:
        with pytest.raises((TypeError, ValueError)) as info:
            call()
        assert raised_by(info, module), (description, info.traceback[-1])
        for word in words:
            assert word in str(info.value), (description, str(info.value))


def numerical_grad(f, arr: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences of the scalar f() with respect to every entry of ``arr`` (perturbed in place)."""
    grad = np.zeros_like(arr, dtype=np.float64)
    for idx in np.ndindex(arr.shape):
        old = arr[idx]
        arr[idx] = old + eps
        f_plus = f()
        arr[idx] = old - eps
        f_minus = f()
        arr[idx] = old
        grad[idx] = (f_plus - f_minus) / (2 * eps)
    return grad


# The front matter of a MyST Markdown chapter, for the tests of the tools
# that read chapters (tangle, run_chapter, execute_parallel).
CHAPTER_FRONT_MATTER = """\
---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---
"""
