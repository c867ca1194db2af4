# NGRL data platform. Two commands: `make demo` and `make test`.
SHELL := /bin/bash
UV_VERSION := 0.13.9
UV := $(shell command -v uv 2>/dev/null || echo $(CURDIR)/.tools/bin/uv)

export NGRL_LAKE_URI ?= $(CURDIR)/.ngrl/lake
export DAGSTER_HOME ?= $(CURDIR)/.ngrl/dagster
export GX_ANALYTICS_ENABLED := false
export DAGSTER_DISABLE_TELEMETRY := 1
export NGRL_CODE_VERSION ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)

DEMO_PARTICIPANTS ?= 300
DEMO_SEED ?= 20261122
DEMO_WAVE2_PARTICIPANTS ?= 120
# the demo's sample batches: 100 samples each, so its few hundred genomes make several
# (chunk x batch) tiles as a national library does with batches of 1,000
DEMO_SAMPLE_BATCH_SIZE ?= 100

.PHONY: install system-packages demo test test-all test-e2e lint ui clean-demo dq-report

$(CURDIR)/.tools/bin/uv:
	python3 -m venv .tools
	.tools/bin/pip install --quiet uv==$(UV_VERSION)

# --compile-bytecode: every Python process (tests, `ngrl`, code servers) reads compiled
# modules even where PYTHONDONTWRITEBYTECODE is set (each import of dagster and Great
# Expectations from source costs about 11 s of CPU; see BENCHMARKS.md, "Test suite").
install: $(UV)
	$(UV) sync --frozen --compile-bytecode
	infra/setup/install-data-docs-assets.sh
	@mkdir -p "$(DAGSTER_HOME)"
	@test -f "$(DAGSTER_HOME)/dagster.yaml" || cp infra/dagster/dagster.yaml "$(DAGSTER_HOME)/dagster.yaml"

# Debian packages the project needs (Chromium for the browser tests); idempotent, installs
# only what is missing (infra/setup/debian-packages.txt).
system-packages:
	infra/setup/install-debian-packages.sh

clean-demo:
	rm -rf .ngrl

# The demo's release key: a fresh random master key per demo lake, kept beside it (production
# reads per-release keys from AWS Secrets Manager; see docs/releases.md).
RELEASE_KEY = NGRL_SECRET_RELEASE_MASTER_KEY=$$(cat .ngrl/release-master-key)

demo: export NGRL_SAMPLE_BATCH_SIZE = $(DEMO_SAMPLE_BATCH_SIZE)
demo: clean-demo install
	@mkdir -p .ngrl && python3 -c "import secrets; print(secrets.token_hex(32))" > .ngrl/release-master-key
	$(UV) run ngrl synth --participants $(DEMO_PARTICIPANTS) --seed $(DEMO_SEED)
	$(UV) run ngrl materialize
	$(RELEASE_KEY) $(UV) run ngrl release cut --id v1 --freeze-date 2026-09-30 --label 2026-Q3
	@echo "--- a second batch lands: new participants, deliveries and extracts, and a full withdrawal of a v1 participant ---"
	$(UV) run ngrl synth --participants $(DEMO_WAVE2_PARTICIPANTS) --seed $(DEMO_SEED) --wave 2 --earlier-full-withdrawals 1
	$(RELEASE_KEY) $(UV) run ngrl materialize
	$(RELEASE_KEY) $(UV) run ngrl release cut --id v2 --freeze-date 2026-11-30 --label 2026-Q4
	$(UV) run ngrl release list
	$(UV) run ngrl release diff v1 v2
	@echo "--- the withdrawal: propagated and erased by the sensors' run; the DPO's report and the residue scan ---"
	$(UV) run ngrl withdrawal list
	$(UV) run ngrl withdrawal report $$($(UV) run ngrl withdrawal list --ids --reason withdrawal | tail -1) | head -40
	$(RELEASE_KEY) $(UV) run ngrl erasure-scan $$($(UV) run python -c "import json; t = json.load(open('.ngrl/synth-truth/truth_w2.json')); print(next(r for r, c in t['wave']['case_changes'].items() if c['case'] == 'withdrawn_full'))")
	@echo "Release notes: $(NGRL_LAKE_URI)/releases/v2/notes/release_notes.html (and .md)"
	@echo "Data quality (Great Expectations Data Docs, every validation so far): $(NGRL_LAKE_URI)/reports/data_docs/index.html"
	@echo "  per release: $(NGRL_LAKE_URI)/reports/data_docs/releases/v2/index.html   (rebuild all: make dq-report)"
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

# `make test` includes the browser tests (marker e2e); `make test-e2e` runs only them.
test: lint system-packages
	$(UV) run pytest

test-all: lint system-packages
	$(UV) run pytest -m ''

test-e2e: install system-packages
	$(UV) run pytest -m e2e tests/e2e

# Validate every expectation suite against the lake and rebuild the Data Docs; prints the
# index to open (reports zone: $(NGRL_LAKE_URI)/reports/data_docs/index.html by default).
dq-report: install
	$(UV) run ngrl dq-report

ui: install
	$(UV) run dagster dev -w workspace.yaml
