# Every target builds its own virtual environment on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench check format clean

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

check: $(STAMP)
	$(BIN)/ruff format --check reverie tests bench
	$(BIN)/ruff check reverie tests bench
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format reverie tests bench
	$(BIN)/ruff check --fix reverie tests bench

clean:
	rm -rf $(VENV) build *.egg-info
