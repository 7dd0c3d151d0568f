"""The execution-cache key (tools/cache_key.py): `make book` drops Jupyter's cache when it changes.

It must change when the package's code changes (stale outputs otherwise), and must not
change when only the tangler's provenance markers move, which happens whenever prose is
added above an exported cell (a full re-execution of the book otherwise).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODULE = '''"""A module."""

# %% book/03_mlp.md:L{line}
def f(x):
    return {body}
'''


def key(tmp_path: Path, line: int, body: str) -> str:
    (tmp_path / "tools").mkdir(exist_ok=True)
    (tmp_path / "nnfs").mkdir(exist_ok=True)
    shutil.copy(ROOT / "tools" / "cache_key.py", tmp_path / "tools" / "cache_key.py")
    (tmp_path / "nnfs" / "nn.py").write_text(MODULE.format(line=line, body=body))
    result = subprocess.run([sys.executable, str(tmp_path / "tools" / "cache_key.py")],
                            capture_output=True, text=True, check=True, timeout=120)
    return result.stdout.strip()


def test_key_ignores_moved_provenance_markers_but_not_code(tmp_path):
    base = key(tmp_path, 120, "x + 1")
    assert len(base) == 16
    assert key(tmp_path, 135, "x + 1") == base      # prose added above the cell
    assert key(tmp_path, 120, "x + 2") != base      # the code changed
