"""Game-day drills, the pure parts: pick a fault, make the alert it would raise, score the run.

A drill enters through the same intake as a real alert (routing, dedup key, incident opened
by the ledger) and runs the same playbook flow; only the alert is synthesized here.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from playbooks.alerts.model import AlertStatus, ParsedAlert
from playbooks.alerts.routing import Route, RoutingRules
from playbooks.ledger.drills import DrillResult
from playbooks.models.incident import utcnow

__all__ = ["EXPECTED", "Expectation", "drill_alert", "drill_rules", "pick_fault", "score_drill"]


@dataclass(frozen=True)
class Expectation:
    root_cause: str
    outcome: str  # the incident's final status


# What a correct data-drift response to each sandbox fault looks like.
EXPECTED: dict[str, Expectation] = {
    "covariate-drift": Expectation("population-shift", "resolved"),
    "unit-change": Expectation("upstream-unit-change", "escalated"),
    "none": Expectation("no-material-drift", "false_alarm"),
}


def pick_fault(kinds: list[str], fault: str, seed: int) -> str:
    """``fault`` itself, or a seeded choice among ``kinds`` for ``random``."""
    if fault != "random":
        return fault
    return random.Random(seed).choice(sorted(kinds))


def drill_rules(playbook: str, profile: Path) -> RoutingRules:
    return RoutingRules(routes=[Route(name="game-day", match={"drill": "true"},
                                      playbook=playbook, profile=str(profile))])


def drill_alert(model: str, playbook: str, fault: str, drill_id: str) -> ParsedAlert:
    return ParsedAlert(source="generic", status=AlertStatus.FIRING,
                       labels={"alertname": "GameDayDrill", "model": model,
                               "playbook": playbook, "drill": "true"},
                       annotations={"summary": f"game-day drill {drill_id}: injected {fault}"},
                       fingerprint=drill_id, raw={"drill_id": drill_id, "fault": fault})


def score_drill(*, drill_id: str, incident: dict[str, Any], playbook: str, fault: str,
                seed: int, injected_at: datetime, detail: dict[str, Any]) -> DrillResult:
    """Score one drill from the Incident contract JSON the playbook returned."""
    want = EXPECTED.get(fault)
    rc = (incident.get("root_cause") or {}).get("hypothesis_id")
    outcome = str(incident.get("status"))
    detected = rc is not None and rc != "no-material-drift"
    applied = [r["id"] for r in incident.get("remediations", []) if r.get("applied")]
    detected_at = _ts(incident.get("detected_at"))
    closed_at = _ts(incident.get("resolved_at")) or _ts(incident.get("updated_at"))
    correct = want is not None and rc == want.root_cause
    return DrillResult(
        id=drill_id, at=utcnow(), incident_id=incident.get("id"), playbook=playbook,
        fault=fault, seed=seed, detected=detected,
        expected_root_cause=want.root_cause if want else None, root_cause=rc,
        correct_root_cause=correct, outcome=outcome,
        expected_outcome=want.outcome if want else None,
        remediation=",".join(applied) or None,
        time_to_detect_s=(detected_at - injected_at).total_seconds() if detected_at else None,
        time_to_resolve_s=((closed_at - detected_at).total_seconds()
                           if closed_at and detected_at else None),
        passed=correct and want is not None and outcome == want.outcome,
        detail=detail)


def _ts(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))
