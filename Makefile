# The two commands of a fresh machine: `make demo` and `make test`. Both create or reuse .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip install -c constraints.txt
DEMO_CONFIG := config/demo.yaml
DEMO_DATE := 2024-09-15

.PHONY: venv demo test lint bench clean-demo browser-deps

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -U pip
	$(PIP) -e '.[test]'
	touch $@

# The demo: build the simulated archive (skipped when unchanged), then run the monitor once with
# a loopback mail server and webhook receiver standing in for the alert recipients.
demo: venv
	$(BIN)/landslide-monitor archive build --config $(DEMO_CONFIG)
	$(BIN)/python -m monitor.ops.demo_inbox --config $(DEMO_CONFIG) --dir runs/demo/alerts -- \
		$(BIN)/landslide-monitor run --config $(DEMO_CONFIG) --date $(DEMO_DATE)

# The review page's browser test (tests/ops) needs headless Chromium, chromedriver and the page's
# JS/CSS from npm under .cache/browser-assets. The script installs only what is missing, one Debian
# package at a time, never Debian's npm over an image's own Node.js, and never fails `make test`:
# what cannot be had makes the browser test skip with the reason.
browser-deps: venv
	@bash tests/ops/browser_deps.sh $(BIN)/python

# ruff, the architecture (import-linter contracts in pyproject.toml), the types (mypy), the tests.
test: venv browser-deps
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/python -m pytest

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

bench: venv
	for b in bench/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean-demo:
	rm -rf data/demo runs/demo

# The shipped default ensemble (models/default/): simulate the randomised training world (72
# families of landscape x look-alikes x landslide morphology; train, validation and test
# families never shared), train the grid of models/default/grid.yaml (rerunning resumes) with
# member ranking, K and threshold chosen on the held-out validation families, then evaluate on
# the held-out test families (out-of-family) and on new regions of training families
# (in-family), side by side, and copy the reports next to the manifest. See docs/models.md.
.PHONY: default-ensemble
default-ensemble: venv
	$(BIN)/python -m monitor.simulator.training_data --world randomised --out data/randomised -q
	$(BIN)/python -m models train --grid models/default/grid.yaml --work runs/default-ensemble/work --out models/default --train data/randomised/train --val data/randomised/val
	$(BIN)/python -m models evaluate --data data/randomised/test --in-family data/randomised/test_in --val data/randomised/val --manifest models/default/manifest.json --out runs/default-ensemble/evaluation -q
	cp runs/default-ensemble/evaluation/generalisation.md runs/default-ensemble/evaluation/generalisation.json models/default/
	cp runs/default-ensemble/evaluation/out_of_family/report.md runs/default-ensemble/evaluation/out_of_family/report.json runs/default-ensemble/evaluation/out_of_family/performance_*.png models/default/
