"""Score a drill: did the playbook detect the injected fault, name the right root cause
(top-1), and end the way its own spec says it should - including how live monitoring of the
fix ended (verified over its windows, or reverted)? Pure: no Prefect, no I/O beyond loading
catalog specs."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from playbooks.ledger.drills import DrillResult
from playbooks.loader import load_spec, resolve_spec_path
from playbooks.models.incident import utcnow

if TYPE_CHECKING:  # the sandbox (MLflow, sklearn) is not needed to score a drill
    from playbooks.sandbox.faults import FaultParams

__all__ = ["Expectation", "expectation_for", "live_outcome", "score_drill"]


@dataclass(frozen=True)
class Expectation:
    fault: str
    playbook: str  # the playbook that owns the failure
    root_cause: str  # hypothesis id that must come out top-1
    outcome: str  # final incident status
    entry_playbook: str  # where the alert enters: the owning playbook or triage
    remediates: bool  # the spec prescribes a change (whose pre-check must pass)
    live: str | None = None  # how live monitoring of the change ends: verified / reverted
    pre_check: str | None = None  # "reverted": the change must fail its pre-check and be undone


def expectation_for(fault_kind: str, params_cls: type[FaultParams]) -> Expectation:
    """What should happen for this fault: the owning playbook's spec prescribes the outcome
    and whether the change is monitored live; a fault whose first fix fails live
    (``live_outcome="reverted"``) must end reverted and escalated."""
    spec = load_spec(resolve_spec_path(params_cls.playbook))
    hyp = spec.hypothesis(params_cls.root_cause)
    out = hyp.on_supported
    if out.close_as:
        outcome = "false_alarm"
    elif out.escalate_to:
        outcome = "escalated"
    else:
        outcome = "resolved"
    monitored = any(spec.monitoring_for(rid) is not None for rid in out.remediate or [])
    live = params_cls.live_outcome or ("verified" if monitored else None)
    if live == "reverted":
        outcome = "escalated"  # the change is undone and a human takes over
    if params_cls.precheck_outcome == "reverted":  # undone before it is ever monitored
        outcome, live = "escalated", None
    entry = params_cls.playbook if params_cls.alert_names_playbook else "triage"
    return Expectation(fault_kind, params_cls.playbook, params_cls.root_cause, outcome, entry,
                       bool(out.remediate), live, params_cls.precheck_outcome)


def live_outcome(incident: dict[str, Any]) -> str | None:
    """How live monitoring ended for an incident's contract JSON: None (never monitored),
    ``monitoring`` (still watching), ``verified`` (resolved on its windows), ``reverted``
    (a window failed: the change was undone) or ``unverified`` (escalated without a verdict:
    too few rows or labels)."""
    mon = incident.get("monitoring")
    if not mon:
        return None
    if incident["status"] == "monitoring":
        return "monitoring"
    kinds = [e.get("kind") for e in incident.get("timeline", [])]
    watched = kinds[kinds.index("monitoring"):] if "monitoring" in kinds else kinds
    failed = any(w.get("verdict") == "fail" for w in mon.get("windows", []))
    if failed and "reverted" in watched:
        return "reverted"
    return "verified" if incident["status"] == "resolved" else "unverified"


def _final(result: dict[str, Any], children: list[dict[str, Any]]) -> dict[str, Any]:
    """The incident that owned the response: the triage child when there is one."""
    return children[-1] if children else result


def score_drill(
    exp: Expectation,
    result: dict[str, Any],
    *,
    seed: int,
    injected_at: datetime,
    children: list[dict[str, Any]] | None = None,
) -> DrillResult:
    """``result`` is the entry incident's contract JSON; ``children`` its handed-over ones."""
    final = _final(result, children or [])
    rc = (final.get("root_cause") or {}).get("hypothesis_id")
    status = final["status"]
    correct = final["playbook"] == exp.playbook and rc == exp.root_cause
    is_none = exp.outcome == "false_alarm"
    detected = status == "false_alarm" if is_none else (rc is not None and status != "false_alarm")
    tried = [r for r in final.get("remediations", []) if r.get("applied")]
    applied = [r for r in tried if not r.get("reverted")]
    verified = bool(final.get("verification") and final["verification"].get("passed"))
    live = live_outcome(final)
    remediation_ok = (not applied) if not exp.remediates else (bool(applied) and verified)
    if exp.remediates and exp.live == "reverted":  # kept after its pre-check, undone live
        remediation_ok = bool(tried) and verified
    if exp.remediates and exp.pre_check == "reverted":  # applied, failed its pre-check, undone
        remediation_ok = bool(tried) and not applied and not verified
    if is_none:
        remediation_ok = not any(r.get("applied") for r in final.get("remediations", []))
    live_ok = exp.live is None or live == exp.live
    detected_at = datetime.fromisoformat(result["detected_at"])
    # Not resolved: the last event (the ledger stamps updated_at with the wall clock, and a
    # drill runs on simulated time).
    last = (final.get("timeline") or [{}])[-1].get("at")
    resolved = final.get("resolved_at") or last or final.get("updated_at")
    ttr = (datetime.fromisoformat(resolved) - detected_at).total_seconds() if resolved else None
    passed = detected and correct and status == exp.outcome and remediation_ok and live_ok
    return DrillResult(
        id=f"DRILL-{utcnow():%Y%m%d}-{secrets.token_hex(3)}",
        at=utcnow(),
        incident_id=final["id"],
        playbook=final["playbook"],
        fault=exp.fault,
        seed=seed,
        detected=detected,
        expected_root_cause=exp.root_cause,
        root_cause=rc,
        correct_root_cause=correct,
        outcome=status,
        expected_outcome=exp.outcome,
        remediation=(applied or tried)[0]["id"] if tried else None,
        time_to_detect_s=max((detected_at - injected_at).total_seconds(), 0.0),
        time_to_resolve_s=ttr,
        passed=passed,
        detail={
            "entry_incident": result["id"],
            "entry_playbook": result["playbook"],
            "remediation_verified": verified,
            "remediation_ok": remediation_ok,
            "live": live,
            "expected_live": exp.live,
            "live_ok": live_ok,
            "windows": [w.get("verdict") for w in (final.get("monitoring") or {}).get(
                "windows", [])],
            "children": [c["id"] for c in children or []],
        },
    )
