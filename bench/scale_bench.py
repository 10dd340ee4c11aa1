"""``python -m bench scale``: N sandbox models alerting at once on a Prefect process work pool
with 1, 2 and 4 workers (deployments/pool.py: Prefect server and ledger on PostgreSQL).

For each worker count: a fresh ledger schema, the workers started (and online) first, then one
``run-playbook/data-drift`` flow run per model created at once through the Prefect API (what
the alert receiver's dispatcher does, deployments/dispatcher.py), in **dry-run** mode (diagnose
and recommend: a live retrain of the criticality-high sandbox model waits for a person's
approval, and its monitoring for simulated days). Timed from the first run created to the
last incident closed; then checked: exactly one incident per model, all closed, every flow run
Completed, no lease held and no lease error in the workers' logs.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bench.harness import free_port, scratch_schema

__all__ = ["RoundResult", "main", "make_models", "run_round"]

PREFECT_DB = "mlpb_prefect_scale_bench"  # created and dropped by this bench
LEDGER_DB = "mlpb_ledger_scale_bench"
POOL = "mlpb-scale-bench"


@dataclass
class RoundResult:
    workers: int
    models: int
    wall_s: float
    run_mean_s: float
    queue_max_s: float
    incidents_per_model: Counter[int]
    statuses: Counter[str]
    run_states: Counter[str]
    lease_errors: int
    leases_held: int
    load_before: float
    load_after: float
    problems: list[str] = field(default_factory=list)

    @property
    def throughput(self) -> float:
        return self.models / self.wall_s * 60 if self.wall_s else 0.0


def make_models(home: Path, n: int, *, rows_per_day: int, say: Any) -> list[str]:
    """The credit-risk sandbox (with a population shift in its last 7 days) once, and ``n``
    distinct models on it: registered models ``scale-01``.. in the state dir's MLflow store
    (the champion's scorecard, retrained per name) and a profile each in ``<home>/profiles``
    reading the sandbox's data. Reused when already there."""
    from playbooks.modelstore import MlflowModelStore, ModelNotFound
    from playbooks.sandbox import CovariateDrift, bootstrap_sandbox, inject_fault
    from playbooks.sandbox.bootstrap import profile_yaml, train_scorecard

    box = bootstrap_sandbox(home, seed=11, rows_per_day=rows_per_day, history_days=21,
                            progress=say)
    if not box.faults_path.exists():
        inject_fault(box, CovariateDrift(strength=1.0), days=7, seed=5)
    store = MlflowModelStore.local(home)
    base = yaml.safe_load(profile_yaml(store.tracking_uri))
    rel = os.path.relpath(box.root, home / "profiles")
    (home / "profiles").mkdir(parents=True, exist_ok=True)
    names = [f"scale-{i:02d}" for i in range(1, n + 1)]
    scorecard = None
    for name in names:
        try:
            store.get_version(name, "champion")
        except ModelNotFound:
            if scorecard is None:
                import pandas as pd

                scorecard = train_scorecard(pd.read_parquet(box.reference_path), seed=11)
            say(f"registering {name}")
            v = store.register_model(name, scorecard, experiment="scale-bench", params={},
                                     metrics={}, tags={"mlpb.sandbox": "true"})
            store.set_alias(name, "champion", v.version)
        profile = {**base, "name": name, "model": {**base["model"], "registry_name": name}}
        data = profile["data"] = {**base["data"]}
        for key in ("reference", "current", "labels"):
            data[key] = {**data[key], "path": f"{rel}/{data[key]['path']}"}
        (home / "profiles" / f"{name}.yaml").write_text(yaml.safe_dump(profile, sort_keys=False),
                                                         encoding="utf-8")
    return names


def _wait_workers(api: str, names: list[str], timeout: float) -> None:
    from prefect.client.orchestration import SyncPrefectClient

    deadline = time.monotonic() + timeout
    with SyncPrefectClient(api) as client:
        while time.monotonic() < deadline:
            online = {w.name for w in client.read_workers_for_work_pool(POOL)
                      if str(w.status).upper().endswith("ONLINE")}
            if set(names) <= online:
                return
            time.sleep(0.5)
    raise RuntimeError(f"workers {names} not online within {timeout:.0f} s")


def run_round(server: Any, home: Path, ledger_url: str, models: list[str], workers: int,
              timeout: float) -> RoundResult:
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    from deployments.dispatcher import PrefectLauncher
    from playbooks.ledger import Ledger

    tag = f"w{workers}-{uuid.uuid4().hex[:4]}-"
    names = server.start_workers(workers, prefix=tag, env={"MLPB_LEDGER_URL": ledger_url})
    _wait_workers(server.api_url, names, 120)
    load_before = os.getloadavg()[0]
    launcher = PrefectLauncher(server.api_url, timeout=30)

    def fire(model: str) -> str:
        params = {"playbook": "data-drift", "profile": model, "dry_run": True,
                  "trigger": {"source": "bench-scale", "alertname": "FeatureDrift",
                              "model": model}, "dedup_key": f"{tag}{model}:data-drift"}
        return launcher.launch("run-playbook/data-drift", params, f"{tag}{model}")

    t0 = time.monotonic()
    with ThreadPoolExecutor(len(models)) as pool:
        run_ids = list(pool.map(fire, models))
    ledger = Ledger(ledger_url)
    final = ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")
    problems: list[str] = []
    while True:
        states = launcher.run_states(run_ids)
        if len(states) == len(run_ids) and all(s in final for s in states.values()):
            break
        if time.monotonic() - t0 > timeout:
            problems.append(f"timed out after {timeout:.0f} s: {Counter(states.values())}")
            break
        time.sleep(0.5)
    wall = time.monotonic() - t0
    load_after = os.getloadavg()[0]
    with SyncPrefectClient(server.api_url) as client:
        runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(
            any_=[uuid.UUID(r) for r in run_ids])), limit=len(run_ids))
    durations = [r.total_run_time.total_seconds() for r in runs]
    waits = [(r.start_time - r.expected_start_time).total_seconds() for r in runs
             if r.start_time and r.expected_start_time]
    incidents = ledger.list(limit=10 * len(models))
    per_model = Counter(i.model for i in incidents)
    with ledger.engine.connect() as conn:
        import sqlalchemy as sa

        leases_held = int(conn.execute(sa.text("SELECT count(*) FROM mlpb_leases")).scalar_one())
    ledger.engine.dispose()
    server.stop_workers()
    lease_errors = sum((home / "logs" / f"{n}.log").read_text(errors="replace").count("LeaseBusy")
                       for n in names)
    if set(per_model) != set(models):
        problems.append(f"models without an incident: {sorted(set(models) - set(per_model))}")
    return RoundResult(
        workers=workers, models=len(models), wall_s=wall,
        run_mean_s=sum(durations) / max(len(durations), 1),
        queue_max_s=max(waits, default=0.0), incidents_per_model=Counter(per_model.values()),
        statuses=Counter(i.status.value for i in incidents),
        run_states=Counter(str(r.state_type.value) if r.state_type else "?" for r in runs),
        lease_errors=lease_errors, leases_held=leases_held, load_before=load_before,
        load_after=load_after, problems=problems)


def render(results: list[RoundResult]) -> Any:
    from rich.table import Table

    table = Table(title="Scale-out: data-drift dry runs, N models alerting at once, process "
                  "work pool (1 flow run per worker)")
    for name in ("workers", "models", "all closed (s)", "incidents/min", "mean run (s)",
                 "max queue wait (s)", "incidents per model", "statuses", "flow runs",
                 "lease errors / held", "load 1-min before→after"):
        table.add_column(name, justify="right", overflow="fold")
    for r in results:
        table.add_row(
            str(r.workers), str(r.models), f"{r.wall_s:.1f}", f"{r.throughput:.1f}",
            f"{r.run_mean_s:.1f}", f"{r.queue_max_s:.1f}",
            ", ".join(f"{k}: {v} models" for k, v in sorted(r.incidents_per_model.items())),
            ", ".join(f"{k} {v}" for k, v in r.statuses.items()),
            ", ".join(f"{k} {v}" for k, v in r.run_states.items()),
            f"{r.lease_errors} / {r.leases_held}", f"{r.load_before:.2f}→{r.load_after:.2f}")
    return table


def ok(r: RoundResult) -> bool:
    """No conflicts: one incident per model, every one closed, every run Completed."""
    return (not r.problems and set(r.incidents_per_model) == {1}
            and r.statuses.keys() <= {"diagnosed", "false_alarm", "resolved", "escalated"}
            and set(r.run_states) == {"COMPLETED"} and r.lease_errors == 0
            and r.leases_held == 0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench scale", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", type=int, default=20)
    ap.add_argument("--workers", default="1,2,4", help="comma-separated (default 1,2,4)")
    ap.add_argument("--rows-per-day", type=int, default=400, help="sandbox traffic (400)")
    ap.add_argument("--home", default=".bench/scale", help="state dir, reused (.bench/scale)")
    ap.add_argument("--admin-url", default=os.environ.get(
        "MLPB_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    ap.add_argument("--timeout", type=float, default=1200.0, help="seconds per round (1200)")
    args = ap.parse_args(argv)
    counts = [int(w) for w in args.workers.split(",") if w.strip()]
    home = Path(args.home).expanduser().resolve()
    port = free_port()
    # Before Prefect is imported (its settings come from the environment at import).
    os.environ.update({"PREFECT_HOME": str(home / "prefect-pool"),
                       "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
                       "PREFECT_SERVER_ANALYTICS_ENABLED": "false"})
    from rich.console import Console

    from deployments.pool import drop_database, ensure_database, pool_server

    err = Console(stderr=True, highlight=False)

    def say(msg: str) -> None:
        err.print(f"[dim]{msg}[/dim]")

    models = make_models(home, args.models, rows_per_day=args.rows_per_day, say=say)
    drop_database(args.admin_url, PREFECT_DB)  # ours, from an earlier run: start clean
    prefect_db = ensure_database(args.admin_url, PREFECT_DB)
    ledger_db = ensure_database(args.admin_url, LEDGER_DB)
    results: list[RoundResult] = []
    try:
        # Workers poll every second (default 10 s) so the poll interval does not dominate.
        fast = {"PREFECT_WORKER_QUERY_SECONDS": "1", "PREFECT_WORKER_HEARTBEAT_SECONDS": "5"}
        with scratch_schema(ledger_db, "scale") as first_ledger, pool_server(
                home, prefect_db_url=prefect_db, ledger_url=first_ledger, port=port,
                pool=POOL, extra_env=fast) as server:
            say(f"Prefect server on {prefect_db}; deploying to work pool {POOL}")
            server.deploy(schedules=False)
            for n in counts:
                with scratch_schema(ledger_db, "scale") as ledger_url:
                    from playbooks.ledger import Ledger

                    Ledger(ledger_url).engine.dispose()  # tables before the workers race
                    say(f"{n} worker(s): firing {len(models)} alerts")
                    results.append(run_round(server, home, ledger_url, models, n,
                                             args.timeout))
                    say(f"  done in {results[-1].wall_s:.1f} s")
    finally:
        drop_database(args.admin_url, PREFECT_DB)
        drop_database(args.admin_url, LEDGER_DB)
    out = Console(width=None if sys.stdout.isatty() else 170, highlight=False)
    out.print(render(results))
    out.print(f"{os.cpu_count()} CPUs; load average now "
              + " / ".join(f"{x:.2f}" for x in os.getloadavg()) + " (1/5/15 min)")
    bad = [r for r in results if not ok(r)]
    for r in bad:
        out.print(f"CONFLICT with {r.workers} worker(s): {r.problems or 'see the row above'}")
    return 1 if bad else 0
