# NGRL data platform. Two commands: `make demo` and `make test`.
SHELL := /bin/bash
UV_VERSION := 0.13.9
UV := $(shell command -v uv 2>/dev/null || echo $(CURDIR)/.tools/bin/uv)

export NGRL_LAKE_URI ?= $(CURDIR)/.ngrl/lake
export DAGSTER_HOME ?= $(CURDIR)/.ngrl/dagster
export GX_ANALYTICS_ENABLED := false
export DAGSTER_DISABLE_TELEMETRY := 1

DEMO_PARTICIPANTS ?= 300
DEMO_SEED ?= 20261122

.PHONY: install demo test test-all lint ui clean-demo

$(CURDIR)/.tools/bin/uv:
	python3 -m venv .tools
	.tools/bin/pip install --quiet uv==$(UV_VERSION)

install: $(UV)
	$(UV) sync --frozen
	@mkdir -p "$(DAGSTER_HOME)"
	@test -f "$(DAGSTER_HOME)/dagster.yaml" || cp infra/dagster/dagster.yaml "$(DAGSTER_HOME)/dagster.yaml"

clean-demo:
	rm -rf .ngrl

demo: clean-demo install
	$(UV) run ngrl synth --participants $(DEMO_PARTICIPANTS) --seed $(DEMO_SEED)
	$(UV) run ngrl materialize
	@echo
	@echo "The lake is in $(NGRL_LAKE_URI):"
	@$(UV) run ngrl lake | sed 's/^/  /'
	@echo "Read a table:  uv run python -c \"import polars as pl; print(pl.read_delta('$(NGRL_LAKE_URI)/curated/variant_sites'))\""
	@echo "Open the UI:   make ui   (then http://localhost:3000; run history is in $(DAGSTER_HOME))"

lint: install
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	$(UV) run mypy
	$(UV) run lint-imports

test: lint
	$(UV) run pytest

test-all: lint
	$(UV) run pytest -m ''

ui: install
	$(UV) run dagster dev -w workspace.yaml
