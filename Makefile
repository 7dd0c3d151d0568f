# Two commands for a fresh clone:  `make book`  and  `make test`.
# Everything runs inside .venv, which the first command creates.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
JB     := $(BIN)/jupyter-book
HTML   := _build/html
# The execution cache keys on each chapter's code, not on nnfs/ or the installed
# libraries. tools/cache_key.py hashes both; the key is stored next to the cache
# and the cache is dropped when it changes, together with Sphinx's saved doctrees,
# so that unchanged chapters are read and executed again too. (Run by the shell after tangling.)
CACHE_KEY := $(PY) tools/cache_key.py
CACHE  := _build/.jupyter_cache
STAMP  := _build/.nnfs-hash

.PHONY: help book book-fresh test tangle check bench data venv clean distclean

help:
	@echo "make book        build the book into $(HTML) (executes chapters; reuses the cache when nnfs/ is unchanged)"
	@echo "make book-fresh  build the book from scratch, executing every chapter (what CI runs)"
	@echo "make test        check that nnfs/ matches the chapters, then run the test suite"
	@echo "make tangle      regenerate nnfs/ from the chapters"
	@echo "make bench       run the benchmarks in benchmarks/ (not part of the tests)"
	@echo "make data        make Fashion-MNIST available (found on disk, Debian package, or download)"
	@echo "make clean       remove the built site and the execution cache"

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "nnfs-textbook needs Python >= 3.11, but $(PYTHON) is " + sys.version.split()[0] + "; run e.g. make PYTHON=python3.12")'
	@$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || { echo "$(PYTHON) cannot create virtual environments: install its venv module (Debian/Ubuntu: apt install python3-venv)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=24"

# One stamp per extra, re-made when pyproject.toml changes.
$(VENV)/.installed-%: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e ".[$*]"
	@touch $@

venv: $(VENV)/.installed-book $(VENV)/.installed-test

tangle: $(VENV)/.installed-test
	$(PY) tools/tangle.py

check: $(VENV)/.installed-test
	$(PY) tools/tangle.py --check

test: $(VENV)/.installed-test check
	$(PY) -m pytest

# Fashion-MNIST for Chapter 3: already on disk, else the Debian package (when we are root
# and apt-get exists, as on CI), else nnfs.data downloads it (needs internet).
data: $(VENV)/.installed-book
	@if $(PY) -c 'from nnfs.data import load_fashion_mnist; load_fashion_mnist(download=False)' 2>/dev/null; then \
		echo "Fashion-MNIST: found"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "Fashion-MNIST: installing the Debian package dataset-fashion-mnist"; \
		apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1 || \
			{ apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist >/dev/null; }; \
	fi
	@$(PY) -c 'from nnfs.data import load_fashion_mnist; load_fashion_mnist()'

bench: $(VENV)/.installed-test
	@for script in benchmarks/bench_*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

# Progress bars are for interactive use; the built pages stay clean.
book book-fresh: export NNFS_PROGRESS = 0

book: $(VENV)/.installed-book data
	$(PY) tools/tangle.py
	@mkdir -p _build
	@key=$$($(CACHE_KEY)) || exit 1; \
	if [ "$$(cat $(STAMP) 2>/dev/null)" != "$$key" ]; then \
		echo "nnfs/ or the installed packages changed since the last build: clearing the execution cache"; \
		rm -rf $(CACHE) _build/.doctrees; \
	fi
	$(JB) build . -W -n --keep-going
	@$(CACHE_KEY) > $(STAMP)
	@echo
	@echo "The book is built. Open $(CURDIR)/$(HTML)/index.html in a browser."

book-fresh: $(VENV)/.installed-book data
	rm -rf _build
	$(PY) tools/tangle.py --check
	$(JB) build . -W -n --keep-going
	@mkdir -p _build && $(CACHE_KEY) > $(STAMP)
	@echo
	@echo "The book is built. Open $(CURDIR)/$(HTML)/index.html in a browser."

clean:
	rm -rf _build

distclean: clean
	rm -rf $(VENV) *.egg-info
