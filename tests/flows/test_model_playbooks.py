"""The five model/serving playbooks end to end in the Prefect harness, one injected fault
each, on a small real sandbox (real MLflow store, parquet log, SQLite ledger)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from flows.engine import run_playbook
from playbooks.config import load_settings
from playbooks.data.io import load_windows
from playbooks.drills.live import approve_waiting
from playbooks.ledger import Ledger
from playbooks.loader import load_profile
from playbooks.modelstore import MlflowModelStore
from playbooks.sandbox import Sandbox, bootstrap_sandbox, inject_fault, make_fault

pytestmark = pytest.mark.flows

SMALL = {"rows_per_day": 300, "history_days": 14, "reference_rows": 4000,
         "now": datetime(2026, 3, 2, 12, tzinfo=UTC)}  # a fixed timeline: same data every run


@dataclass(frozen=True)
class Case:
    fault: str
    days: int
    playbook: str
    root_cause: str
    status: str
    remediation: str | None  # the applied-and-kept remediation, if any
    champion: str  # the champion version after the run


CASES = [
    # A retrain passes its pre-check, then waits for live windows (tests/flows and the drills
    # follow it to the end by advancing the sandbox).
    Case("concept-drift", 7, "performance-decay", "concept-drift", "monitoring", "retrain", "2"),
    Case("prevalence-shift", 7, "threshold-miscalibration", "prevalence-shift", "resolved",
         "recalibrate-threshold", "1"),
    Case("bad-release", 3, "bad-release", "regression-after-release", "resolved",
         "rollback-model", "1"),
    # v2 is the fallback the fault registers, v3 the broken release: roll back, escalate.
    Case("score-collapse", 3, "output-anomaly", "score-collapse", "escalated", "rollback-model",
         "1"),
    Case("heavy-release", 3, "serving-latency", "heavier-version", "resolved", "rollback-model",
         "1"),
    Case("saturation", 7, "serving-latency", "saturation", "escalated", None, "1"),
    Case("error-spike", 2, "serving-latency", "error-spike", "escalated", None, "1"),
]


def _sandbox(home: Path, fault: str, days: int, **params: Any) -> Sandbox:
    sb = bootstrap_sandbox(home / "sb", seed=3, **SMALL)  # type: ignore[arg-type]
    inject_fault(sb, make_fault(fault, **params), days=days, seed=5)
    return sb


def _registry(sb: Sandbox) -> MlflowModelStore:
    return MlflowModelStore(sb.tracking_uri)


def _run(sb: Sandbox, home: Path, playbook: str) -> dict[str, Any]:
    """Run the playbook; a change waiting for approval (the sandbox model is criticality: high,
    so a medium-risk retrain asks) is approved by alice, an approver in its profile."""
    res: dict[str, Any] = run_playbook(playbook=playbook, profile=str(sb.profile_path),
                                       home=str(home), quiet=True)
    if res["status"] == "awaiting_approval":
        assert res["approval"]["approvers"] == ["alice", "group:ml-leads"]
        (after,) = approve_waiting(str(home), [res["id"]], approver="alice", channel="cli")
        res = after.to_contract()
        kinds = [e["kind"] for e in res["timeline"]]
        assert kinds.index("approval_requested") < kinds.index("approved") < kinds.index(
            "applied")
    return res


@pytest.mark.parametrize("case", CASES, ids=[c.fault for c in CASES])
def test_fault_is_diagnosed_and_handled(case: Case, home: Path) -> None:
    sb = _sandbox(home, case.fault, case.days)
    res = _run(sb, home, case.playbook)
    assert res["root_cause"]["hypothesis_id"] == case.root_cause, res["hypotheses"]
    assert res["status"] == case.status, (res["remediations"], res["verification"])
    kept = [r["id"] for r in res["remediations"] if r["applied"] and not r["reverted"]]
    assert kept == ([case.remediation] if case.remediation else []), res["remediations"]
    assert not [r for r in res["remediations"] if r["reverted"]]
    assert _registry(sb).get_version(sb.model_name, "champion").version == case.champion
    if case.remediation:
        assert res["verification"]["passed"], res["verification"]
    if case.status == "escalated":
        assert res["escalated_to"] in ("ml-credit-team", "ml-oncall")
    asked = res["approval"] is not None
    assert asked is (case.remediation == "retrain")  # medium risk on a criticality: high model


def test_recalibrated_threshold_lives_on_the_version_and_reverts_exactly(home: Path) -> None:
    sb = _sandbox(home, "prevalence-shift", 7)
    res = _run(sb, home, "threshold-miscalibration")
    (rem,) = res["remediations"]
    change = rem["change"]
    assert change["version"] == "1" and change["previous"] == "0.5"
    tags = _registry(sb).get_version(sb.model_name, "1").tags
    assert tags["threshold"] == change["new"] and float(change["new"]) > 0.5
    # Traffic scored after the change decides with the version's threshold.
    inject_fault(sb, make_fault("none"), days=1, seed=9)
    log = load_windows(load_profile(sb.profile_path)).log
    tail = log[log["ts"] >= log["ts"].max() - pd.Timedelta("12h")]
    declined = tail["decision"] == "decline"
    assert len(tail) and (declined == (tail["score"] >= float(change["new"]))).all()


def test_no_fault_is_a_false_alarm_for_every_model_playbook(home: Path) -> None:
    sb = _sandbox(home, "none", 7)
    expected = {"performance-decay": "no-decay", "threshold-miscalibration": "on-target",
                "bad-release": "release-not-the-cause", "output-anomaly": "outputs-normal",
                "serving-latency": "within-slo"}
    for playbook, hypothesis in expected.items():
        res = _run(sb, home, playbook)
        assert (res["status"], res["root_cause"]["hypothesis_id"]) == ("false_alarm", hypothesis)
        assert res["remediations"] == [] and res["verification"] is None
        suggestion = res["root_cause"]["summary"]
        assert "suggested monitoring change" in suggestion or "not the cause" in suggestion
    reg = _registry(sb)
    assert reg.get_version(sb.model_name, "champion").version == "1"
    assert len(reg.list_versions(sb.model_name)) == 1
    assert reg.get_version(sb.model_name, "1").tags["threshold"] == "0.5"


def test_collateral_harm_to_a_segment_reverts_the_retrain(home: Path) -> None:
    # The concept changes everywhere but in the north: the retrained model is better overall
    # and clearly worse for northern applicants - verification must catch it and revert.
    regions = ["south", "east", "west", "central"]
    # More traffic: slice verdicts discount sampling noise, so the north needs enough rows.
    sb = bootstrap_sandbox(home / "sb", seed=3, **{**SMALL, "rows_per_day": 1000})  # type: ignore[arg-type]
    inject_fault(sb, make_fault("concept-drift", regions=regions), days=7, seed=5)
    res = _run(sb, home, "performance-decay")
    assert res["root_cause"]["hypothesis_id"] == "concept-drift"
    (rem,) = res["remediations"]
    assert rem["applied"] and rem["reverted"]
    failed = {c["id"] for c in res["verification"]["criteria"] if not c["passed"]}
    assert failed == {"no-slice-harm"}, res["verification"]
    assert res["status"] == "escalated"
    assert _registry(sb).get_version(sb.model_name, "champion").version == "1"
    (entry,) = Ledger(load_settings(home).ledger_url).journal(incident_id=res["id"])
    assert entry.phase == "reverted" and entry.closed


def test_missing_rollback_target_falls_back_to_the_fallback_model(home: Path) -> None:
    sb = _sandbox(home, "score-collapse", 3)
    from mlflow import MlflowClient

    MlflowClient(sb.tracking_uri).delete_model_version(sb.model_name, "1")  # v1 is gone
    res = _run(sb, home, "output-anomaly")
    rollback, fallback = res["remediations"]
    assert not rollback["applied"] and "no longer exists" in rollback["error"]
    assert fallback["id"] == "switch-to-fallback" and fallback["applied"]
    assert not fallback["reverted"] and res["verification"]["passed"]
    assert res["status"] == "escalated" and res["escalated_to"] == "ml-credit-team"
    reg = _registry(sb)
    assert reg.get_version(sb.model_name, "champion").version == (
        reg.get_version(sb.model_name, "fallback").version) == "2"
