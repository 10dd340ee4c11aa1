"""Who is told what: the stakeholder template.

An engineering channel gets every step (evidence, hypotheses, plans: templates.py). A
stakeholder channel (``audience: stakeholders`` in the profile's ``communication.channels``)
gets three lines on each status change and on the status cadence: what is going on in
business terms, what users see, and when the next update comes; never the evidence."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from playbooks.i18n import Msg, Translator, msg, translator
from playbooks.models.incident import Incident, IncidentStatus
from playbooks.models.profile import ProfileCommunication
from playbooks.notify.blocks import LIMITS, Limits, Message, build_message, escape
from playbooks.notify.templates import truncation_pointer

__all__ = ["STAKEHOLDER_KINDS", "render_stakeholder_parent", "render_stakeholder_update",
           "stakeholder_summary"]

# Notification kinds that change what a stakeholder should know (the rest is engineering).
STAKEHOLDER_KINDS = frozenset({"opened", "approval_needed", "approval_decision", "resolved",
                               "escalated", "false_alarm", "diagnosed", "reopened"})

def _state(status: IncidentStatus, model: str, owner: str) -> Msg:
    """What is going on, in business terms."""
    s = IncidentStatus
    if status in (s.OPEN, s.INVESTIGATING):
        return msg("We are investigating a problem with {model}.", model=model)
    if status is s.NEEDS_TRIAGE:
        return msg("A problem with {model} was reported and is being assigned to a team.",
                   model=model)
    if status is s.REMEDIATING:
        return msg("A fix for {model} is being applied.", model=model)
    if status is s.AWAITING_APPROVAL:
        return msg("A fix for {model} is ready and waits for sign-off.", model=model)
    if status is s.MONITORING:
        return msg("A fix for {model} is in place; we are checking on live traffic that it "
                   "holds.", model=model)
    if status is s.RESOLVED:
        return msg("The problem with {model} is fixed and the fix is verified.", model=model)
    if status is s.FALSE_ALARM:
        return msg("False alarm: {model} is working normally.", model=model)
    if status is s.DIAGNOSED:
        return msg("The cause of the problem with {model} is known; the team decides on the "
                   "fix.", model=model)
    if status is s.ESCALATED:
        return msg("The problem with {model} is with {owner}, who is working on it.",
                   model=model, owner=owner)
    return msg("The problem with {model} is handled under a more specific incident.",
               model=model)


_SEVERITY: dict[str, Msg] = {
    "SEV1": msg("critical"), "SEV2": msg("major"), "SEV3": msg("minor"), "SEV4": msg("low"),
}
_NORMAL = {IncidentStatus.RESOLVED, IncidentStatus.FALSE_ALARM}


def stakeholder_summary(inc: Incident, comm: ProfileCommunication, *, description: str = "",
                        next_update: datetime | None, tr: Translator) -> list[str]:
    """The three lines: state (business terms, severity), what users see, next update."""
    model = escape(inc.model)
    state = tr.t("*{state}* ({severity} impact)",
                 state=_state(inc.status, model, escape(inc.escalated_to or inc.owner)),
                 severity=_SEVERITY.get(inc.severity.value, _SEVERITY["SEV3"]))
    if inc.status in _NORMAL:
        users = tr.t("Users see normal service.")
    else:
        impact = comm.impact or description
        users = (tr.t("What users see: {users}", users=escape(comm.user_impact))
                 if comm.user_impact else tr.t("What users see: nothing described yet."))
        if impact:
            users = tr.t("Impact: {impact}. {users}", impact=escape(impact.rstrip(".")),
                         users=users)
    if inc.status.is_open and next_update is not None:
        update = tr.t("Next update: {when}.", when=next_update)
    elif inc.status.is_open:
        update = tr.t("Next update: on the next status change.")
    else:
        update = tr.t("Closed after {duration}; no further updates.",
                      duration=tr.duration(inc.mttr_seconds))
    return [state, users, update]


def render_stakeholder_parent(inc: Incident, *, title: str, comm: ProfileCommunication,
                              description: str = "", postmortem_dir: Path | None = None,
                              limits: Limits = LIMITS, tr: Translator | None = None) -> Message:
    """The parent message in a stakeholder channel: the first two lines (no clock in it, so
    an unchanged incident renders identically)."""
    tr = tr or translator("en")
    lines = stakeholder_summary(inc, comm, description=description, next_update=None, tr=tr)
    return build_message(header=f"{inc.id}: {tr(title)}", body=lines[:2],
                         context=[f"{escape(inc.id)} · {inc.severity.value}"],
                         text="\n".join([f"{inc.id}: {tr(title)}", *lines[:2]]),
                         pointer=truncation_pointer(inc, postmortem_dir, tr=tr), limits=limits)


def render_stakeholder_update(inc: Incident, *, comm: ProfileCommunication,
                              description: str = "", next_update: datetime | None,
                              limits: Limits = LIMITS, tr: Translator | None = None) -> Message:
    """A status reply in a stakeholder thread: the three-line summary."""
    tr = tr or translator("en")
    lines = stakeholder_summary(inc, comm, description=description, next_update=next_update,
                                tr=tr)
    return build_message(header=None, body=lines, context=[f"{escape(inc.id)} · status"],
                         text="\n".join([inc.id, *lines]),
                         pointer=truncation_pointer(inc, None, tr=tr), limits=limits)
