# The README's two commands: `make run` and `make test`. Everything else here
# is what they need, plus a few conveniences for developers.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: run test install install-dev lint format sample-data bench clean

run: install  ## create the venv, load the demo town, serve on http://127.0.0.1:5000
	$(BIN)/zugabe init
	$(BIN)/zugabe demo --source sample_data
	$(BIN)/zugabe serve

test: install-dev  ## lint and run the whole test suite
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@ $(VENV)/.installed

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

sample-data: install  ## regenerate sample_data/ (deterministic)
	$(BIN)/python -m zugabe.demo.town sample_data

clean:
	rm -rf $(VENV) instance .pytest_cache
