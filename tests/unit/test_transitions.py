"""The incident state machine: every allowed edge works, forbidden ones raise, and nothing
outside playbooks/engine/transitions.py assigns a status."""

from __future__ import annotations

import ast
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from playbooks.engine.transitions import (
    TERMINAL,
    TRANSITIONS,
    Event,
    IllegalTransition,
    apply_event,
)
from playbooks.models.incident import Incident, IncidentStatus

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _incident(status: IncidentStatus) -> Incident:
    return Incident(id="INC-t", playbook="p", playbook_version="1.0.0", playbook_hash="h",
                    model="m", dedup_key="k", status=status, detected_at=T0)


@pytest.mark.parametrize(("edge", "target"), sorted(TRANSITIONS.items()), ids=str)
def test_every_allowed_edge(edge: tuple[IncidentStatus, Event], target: IncidentStatus) -> None:
    source, event = edge
    at = datetime(2026, 1, 1, 0, 5, tzinfo=UTC)
    after = apply_event(_incident(source), event, f"{event.value} happened", at=at,
                        data={"x": 1})
    assert after.status is target
    assert after.timeline[-1].kind == event.value and after.timeline[-1].data == {"x": 1}
    assert after.updated_at == at
    resolves = target in (IncidentStatus.RESOLVED, IncidentStatus.FALSE_ALARM) and source != target
    assert (after.resolved_at == at) is resolves
    if resolves:
        assert after.mttr_seconds == 300.0


def test_forbidden_edges_raise_naming_both_states() -> None:
    forbidden = [(s, e) for s in IncidentStatus for e in Event if (s, e) not in TRANSITIONS]
    assert forbidden  # the table is not "anything goes"
    for status, event in forbidden:
        pattern = f"'{re.escape(event.value)}'.*'{re.escape(status.value)}'"
        with pytest.raises(IllegalTransition, match=pattern):
            apply_event(_incident(status), event, "nope")
    with pytest.raises(IllegalTransition, match=r"'escalated'.*'resolved'.*allowed: .*closed"):
        apply_event(_incident(IncidentStatus.RESOLVED), Event.ESCALATED, "late")


# What people may still do to an incident no run works on any more.
_PEOPLE = {Event.DECISION_REFUSED, Event.NOTE, Event.ASSIGNED}


def test_terminal_states_only_close_or_take_people_and_every_state_is_reachable() -> None:
    for status in TERMINAL:
        moves = {e for (s, e) in TRANSITIONS if s is status}
        assert Event.CLOSED in moves
        assert moves - {Event.CLOSED} - _PEOPLE <= {
            Event.ACKNOWLEDGED, Event.PAGED, Event.RESOLVED_BY_HAND, Event.REOPENED}
        # no automatic step moves a finished incident
        assert not moves & {Event.STARTED, Event.APPLIED, Event.RESOLVED, Event.ESCALATED}
    reachable, frontier = {IncidentStatus.OPEN}, [IncidentStatus.OPEN]
    while frontier:
        here = frontier.pop()
        for (s, _), t in TRANSITIONS.items():
            if s is here and t not in reachable:
                reachable.add(t)
                frontier.append(t)
    assert reachable == set(IncidentStatus)


def test_updates_ride_along_but_status_cannot() -> None:
    after = apply_event(_incident(IncidentStatus.INVESTIGATING), Event.ESCALATED, "human",
                        escalated_to="alice")
    assert after.escalated_to == "alice" and after.status is IncidentStatus.ESCALATED
    with pytest.raises(ValueError, match="transition table"):
        apply_event(_incident(IncidentStatus.OPEN), Event.STARTED, "x",
                    status=IncidentStatus.RESOLVED)


def _status_writes(path: Path) -> list[str]:
    """Places in ``path`` that set an incident's status other than through the table."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    hits: list[str] = []
    for node in ast.walk(tree):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        for t in targets:
            for leaf in ast.walk(t):
                if isinstance(leaf, ast.Attribute) and leaf.attr == "status":
                    hits.append(f"{path}:{node.lineno}: assigns .status")
        if isinstance(node, ast.Call):
            name = getattr(node.func, "id", getattr(node.func, "attr", ""))
            if name == "Incident" and any(k.arg == "status" for k in node.keywords):
                hits.append(f"{path}:{node.lineno}: Incident(status=...)")
            if name == "model_copy":
                for k in node.keywords:
                    if k.arg == "update" and isinstance(k.value, ast.Dict) and any(
                        isinstance(key, ast.Constant) and key.value == "status"
                        for key in k.value.keys
                    ):
                        hits.append(f"{path}:{node.lineno}: model_copy(update={{'status':..}})")
    return hits


def test_no_status_assignment_outside_the_transition_function() -> None:
    allowed = ROOT / "playbooks/engine/transitions.py"
    files = [p for top in ("playbooks", "tasks", "flows", "deployments", "cli")
             for p in (ROOT / top).rglob("*.py") if p != allowed]
    assert len(files) > 50
    hits = [h for p in files for h in _status_writes(p)]
    assert hits == [], "\n".join(hits)


def test_the_guard_itself_catches_an_assignment(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("inc.status = 'resolved'\nIncident(id='x', status=s)\n"
                   "inc.model_copy(update={'status': s})\n", encoding="utf-8")
    assert len(_status_writes(bad)) == 3


def test_approval_edges_and_the_escalation_clock() -> None:
    waiting = apply_event(_incident(IncidentStatus.REMEDIATING), Event.APPROVAL_REQUESTED, "ask")
    assert waiting.status is IncidentStatus.AWAITING_APPROVAL and waiting.status.is_open
    assert apply_event(waiting, Event.APPROVED, "yes").status is IncidentStatus.REMEDIATING
    rejected = apply_event(waiting, Event.REJECTED, "no", at=T0)
    assert rejected.status is IncidentStatus.ESCALATED
    assert rejected.escalation is not None and rejected.escalation.started_at == T0
    with pytest.raises(IllegalTransition):
        apply_event(_incident(IncidentStatus.INVESTIGATING), Event.APPROVED, "not asked")


def test_reopen_clears_resolution_and_restarts_the_clock() -> None:
    at = datetime(2026, 1, 1, 1, tzinfo=UTC)
    done = apply_event(_incident(IncidentStatus.ESCALATED), Event.RESOLVED_BY_HAND, "fixed",
                       at=at)
    assert done.status is IncidentStatus.RESOLVED and done.mttr_seconds == 3600.0
    again = apply_event(done, Event.REOPENED, "back", at=at)
    assert again.status is IncidentStatus.ESCALATED and again.resolved_at is None
    assert again.escalation is not None and again.escalation.started_at == at
