# MaintBot: `make run` serves the demo on http://127.0.0.1:8000, `make test` runs every test.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint format bench demo-data clean

$(BIN)/uv:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==0.13.9

# The service's pinned dependencies, then the package itself without re-resolving anything.
$(VENV)/.installed: requirements_microservice.txt pyproject.toml | $(BIN)/uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python -r requirements_microservice.txt
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $@

$(VENV)/.installed-dev: requirements-dev.txt $(VENV)/.installed
	$(BIN)/uv pip install --quiet --python $(BIN)/python -r requirements-dev.txt
	touch $@

run: $(VENV)/.installed
	$(BIN)/maintbot serve --host $(HOST) --port $(PORT)

test: $(VENV)/.installed-dev
	$(BIN)/pytest

lint: $(VENV)/.installed-dev
	$(BIN)/ruff format --check src tests bench
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

format: $(VENV)/.installed-dev
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

bench: $(VENV)/.installed-dev
	$(BIN)/python bench/http_latency.py --report bench/reports/http_latency.md
	$(BIN)/python bench/llm_latency.py --report bench/reports/llm_latency.md
	$(BIN)/python bench/chart_latency.py --report bench/reports/chart_latency.md
	$(BIN)/python bench/load.py --report bench/reports/load.md

demo-data: $(VENV)/.installed
	$(BIN)/maintbot demo-data data/maintenance_demo.sqlite3

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
