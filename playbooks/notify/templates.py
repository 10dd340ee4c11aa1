"""The standard Slack templates: one parent message per incident, one thread reply per
notification kind. Pure functions from (Notification / Incident) to a fitted ``Message``."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from playbooks.models.incident import Incident, IncidentStatus, Severity, Verdict
from playbooks.models.profile import Owners
from playbooks.notify.base import Notification
from playbooks.notify.blocks import (
    ACK,
    APPROVE,
    LIMITS,
    REJECT,
    Button,
    Limits,
    Message,
    build_message,
    button_value,
    clip,
    escape,
)

__all__ = ["acknowledged_by", "approval_outcome", "mention", "mentions", "postmortem_excerpt",
           "render_moved", "render_parent", "render_reminder", "render_reply", "retire_buttons",
           "truncation_pointer", "waits_for_a_person"]

_STATUS_ICON = {
    IncidentStatus.OPEN: ":large_yellow_circle:",
    IncidentStatus.INVESTIGATING: ":mag:",
    IncidentStatus.REMEDIATING: ":hammer_and_wrench:",
    IncidentStatus.MONITORING: ":eyes:",
    IncidentStatus.NEEDS_TRIAGE: ":question:",
    IncidentStatus.RESOLVED: ":white_check_mark:",
    IncidentStatus.FALSE_ALARM: ":white_circle:",
    IncidentStatus.DIAGNOSED: ":stethoscope:",
    IncidentStatus.ESCALATED: ":rotating_light:",
}
_SEV_ICON = {Severity.SEV1: ":red_circle:", Severity.SEV2: ":large_orange_circle:",
             Severity.SEV3: ":large_yellow_circle:", Severity.SEV4: ":large_blue_circle:"}
_KIND_ICON = {
    "opened": ":rotating_light:", "evidence": ":bar_chart:", "hypotheses": ":test_tube:",
    "root_cause": ":dart:", "remediation_plan": ":clipboard:", "approval_needed": ":raised_hand:",
    "verification": ":microscope:", "resolved": ":white_check_mark:", "escalated": ":sos:",
    "false_alarm": ":white_circle:", "diagnosed": ":stethoscope:", "reminder": ":alarm_clock:",
    "approval_decision": ":ballot_box_with_check:", "acknowledged": ":eyes:",
    "assigned": ":bust_in_silhouette:", "note": ":memo:", "paged": ":pager:",
    "reopened": ":arrows_counterclockwise:",
}
_VERDICT_ICON = {Verdict.SUPPORTED: ":white_check_mark:", Verdict.REFUTED: ":x:",
                 Verdict.INCONCLUSIVE: ":grey_question:"}
_CLOSING = {"resolved", "escalated", "false_alarm", "diagnosed"}


# Statuses in which a person is expected (transitions.HUMAN_WAIT plus a pending approval):
# the parent message offers Acknowledge until someone takes it.
_WAITS = {IncidentStatus.ESCALATED, IncidentStatus.NEEDS_TRIAGE,
          IncidentStatus.AWAITING_APPROVAL}


def mention(who: str | None, slack_ids: Mapping[str, str] | None = None) -> str:
    """A Slack mention for user / user-group ids, ``@here`` and people the profile maps to a
    Slack user id (``owners.slack_ids``); other names as plain text."""
    if not who:
        return "unassigned"
    if slack_ids and who in slack_ids:
        return f"<@{slack_ids[who]}>"
    if re.fullmatch(r"<[@!][^>]+>", who):
        return who
    if re.fullmatch(r"[UW][A-Z0-9]{6,}", who):
        return f"<@{who}>"
    if re.fullmatch(r"S[A-Z0-9]{6,}", who):
        return f"<!subteam^{who}>"
    if who in ("@here", "@channel"):
        return f"<!{who[1:]}>"
    return escape(who)


def mentions(entries: Sequence[str], owners: Owners | None) -> str:
    """Approver entries / page targets: people mentioned, groups with their members."""
    ids = owners.slack_ids if owners else None
    out = []
    for e in entries:
        if e.startswith("group:") and owners is not None:
            members = ", ".join(mention(m, ids) for m in owners.members(e))
            out.append(f"{escape(e)} ({members or 'no members'})")
        else:
            out.append(mention(e, ids))
    return ", ".join(out) or "nobody configured"


def waits_for_a_person(inc: Incident) -> bool:
    return inc.status in _WAITS


def acknowledged_by(inc: Incident) -> str | None:
    """Who took the current wait (an escalation is acknowledged per wait)."""
    if inc.escalation is not None and inc.status is not IncidentStatus.AWAITING_APPROVAL:
        return inc.escalation.acknowledged_by
    return inc.acknowledged_by


def truncation_pointer(inc: Incident, postmortem_dir: Path | None) -> str:
    path = inc.postmortem_path or (str(postmortem_dir / f"{inc.id}.md") if postmortem_dir else None)
    where = f"full post-mortem: {path}" if path else f"full record: `mlpb incidents show {inc.id}`"
    return f"… truncated; {where}"


def _dur(seconds: float | None) -> str:
    return "n/a" if seconds is None else str(timedelta(seconds=round(seconds)))


def _links(links: Mapping[str, str]) -> list[str]:
    return [f"<{url}|{escape(name)}>" for name, url in links.items() if url]


def render_parent(inc: Incident, *, title: str, links: Mapping[str, str],
                  postmortem_dir: Path | None = None, owners: Owners | None = None,
                  limits: Limits = LIMITS) -> Message:
    """The incident's one top-level message, updated in place as the status changes; while
    the incident waits for a person and nobody took it, it carries an Acknowledge button.

    Only incident state goes in (no clock), so an unchanged incident renders identically
    and needs no ``chat.update``."""
    icon = _STATUS_ICON.get(inc.status, "")
    version = f" v{inc.model_version}" if inc.model_version else ""
    ids = owners.slack_ids if owners else None
    fields = [
        f"*Severity*\n{_SEV_ICON[inc.severity]} {inc.severity.value}",
        f"*Status*\n{icon} {inc.status.value.replace('_', ' ')}",
        f"*Model*\n{escape(inc.model)}{escape(version)}",
        f"*Playbook*\n{escape(inc.playbook)} v{escape(inc.playbook_version)}",
        f"*Owner*\n{mention(inc.owner, ids)}",
    ]
    if inc.escalated_to:
        fields.append(f"*Escalated to*\n{mention(inc.escalated_to, ids)}")
    taken = acknowledged_by(inc)
    if taken and (inc.status.is_open or waits_for_a_person(inc)):
        fields.append(f"*Acknowledged by*\n{mention(taken, ids)}")
    buttons = ([Button(ACK, "Acknowledge", button_value(inc.id), style="primary")]
               if waits_for_a_person(inc) and not taken else [])
    body = []
    if inc.root_cause:
        rc = inc.root_cause
        body.append(f"*Root cause:* {escape(rc.hypothesis_id)} "
                    f"(confidence {rc.confidence:.2f}) — {escape(rc.summary)}")
    flags = [f for f, on in (("game-day drill", inc.drill), ("dry run", inc.dry_run)) if on]
    context = [f"{escape(inc.id)} · detected {inc.detected_at:%Y-%m-%d %H:%M} UTC"
               + "".join(f" · _{f}_" for f in flags), *_links(links)]
    text = (f"[{inc.severity.value}] {inc.id} {inc.status.value}: {title} "
            f"({inc.model}{version}, owner {inc.owner})")
    return build_message(header=f"{inc.id}: {title}", fields=fields, body=body, context=context,
                         text=text, pointer=truncation_pointer(inc, postmortem_dir),
                         buttons=buttons, limits=limits)


def postmortem_excerpt(path: str | None) -> list[str]:
    """The post-mortem's summary sections (everything before the timeline) as mrkdwn."""
    if not path:
        return []
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError:
        return []
    lines = []
    for line in text.splitlines()[1:]:  # the title repeats the parent's header
        if line.startswith("## Timeline"):
            break
        line = re.sub(r"\*\*(.+?)\*\*", r"*\1*", escape(line))
        lines.append(f"*{line[3:]}*" if line.startswith("## ") else line)
    return lines


def _body(note: Notification, owners: Owners | None) -> list[str]:
    inc = note.incident
    ids = owners.slack_ids if owners else None
    lines = [f"• {escape(line)}" for line in note.lines if line]
    if note.kind == "hypotheses" and inc.hypotheses:
        lines = [f"{_VERDICT_ICON[h.verdict]} *{escape(h.id)}* — {h.verdict.value} "
                 f"({h.confidence:.2f}): {escape(h.summary)}" for h in inc.hypotheses]
    elif note.kind == "root_cause" and inc.root_cause:
        rc = inc.root_cause
        lines.insert(0, f"*{escape(rc.hypothesis_id)}* (confidence {rc.confidence:.2f}): "
                        f"{escape(rc.summary)}")
    elif note.kind == "approval_needed":
        approvers = inc.approval.approvers if inc.approval else []
        who = mentions(approvers, owners) if approvers else mention(inc.owner, ids)
        lines.append(f"Approvers: {who}")
    elif note.kind == "escalated" and inc.escalated_to:
        lines.append(f"Over to {mention(inc.escalated_to, ids)}")
    elif note.kind == "paged" and isinstance(note.data.get("page"), Mapping):
        people = [str(p) for p in note.data["page"].get("people") or []]
        if people:
            lines.append(f"Paging {', '.join(mention(p, ids) for p in people)}")
    if note.kind in _CLOSING:
        lines.append(f"MTTD {_dur(inc.mttd_seconds)} · MTTR {_dur(inc.mttr_seconds)}")
        if excerpt := postmortem_excerpt(inc.postmortem_path):
            lines += ["*Post-mortem summary*", *excerpt]
    return lines


def _decision_buttons(note: Notification) -> list[Button]:
    """Approve / Reject on an approval request, carrying the pinned plan's hash (a press on
    an older request is refused once the plan changed)."""
    inc = note.incident
    pinned = str(note.data.get("plan_hash") or (inc.approval.plan_hash if inc.approval else ""))
    if note.kind != "approval_needed" or not pinned:
        return []
    what = inc.approval.remediation_id if inc.approval else "the change"
    value = button_value(inc.id, pinned)
    return [Button(APPROVE, "Approve", value, style="primary",
                   confirm=f"Apply {what} on {inc.model} exactly as planned ({pinned[:19]}…)?"),
            Button(REJECT, "Reject", value, style="danger")]


def render_reply(note: Notification, *, postmortem_dir: Path | None = None,
                 owners: Owners | None = None, limits: Limits = LIMITS) -> Message:
    """The thread reply of one notification, from its kind's template."""
    inc = note.incident
    head = f"{_KIND_ICON.get(note.kind, '')} *{escape(note.title)}*".strip()
    body = [head, *_body(note, owners)]
    if note.kind == "opened":
        body.append(f"Owner: {mention(inc.owner, owners.slack_ids if owners else None)}")
    text = "\n".join([f"{inc.id} {note.kind}: {note.title}", *note.lines])
    return build_message(header=None, body=body, context=[f"{escape(inc.id)} · {note.kind}"],
                         text=text, pointer=truncation_pointer(inc, postmortem_dir),
                         buttons=_decision_buttons(note), limits=limits)


def approval_outcome(inc: Incident, owners: Owners | None = None) -> str:
    """One line for an approval request that no longer waits: who decided, or why not."""
    req = inc.approval
    ids = owners.slack_ids if owners else None
    if req is None:
        return ":white_circle: No longer waiting for a decision."
    d = req.accepted
    said = f": {escape(d.reason)}" if d is not None and d.reason else ""
    if req.state in ("approved", "applying", "applied") and d is not None:
        return (f":white_check_mark: *Approved* by {mention(d.approver, ids)} via {d.channel} "
                f"at {d.at:%Y-%m-%d %H:%M} UTC{said}")
    if req.state == "rejected" and d is not None:
        return (f":no_entry: *Rejected* by {mention(d.approver, ids)} via {d.channel} "
                f"at {d.at:%Y-%m-%d %H:%M} UTC{said}")
    if req.state == "expired":
        return (f":hourglass: *No decision* by {req.due_at:%Y-%m-%d %H:%M} UTC: escalated"
                + (f" to {mention(inc.escalated_to, ids)}" if inc.escalated_to else ""))
    if req.state == "void":
        return ":arrows_counterclockwise: *Void*: the plan changed or the incident was closed."
    return ":white_circle: Superseded by a newer request in this thread."


def retire_buttons(original: Mapping[str, Any], line: str, *,
                   limits: Limits = LIMITS) -> Message:
    """``original`` (a posted message's payload) without its buttons, ``line`` in their place."""
    blocks = [b for b in original.get("blocks") or [] if b.get("type") != "actions"]
    at = next((i for i, b in enumerate(blocks) if b.get("type") == "divider"), len(blocks))
    blocks.insert(at, {"type": "section", "text": {"type": "mrkdwn",
                                                    "text": clip(line, limits.section_text)}})
    text = clip(f"{original.get('text', '')}\n{line}", limits.text)
    return Message(text=text, blocks=blocks)


def render_moved(inc: Incident, *, to: str, limits: Limits = LIMITS) -> Message:
    """The note left in the old thread when the incident moves to another channel."""
    line = (f":arrow_right: *Severity {inc.severity.value}: this incident moved to "
            f"{escape(to)}*; follow it there (the thread continues in the new channel).")
    return build_message(header=None, body=[line], context=[f"{escape(inc.id)} · moved"],
                         text=f"{inc.id} moved to {to} ({inc.severity.value})",
                         pointer=truncation_pointer(inc, None), limits=limits)


def render_reminder(inc: Incident, *, waiting_for: str, since: datetime, now: datetime,
                    slack_ids: Mapping[str, str] | None = None,
                    limits: Limits = LIMITS) -> Message:
    waited = _dur((now - since).total_seconds())
    line = (f"{_KIND_ICON['reminder']} *Still waiting for {escape(waiting_for)}* "
            f"(for {waited}, since {since:%H:%M} UTC) · {mention(inc.owner, slack_ids)}")
    return build_message(header=None, body=[line], context=[f"{escape(inc.id)} · reminder"],
                         text=f"{inc.id}: still waiting for {waiting_for} ({waited})",
                         pointer=truncation_pointer(inc, None), limits=limits)
