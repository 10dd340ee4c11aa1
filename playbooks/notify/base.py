"""The Notifier protocol and the standard status templates every notifier renders."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from playbooks.models.incident import Incident

__all__ = ["Notification", "Notifier", "NotifyKind", "render_text"]

NotifyKind = Literal[
    "opened", "evidence", "hypotheses", "root_cause", "remediation_plan", "approval_needed",
    "verification", "resolved", "escalated", "false_alarm", "diagnosed",
    "approval_decision", "acknowledged", "assigned", "note", "paged", "reopened",
]


@dataclass(frozen=True)
class Notification:
    kind: NotifyKind
    incident: Incident
    title: str
    lines: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    channel: str | None = None  # e.g. the spec's communication.channel; notifiers may ignore it


@runtime_checkable
class Notifier(Protocol):
    """Delivers a notification. Must not raise for delivery problems the playbook should
    survive (an outage is recorded and retried by the notifier, not by the playbook)."""

    def send(self, note: Notification) -> None: ...


def render_text(note: Notification) -> str:
    inc = note.incident
    head = (f"[{inc.severity.value}] {inc.model} · {inc.playbook} v{inc.playbook_version} · "
            f"{inc.id} · {inc.status.value} — {note.title}")
    return "\n".join([head, *(f"    {line}" for line in note.lines)])
