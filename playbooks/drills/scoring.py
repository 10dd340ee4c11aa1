"""Score a drill: did the playbook detect the injected fault, name the right root cause
(top-1), and end the way its own spec says it should? Pure: no Prefect, no I/O beyond
loading catalog specs."""

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

__all__ = ["Expectation", "expectation_for", "score_drill"]


@dataclass(frozen=True)
class Expectation:
    fault: str
    playbook: str  # the playbook that owns the failure
    root_cause: str  # hypothesis id that must come out top-1
    outcome: str  # final incident status the owning spec prescribes
    entry_playbook: str  # where the alert enters: the owning playbook or triage
    remediates: bool  # the spec prescribes a change (which must verify)


def expectation_for(fault_kind: str, params_cls: type[FaultParams]) -> Expectation:
    """What the owning playbook's spec says should happen for this fault."""
    spec = load_spec(resolve_spec_path(params_cls.playbook))
    hyp = spec.hypothesis(params_cls.root_cause)
    out = hyp.on_supported
    if out.close_as:
        outcome = "false_alarm"
    elif out.escalate_to:
        outcome = "escalated"
    else:
        outcome = "resolved"
    entry = params_cls.playbook if params_cls.alert_names_playbook else "triage"
    return Expectation(
        fault_kind, params_cls.playbook, params_cls.root_cause, outcome, entry, bool(out.remediate)
    )


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
    applied = [
        r for r in final.get("remediations", []) if r.get("applied") and not r.get("reverted")
    ]
    verified = bool(final.get("verification") and final["verification"].get("passed"))
    remediation_ok = (not applied) if not exp.remediates else (bool(applied) and verified)
    if is_none:
        remediation_ok = not any(r.get("applied") for r in final.get("remediations", []))
    detected_at = datetime.fromisoformat(result["detected_at"])
    resolved = final.get("resolved_at") or final.get("updated_at")
    ttr = (datetime.fromisoformat(resolved) - detected_at).total_seconds() if resolved else None
    passed = detected and correct and status == exp.outcome and remediation_ok
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
        remediation=applied[0]["id"] if applied else None,
        time_to_detect_s=max((detected_at - injected_at).total_seconds(), 0.0),
        time_to_resolve_s=ttr,
        passed=passed,
        detail={
            "entry_incident": result["id"],
            "entry_playbook": result["playbook"],
            "remediation_verified": verified,
            "remediation_ok": remediation_ok,
            "children": [c["id"] for c in children or []],
        },
    )
