"""What people do to an incident: acknowledge, assign, note, resolve by hand, reopen.

Each is one event through the transition table (so it is on the timeline and in the
post-mortem); an action the incident's status does not allow is refused with the reason."""

from __future__ import annotations

from playbooks.engine.runtime import Runtime
from playbooks.engine.transitions import Event, IllegalTransition, allowed_events
from playbooks.errors import MlpbError
from playbooks.models.incident import Channel, Incident
from playbooks.notify import Notification

__all__ = ["acknowledge", "add_note", "assign", "reopen", "resolve_by_hand"]


class ActionRefused(MlpbError):
    exit_code = 4


def _check(inc: Incident, event: Event, what: str) -> None:
    if event not in allowed_events(inc.status):
        raise ActionRefused(f"{inc.id} is {inc.status.value}: it cannot be {what}",
                            hint=f"`mlpb incidents show {inc.id}` shows its history")


def _named(who: str) -> str:
    if not who.strip():
        raise ActionRefused("say who you are: --as NAME")
    return who.strip()


def acknowledge(rt: Runtime, incident_id: str, *, who: str, channel: Channel = "cli") -> Incident:
    """``who`` takes the incident: escalation stops paging; the first ack sets MTTA."""
    who = _named(who)
    inc = rt.ledger.get(incident_id)
    _check(inc, Event.ACKNOWLEDGED, "acknowledged")
    now = rt.now()
    updates: dict[str, object] = {}
    if inc.acknowledged_at is None:
        updates |= {"acknowledged_at": now, "acknowledged_by": who}
    if inc.escalation is not None and inc.escalation.acknowledged_at is None:
        updates["escalation"] = inc.escalation.model_copy(
            update={"acknowledged_by": who, "acknowledged_at": now})
    inc = rt.record(inc, Event.ACKNOWLEDGED, f"acknowledged by {who} via {channel}",
                    data={"by": who, "channel": channel}, **updates)
    rt.notify(Notification("acknowledged", inc, f"acknowledged by {who}", [f"via {channel}"]))
    return inc


def assign(rt: Runtime, incident_id: str, *, to: str, who: str) -> Incident:
    who, to = _named(who), to.strip()
    if not to:
        raise ActionRefused("name the new owner: --to NAME")
    inc = rt.ledger.get(incident_id)
    before = inc.owner
    inc = rt.record(inc, Event.ASSIGNED, f"assigned to {to} by {who} (was {before})",
                    data={"to": to, "from": before, "by": who}, owner=to)
    rt.notify(Notification("assigned", inc, f"assigned to {to}", [f"by {who}, was {before}"]))
    return inc


def add_note(rt: Runtime, incident_id: str, *, text: str, who: str) -> Incident:
    who = _named(who)
    if not text.strip():
        raise ActionRefused("a note needs text: --text TEXT")
    inc = rt.ledger.get(incident_id)
    return rt.record(inc, Event.NOTE, f"{who}: {text.strip()}", data={"by": who})


def resolve_by_hand(rt: Runtime, incident_id: str, *, who: str, note: str) -> Incident:
    """A person closes the incident with a resolution note (MTTR counts to this close). A
    pending approval is dropped: nothing will be applied for it."""
    who = _named(who)
    if not note.strip():
        raise ActionRefused("say how it was resolved: --note TEXT")
    inc = rt.ledger.get(incident_id)
    _check(inc, Event.RESOLVED_BY_HAND, "resolved by hand (a run or the controller is still "
           "working on it)")
    updates: dict[str, object] = {}
    if inc.approval is not None and inc.approval.state == "pending":
        updates["approval"] = inc.approval.model_copy(update={"state": "void"})
    try:
        inc = rt.record(inc, Event.RESOLVED_BY_HAND, f"resolved by {who}: {note.strip()}",
                        data={"by": who, "note": note.strip()}, **updates)
    except IllegalTransition as exc:  # raced with a run that moved it meanwhile
        raise ActionRefused(exc.message) from None
    return inc


def reopen(rt: Runtime, incident_id: str, *, who: str, reason: str) -> Incident:
    """A closed incident needs a person again: escalated to ``who``'s ownership."""
    who = _named(who)
    if not reason.strip():
        raise ActionRefused("say why it is reopened: --reason TEXT")
    inc = rt.ledger.get(incident_id)
    _check(inc, Event.REOPENED, "reopened")
    inc = rt.record(inc, Event.REOPENED, f"reopened by {who}: {reason.strip()}",
                    data={"by": who, "reason": reason.strip()}, owner=who, escalated_to=who)
    rt.notify(Notification("reopened", inc, f"reopened by {who}", [reason.strip()]))
    return inc
