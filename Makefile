# Every target builds its own virtual environment on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench bench-pixeltable check format clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m reverie.demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python -m bench

# Pixeltable in a venv of its own (never in .venv): bench/pixeltable_compare.py runs it in a
# child process; `make bench` includes the comparison whenever this venv exists.
PXT_VENV := .venv-pixeltable
$(PXT_VENV)/bin/python:
	$(PYTHON) -m venv $(PXT_VENV)
	$(PXT_VENV)/bin/pip install --quiet 'pixeltable==0.7.21'

bench-pixeltable: $(STAMP) $(PXT_VENV)/bin/python
	$(BIN)/python -m bench.pixeltable_compare --pxt-python $(PXT_VENV)/bin/python

check: $(STAMP)
	$(BIN)/ruff format --check reverie tests bench
	$(BIN)/ruff check reverie tests bench
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format reverie tests bench
	$(BIN)/ruff check --fix reverie tests bench

clean:
	rm -rf $(VENV) build *.egg-info
