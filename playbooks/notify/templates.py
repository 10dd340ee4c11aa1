"""The standard Slack templates: one parent message per incident, one thread reply per
notification kind. Pure functions from (Notification / Incident) to a fitted ``Message``."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from playbooks.i18n import Translator, msg, translator
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
from playbooks.notify.words import status_label, verdict_label

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


_EN = translator("en")


def mention(who: str | None, slack_ids: Mapping[str, str] | None = None, *,
            tr: Translator = _EN) -> str:
    """A Slack mention for user / user-group ids, ``@here`` and people the profile maps to a
    Slack user id (``owners.slack_ids``); other names as plain text."""
    if not who:
        return tr.t("unassigned")
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


def mentions(entries: Sequence[str], owners: Owners | None, *, tr: Translator = _EN) -> str:
    """Approver entries / page targets: people mentioned, groups with their members."""
    ids = owners.slack_ids if owners else None
    out = []
    for e in entries:
        if e.startswith("group:") and owners is not None:
            members = ", ".join(mention(m, ids, tr=tr) for m in owners.members(e))
            out.append(f"{escape(e)} ({members})" if members
                       else tr.t("{group} (no members)", group=escape(e)))
        else:
            out.append(mention(e, ids, tr=tr))
    return ", ".join(out) or tr.t("nobody configured")


def waits_for_a_person(inc: Incident) -> bool:
    return inc.status in _WAITS


def acknowledged_by(inc: Incident) -> str | None:
    """Who took the current wait (an escalation is acknowledged per wait)."""
    if inc.escalation is not None and inc.status is not IncidentStatus.AWAITING_APPROVAL:
        return inc.escalation.acknowledged_by
    return inc.acknowledged_by


def truncation_pointer(inc: Incident, postmortem_dir: Path | None, *,
                       tr: Translator = _EN) -> str:
    path = inc.postmortem_path or (str(postmortem_dir / f"{inc.id}.md") if postmortem_dir else None)
    if path:
        return tr.t("… truncated; full post-mortem: {path}", path=path)
    return tr.t("… truncated; full record: `mlpb incidents show {id}`", id=inc.id)


def _dur(seconds: float | None, tr: Translator = _EN) -> str:
    return tr.duration(seconds)


def _links(links: Mapping[str, str]) -> list[str]:
    return [f"<{url}|{escape(name)}>" for name, url in links.items() if url]


def _field(label: str, value: str) -> str:
    return f"*{label}*\n{value}"


def _bold(text: str) -> str:
    return f"*{text}*"


def render_parent(inc: Incident, *, title: str, links: Mapping[str, str],
                  postmortem_dir: Path | None = None, owners: Owners | None = None,
                  limits: Limits = LIMITS, tr: Translator = _EN) -> Message:
    """The incident's one top-level message, updated in place as the status changes; while
    the incident waits for a person and nobody took it, it carries an Acknowledge button.

    Only incident state goes in (no clock), so an unchanged incident renders identically
    and needs no ``chat.update``."""
    icon = _STATUS_ICON.get(inc.status, "")
    version = f" v{inc.model_version}" if inc.model_version else ""
    ids = owners.slack_ids if owners else None
    status = tr(status_label(inc.status))
    fields = [
        _field(tr.t("Severity"), f"{_SEV_ICON[inc.severity]} {inc.severity.value}"),
        _field(tr.t("Status"), f"{icon} {status}"),
        _field(tr.t("Model"), f"{escape(inc.model)}{escape(version)}"),
        _field(tr.t("Playbook"), f"{escape(inc.playbook)} v{escape(inc.playbook_version)}"),
        _field(tr.t("Owner"), mention(inc.owner, ids, tr=tr)),
    ]
    if inc.escalated_to:
        fields.append(_field(tr.t("Escalated to"), mention(inc.escalated_to, ids, tr=tr)))
    taken = acknowledged_by(inc)
    if taken and (inc.status.is_open or waits_for_a_person(inc)):
        fields.append(_field(tr.t("Acknowledged by"), mention(taken, ids, tr=tr)))
    buttons = ([Button(ACK, tr.t("Acknowledge"), button_value(inc.id), style="primary")]
               if waits_for_a_person(inc) and not taken else [])
    body = []
    if inc.root_cause:
        rc = inc.root_cause
        body.append(tr.t("*Root cause:* {hypothesis} (confidence {confidence}) — {summary}",
                         hypothesis=escape(rc.hypothesis_id), confidence=rc.confidence,
                         summary=escape(rc.summary)))
    flags = [f for f, on in ((tr.t("game-day drill"), inc.drill), (tr.t("dry run"), inc.dry_run))
             if on]
    context = [tr.t("{id} · detected {when}", id=escape(inc.id), when=inc.detected_at)
               + "".join(f" · _{f}_" for f in flags), *_links(links)]
    text = tr.t("[{severity}] {id} {status}: {title} ({model}{version}, owner {owner})",
                severity=inc.severity.value, id=inc.id, status=status, title=tr(title),
                model=inc.model, version=version, owner=inc.owner)
    return build_message(header=f"{inc.id}: {tr(title)}", fields=fields, body=body,
                         context=context, text=text,
                         pointer=truncation_pointer(inc, postmortem_dir, tr=tr),
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


def _body(note: Notification, owners: Owners | None, tr: Translator) -> list[str]:
    inc = note.incident
    ids = owners.slack_ids if owners else None
    lines = [f"• {escape(tr(line))}" for line in note.lines if line]
    if note.kind == "hypotheses" and inc.hypotheses:
        lines = [f"{_VERDICT_ICON[h.verdict]} *{escape(h.id)}* — {tr(verdict_label(h.verdict))} "
                 f"({tr.num(h.confidence)}): {escape(h.summary)}" for h in inc.hypotheses]
    elif note.kind == "root_cause" and inc.root_cause:
        rc = inc.root_cause
        lines.insert(0, tr.t("*{hypothesis}* (confidence {confidence}): {summary}",
                             hypothesis=escape(rc.hypothesis_id), confidence=rc.confidence,
                             summary=escape(rc.summary)))
    elif note.kind == "approval_needed":
        approvers = inc.approval.approvers if inc.approval else []
        who = mentions(approvers, owners, tr=tr) if approvers else mention(inc.owner, ids, tr=tr)
        lines.append(tr.t("Approvers: {who}", who=who))
    elif note.kind == "escalated" and inc.escalated_to:
        lines.append(tr.t("Over to {who}", who=mention(inc.escalated_to, ids, tr=tr)))
    elif note.kind == "paged" and isinstance(note.data.get("page"), Mapping):
        people = [str(p) for p in note.data["page"].get("people") or []]
        if people:
            lines.append(tr.t("Paging {people}",
                              people=", ".join(mention(p, ids, tr=tr) for p in people)))
    if note.kind in _CLOSING:
        lines.append(tr.t("MTTD {mttd} · MTTR {mttr}", mttd=_dur(inc.mttd_seconds, tr),
                          mttr=_dur(inc.mttr_seconds, tr)))
        if excerpt := postmortem_excerpt(inc.postmortem_path):
            lines += [_bold(tr.t("Post-mortem summary")), *excerpt]
    return lines


def _decision_buttons(note: Notification, tr: Translator) -> list[Button]:
    """Approve / Reject on an approval request, carrying the pinned plan's hash (a press on
    an older request is refused once the plan changed)."""
    inc = note.incident
    pinned = str(note.data.get("plan_hash") or (inc.approval.plan_hash if inc.approval else ""))
    if note.kind != "approval_needed" or not pinned:
        return []
    what = inc.approval.remediation_id if inc.approval else tr.t("the change")
    value = button_value(inc.id, pinned)
    return [Button(APPROVE, tr.t("Approve"), value, style="primary",
                   confirm=tr.t("Apply {what} on {model} exactly as planned ({plan}…)?",
                                what=what, model=inc.model, plan=pinned[:19])),
            Button(REJECT, tr.t("Reject"), value, style="danger")]


def render_reply(note: Notification, *, postmortem_dir: Path | None = None,
                 owners: Owners | None = None, limits: Limits = LIMITS,
                 tr: Translator = _EN) -> Message:
    """The thread reply of one notification, from its kind's template."""
    inc = note.incident
    title = tr(note.title)
    head = f"{_KIND_ICON.get(note.kind, '')} *{escape(title)}*".strip()
    body = [head, *_body(note, owners, tr)]
    if note.kind == "opened":
        body.append(tr.t("Owner: {who}", who=mention(inc.owner, owners.slack_ids if owners
                                                       else None, tr=tr)))
    text = "\n".join([f"{inc.id} {note.kind}: {title}", *map(tr, note.lines)])
    return build_message(header=None, body=body, context=[f"{escape(inc.id)} · {note.kind}"],
                         text=text, pointer=truncation_pointer(inc, postmortem_dir, tr=tr),
                         buttons=_decision_buttons(note, tr), limits=limits)


def approval_outcome(inc: Incident, owners: Owners | None = None, *,
                     tr: Translator = _EN) -> str:
    """One line for an approval request that no longer waits: who decided, or why not."""
    req = inc.approval
    ids = owners.slack_ids if owners else None
    if req is None:
        return tr.t(":white_circle: No longer waiting for a decision.")
    d = req.accepted
    said = f": {escape(d.reason)}" if d is not None and d.reason else ""
    if req.state in ("approved", "applying", "applied") and d is not None:
        return tr.t(":white_check_mark: *Approved* by {who} via {channel} at {when}{said}",
                    who=mention(d.approver, ids, tr=tr), channel=d.channel, when=d.at, said=said)
    if req.state == "rejected" and d is not None:
        return tr.t(":no_entry: *Rejected* by {who} via {channel} at {when}{said}",
                    who=mention(d.approver, ids, tr=tr), channel=d.channel, when=d.at, said=said)
    if req.state == "expired":
        if inc.escalated_to:
            return tr.t(":hourglass: *No decision* by {when}: escalated to {who}",
                        when=req.due_at, who=mention(inc.escalated_to, ids, tr=tr))
        return tr.t(":hourglass: *No decision* by {when}: escalated", when=req.due_at)
    if req.state == "void":
        return tr.t(":arrows_counterclockwise: *Void*: the plan changed or the incident was "
                    "closed.")
    return tr.t(":white_circle: Superseded by a newer request in this thread.")


def retire_buttons(original: Mapping[str, Any], line: str, *,
                   limits: Limits = LIMITS) -> Message:
    """``original`` (a posted message's payload) without its buttons, ``line`` in their place."""
    blocks = [b for b in original.get("blocks") or [] if b.get("type") != "actions"]
    at = next((i for i, b in enumerate(blocks) if b.get("type") == "divider"), len(blocks))
    blocks.insert(at, {"type": "section", "text": {"type": "mrkdwn",
                                                    "text": clip(line, limits.section_text)}})
    text = clip(f"{original.get('text', '')}\n{line}", limits.text)
    return Message(text=text, blocks=blocks)


def render_moved(inc: Incident, *, to: str, limits: Limits = LIMITS,
                 tr: Translator = _EN) -> Message:
    """The note left in the old thread when the incident moves to another channel."""
    line = tr.t(":arrow_right: *Severity {severity}: this incident moved to {to}*; follow it "
                "there (the thread continues in the new channel).",
                severity=inc.severity.value, to=escape(to))
    return build_message(header=None, body=[line], context=[f"{escape(inc.id)} · moved"],
                         text=tr.t("{id} moved to {to} ({severity})", id=inc.id, to=to,
                                   severity=inc.severity.value),
                         pointer=truncation_pointer(inc, None, tr=tr), limits=limits)


def render_reminder(inc: Incident, *, waiting_for: str, since: datetime, now: datetime,
                    slack_ids: Mapping[str, str] | None = None,
                    limits: Limits = LIMITS, tr: Translator = _EN) -> Message:
    waited = _dur((now - since).total_seconds(), tr)
    what = tr(msg(waiting_for)) if waiting_for in _WAITING_FOR else waiting_for
    line = tr.t("{icon} *Still waiting for {what}* (for {waited}, since {since}) · {owner}",
                icon=_KIND_ICON["reminder"], what=escape(what), waited=waited,
                since=tr.hm(since), owner=mention(inc.owner, slack_ids, tr=tr))
    return build_message(header=None, body=[line], context=[f"{escape(inc.id)} · reminder"],
                         text=tr.t("{id}: still waiting for {what} ({waited})", id=inc.id,
                                   what=what, waited=waited),
                         pointer=truncation_pointer(inc, None, tr=tr), limits=limits)


# What an incident waits for (SlackNotifier._waiting): the reminder names it per locale.
_WAITING_FOR = {str(m) for m in (msg("approval"), msg("live monitoring windows"))}
