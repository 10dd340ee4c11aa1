"""Evidence collection on a Dask cluster (prefect-dask's DaskTaskRunner, MLPB_TASK_RUNNER=dask)
gives the same evidence package as Prefect's default thread pool; the env var's parsing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from flows.runners import task_runner_from_env
from playbooks.errors import ConfigError


def test_unset_means_prefects_default_and_a_typo_says_what_to_set() -> None:
    assert task_runner_from_env({}) is None
    assert task_runner_from_env({"MLPB_TASK_RUNNER": "thread"}) is None
    with pytest.raises(ConfigError, match="MLPB_TASK_RUNNER='dsak' is not a task runner") as e:
        task_runner_from_env({"MLPB_TASK_RUNNER": "dsak"})
    assert "MLPB_TASK_RUNNER=dask" in (e.value.hint or "")


def test_dask_address_picks_an_existing_cluster() -> None:
    runner = task_runner_from_env({"MLPB_TASK_RUNNER": "Dask",
                                   "MLPB_DASK_ADDRESS": "tcp://10.0.0.5:8786"})
    assert type(runner).__name__ == "DaskTaskRunner" and runner.address == "tcp://10.0.0.5:8786"
    local = task_runner_from_env({"MLPB_TASK_RUNNER": "dask"})
    assert local.address is None  # a local cluster per run


def _evidence(home: Path, incident_id: str) -> dict[str, Any]:
    pkg = json.loads((home / "evidence" / f"{incident_id}.json").read_text())
    for key in ("incident_id", "collected_at"):  # per incident, not per runner
        pkg.pop(key)
    return dict(pkg)


@pytest.mark.slow
@pytest.mark.flows
def test_data_drift_evidence_on_a_local_dask_cluster_matches_the_default_runner(
        home: Path) -> None:
    from flows.engine import run_playbook
    from playbooks.sandbox import CovariateDrift, bootstrap_sandbox, inject_fault

    sb = bootstrap_sandbox(home, seed=3, rows_per_day=300, history_days=14)
    inject_fault(sb, CovariateDrift(strength=1.0), days=7, seed=5)
    kw = {"playbook": "data-drift", "profile": str(sb.profile_path), "dry_run": True,
          "home": str(home), "quiet": True}
    default = run_playbook(**kw)
    from distributed import Client, LocalCluster

    # A local cluster in this process (1 worker); the runner reaches it by address, as a
    # worker with MLPB_DASK_ADDRESS would reach a real one.
    with LocalCluster(n_workers=1, processes=False, dashboard_address=None) as cluster:
        runner = task_runner_from_env({"MLPB_TASK_RUNNER": "dask",
                                       "MLPB_DASK_ADDRESS": cluster.scheduler_address})
        on_dask = run_playbook.with_options(task_runner=runner)(**kw)
        with Client(cluster) as client:
            ran = client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.task_prefixes))
    assert "run_collector" in ran, ran  # the collectors ran on the Dask cluster
    assert default["status"] == on_dask["status"] == "diagnosed"
    assert default["id"] != on_dask["id"]  # two incidents, two evidence packages
    assert on_dask["root_cause"]["hypothesis_id"] == "population-shift"
    a, b = _evidence(home, default["id"]), _evidence(home, on_dask["id"])
    assert a["feature_drift"] and a["windows"]  # there is something to compare
    assert a == b
    assert [h["verdict"] for h in default["hypotheses"]] == [
        h["verdict"] for h in on_dask["hypotheses"]]
