"""The alert a game-day drill raises, and the routing that sends it to the entry playbook.

A drill enters through the same intake as a real alert (routing, dedup key, incident opened
in the ledger) and runs the same playbook flow; only the alert is synthesized here. Scoring
lives in ``playbooks.drills``.
"""

from __future__ import annotations

import random
from pathlib import Path

from playbooks.alerts.model import AlertStatus, ParsedAlert
from playbooks.alerts.routing import Route, RoutingRules

__all__ = ["drill_alert", "drill_rules", "pick_fault"]


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
