"""Status cadence: while an open incident waits (for an approval, for fresh data), post a
reminder in its thread every ``communication.status_every``. ``due_reminders`` only reads;
``send_reminders`` (``mlpb notify remind``, schedulable) posts them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from playbooks.ledger import Ledger
from playbooks.ledger.outbox import notify_threads
from playbooks.ledger.schema import incidents
from playbooks.models.incident import IncidentStatus
from playbooks.notify.slack import SlackNotifier

__all__ = ["Reminder", "due_reminders", "send_reminders"]

_OPEN = [s.value for s in IncidentStatus if s.is_open]


@dataclass(frozen=True)
class Reminder:
    incident_id: str
    waiting_for: str
    since: datetime
    due_at: datetime


def due_reminders(ledger: Ledger, now: datetime) -> list[Reminder]:
    """Open incidents whose wait has lasted a full cadence since the last reminder."""
    q = (sa.select(notify_threads.c.incident_id, notify_threads.c.waiting_for,
                   notify_threads.c.waiting_since, notify_threads.c.last_reminder_at,
                   notify_threads.c.status_every_s)
         .join(incidents, incidents.c.id == notify_threads.c.incident_id)
         .where(notify_threads.c.waiting_for.is_not(None), incidents.c.status.in_(_OPEN))
         .order_by(notify_threads.c.waiting_since))
    with ledger.engine.connect() as conn:
        rows = conn.execute(q).all()
    due = []
    for iid, waiting_for, since, last, every_s in rows:
        if since is None or every_s <= 0:
            continue
        due_at = (last or since) + timedelta(seconds=every_s)
        if now >= due_at:
            due.append(Reminder(iid, waiting_for, since, due_at))
    return due


def send_reminders(ledger: Ledger, notifier: SlackNotifier, now: datetime) -> list[Reminder]:
    """Post every due reminder; returns them."""
    due = due_reminders(ledger, now)
    for r in due:
        notifier.remind(ledger.get(r.incident_id), waiting_for=r.waiting_for, since=r.since,
                        now=now)
    return due
