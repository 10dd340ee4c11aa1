"""Approval through the Prefect UI's own mechanism: a real `prefect server`, the
`approve-remediation` flow served by a real runner process, its run suspended with the typed
form (the pinned plan as the form's description), then resumed with input exactly as the
UI's Resume button does (`resume_flow_run` with `run_input`). The change is applied by the
resumed run; the ledger records who decided, through which channel."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from playbooks.config import load_settings
from playbooks.ledger import Ledger
from playbooks.models.incident import IncidentStatus
from playbooks.modelstore import MlflowModelStore
from playbooks.sandbox import bootstrap_sandbox, inject_fault, make_fault
from tests.integration._receiver_support import drain_prefect_workers, prefect_server

pytestmark = pytest.mark.integration

SMALL = {"rows_per_day": 300, "history_days": 14, "reference_rows": 4000,
         "now": datetime(2026, 3, 2, 12, tzinfo=UTC)}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with prefect_server(tmp_path_factory.mktemp("prefect-home")) as url:
        yield url


def _until(cond: Callable[[], Any], what: str, timeout: float = 180.0) -> Any:
    """Wait for another process (the runner, the server) to get somewhere."""
    deadline = time.monotonic() + timeout
    while not (value := cond()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.5)
    return value


@pytest.fixture
def runner(api: str, tmp_path: Path) -> Iterator[None]:
    """`approve_remediation.serve()` in its own process: the UI's resumed runs run there."""
    env = {**os.environ, "PREFECT_API_URL": api, "PREFECT_RUNNER_POLL_FREQUENCY": "1",
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env.pop("MLPB_CLOCK", None)
    log = (tmp_path / "runner.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-c", "from flows.approval import approve_remediation; "
         "approve_remediation.serve(name='approve-remediation')"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_prefect_form_approves_the_pinned_plan(api: str, runner: None, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.deployments import run_deployment
    from prefect.flow_runs import resume_flow_run
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.engine import run_playbook

    home = tmp_path / "home"
    monkeypatch.delenv("MLPB_CLOCK", raising=False)
    sb = bootstrap_sandbox(home / "sb", seed=3, **SMALL)  # type: ignore[arg-type]
    inject_fault(sb, make_fault("bad-release"), days=3, seed=5)
    with sb.profile_path.open("a", encoding="utf-8") as fh:  # even a low-risk rollback asks
        fh.write("approvals: {required_at_risk: low}\n")
    with temporary_settings({PREFECT_API_URL: api}):
        asked = run_playbook(playbook="bad-release", profile=str(sb.profile_path),
                             home=str(home), quiet=True)
        assert asked["status"] == "awaiting_approval", asked["remediations"]
        store = MlflowModelStore(sb.tracking_uri)
        assert store.get_version(sb.model_name, "champion").version == "2"  # the bad release

        with SyncPrefectClient(api) as client:
            _until(lambda: any(d.name == "approve-remediation"
                               for d in client.read_deployments()), "the served deployment")
            run = run_deployment("approve-remediation/approve-remediation", timeout=0,
                                 parameters={"incident_id": asked["id"], "home": str(home)})
            suspended = _until(lambda: (r := client.read_flow_run(run.id)).state and
                               r.state.is_paused() and r, "the run to suspend")
            assert suspended.state.name == "Suspended"  # no process holds it meanwhile
            keyset = suspended.state.state_details.run_input_keyset
            description = client.read_flow_run_input(run.id, keyset["description"])
            assert f"`{asked['approval']['plan_hash']}`" in description
            assert "rollback-model" in description and "**Rollback:**" in description
            schema = json.loads(client.read_flow_run_input(run.id, keyset["schema"]))
            assert {"decision", "approver", "reason"} <= set(schema["properties"])

            # A form with a missing field is refused by the server; the run stays suspended.
            with pytest.raises(RuntimeError, match="Cannot resume"):
                resume_flow_run(run.id, run_input={"decision": "approve"})
            assert client.read_flow_run(run.id).state.name == "Suspended"
            assert Ledger(load_settings(home).ledger_url).get(asked["id"]).status is (
                IncidentStatus.AWAITING_APPROVAL)
            # What the UI's Resume button sends, typed by the form.
            resume_flow_run(run.id, run_input={"decision": "approve", "approver": "carol",
                                               "reason": "release v2 is the regression"})
            done = _until(lambda: (r := client.read_flow_run(run.id)).state and
                          r.state.is_final() and r, "the resumed run to finish")
            assert done.state.is_completed(), done.state.message
        drain_prefect_workers()  # while this server is up: nothing queued for it outlives it

    inc = Ledger(load_settings(home).ledger_url).get(asked["id"])
    assert inc.status is IncidentStatus.RESOLVED, [e.message for e in inc.timeline[-5:]]
    assert inc.approval is not None and inc.approval.state == "applied"
    decision = inc.approval.accepted
    assert decision is not None
    assert (decision.approver, decision.channel) == ("carol", "prefect-ui")
    assert store.get_version(sb.model_name, "champion").version == "1"  # rolled back
    kinds = [e.kind for e in inc.timeline]
    assert kinds.index("approval_requested") < kinds.index("approved") < kinds.index("applied")
