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

MATHJAX := $(VENV)/mathjax/node_modules/mathjax
ACTION_VALIDATOR := $(VENV)/node-tools/node_modules/.bin/action-validator
PORT   ?= 8000
LAB_OUT := _build/lab
GRADES ?= grades

# $(call debian-packages,TEST,PACKAGES,WHAT): nothing if the shell command TEST succeeds; else
# install PACKAGES from Debian when we are root with apt-get (as on CI); else say what to install.
debian-packages = if { $(1); } >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing $(3) from Debian: $(2)"; \
		apt-get install -y -qq --no-install-recommends $(2) >/dev/null 2>&1 || \
			{ apt-get update -qq && apt-get install -y -qq --no-install-recommends $(2) >/dev/null; }; \
	else \
		echo "$(3) is missing: sudo apt install --no-install-recommends $(2)"; exit 1; \
	fi

# TeX Live from Debian for `make pdf` (xelatex, latexmk, and the packages the Jupyter Book
# LaTeX class loads: bbm comes with the extra fonts).
TEX_PACKAGES := latexmk texlive-xetex texlive-latex-extra texlive-fonts-recommended \
	texlive-fonts-extra texlive-science texlive-plain-generic fonts-freefont-otf
PDF    := _build/latex/nnfs-textbook.pdf

.PHONY: help lab grade book book-fresh pdf test test-site check-workflow serve notebooks chromium tex prepare tangle check bench data venv clean distclean

help:
	@echo "make book        build the book into $(HTML) (executes chapters; reuses the cache when nnfs/ is unchanged)"
	@echo "make book-fresh  build the book from scratch, executing every chapter (what CI runs)"
	@echo "make pdf         build the whole book as one PDF, $(PDF) (needs TeX Live; installed as root)"
	@echo "make lab         write the student notebooks of the lab sheets into $(LAB_OUT)/sheets"
	@echo "make grade SHEET=3 SUBMISSIONS=DIR   grade a folder of submitted notebooks (grades.csv, feedback/)"
	@echo "make test        check that nnfs/ matches the chapters, then run the test suite"
	@echo "make test-site   open every page of the built book in headless Chromium and check it (after make book)"
	@echo "make check-workflow  validate .github/workflows/*.yml against GitHub's workflow schema"
	@echo "make serve       serve the built book at http://localhost:$(PORT)/ (PORT=... to change)"
	@echo "make notebooks   write each chapter as a Colab-ready notebook into _build/notebooks"
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

# The lab: one student notebook per sheet (book/lab/sheet*.md), made by nbgrader from the
# chapters' solution regions; the book's Lab pages link them, so the book builds them first.
lab: $(VENV)/.installed-book
	$(PY) tools/lab.py build --out $(LAB_OUT)

# Grade a folder of submissions: make grade SHEET=3 SUBMISSIONS=path/to/folder [GRADES=grades]
grade: $(VENV)/.installed-book
	@test -n "$(SHEET)" -a -n "$(SUBMISSIONS)" || { echo "usage: make grade SHEET=3 SUBMISSIONS=folder-of-notebooks [GRADES=out-dir]"; exit 1; }
	$(PY) tools/lab.py grade $(SHEET) $(SUBMISSIONS) --out $(GRADES)

# Progress bars are for interactive use; the built pages stay clean.
book book-fresh pdf: export NNFS_PROGRESS = 0

# Tangle, then drop the execution cache if nnfs/ or the installed packages changed.
prepare: $(VENV)/.installed-book data
	$(PY) tools/tangle.py
	@mkdir -p _build
	@key=$$($(CACHE_KEY)) || exit 1; \
	if [ "$$(cat $(STAMP) 2>/dev/null)" != "$$key" ]; then \
		echo "nnfs/ or the installed packages changed since the last build: clearing the execution cache"; \
		rm -rf $(CACHE) _build/.doctrees; \
	fi

book: prepare lab
	$(JB) build . -W -n --keep-going
	@$(CACHE_KEY) > $(STAMP)
	@echo
	@echo "The book is built. Open $(CURDIR)/$(HTML)/index.html in a browser."

# book-fresh executes the chapters into the cache first, BUILD_WORKERS at a time with
# cores/BUILD_WORKERS BLAS threads each, longest first (tools/execute_parallel.py); the
# build then finds them there. Chapter 4 is left to the build, which executes it alone
# afterwards with all cores, because its pages are about timings and thread counts.
BUILD_WORKERS ?= 2
PARALLEL_CHAPTERS := book/06_projects.md book/05_transformer.md book/03_mlp.md \
	book/02_xor.md book/01_regression.md book/appendix_lab.md

book-fresh: $(VENV)/.installed-book data
	rm -rf _build
	$(PY) tools/tangle.py --check
	$(PY) tools/lab.py build --out $(LAB_OUT)
	$(PY) tools/execute_parallel.py --workers $(BUILD_WORKERS) $(PARALLEL_CHAPTERS)
	$(JB) build . -W -n --keep-going
	@mkdir -p _build && $(CACHE_KEY) > $(STAMP)
	@echo
	@echo "The book is built. Open $(CURDIR)/$(HTML)/index.html in a browser."

# The PDF shares the execution cache with the HTML build, so after `make book` it executes nothing.
pdf: prepare lab tex
	$(JB) build . --builder pdflatex -W -n --keep-going
	@$(CACHE_KEY) > $(STAMP)
	@test -f $(PDF) && echo "The PDF is at $(CURDIR)/$(PDF)"

tex:
	@$(call debian-packages,command -v xelatex && command -v latexmk && kpsewhich bbm.sty,$(TEX_PACKAGES),TeX Live for the PDF)

# The browser check needs Debian's chromium (installed here when we are root, as on CI)
# and, because CI is offline, a local MathJax to answer the pages' CDN requests.
chromium:
	@$(call debian-packages,command -v chromium,chromium fonts-liberation,Chromium for the browser check)

$(MATHJAX):
	@command -v npm >/dev/null || { echo "the browser check needs npm to fetch MathJax (apt install npm)"; exit 1; }
	npm install --silent --no-audit --no-fund --prefix $(VENV)/mathjax mathjax@3

test-site: $(VENV)/.installed-test chromium $(MATHJAX)
	@test -f $(HTML)/index.html || { echo "no built book in $(HTML): run make book first"; exit 1; }
	$(PY) tools/check_browser.py $(HTML) --mathjax $(MATHJAX) --screenshots _build/screenshots

# The deployment workflow cannot run here; check it against the workflow schema instead.
$(ACTION_VALIDATOR):
	@command -v npm >/dev/null || { echo "checking the workflow needs npm (apt install npm)"; exit 1; }
	npm install --silent --no-audit --no-fund --prefix $(VENV)/node-tools @action-validator/core@0.6 @action-validator/cli@0.6

check-workflow: $(ACTION_VALIDATOR)
	@for workflow in .github/workflows/*.yml; do $(ACTION_VALIDATOR) $$workflow || exit 1; echo "$$workflow: valid"; done

serve:
	@test -f $(HTML)/index.html || { echo "no built book in $(HTML): run make book first"; exit 1; }
	@echo "Serving the book at http://localhost:$(PORT)/ (Ctrl-C to stop)"
	$(PYTHON) -m http.server $(PORT) --bind 127.0.0.1 --directory $(HTML)

notebooks: $(VENV)/.installed-book
	$(PY) tools/notebooks.py --out _build/notebooks

clean:
	rm -rf _build

distclean: clean
	rm -rf $(VENV) *.egg-info
