"""Escalation that reaches someone, and approvals that do not wait forever.

Pure part: ``levels_for`` (the spec's policy, or the default: the owner at once, oncall after
``escalation.after``), ``due_pages`` and ``approval_expired``. ``advance_people`` carries out
what is due for one incident on the engine clock: an expired approval escalates, the next
level is paged (a ``paged`` event and a notification that Slack and PagerDuty deliver), an
approved change that nobody carried out yet is applied. Acknowledging stops the paging.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta
from pathlib import Path

from playbooks.engine.lifecycle import spec_ref
from playbooks.engine.monitor import Step
from playbooks.engine.plugins import default_plugins
from playbooks.engine.runtime import Runtime
from playbooks.engine.transitions import HUMAN_WAIT, Event
from playbooks.errors import MlpbError
from playbooks.loader import load_profile, load_spec, resolve_spec_path
from playbooks.models.incident import Incident, IncidentStatus, Page
from playbooks.models.profile import ModelProfile, Owners
from playbooks.models.spec import EscalationLevel, PlaybookSpec
from playbooks.notify import Notification

__all__ = ["advance_people", "advance_people_safely", "approval_expired", "due_pages",
           "levels_for", "page", "people_incidents", "target_of"]

_ROLES = ("model", "data", "oncall")


def levels_for(spec: PlaybookSpec | None, inc: Incident,
               owners: Owners | None = None) -> list[EscalationLevel]:
    """The spec's escalation levels; without any: whom it was escalated to at once, then
    oncall after ``escalation.after`` if nobody acknowledged (unless that is the same one)."""
    if spec is not None and spec.escalation.levels:
        return list(spec.escalation.levels)
    first = inc.escalated_to or target_of(owners, spec.escalation.default_owner if spec
                                          else "oncall")
    levels = [EscalationLevel(notify=first, after=timedelta(0))]
    if spec is not None and target_of(owners, "oncall") != first:
        levels.append(EscalationLevel(notify="oncall", after=spec.escalation.after))
    return levels


def target_of(owners: Owners | None, notify: str) -> str:
    """A level's target as a name: owner roles resolve through the profile."""
    if owners is not None and notify in _ROLES:
        return str(getattr(owners, notify))
    return notify


def due_pages(inc: Incident, levels: list[EscalationLevel], now: datetime
              ) -> list[tuple[int, EscalationLevel]]:
    """Levels to notify now: the incident waits for a person, nobody has acknowledged since
    it began to wait, the level's delay has passed and it was not paged yet."""
    esc = inc.escalation
    if inc.status not in HUMAN_WAIT or esc is None or esc.acknowledged_at is not None:
        return []
    paged = {p.level for p in esc.pages}
    return [(i, lv) for i, lv in enumerate(levels)
            if i not in paged and now >= esc.started_at + lv.after]


def approval_expired(inc: Incident, now: datetime) -> bool:
    req = inc.approval
    return (inc.status is IncidentStatus.AWAITING_APPROVAL and req is not None
            and req.state == "pending" and now >= req.due_at)


def people_incidents(rt: Runtime) -> list[str]:
    """Incidents with something for the controller on the people side, oldest first."""
    ids: list[str] = []
    for status in (IncidentStatus.AWAITING_APPROVAL, IncidentStatus.REMEDIATING,
                   *sorted(HUMAN_WAIT)):
        for inc in reversed(rt.ledger.list(status=status.value, limit=10_000)):
            if status is IncidentStatus.REMEDIATING:
                if inc.approval is None or inc.approval.state != "approved":
                    continue
            elif status in HUMAN_WAIT and (inc.drill or inc.escalation is None
                                           or inc.escalation.acknowledged_at is not None):
                continue  # paged only until acknowledged; a game day pages nobody
            ids.append(inc.id)
    return ids


def _inputs(inc: Incident) -> tuple[PlaybookSpec | None, ModelProfile | None]:
    spec = profile = None
    with contextlib.suppress(MlpbError):  # an unrouted alert may name no known playbook
        spec = load_spec(resolve_spec_path(spec_ref(inc)), default_plugins())
    if inc.profile_path:
        with contextlib.suppress(MlpbError):
            profile = load_profile(Path(inc.profile_path))
    return spec, profile


def advance_people(rt: Runtime, incident_id: str) -> list[Step]:
    """Everything due on the people side of one incident now."""
    from playbooks.engine.runner import resume_approved  # runner imports the monitor

    inc = rt.ledger.get(incident_id)
    now = rt.now()
    steps: list[Step] = []
    if approval_expired(inc, now):
        assert inc.approval is not None
        spec, profile = _inputs(inc)
        role = spec.escalation.default_owner if spec else "oncall"
        owner = target_of(profile.owners if profile else None, role)
        req = inc.approval.model_copy(update={"state": "expired"})
        inc = rt.record(inc, Event.APPROVAL_EXPIRED,
                        f"no decision on '{req.remediation_id}' by "
                        f"{req.due_at:%Y-%m-%d %H:%M} UTC: escalated to {owner}",
                        data={"to": owner}, approval=req, escalated_to=owner)
        steps.append(Step(inc.id, "escalated", "approval timed out"))
    if inc.status is IncidentStatus.REMEDIATING and inc.approval is not None \
            and inc.approval.state == "approved":
        inc = resume_approved(rt, inc.id)
        steps.append(Step(inc.id, inc.status.value, "approved change carried out"))
    if inc.status in HUMAN_WAIT:
        spec, profile = _inputs(inc)
        owners = profile.owners if profile else None
        for index, level in due_pages(inc, levels_for(spec, inc, owners), now):
            target = target_of(owners, level.notify)
            inc = page(rt, inc, index, target, owners)
            steps.append(Step(inc.id, "paged", f"level {index + 1}: {target}"))
    return steps


def advance_people_safely(rt: Runtime, incident_id: str) -> list[Step]:
    """``advance_people``; an error is recorded on the incident, never raised."""
    try:
        return advance_people(rt, incident_id)
    except MlpbError as exc:
        rt.ledger.add_event(incident_id, "error", f"controller: {exc.message}")
        return [Step(incident_id, "error", exc.message)]


def page(rt: Runtime, inc: Incident, index: int, target: str, owners: Owners | None) -> Incident:
    assert inc.escalation is not None
    now = rt.now()
    esc = inc.escalation.model_copy(update={
        "pages": [*inc.escalation.pages, Page(level=index, target=target, at=now)]})
    people = owners.members(target) if owners else [target]
    inc = rt.record(inc, Event.PAGED, f"escalation level {index + 1}: notified {target}",
                    data={"level": index, "target": target, "people": people}, escalation=esc)
    rt.notify(Notification("paged", inc, f"paging {target} (level {index + 1})", [
        f"waiting since {esc.started_at:%Y-%m-%d %H:%M} UTC, not acknowledged",
        f"acknowledge: `mlpb incidents ack {inc.id} --as NAME`"],
        data={"page": {"level": index, "target": target, "people": people}}))
    return inc
