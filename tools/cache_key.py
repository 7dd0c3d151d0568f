#!/usr/bin/env python3
"""Print the key under which `make book` may reuse Jupyter's execution cache.

The cache keys each chapter on its own code only.  A chapter's outputs also
depend on the nnfs package it imports and on the installed libraries, so the
Makefile drops the cache whenever this key (a hash of nnfs/*.py and of
`pip freeze`) changes.
"""

import hashlib
import subprocess
import sys
from pathlib import Path

root = Path(__file__).resolve().parent.parent
digest = hashlib.sha256()
for path in sorted((root / "nnfs").glob("*.py")):
    digest.update(path.name.encode() + b"\0" + path.read_bytes())
freeze = subprocess.run([sys.executable, "-m", "pip", "freeze", "--exclude-editable"], capture_output=True, check=True)
digest.update(freeze.stdout)
print(digest.hexdigest()[:16])
