"""Every module of the nnfs package imports on its own, and exports what it says.

The modules are discovered on disk, so a newly tangled chapter module is
tested without anyone adding it to a list.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_DIR = ROOT / "nnfs"


def _module_name(path: Path) -> str:
    return "nnfs" if path.stem == "__init__" else f"nnfs.{path.stem}"


MODULES = sorted(_module_name(p) for p in PACKAGE_DIR.glob("*.py"))
SUBMODULES = [m.split(".", 1)[1] for m in MODULES if m != "nnfs" and not m.startswith("nnfs._")]


def _run_fresh(code: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter that imports nnfs from this checkout."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_discovery_found_the_package():
    assert "nnfs" in MODULES
    assert "regression" in SUBMODULES


@pytest.mark.parametrize("name", MODULES)
def test_module_imports_in_fresh_interpreter(name):
    code = textwrap.dedent(
        f"""
        import pathlib, {name} as m
        assert pathlib.Path(m.__file__).resolve().is_relative_to({str(PACKAGE_DIR)!r}), m.__file__
        """
    )
    result = _run_fresh(code)
    assert result.returncode == 0, f"`import {name}` failed:\n{result.stderr}"


@pytest.mark.parametrize("name", MODULES)
def test_module_all_names_exist(name):
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{name} has no __all__"
    assert len(exported) == len(set(exported)), f"{name}.__all__ has duplicates"
    missing = [n for n in exported if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ names missing attributes: {missing}"


@pytest.mark.parametrize("sub", SUBMODULES)
def test_submodule_is_loaded_lazily(sub):
    code = textwrap.dedent(
        f"""
        import sys
        import nnfs
        assert "nnfs.{sub}" not in sys.modules, "imported eagerly by `import nnfs`"
        assert "{sub}" in dir(nnfs), dir(nnfs)
        assert "{sub}" in nnfs.__all__, nnfs.__all__
        m = nnfs.{sub}
        assert sys.modules["nnfs.{sub}"] is m
        assert m is nnfs.{sub}
        for n in getattr(m, "__all__", []):
            getattr(m, n)
        """
    )
    result = _run_fresh(code)
    assert result.returncode == 0, f"lazy access nnfs.{sub} failed:\n{result.stderr}"


def test_lazy_access_to_regression_api():
    code = textwrap.dedent(
        """
        import nnfs
        import numpy as np
        w = nnfs.regression.fit_least_squares(np.eye(2), np.array([1.0, 2.0]))
        assert np.allclose(w, [1.0, 2.0]), w
        """
    )
    result = _run_fresh(code)
    assert result.returncode == 0, result.stderr


def test_unknown_attribute_raises_attribute_error():
    import nnfs

    with pytest.raises(AttributeError, match="no_such_module"):
        nnfs.no_such_module  # noqa: B018
