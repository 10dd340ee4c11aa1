"""A run started from the run-playbook deployment (real `prefect server`, executed the way a
worker does) acts as ``prefect-ui``: refused live by the policy, it fails naming the policy,
leaves one refusal in the ledger and opens no incident."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from playbooks.ledger import Ledger
from tests.integration._receiver_support import drain_prefect_workers, prefect_server

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # a prefect server: ~1 min
ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from deployments.serve import build_deployments

    with prefect_server(tmp_path_factory.mktemp("prefect-home")) as url:
        with temporary_settings({PREFECT_API_URL: url}):
            for dep in build_deployments():
                if dep.flow_name == "run-playbook" and dep.name == "data-drift":
                    dep.apply()
        yield url
        drain_prefect_workers()  # while the server is up: nothing queued outlives it


def test_a_live_deployment_run_refused_by_policy_leaves_a_record(api: str,
                                                                 tmp_path: Path) -> None:
    from prefect.client.orchestration import SyncPrefectClient

    home = tmp_path / "home"
    (home / "profiles").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in ("ref", "cur"):
        pd.DataFrame({"ts": pd.date_range("2026-01-01", periods=50, freq="h", tz="UTC"),
                      "x": rng.normal(size=50), "score": rng.uniform(size=50)}).to_csv(
            home / "profiles" / f"{name}.csv", index=False)
    (home / "profiles" / "credit.yaml").write_text(yaml.safe_dump({
        "name": "credit", "features": {"numeric": ["x"]}, "prediction": {"score": "score"},
        "data": {"timestamp": "ts", "reference": {"path": "ref.csv"},
                 "current": {"path": "cur.csv"}}}), encoding="utf-8")
    (home / "policy.yaml").write_text(yaml.safe_dump({"run": {"default": "dry-run"}}),
                                      encoding="utf-8")
    with SyncPrefectClient(api) as client:
        dep = client.read_deployment_by_name("run-playbook/data-drift")
        run = client.create_flow_run_from_deployment(dep.id, parameters={
            "playbook": "data-drift", "profile": "credit", "dry_run": False})
        env = {k: v for k, v in os.environ.items() if k not in ("MLPB_POLICY",
                                                                "MLPB_LEDGER_URL")}
        env.update(PREFECT_API_URL=api, MLPB_HOME=str(home))
        subprocess.run([sys.executable, "-m", "prefect.engine", str(run.id)], cwd=ROOT,
                       env=env, timeout=300, check=False, capture_output=True)
        done = client.read_flow_run(run.id)
    assert done.state is not None and done.state.is_failed(), done.state
    assert "prefect-ui may run 'data-drift' on credit as a dry run only" in (
        done.state.message or "")
    led = Ledger(f"sqlite:///{home / 'ledger.db'}")
    (r,) = led.refusals.since()
    assert (r.who, r.channel, r.action, r.model) == ("prefect-ui", "prefect-ui", "run-live",
                                                     "credit")
    assert led.list() == []
    led.close()
