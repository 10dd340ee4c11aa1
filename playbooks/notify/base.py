"""The Notifier protocol and the standard status templates every notifier renders."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeVar, runtime_checkable

from playbooks.i18n import Translator, translator
from playbooks.models.incident import Incident
from playbooks.notify.words import status_label

__all__ = ["FanoutNotifier", "Notification", "Notifier", "NotifyKind", "find_notifier",
           "render_text"]

N = TypeVar("N")

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


def render_text(note: Notification, tr: Translator | None = None) -> str:
    """The console's plain-text rendering, in ``tr``'s locale (English by default)."""
    tr = tr or translator("en")
    inc = note.incident
    head = (f"[{inc.severity.value}] {inc.model} · {inc.playbook} v{inc.playbook_version} · "
            f"{inc.id} · {tr(status_label(inc.status))} — {tr(note.title)}")
    return "\n".join([head, *(f"    {tr(line)}" for line in note.lines)])


class FanoutNotifier:
    """Several notifiers as one (Slack or the console, plus PagerDuty): each gets every
    notification; one that raises does not keep the others from theirs."""

    def __init__(self, notifiers: Sequence[Notifier]) -> None:
        self.notifiers = list(notifiers)

    def __repr__(self) -> str:
        return f"FanoutNotifier({', '.join(map(repr, self.notifiers))})"

    def send(self, note: Notification) -> None:
        self._each("send", note)

    def enqueue(self, note: Notification) -> None:
        """Queue without delivering where a notifier has an outbox (else send)."""
        for n in self.notifiers:
            self._call(n, "enqueue" if hasattr(n, "enqueue") else "send", note)

    def flush(self) -> list[Any]:
        """Each outbox's backlog; returns the notifiers' flush reports."""
        return [self._call(n, "flush") for n in self.notifiers if hasattr(n, "flush")]

    def _each(self, method: str, *args: Any) -> None:
        for n in self.notifiers:
            self._call(n, method, *args)

    @staticmethod
    def _call(n: object, method: str, *args: Any) -> Any:
        try:
            return getattr(n, method)(*args)
        except Exception as exc:  # the next notifier still gets it
            logging.getLogger(__name__).warning("%r.%s failed: %s: %s", n, method,
                                                type(exc).__name__, exc)
            return None


def find_notifier(notifier: object, kind: type[N]) -> N | None:
    """``notifier`` itself or the first of a fan-out's notifiers that is a ``kind``."""
    if isinstance(notifier, kind):
        return notifier
    for n in getattr(notifier, "notifiers", ()):
        if isinstance(n, kind):
            return n
    return None
