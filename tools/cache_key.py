#!/usr/bin/env python3
"""Print the key under which `make book` may reuse Jupyter's execution cache.

The cache keys each chapter on its own code only.  A chapter's outputs also
depend on the nnfs package it imports and on the installed libraries, so the
Makefile drops the cache whenever this key (a hash of nnfs/*.py and of
`pip freeze`) changes.

The tangler's provenance comments (``# %% book/02_xor.md:L1292``) are left out
of the hash: they move whenever a line of prose is added above an exported cell,
and a prose edit must not cost a full re-execution of the book.
"""

import hashlib
import re
import subprocess
import sys
from pathlib import Path

PROVENANCE = re.compile(rb"^# %% book/[^\n]*:L\d+$", re.M)

root = Path(__file__).resolve().parent.parent
digest = hashlib.sha256()
for path in sorted((root / "nnfs").glob("*.py")):
    digest.update(path.name.encode() + b"\0" + PROVENANCE.sub(b"", path.read_bytes()))
freeze = subprocess.run([sys.executable, "-m", "pip", "freeze", "--exclude-editable"], capture_output=True, check=True)
digest.update(freeze.stdout)
print(digest.hexdigest()[:16])
