"""`mlpb receiver` as an operator starts it: no --routes (built-in routing, and it says so),
a ledger URL with a password (never printed), an alert for a model without a profile
(a needs_triage incident and a console notification)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import httpx
import pytest

from bench.harness import free_port, running_server
from playbooks.ledger import Ledger
from playbooks.models.incident import IncidentStatus
from tests.integration._receiver_support import PROFILE, TOKEN, auth

pytestmark = pytest.mark.integration


def test_mlpb_receiver_without_routes_uses_builtin_routing(tmp_path: Path,
                                                           ledger_url: str) -> None:
    home = tmp_path / "home"
    (home / "profiles").mkdir(parents=True)
    (home / "profiles" / "churn.yaml").write_text(PROFILE.format(model="churn"))
    secret_url = ledger_url.replace("postgres@", "postgres:not-a-secret@", 1)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k != "MLPB_RECEIVER_ROUTES"}
    env.update(MLPB_RECEIVER_TOKEN=TOKEN, MLPB_LEDGER_URL=secret_url)
    cmd = [str(Path(sys.executable).parent / "mlpb"), "receiver", "--no-dispatch",
           "--port", str(port), "--home", str(home)]
    log = tmp_path / "receiver.log"
    with running_server(cmd, name="mlpb receiver", health_url=f"{url}/healthz", log=log,
                        env=env, timeout_s=60):
        routed = httpx.post(f"{url}/alerts/generic", headers=auth(), timeout=30,
                            json={"model": "churn", "playbook": "data-drift"})
        unknown = httpx.post(f"{url}/alerts/generic", headers=auth(), timeout=30,
                             json={"model": "fraud", "labels": {"alertname": "Drift"}})
    text = log.read_text()
    assert "built-in routing" in text and "profiles/<model>.yaml" not in text
    assert f"{home}/profiles/{{model}}.yaml" in text
    assert "not-a-secret" not in text
    if "not-a-secret" in secret_url:
        assert "postgres:***@" in text
    assert routed.status_code == 202, routed.text
    (a,) = routed.json()["alerts"]
    assert a["dispatch_state"] == "queued" and a["dedup_key"].startswith("alert:data-drift:")
    assert unknown.status_code == 202, unknown.text
    (b,) = unknown.json()["alerts"]
    assert b["dispatch_state"] == "triage" and "fraud" in b["error"]
    assert "needs triage" in text and b["incident_id"] in text  # the console notification
    ledger = Ledger(ledger_url)
    assert ledger.get(b["incident_id"]).status is IncidentStatus.NEEDS_TRIAGE
    ledger.close()
