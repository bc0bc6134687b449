# saub-bench: the commands a user types. `make demo` and `make test` create .venv when missing.
PYTHON ?= python3
VENV ?= .venv
TORCH_VERSION ?= 2.13.0
PROFILE ?= quick
EXECUTOR ?= processes
JOBS ?= 2
export SAUB_DATA ?= $(abspath ../shared/data)

BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup test lint bench demo figures report regression mutation golden gpu-smoke clean-venv

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install "torch==$(TORCH_VERSION)"
	$(BIN)/python -m pip install -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

test: lint
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check saub baselines benchmarks tests

# pytest-benchmark's JSON, the SFS-vs-LSGM summary (results/perf/encoder_update.json), then the
# throughput figures of issue 17 (results/perf/throughput.json and .md: harness vs bare training steps,
# processes vs serial, SFS vs LSGM at the authors' size), each with the machine's load.
bench: $(STAMP)
	mkdir -p results/perf
	$(BIN)/python -m pytest tests/perf -q --benchmark-only --benchmark-json=results/perf/benchmark.json
	$(BIN)/python -m tests.perf.summary results/perf/benchmark.json results/perf/encoder_update.json
	$(BIN)/python -m tests.perf.throughput results/perf/benchmark.json results/perf/throughput.json

clean-venv:
	rm -rf $(VENV)

SAUB := $(BIN)/saub-bench

# fig3's smoke profile, offline, then its report page (reports/fig3.md + figures).
demo: $(STAMP)
	$(SAUB) run fig3 --profile smoke
	$(SAUB) report fig3 --profile smoke

# table1's cells also carry fig6 (limited labels) and fig14 (translations): one run, three pages.
# A run with failed cells exits 1 after its pages are written (they list the failures).
reproduce-table1: $(STAMP)
	$(SAUB) run table1 --profile $(PROFILE) --executor $(EXECUTOR) --jobs $(JOBS); status=$$?; \
	$(SAUB) report table1 --profile $(PROFILE) && $(SAUB) report fig6 --profile $(PROFILE) && \
	$(SAUB) report fig14 --profile $(PROFILE) && exit $$status

# make reproduce-fig3 PROFILE=quick EXECUTOR=processes JOBS=2
reproduce-%: $(STAMP)
	$(SAUB) run $* --profile $(PROFILE) --executor $(EXECUTOR) --jobs $(JOBS); status=$$?; \
	$(SAUB) report $* --profile $(PROFILE) && exit $$status

# Hyper-parameter search of an experiment's rows (label-free selection), then its page:
# make search-table1 PROFILE=quick. The selection lands in results/selected/ once every trial is done.
search-%: $(STAMP)
	$(SAUB) search $* --profile $(PROFILE) --executor $(EXECUTOR) --jobs $(JOBS); status=$$?; \
	$(SAUB) report $*-search --profile $(PROFILE) && exit $$status

figures report: $(STAMP)
	$(SAUB) report --all --profile $(PROFILE)

regression: $(STAMP)
	$(BIN)/python -m pytest -q -m regression

# Every CI experiment's smoke cells on a GPU, against the CPU goldens (any CUDA machine; GPU=cuda:1 picks
# another GPU). Writes results/perf/gpu_smoke.json; without CUDA it stops at once with a clear error.
GPU ?= cuda
gpu-smoke: $(STAMP)
	$(BIN)/python -m benchmarks.gpu_smoke --device $(GPU)

# Break each method on purpose (benchmarks/mutation.py) and check that the regression fails every time.
mutation: $(STAMP)
	$(BIN)/python -m benchmarks.mutation

# Re-measure the smoke profiles' seed spread and rewrite results/golden/ (after a deliberate change).
golden: $(STAMP)
	$(BIN)/python -m benchmarks.regression --write
