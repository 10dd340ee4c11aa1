# Everything a fresh machine needs: `make demo` and `make test` create the virtual
# environment and install the pinned dependencies themselves.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-fast bench bench-full lint validate clean lock serve serve-pool

install: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	@echo "==> creating virtual environment in $(VENV) and installing pinned dependencies"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --upgrade uv
	@$(BIN)/uv pip install --quiet --python $(BIN)/python -r requirements.lock
	@$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	@touch $(STAMP)
	@echo "==> environment ready"

demo: install
	$(BIN)/mlpb demo

test: install
	$(BIN)/python -m pytest --durations=30

test-fast: install
	$(BIN)/python -m pytest -m "not slow and not integration and not e2e"

# Prefect server + MLflow server + sandbox + every playbook deployment + the alert receiver,
# state under $(MLPB_HOME) (default .mlpb); prints the URLs; Ctrl-C stops them all.
serve: install
	$(BIN)/python -m deployments.stack

# Scale-out variant: Prefect server and ledger on PostgreSQL (databases mlpb_prefect_pool and
# mlpb_ledger_pool, created if missing), every deployment on the `process` work pool
# mlpb-pool, WORKERS workers running one flow run each (deployments/pool.py; README "Scaling out").
WORKERS ?= 2
serve-pool: install
	$(BIN)/python -m deployments.pool --workers $(WORKERS)

# Drift engine vs Evidently, then start-up times, then mlpb run data-drift on generated
# 30/120-day partitioned logs (generated once under .bench/logs). `make bench-full` adds the
# 365-day log (13 GB, a few minutes to generate once).
bench: install
	$(BIN)/python -m bench
	$(BIN)/python -m bench startup
	$(BIN)/python -m bench e2e $(BENCH_E2E_FLAGS)

bench-full: BENCH_E2E_FLAGS = --full
bench-full: bench

validate: install
	$(BIN)/mlpb validate

# ruff (tests too), the import-layer contracts (pyproject.toml [tool.importlinter]) and mypy
# strict over the shipped packages, all three reported even when one fails. The tools are
# the `dev` extra; uv installs what is missing.
LINT_TOOLS := ruff mypy import-linter pandas-stubs types-PyYAML
TYPED := playbooks tasks flows deployments cli bench
lint: install
	@$(BIN)/uv pip install --quiet --python $(BIN)/python $(LINT_TOOLS)
	@status=0; \
	echo "==> ruff"; $(BIN)/ruff check $(TYPED) tests || status=1; \
	echo "==> import contracts"; $(BIN)/lint-imports --no-cache || status=1; \
	echo "==> mypy"; $(BIN)/mypy $(TYPED) || status=1; \
	exit $$status

lock:
	$(BIN)/uv pip compile requirements.in -o requirements.lock --python-version 3.11

clean:
	rm -rf $(VENV) .mlpb .pytest_cache
