# The two set-up commands the README promises: `make demo` and `make test`.
# Both create their own virtual environment on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.edgepilot-installed

.PHONY: demo test clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[sim,test]'
# Type stubs for the TensorRT code's mypy check; --no-deps because they depend on the tensorrt
# package, which downloads TensorRT itself at install time (see tests/engines/tensorrt_stubs_for_mypy.py).
	$(PY) -m pip install --quiet --no-deps tensorrt-stubs==10.13.0.35.1
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/edgepilot demo

test: $(STAMP)
	$(PY) -m pytest

clean:
	rm -rf $(VENV) build *.egg-info
