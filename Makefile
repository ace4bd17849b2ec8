# mmsniper developer commands. `make help` lists them.
PY ?= .venv/bin/python
PYTEST_ARGS ?=

.PHONY: help setup test lint demo clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*##/\t/'

setup:  ## create .venv and install the whole stack (idempotent; first run builds mmcv, ~15 min)
	bash tools/setup_env.sh

test: setup  ## set up if needed, then lint and run the whole test suite on the CPU
	$(PY) -m ruff check .
	$(PY) -m pytest tests $(PYTEST_ARGS)

lint:  ## ruff only
	$(PY) -m ruff check .

clean:  ## remove build outputs (keeps .venv and data)
	rm -rf build dist *.egg-info mmsniper/.mim .pytest_cache .hypothesis
