# Two commands for a fresh clone:  `make book`  and  `make test`.
# Everything runs inside .venv, which the first command creates.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
JB     := $(BIN)/jupyter-book
HTML   := _build/html
# The execution cache keys on each chapter's code, not on nnfs/. We record a hash
# of the package next to the cache and drop the cache when the package changed.
# (Computed by the shell when the line runs, i.e. after tangling.)
NNFS_HASH := cat nnfs/*.py | sha256sum | cut -c1-16
CACHE  := _build/.jupyter_cache
STAMP  := _build/.nnfs-hash

.PHONY: help book book-fresh test tangle check bench venv clean distclean

help:
	@echo "make book        build the book into $(HTML) (executes chapters; reuses the cache when nnfs/ is unchanged)"
	@echo "make book-fresh  build the book from scratch, executing every chapter (what CI runs)"
	@echo "make test        check that nnfs/ matches the chapters, then run the test suite"
	@echo "make tangle      regenerate nnfs/ from the chapters"
	@echo "make bench       run the benchmarks in benchmarks/ (not part of the tests)"
	@echo "make clean       remove the built site and the execution cache"

$(PY):
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

bench: $(VENV)/.installed-test
	@for script in benchmarks/bench_*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

book: $(VENV)/.installed-book
	$(PY) tools/tangle.py
	@mkdir -p _build
	@if [ "$$(cat $(STAMP) 2>/dev/null)" != "$$($(NNFS_HASH))" ]; then \
		echo "nnfs/ changed since the last build: clearing the execution cache"; \
		rm -rf $(CACHE); \
	fi
	$(JB) build . -W -n --keep-going
	@$(NNFS_HASH) > $(STAMP)
	@echo
	@echo "The book is built. Open $(CURDIR)/$(HTML)/index.html in a browser."

book-fresh: $(VENV)/.installed-book
	rm -rf _build
	$(PY) tools/tangle.py --check
	$(JB) build . -W -n --keep-going
	@mkdir -p _build && $(NNFS_HASH) > $(STAMP)
	@echo
	@echo "The book is built. Open $(CURDIR)/$(HTML)/index.html in a browser."

clean:
	rm -rf _build

distclean: clean
	rm -rf $(VENV) *.egg-info
