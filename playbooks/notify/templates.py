"""The standard Slack templates: one parent message per incident, one thread reply per
notification kind. Pure functions from (Notification / Incident) to a fitted ``Message``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path

from playbooks.models.incident import Incident, IncidentStatus, Severity, Verdict
from playbooks.notify.base import Notification
from playbooks.notify.blocks import LIMITS, Limits, Message, build_message, escape

__all__ = ["mention", "postmortem_excerpt", "render_parent", "render_reminder", "render_reply",
           "truncation_pointer"]

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


def mention(who: str | None) -> str:
    """A Slack mention for user / user-group ids, ``@here``; other names as plain text."""
    if not who:
        return "unassigned"
    if re.fullmatch(r"<[@!][^>]+>", who):
        return who
    if re.fullmatch(r"[UW][A-Z0-9]{6,}", who):
        return f"<@{who}>"
    if re.fullmatch(r"S[A-Z0-9]{6,}", who):
        return f"<!subteam^{who}>"
    if who in ("@here", "@channel"):
        return f"<!{who[1:]}>"
    return escape(who)


def truncation_pointer(inc: Incident, postmortem_dir: Path | None) -> str:
    path = inc.postmortem_path or (str(postmortem_dir / f"{inc.id}.md") if postmortem_dir else None)
    where = f"full post-mortem: {path}" if path else f"full record: `mlpb incidents show {inc.id}`"
    return f"… truncated; {where}"


def _dur(seconds: float | None) -> str:
    return "n/a" if seconds is None else str(timedelta(seconds=round(seconds)))


def _links(links: Mapping[str, str]) -> list[str]:
    return [f"<{url}|{escape(name)}>" for name, url in links.items() if url]


def render_parent(inc: Incident, *, title: str, links: Mapping[str, str],
                  postmortem_dir: Path | None = None, limits: Limits = LIMITS) -> Message:
    """The incident's one top-level message, updated in place as the status changes.

    Only incident state goes in (no clock), so an unchanged incident renders identically
    and needs no ``chat.update``."""
    icon = _STATUS_ICON.get(inc.status, "")
    version = f" v{inc.model_version}" if inc.model_version else ""
    fields = [
        f"*Severity*\n{_SEV_ICON[inc.severity]} {inc.severity.value}",
        f"*Status*\n{icon} {inc.status.value.replace('_', ' ')}",
        f"*Model*\n{escape(inc.model)}{escape(version)}",
        f"*Playbook*\n{escape(inc.playbook)} v{escape(inc.playbook_version)}",
        f"*Owner*\n{mention(inc.owner)}",
    ]
    if inc.escalated_to:
        fields.append(f"*Escalated to*\n{mention(inc.escalated_to)}")
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
                         text=text, pointer=truncation_pointer(inc, postmortem_dir), limits=limits)


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


def _body(note: Notification) -> list[str]:
    inc = note.incident
    lines = [f"• {escape(line)}" for line in note.lines if line]
    if note.kind == "hypotheses" and inc.hypotheses:
        lines = [f"{_VERDICT_ICON[h.verdict]} *{escape(h.id)}* — {h.verdict.value} "
                 f"({h.confidence:.2f}): {escape(h.summary)}" for h in inc.hypotheses]
    elif note.kind == "root_cause" and inc.root_cause:
        rc = inc.root_cause
        lines.insert(0, f"*{escape(rc.hypothesis_id)}* (confidence {rc.confidence:.2f}): "
                        f"{escape(rc.summary)}")
    elif note.kind == "approval_needed":
        lines.append(f"Approver: {mention(inc.owner)}")
    elif note.kind == "escalated" and inc.escalated_to:
        lines.append(f"Over to {mention(inc.escalated_to)}")
    if note.kind in _CLOSING:
        lines.append(f"MTTD {_dur(inc.mttd_seconds)} · MTTR {_dur(inc.mttr_seconds)}")
        if excerpt := postmortem_excerpt(inc.postmortem_path):
            lines += ["*Post-mortem summary*", *excerpt]
    return lines


def render_reply(note: Notification, *, postmortem_dir: Path | None = None,
                 limits: Limits = LIMITS) -> Message:
    """The thread reply of one notification, from its kind's template."""
    inc = note.incident
    head = f"{_KIND_ICON.get(note.kind, '')} *{escape(note.title)}*".strip()
    body = [head, *_body(note)]
    if note.kind == "opened":
        body.append(f"Owner: {mention(inc.owner)}")
    text = "\n".join([f"{inc.id} {note.kind}: {note.title}", *note.lines])
    return build_message(header=None, body=body, context=[f"{escape(inc.id)} · {note.kind}"],
                         text=text, pointer=truncation_pointer(inc, postmortem_dir), limits=limits)


def render_reminder(inc: Incident, *, waiting_for: str, since: datetime, now: datetime,
                    limits: Limits = LIMITS) -> Message:
    waited = _dur((now - since).total_seconds())
    line = (f"{_KIND_ICON['reminder']} *Still waiting for {escape(waiting_for)}* "
            f"(for {waited}, since {since:%H:%M} UTC) · {mention(inc.owner)}")
    return build_message(header=None, body=[line], context=[f"{escape(inc.id)} · reminder"],
                         text=f"{inc.id}: still waiting for {waiting_for} ({waited})",
                         pointer=truncation_pointer(inc, None), limits=limits)
