# imagedeid -- quick start: `make demo`, then `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The header engine's hot modules, compiled with mypyc next to their sources (setup.py).
BUILT := $(VENV)/.compiled
ENGINE_SOURCES := $(wildcard src/imagedeid/dicom/*.py src/imagedeid/text/*.py src/imagedeid/pseudonym/*.py)

.PHONY: setup build build-deps system-deps demo test lint typecheck layers unit bench bench-pixels clean

$(STAMP): pyproject.toml setup.py tools/mypyc.ini | build-deps
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "imagedeid needs Python >= 3.11 (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev,ocr,tesseract,codecs]"
	@touch $@ $(BUILT)

# After an edit to an engine module: recompile, so that Python does not import the old
# extension (tests/conftest.py refuses to run against one). IMAGEDEID_PURE_PYTHON=1
# removes the extensions instead.
$(BUILT): $(STAMP) $(ENGINE_SOURCES)
	@if [ -n "$$IMAGEDEID_PURE_PYTHON" ]; then find src -name '*.so' -delete; \
	else $(PY) setup.py -q build_ext --inplace --force >/dev/null; fi
	@touch $@

# Byte-compile the package as a wheel install would: with PYTHONDONTWRITEBYTECODE set
# (as here), every run would otherwise compile each module from source (~40 ms a run).
# Quick when nothing changed; a stale .pyc is never used (Python checks the source).
setup: $(STAMP) $(BUILT)
	@$(PY) -m compileall -q src/imagedeid >/dev/null

build: $(BUILT)

# A C compiler and Python's headers compile the engine (setup.py); without them it
# installs as pure Python, slower.
build-deps:
	@{ command -v gcc && test -e "$$($(PYTHON) -c 'import sysconfig; print(sysconfig.get_paths()["include"])')/Python.h"; \
		} >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq gcc python3-dev >/dev/null; }

# dicom3tools (dciodvfy) validates outputs in the tests; tesseract is the second OCR
# engine; DejaVu fonts draw the synthetic burned-in test images.
SYSTEM_PACKAGES := dicom3tools tesseract-ocr tesseract-ocr-eng fonts-dejavu-core
system-deps:
	@{ command -v dciodvfy && command -v tesseract && \
		test -e /usr/share/tesseract-ocr/5/tessdata/eng.traineddata && \
		test -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf; } >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(SYSTEM_PACKAGES) >/dev/null; }

demo: setup system-deps
	$(PY) tools/demo.py

lint: setup
	$(VENV)/bin/ruff check src tests tools benchmarks

typecheck: setup
	$(VENV)/bin/mypy

layers: setup
	$(VENV)/bin/lint-imports

unit: setup system-deps
	$(VENV)/bin/pytest -q

test: lint typecheck layers unit

bench: setup
	PRESIDIO=0 bash benchmarks/setup_peers.sh
	$(PY) benchmarks/run_bench.py

# Clean Pixel Data: synthetic + real burned-in files, side by side with Presidio.
bench-pixels: setup system-deps
	PRESIDIO_ONLY=1 bash benchmarks/setup_peers.sh
	$(PY) benchmarks/run_pixel_bench.py

clean:
	rm -rf $(VENV) demo build .pytest_cache .mypy_cache .ruff_cache
	find src -name '*.so' -delete
	find src -name __pycache__ -prune -exec rm -rf {} +
