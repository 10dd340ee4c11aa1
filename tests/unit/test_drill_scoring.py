"""Drill expectations come from the owning spec; scoring needs top-1 root cause, outcome and,
for a change the spec monitors, how live monitoring ended."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from playbooks.drills import expectation_for, score_drill
from playbooks.drills.scoring import live_outcome
from playbooks.sandbox import FAULTS

T0 = datetime(2026, 1, 1, tzinfo=UTC)
VERIFIED = ["pass", "pass", "pass"]


def _incident(playbook: str, rc: str | None, status: str, *, applied: bool = False,
              verified: bool = False, iid: str = "INC-1",
              windows: list[str] | None = None) -> dict[str, Any]:
    """An incident's contract JSON; ``windows``: verdicts of the live windows after the change
    (a failing one is followed by the revert, as the controller does)."""
    timeline = [{"kind": "opened"}]
    monitoring = None
    if windows is not None:
        timeline += [{"kind": "monitoring"}, *({"kind": "window"} for _ in windows)]
        if "fail" in windows:
            timeline += [{"kind": "reverted"}, {"kind": "escalated"}]
        monitoring = {"windows": [{"index": i, "verdict": v} for i, v in enumerate(windows)]}
    return {
        "id": iid, "playbook": playbook, "status": status,
        "root_cause": {"hypothesis_id": rc} if rc else None,
        "remediations": [{"id": "fix", "applied": applied, "reverted": False}] if applied else [],
        "verification": {"passed": verified} if applied else None,
        "monitoring": monitoring, "timeline": timeline,
        "detected_at": (T0 + timedelta(seconds=3)).isoformat(),
        "resolved_at": (T0 + timedelta(seconds=9)).isoformat(), "updated_at": None,
    }


def test_every_fault_has_an_expectation_from_its_playbook_spec() -> None:
    for kind in FAULTS.kinds():
        exp = expectation_for(kind, FAULTS.get(kind).params)
        assert exp.outcome in ("resolved", "escalated", "false_alarm")
        assert exp.entry_playbook in (exp.playbook, "triage")
        assert exp.live in (None, "verified", "reverted")
        assert exp.live is None or exp.remediates


def test_a_monitored_fix_is_expected_to_verify_live() -> None:
    exp = expectation_for("covariate-drift", FAULTS.get("covariate-drift").params)
    assert (exp.outcome, exp.live) == ("resolved", "verified")  # data-drift monitors retrain
    unmonitored = expectation_for("null-spike", FAULTS.get("null-spike").params)
    assert unmonitored.live is None


def test_faults_whose_first_fix_fails_live_expect_revert_and_escalation() -> None:
    for kind in ("shift-keeps-moving", "release-degrades-live"):
        exp = expectation_for(kind, FAULTS.get(kind).params)
        assert (exp.playbook, exp.root_cause) == ("data-drift", "population-shift")
        assert (exp.outcome, exp.live, exp.remediates) == ("escalated", "reverted", True)


def test_resolved_drill_passes_with_times() -> None:
    exp = expectation_for("covariate-drift", FAULTS.get("covariate-drift").params)
    inc = _incident("data-drift", "population-shift", "resolved", applied=True, verified=True,
                    windows=VERIFIED)
    r = score_drill(exp, inc, seed=1, injected_at=T0)
    assert r.passed and r.detected and r.correct_root_cause
    assert r.time_to_detect_s == 3.0 and r.time_to_resolve_s == 6.0
    assert r.detail["live"] == "verified" and r.detail["windows"] == VERIFIED


def test_a_monitored_fix_must_have_been_verified_live() -> None:
    exp = expectation_for("covariate-drift", FAULTS.get("covariate-drift").params)
    unwatched = _incident("data-drift", "population-shift", "resolved", applied=True,
                          verified=True)  # closed on its pre-check alone
    r = score_drill(exp, unwatched, seed=1, injected_at=T0)
    assert not r.passed and r.detail["live"] is None and not r.detail["live_ok"]
    reverted = _incident("data-drift", "population-shift", "escalated", applied=True,
                         verified=True, windows=["pass", "fail"])
    assert not score_drill(exp, reverted, seed=1, injected_at=T0).passed


def test_a_fix_that_fails_live_passes_the_drill_only_when_reverted() -> None:
    exp = expectation_for("shift-keeps-moving", FAULTS.get("shift-keeps-moving").params)
    caught = _incident("data-drift", "population-shift", "escalated", applied=True,
                       verified=True, windows=["fail"])
    caught["resolved_at"], caught["updated_at"] = None, "2030-01-01T00:00:00+00:00"  # wall
    caught["timeline"][-1]["at"] = (T0 + timedelta(days=2)).isoformat()  # engine time
    r = score_drill(exp, caught, seed=1, injected_at=T0)
    assert r.passed and r.remediation == "fix" and r.detail["live"] == "reverted"
    assert r.time_to_resolve_s == timedelta(days=2, seconds=-3).total_seconds()
    missed = _incident("data-drift", "population-shift", "resolved", applied=True,
                       verified=True, windows=VERIFIED)
    assert not score_drill(exp, missed, seed=1, injected_at=T0).passed
    gave_up = _incident("data-drift", "population-shift", "escalated", applied=True,
                        verified=True, windows=["inconclusive"] * 3)
    r = score_drill(exp, gave_up, seed=1, injected_at=T0)
    assert not r.passed and r.detail["live"] == "unverified"


def test_live_outcome_of_an_incident() -> None:
    assert live_outcome(_incident("data-drift", None, "false_alarm")) is None
    assert live_outcome(_incident("data-drift", "x", "monitoring", windows=["pass"])) == (
        "monitoring")
    assert live_outcome(_incident("data-drift", "x", "resolved", windows=VERIFIED)) == "verified"
    assert live_outcome(_incident("data-drift", "x", "escalated", windows=["pass", "fail"])) == (
        "reverted")


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
                      applied=exp.remediates, verified=exp.remediates,
                      windows=VERIFIED if exp.live == "verified" else None)
    r = score_drill(exp, parent, seed=2, injected_at=T0, children=[child])
    assert r.passed and r.incident_id == "INC-C" and r.detail["entry_playbook"] == "triage"


def test_no_fault_must_change_nothing() -> None:
    exp = expectation_for("none", FAULTS.get("none").params)
    quiet = _incident("data-drift", "no-material-drift", "false_alarm")
    assert score_drill(exp, quiet, seed=1, injected_at=T0).passed
    meddled = _incident("data-drift", "no-material-drift", "false_alarm", applied=True)
    assert not score_drill(exp, meddled, seed=1, injected_at=T0).passed
