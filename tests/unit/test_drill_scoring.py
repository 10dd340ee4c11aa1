"""Drill expectations come from the owning spec; scoring needs top-1 root cause and outcome."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from playbooks.drills import expectation_for, score_drill
from playbooks.sandbox import FAULTS

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _incident(playbook: str, rc: str | None, status: str, *, applied: bool = False,
              verified: bool = False, iid: str = "INC-1") -> dict[str, Any]:
    return {
        "id": iid, "playbook": playbook, "status": status,
        "root_cause": {"hypothesis_id": rc} if rc else None,
        "remediations": [{"id": "fix", "applied": applied, "reverted": False}] if applied else [],
        "verification": {"passed": verified} if applied else None,
        "detected_at": (T0 + timedelta(seconds=3)).isoformat(),
        "resolved_at": (T0 + timedelta(seconds=9)).isoformat(), "updated_at": None,
    }


def test_every_fault_has_an_expectation_from_its_playbook_spec() -> None:
    for kind in FAULTS.kinds():
        exp = expectation_for(kind, FAULTS.get(kind).params)
        assert exp.outcome in ("resolved", "escalated", "false_alarm")
        assert exp.entry_playbook in (exp.playbook, "triage")


def test_resolved_drill_passes_with_times() -> None:
    exp = expectation_for("covariate-drift", FAULTS.get("covariate-drift").params)
    inc = _incident("data-drift", "population-shift", "resolved", applied=True, verified=True)
    r = score_drill(exp, inc, seed=1, injected_at=T0)
    assert r.passed and r.detected and r.correct_root_cause
    assert r.time_to_detect_s == 3.0 and r.time_to_resolve_s == 6.0


def test_wrong_root_cause_or_unverified_change_fails() -> None:
    exp = expectation_for("covariate-drift", FAULTS.get("covariate-drift").params)
    wrong = _incident("data-drift", "upstream-unit-change", "escalated")
    assert not score_drill(exp, wrong, seed=1, injected_at=T0).passed
    unverified = _incident("data-drift", "population-shift", "resolved", applied=True)
    assert not score_drill(exp, unverified, seed=1, injected_at=T0).passed


def test_triage_child_is_what_counts() -> None:
    kind = next(k for k in FAULTS.kinds() if not FAULTS.get(k).params.alert_names_playbook)
    exp = expectation_for(kind, FAULTS.get(kind).params)
    parent = _incident("triage", exp.playbook, "handed_over", iid="INC-P")
    child = _incident(exp.playbook, exp.root_cause, exp.outcome, iid="INC-C",
                      applied=exp.remediates, verified=exp.remediates)
    r = score_drill(exp, parent, seed=2, injected_at=T0, children=[child])
    assert r.passed and r.incident_id == "INC-C" and r.detail["entry_playbook"] == "triage"


def test_no_fault_must_change_nothing() -> None:
    exp = expectation_for("none", FAULTS.get("none").params)
    quiet = _incident("data-drift", "no-material-drift", "false_alarm")
    assert score_drill(exp, quiet, seed=1, injected_at=T0).passed
    meddled = _incident("data-drift", "no-material-drift", "false_alarm", applied=True)
    assert not score_drill(exp, meddled, seed=1, injected_at=T0).passed
