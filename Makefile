# Two commands do all the set-up on a fresh machine with Python 3.11 and make:
#   make demo   # install (once), then digits -> train -> eval -> export -> classify
#   make test   # install (once), then the whole test suite
#   make notebook  # run slim_walkthrough.ipynb, render it to notebook_output/
# The virtual environment lives in .venv; it is (re)installed only when
# requirements.txt changes.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_WORKERS ?= 2

.PHONY: demo test lint clean-demo notebook

$(STAMP): requirements.txt
	@test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $(STAMP)

demo: $(STAMP)
	PYTHON=$(VPY) bash scripts/demo.sh

test: $(STAMP)
	$(VPY) -m pytest -q -n $(PYTEST_WORKERS) --durations=15 tests

# The walkthrough executed in a fresh kernel of the venv's Python (files go to
# a temporary directory), rendered to one HTML page with its pictures.
notebook: $(STAMP)
	$(VPY) scripts/run_notebook.py slim_walkthrough.ipynb \
	    --html=notebook_output/slim_walkthrough.html

lint: $(STAMP)
	$(VENV)/bin/ruff check .

clean-demo:
	rm -rf demo_output notebook_output
