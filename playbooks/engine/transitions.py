"""The incident state machine: every status an incident can have, the events that move it,
and the one function that applies an event (pure; no Prefect, no database).

Nothing else in the code base assigns ``Incident.status`` (a test walks the source to hold
that line). ``record_event`` is the persisted form: apply, then save the incident and its new
timeline entry in one ledger transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from playbooks.errors import MlpbError
from playbooks.models.incident import (
    EscalationState,
    Incident,
    IncidentStatus,
    TimelineEvent,
    utcnow,
)

if TYPE_CHECKING:
    from playbooks.ledger import Ledger

__all__ = [
    "HUMAN_WAIT",
    "TERMINAL",
    "TRANSITIONS",
    "Event",
    "IllegalTransition",
    "allowed_events",
    "apply_event",
    "record_event",
]

S = IncidentStatus


class Event(StrEnum):
    """What happened to an incident; the value is the timeline entry's ``kind``."""

    STARTED = "started"  # a run took the incident (queued by the receiver, or opened by it)
    UNROUTED = "unrouted"  # the alert matched no route / profile: parked for a human
    EVIDENCE = "evidence"  # the evidence package was collected
    DIAGNOSIS = "diagnosis"  # hypotheses tested and ranked, a decision made
    FALSE_ALARM = "false_alarm"  # the evidence says nothing is wrong: close without change
    HANDOVER = "handover"  # triage: a specialised playbook's incident takes over
    PLANNING = "planning"  # the remediation menu is about to be tried
    DRY_RUN = "dry_run"  # a remediation's plan previewed, nothing changed
    REMEDIATION = "remediation"  # journalled intent: one remediation is being applied
    APPLIED = "applied"  # the change is in place (prior state recorded)
    VERIFICATION = "verification"  # acceptance criteria measured after the change
    REVERTED = "reverted"  # a change was undone (failed criteria, error, or crash recovery)
    MONITORING = "monitoring"  # the change passed its pre-check; live windows are watched
    WINDOW = "window"  # one live window measured (pass, fail or inconclusive)
    RESOLVED = "resolved"  # a kept change passed every acceptance criterion
    RECOMMENDED = "recommended"  # diagnosed; a fix is recommended but nothing was applied
    ESCALATED = "escalated"  # handed to a human owner
    FAILED = "error"  # the run broke; the incident goes to a human
    RECOVERED = "recovered"  # a dead run's half-done change was reverted; goes to a human
    CLOSED = "closed"  # post-mortem written; the incident's record is final
    # people in the loop
    APPROVAL_REQUESTED = "approval_requested"  # a planned change waits, its plan pinned
    APPROVED = "approved"  # an approver accepted the pinned plan: the change goes ahead
    REJECTED = "rejected"  # an approver refused the change: a human owns the incident
    APPROVAL_VOID = "approval_void"  # fresh evidence changed the plan: asked again
    APPROVAL_EXPIRED = "approval_expired"  # no decision in time: escalated
    DECISION_REFUSED = "decision_refused"  # a decision from someone not allowed, or too late
    ACKNOWLEDGED = "acknowledged"  # a person took it: the escalation clock stops
    ASSIGNED = "assigned"  # ownership moved to a person
    NOTE = "note"  # a person's note on the timeline
    PAGED = "paged"  # an escalation level was notified
    RESOLVED_BY_HAND = "resolved_by_hand"  # a person closed it with a resolution note
    REOPENED = "reopened"  # a closed incident needs a person again


TERMINAL = frozenset({S.RESOLVED, S.FALSE_ALARM, S.DIAGNOSED, S.ESCALATED, S.HANDED_OVER})
_LIVE = (S.OPEN, S.NEEDS_TRIAGE, S.INVESTIGATING, S.REMEDIATING, S.MONITORING,
         S.AWAITING_APPROVAL)
# Statuses in which the incident waits for a person: the escalation clock runs.
HUMAN_WAIT = frozenset({S.ESCALATED, S.NEEDS_TRIAGE})
# A person may close these by hand (no run is working on them).
_HAND_CLOSABLE = (S.OPEN, S.NEEDS_TRIAGE, S.AWAITING_APPROVAL, S.ESCALATED, S.DIAGNOSED)
_REOPENABLE = (S.RESOLVED, S.FALSE_ALARM, S.DIAGNOSED, S.HANDED_OVER)


def _table() -> dict[tuple[IncidentStatus, Event], IncidentStatus]:
    t: dict[tuple[IncidentStatus, Event], IncidentStatus] = {
        (S.OPEN, Event.STARTED): S.INVESTIGATING,
        (S.OPEN, Event.UNROUTED): S.NEEDS_TRIAGE,
        (S.NEEDS_TRIAGE, Event.STARTED): S.INVESTIGATING,
        (S.INVESTIGATING, Event.EVIDENCE): S.INVESTIGATING,
        (S.INVESTIGATING, Event.DIAGNOSIS): S.INVESTIGATING,
        (S.INVESTIGATING, Event.FALSE_ALARM): S.FALSE_ALARM,
        (S.INVESTIGATING, Event.HANDOVER): S.HANDED_OVER,
        (S.INVESTIGATING, Event.PLANNING): S.REMEDIATING,
        (S.INVESTIGATING, Event.RECOMMENDED): S.DIAGNOSED,
        (S.REMEDIATING, Event.DRY_RUN): S.REMEDIATING,
        (S.REMEDIATING, Event.REMEDIATION): S.REMEDIATING,
        (S.REMEDIATING, Event.APPLIED): S.REMEDIATING,
        (S.REMEDIATING, Event.VERIFICATION): S.REMEDIATING,
        (S.REMEDIATING, Event.REVERTED): S.REMEDIATING,
        (S.REMEDIATING, Event.RESOLVED): S.RESOLVED,
        (S.REMEDIATING, Event.RECOMMENDED): S.DIAGNOSED,
        (S.REMEDIATING, Event.MONITORING): S.MONITORING,
        (S.MONITORING, Event.WINDOW): S.MONITORING,
        (S.MONITORING, Event.REVERTED): S.MONITORING,
        (S.MONITORING, Event.RESOLVED): S.RESOLVED,
        (S.REMEDIATING, Event.APPROVAL_REQUESTED): S.AWAITING_APPROVAL,
        (S.AWAITING_APPROVAL, Event.APPROVED): S.REMEDIATING,
        (S.AWAITING_APPROVAL, Event.REJECTED): S.ESCALATED,
        (S.REMEDIATING, Event.APPROVAL_VOID): S.AWAITING_APPROVAL,
        (S.AWAITING_APPROVAL, Event.APPROVAL_EXPIRED): S.ESCALATED,
    }
    for status in S:  # bookkeeping that never moves the incident
        for event in (Event.DECISION_REFUSED, Event.NOTE, Event.ASSIGNED):
            t[(status, event)] = status
    for status in (*_LIVE, S.ESCALATED, S.DIAGNOSED):
        t[(status, Event.ACKNOWLEDGED)] = status
    for status in HUMAN_WAIT:
        t[(status, Event.PAGED)] = status
    for status in _HAND_CLOSABLE:
        t[(status, Event.RESOLVED_BY_HAND)] = S.RESOLVED
    for status in _REOPENABLE:
        t[(status, Event.REOPENED)] = S.ESCALATED
    for live in _LIVE:  # a human can be called in from any live state
        t[(live, Event.ESCALATED)] = S.ESCALATED
        t[(live, Event.FAILED)] = S.ESCALATED
        t[(live, Event.RECOVERED)] = S.ESCALATED
    for done in TERMINAL:
        t[(done, Event.CLOSED)] = done
    return t


TRANSITIONS: Mapping[tuple[IncidentStatus, Event], IncidentStatus] = _table()
# Entering these stops the MTTR clock.
_RESOLVING = frozenset({S.RESOLVED, S.FALSE_ALARM})


class IllegalTransition(MlpbError):
    """An event that is not allowed in the incident's current status."""


def allowed_events(status: IncidentStatus) -> list[Event]:
    return [e for (s, e) in TRANSITIONS if s is status]


def apply_event(
    inc: Incident,
    event: Event,
    message: str,
    *,
    data: Mapping[str, Any] | None = None,
    at: datetime | None = None,
    **updates: Any,
) -> Incident:
    """The incident after ``event``: status from the table, timestamps set, one timeline
    entry appended. ``updates`` set other fields in the same step (e.g. ``escalated_to``).

    Raises IllegalTransition, naming both states, when the table has no such edge."""
    if "status" in updates:
        raise ValueError("status is set by the transition table, not by the caller")
    target = TRANSITIONS.get((inc.status, event))
    if target is None:
        allowed = ", ".join(e.value for e in allowed_events(inc.status)) or "none"
        raise IllegalTransition(
            f"incident {inc.id}: event '{event.value}' is not allowed in status "
            f"'{inc.status.value}' (it would leave '{inc.status.value}'; allowed: {allowed})",
            hint="this is a bug in the caller: the engine's transition table is in "
            "playbooks/engine/transitions.py",
        )
    now = at or utcnow()
    entry = TimelineEvent(at=now, kind=event.value, message=message, data=dict(data or {}))
    fields: dict[str, Any] = {
        **updates,
        "status": target,
        "updated_at": now,
        "timeline": [*inc.timeline, entry],
    }
    if target in _RESOLVING and inc.status not in _RESOLVING:
        fields["resolved_at"] = now
    if event is Event.REOPENED:
        fields["resolved_at"] = None
    if target in HUMAN_WAIT and (inc.status is not target or event is Event.REOPENED):
        fields.setdefault("escalation", EscalationState(started_at=now))
    return inc.model_copy(update=fields)


def record_event(ledger: Ledger, inc: Incident, event: Event, message: str,
                 **options: Any) -> Incident:
    """``apply_event`` (same keywords: data, at, updates), then persist the incident with its
    new timeline entry atomically."""
    new = apply_event(inc, event, message, **options)
    return ledger.save(new, event=new.timeline[-1])
