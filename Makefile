# The two commands of a fresh machine: `make demo` and `make test`. Both create or reuse .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip install -c constraints.txt
DEMO_CONFIG := config/demo.yaml
# The demo season: the storm of 2024-08-17 and the landslides of 2024-08-14..08-30, watched by a
# run every DEMO_EVERY days from 2024-08-16 to 2024-09-15 (DEMO_EVERY=1 for a daily watch).
DEMO_EVENTS := 2024-08-14 2024-08-31
DEMO_FIRST := 2024-08-16
DEMO_DATE := 2024-09-15
DEMO_EVERY ?= 3
# pytest workers (pytest-xdist; one test file per worker): the suite is single-threaded, so two
# workers on the 2-core reference machine take it from about 6.5 to 4 minutes. 0 runs it serially.
TEST_WORKERS ?= 2

.PHONY: venv demo test lint bench clean-demo browser-deps

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -U pip
	$(PIP) -e '.[test]'
	touch $@

# The demo: build the simulated archive (skipped when unchanged), then watch a storm season with
# a run every few days, a loopback mail server and webhook receiver standing in for the alert
# recipients, and print each landslide's time from event to alert (docs/operations.md).
demo: venv
	$(BIN)/landslide-monitor archive build --config $(DEMO_CONFIG)
	$(BIN)/python -m monitor.ops.demo_inbox --config $(DEMO_CONFIG) --dir runs/demo/alerts -- \
		$(BIN)/landslide-monitor season --config $(DEMO_CONFIG) --events $(DEMO_EVENTS) \
		--every $(DEMO_EVERY) --first-run $(DEMO_FIRST) --last-run $(DEMO_DATE)

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
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

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
# families never shared; per storm the scenes of both window modes), train the grid of
# models/default/grid.yaml (rerunning resumes) with member ranking, K and threshold chosen on the
# held-out validation families, evaluate on the held-out test families (out-of-family) and on
# new regions of training families (in-family) side by side, copy the reports next to the
# manifest; then fit the object filter on the chain's candidates of the training families (their
# storm scenes and storm-free scenes, rich in look-alikes), calibrate its cut on the validation
# families and add it to the manifest. Times and machine: docs/models.md.
WORLD := data/randomised
.PHONY: default-ensemble object-filter chain-report
default-ensemble: venv
	$(BIN)/python -m monitor.simulator.training_data --world randomised --out $(WORLD) -q
	$(BIN)/python -m models train --grid models/default/grid.yaml --work runs/default-ensemble/work --out models/default --train $(WORLD)/train --val $(WORLD)/val
	$(BIN)/python -m models evaluate --data $(WORLD)/test --in-family $(WORLD)/test_in --val $(WORLD)/val --manifest models/default/manifest.json --out runs/default-ensemble/evaluation -q
	cp runs/default-ensemble/evaluation/generalisation.md runs/default-ensemble/evaluation/generalisation.json models/default/
	cp runs/default-ensemble/evaluation/out_of_family/report.md runs/default-ensemble/evaluation/out_of_family/report.json runs/default-ensemble/evaluation/out_of_family/performance_*.png models/default/
	$(MAKE) object-filter

# STORMFREE_DRAWS: new regions of every training family seen without a storm, beside the
# split's own (more look-alikes for the filter). bench/bench_stormfree_draws.py measures the
# choice on the validation families: 0 to 2 tie there, more do worse (docs/models.md).
STORMFREE_DRAWS := 2
object-filter: venv
	$(BIN)/python -m monitor.ops.stormfree_scenes --training $(WORLD) --world randomised --split train --draws $(STORMFREE_DRAWS) --out $(WORLD)/stormfree-train
	OMP_NUM_THREADS=1 $(BIN)/python -m monitor.ops.filter_fit --train $(WORLD)/train --train $(WORLD)/stormfree-train --val $(WORLD)/val --test $(WORLD)/test --manifest models/default/manifest.json --out runs/default-ensemble/object_filter.json

# The chain table of docs/models.md: the ensemble and the threshold baseline through the whole
# chain (masks, vectorisation, object filter), scored as polygons, on the out-of-family test
# scenes (test), the in-family ones (test_in) and the storm-free scenes of the test families
# (stormfree-test, whose scenes without a landslide are the look-alike-only scenes).
chain-report: venv
	$(BIN)/python -m monitor.ops.stormfree_scenes --training $(WORLD) --world randomised --split test --out $(WORLD)/stormfree-test
	for set in test test_in stormfree-test; do \
		$(BIN)/python -m monitor detect --stack $(WORLD)/$$set --out runs/chain/ensemble-$$set -q && \
		$(BIN)/python -m models evaluate --chain runs/chain/ensemble-$$set --data $(WORLD)/$$set --out runs/chain/ensemble-$$set && \
		$(BIN)/python -m monitor detect --stack $(WORLD)/$$set --out runs/chain/baseline-$$set --baseline $(WORLD)/val -q && \
		$(BIN)/python -m models evaluate --chain runs/chain/baseline-$$set --data $(WORLD)/$$set --out runs/chain/baseline-$$set || exit 1; \
	done
