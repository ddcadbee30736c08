# The README's commands. Each target sets up .venv first when it is missing
# or older than pyproject.toml, so a fresh clone needs nothing else.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test lint typecheck unit worker train bench constraints clean

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "newswire needs Python >= 3.11 (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)  ## the whole service on a private Redis, with example pages
	$(BIN)/newswire demo

test: lint typecheck  ## lint, types, then every test tier against a real Redis
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy config newswire worker producer

unit: $(STAMP)
	$(BIN)/pytest tests/unit

worker: $(STAMP)
	$(BIN)/newswire worker

train: $(STAMP)
	$(BIN)/newswire train

bench: $(STAMP)
	$(BIN)/python bench/classify.py

constraints: $(STAMP)  ## pin today's resolved versions (after changing pyproject.toml)
	{ sed -n '1,2p' constraints.txt; $(BIN)/pip freeze --exclude-editable; } > constraints.new
	mv constraints.new constraints.txt

clean:
	rm -rf $(VENV) .newswire .pytest_cache .mypy_cache .ruff_cache
