"""Triage hands a vague alert to the specialised playbook as a child flow run; the child's
change is then watched live like any other (played out on the sandbox's clock)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from flows.engine import run_playbook
from playbooks.config import load_settings
from playbooks.drills.live import approve_waiting, follow_monitoring, sandbox_time
from playbooks.ledger import Ledger
from playbooks.models.incident import IncidentStatus
from playbooks.sandbox import (
    CovariateDrift,
    FaultParams,
    NoFault,
    bootstrap_sandbox,
    inject_fault,
)

pytestmark = pytest.mark.flows
SANDBOX = "sb"


def _run(home: Path, fault: FaultParams) -> dict[str, Any]:
    sb = bootstrap_sandbox(home / SANDBOX, seed=3, rows_per_day=400, history_days=21)
    inject_fault(sb, fault, days=7, seed=5)
    with sandbox_time(sb):
        res: dict[str, Any] = run_playbook(
            playbook="triage", profile=str(sb.profile_path), home=str(home), quiet=True,
            trigger={"source": "alert", "summary": "model looks wrong"})
        approve_waiting(str(home), [res["id"]], approver="alice", channel="cli")  # the child's
    return res


def test_vague_alert_is_handed_to_data_drift(home: Path) -> None:
    res = _run(home, CovariateDrift(strength=1.0))
    assert res["status"] == "handed_over"
    assert res["root_cause"]["hypothesis_id"] == "data-drift"
    (child_id,) = res["child_ids"]
    child = Ledger(load_settings(home).ledger_url).get(child_id)
    assert child.playbook == "data-drift" and child.parent_id == res["id"]
    assert child.root_cause is not None and child.root_cause.hypothesis_id == "population-shift"
    assert child.trigger["evidence"]["metrics"]["max_psi"] > 0.2  # evidence attached
    assert child.status is IncidentStatus.MONITORING and child.monitoring is not None
    assert child.monitoring.version == "2"  # the retrained version is watched live

    days = follow_monitoring(str(home), home / SANDBOX, [res["id"], child_id])
    done = Ledger(load_settings(home).ledger_url).get(child_id)
    assert done.status is IncidentStatus.RESOLVED, [s.detail for d in days for s in d.steps]
    assert done.monitoring is not None
    assert [w.verdict for w in done.monitoring.windows] == ["pass", "pass", "pass"]
    assert done.resolved_at == done.monitoring.windows[-1].measured_at


def test_quiet_system_is_a_false_alarm_with_a_monitoring_suggestion(home: Path) -> None:
    res = _run(home, NoFault())
    assert res["status"] == "false_alarm" and res["child_ids"] == []
    top = res["hypotheses"][0]
    assert top["id"] == "nothing-wrong"
    assert top["findings"][0]["kind"] == "monitoring_rule_suggestion"
    assert res["remediations"] == []
