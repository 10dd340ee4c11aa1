"""`make serve-pool`'s parts (deployments/pool.py) for real: a Prefect server on a fresh
PostgreSQL database, the deployments on a process work pool, one worker, the ledger on a
PostgreSQL schema; a data-drift run created through the API runs on the worker and closes."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import pytest

from bench.harness import free_port, scratch_schema
from deployments.pool import (
    _relative_entrypoint,
    asyncpg_url,
    database_url,
    drop_database,
    ensure_database,
    libpq_url,
    pool_server,
)
from playbooks.errors import ConfigError


def test_urls_for_prefects_server_and_the_entrypoint_relative_to_the_checkout(
        tmp_path: Path) -> None:
    url = database_url("postgresql://pg@db.example:5432/postgres?sslmode=require", "pool_x")
    assert url == "postgresql://pg@db.example:5432/pool_x?sslmode=require"
    assert asyncpg_url(url) == "postgresql+asyncpg://pg@db.example:5432/pool_x?sslmode=require"
    with pytest.raises(ConfigError, match="not a PostgreSQL URL"):
        asyncpg_url("sqlite:///x.db")
    # SQLAlchemy URLs (MLPB_TEST_POSTGRES_URL, ledger URLs) name a driver libpq does not take
    assert libpq_url("postgresql+psycopg://pg@h:5432/db") == "postgresql://pg@h:5432/db"
    assert libpq_url(url) == url
    with pytest.raises(ConfigError, match="not a plain identifier"):
        ensure_database("postgresql://pg@127.0.0.1:1/postgres", 'x"; DROP DATABASE test; --')
    (tmp_path / "flows").mkdir()
    entry = f"{tmp_path}/flows/engine.py:run_playbook"
    assert _relative_entrypoint(entry, tmp_path) == "flows/engine.py:run_playbook"


@pytest.mark.integration
@pytest.mark.postgres
@pytest.mark.slow
def test_a_deployment_run_on_the_process_pool_closes_its_incident_in_the_pg_ledger(
        tmp_path: Path) -> None:
    admin = os.environ.get("MLPB_TEST_POSTGRES_URL")
    if not admin:
        pytest.skip("MLPB_TEST_POSTGRES_URL is not set (.ci/run sets it; PostgreSQL runs there)")
    from deployments.dispatcher import PrefectLauncher
    from playbooks.ledger import Ledger
    from playbooks.sandbox import CovariateDrift, bootstrap_sandbox, inject_fault

    home = tmp_path / "home"
    sb = bootstrap_sandbox(home, seed=3, rows_per_day=300, history_days=14)
    inject_fault(sb, CovariateDrift(strength=1.0), days=7, seed=5)
    name = f"mlpb_test_pool_{uuid.uuid4().hex[:8]}"
    prefect_db = ensure_database(admin, name)
    assert ensure_database(admin, name) == prefect_db  # again: already there, no error
    try:
        with scratch_schema(admin, "mlpb_pool") as ledger_url, pool_server(
                home, prefect_db_url=prefect_db, ledger_url=ledger_url, port=free_port(),
                pool="mlpb-test-pool",
                extra_env={"PREFECT_WORKER_QUERY_SECONDS": "1"}) as server:
            server.deploy(schedules=False)
            (worker,) = server.start_workers(1)
            launcher = PrefectLauncher(server.api_url)
            run = launcher.launch("run-playbook/data-drift",
                                  {"profile": "credit-risk", "dry_run": True}, "pool-test-1")
            deadline = time.monotonic() + 300
            while (state := launcher.run_states([run]).get(run)) not in (
                    "COMPLETED", "FAILED", "CRASHED") and time.monotonic() < deadline:
                time.sleep(1)
            log = (home / "logs" / f"{worker}.log").read_text(errors="replace")
            assert state == "COMPLETED", log[-3000:]
            ledger = Ledger(ledger_url)
            (inc,) = ledger.list()
            assert inc.model == "credit-risk" and inc.status.value == "diagnosed"
            assert inc.root_cause is not None
            assert inc.root_cause.hypothesis_id == "population-shift"
            ledger.engine.dispose()
            server.stop_workers()
    finally:
        drop_database(admin, name)
