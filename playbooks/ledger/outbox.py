"""Notification outbox: every notification is written here before delivery and marked sent
only once the service accepted it, so an outage loses nothing and `mlpb notify flush`
delivers the backlog in order. One thread row per incident keeps the Slack parent message's
ts (replies after a restart still thread) and the waiting state for status reminders.

The tables live on the ledger's ``metadata``: importing this module (``playbooks.ledger``
does) makes ``Ledger`` create them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from playbooks.ledger.schema import TS, metadata, seq_column
from playbooks.ledger.store import Ledger
from playbooks.models.incident import utcnow

__all__ = ["Outbox", "OutboxItem", "OutboxRow", "Thread", "notify_outbox", "notify_threads"]

Op = Literal["post", "update", "reply"]

notify_outbox = sa.Table(
    "mlpb_notify_outbox",
    metadata,
    seq_column(),
    # No foreign key: a notification must be kept even for an incident the ledger lost.
    sa.Column("incident_id", sa.String(64), nullable=False, index=True),
    sa.Column("kind", sa.String(32), nullable=False),  # 'parent' or a NotifyKind / 'reminder'
    sa.Column("op", sa.String(8), nullable=False),  # post (parent) | update (parent) | reply
    sa.Column("payload", sa.JSON, nullable=False),  # rendered message: text, blocks, channel
    sa.Column("created_at", TS, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("sent_at", TS, nullable=True, index=True),
    sa.Column("slack_ts", sa.String(32), nullable=True),
    # A sender holds a short lease while delivering, so two processes flushing at once
    # cannot both send the same row.
    sa.Column("lease_until", TS, nullable=True),
)

notify_threads = sa.Table(
    "mlpb_notify_threads",
    metadata,
    sa.Column("incident_id", sa.String(64), primary_key=True),
    sa.Column("channel", sa.String(128), nullable=False),  # as configured (name or id)
    sa.Column("channel_id", sa.String(64), nullable=True),  # Slack's id; chat.update needs it
    sa.Column("ts", sa.String(32), nullable=True),  # the parent message; NULL until posted
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("links", sa.JSON, nullable=False),
    sa.Column("parent_digest", sa.String(64), nullable=False),  # of the last enqueued parent
    sa.Column("status_every_s", sa.Integer, nullable=False),
    sa.Column("waiting_for", sa.String(128), nullable=True),  # approval / fresh data / NULL
    sa.Column("waiting_since", TS, nullable=True),
    sa.Column("last_reminder_at", TS, nullable=True),
    sa.Column("created_at", TS, nullable=False),
)


@dataclass(frozen=True)
class OutboxItem:
    """One message to enqueue."""

    kind: str
    op: Op
    payload: dict[str, Any]


@dataclass(frozen=True)
class OutboxRow:
    seq: int
    incident_id: str
    kind: str
    op: str
    payload: dict[str, Any]
    created_at: datetime
    attempts: int
    last_error: str | None
    sent_at: datetime | None
    slack_ts: str | None
    lease_until: datetime | None


@dataclass(frozen=True)
class Thread:
    incident_id: str
    channel: str
    channel_id: str | None
    ts: str | None
    title: str
    links: dict[str, str]
    parent_digest: str
    status_every_s: int
    waiting_for: str | None
    waiting_since: datetime | None
    last_reminder_at: datetime | None
    created_at: datetime

    @property
    def status_every(self) -> timedelta:
        return timedelta(seconds=self.status_every_s)


class Outbox:
    """Outbox operations on a ledger's database; each method is one short transaction."""

    def __init__(self, ledger: Ledger) -> None:
        self.engine = ledger.engine

    # -- enqueue ---------------------------------------------------------------------------
    def enqueue(self, incident_id: str, items: list[OutboxItem], *, parent_digest: str,
                new_thread: dict[str, Any] | None = None,
                waiting: tuple[str | None, datetime | None] | None = None,
                reminded_at: datetime | None = None) -> bool:
        """Append ``items`` (and create the thread row when ``new_thread`` is given) in one
        transaction. Returns False when ``new_thread`` lost a race to another writer (the
        caller re-renders against the existing thread); nothing is written then."""
        now = utcnow()
        thread_values: dict[str, Any] = {"parent_digest": parent_digest}
        if waiting is not None:
            thread_values.update(waiting_for=waiting[0], waiting_since=waiting[1],
                                 last_reminder_at=None)
        if reminded_at is not None:
            thread_values["last_reminder_at"] = reminded_at
        try:
            with self.engine.begin() as conn:
                if new_thread is not None:
                    conn.execute(notify_threads.insert().values(
                        incident_id=incident_id, created_at=now, **new_thread, **thread_values))
                else:
                    conn.execute(notify_threads.update()
                                 .where(notify_threads.c.incident_id == incident_id)
                                 .values(**thread_values))
                if items:
                    conn.execute(notify_outbox.insert(), [
                        {"incident_id": incident_id, "kind": i.kind, "op": i.op,
                         "payload": i.payload, "created_at": now, "attempts": 0}
                        for i in items])
        except IntegrityError:
            if new_thread is None:
                raise
            return False
        return True

    # -- read ------------------------------------------------------------------------------
    def thread(self, incident_id: str) -> Thread | None:
        with self.engine.connect() as conn:
            r = conn.execute(sa.select(notify_threads)
                             .where(notify_threads.c.incident_id == incident_id)).mappings().first()
        return Thread(**dict(r)) if r else None

    def threads_waiting(self) -> list[Thread]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(notify_threads)
                                .where(notify_threads.c.waiting_for.is_not(None))
                                .order_by(notify_threads.c.created_at)).mappings().all()
        return [Thread(**dict(r)) for r in rows]

    def pending(self, incident_id: str | None = None) -> list[OutboxRow]:
        """Unsent rows in delivery order (enqueue order)."""
        q = sa.select(notify_outbox).where(notify_outbox.c.sent_at.is_(None))
        if incident_id is not None:
            q = q.where(notify_outbox.c.incident_id == incident_id)
        with self.engine.connect() as conn:
            rows = conn.execute(q.order_by(notify_outbox.c.seq)).mappings().all()
        return [OutboxRow(**dict(r)) for r in rows]

    def rows(self, incident_id: str | None = None) -> list[OutboxRow]:
        """Every row, sent or not, in enqueue order (for status output and tests)."""
        q = sa.select(notify_outbox).order_by(notify_outbox.c.seq)
        if incident_id is not None:
            q = q.where(notify_outbox.c.incident_id == incident_id)
        with self.engine.connect() as conn:
            return [OutboxRow(**dict(r)) for r in conn.execute(q).mappings()]

    # -- delivery bookkeeping --------------------------------------------------------------
    def claim(self, seq: int, lease: timedelta) -> bool:
        """Take the delivery lease on an unsent row; False if sent or leased elsewhere."""
        now = utcnow()
        with self.engine.begin() as conn:
            n = conn.execute(
                notify_outbox.update()
                .where(notify_outbox.c.seq == seq, notify_outbox.c.sent_at.is_(None),
                       sa.or_(notify_outbox.c.lease_until.is_(None),
                              notify_outbox.c.lease_until < now))
                .values(lease_until=now + lease)).rowcount
        return n == 1

    def mark_sent(self, row: OutboxRow, slack_ts: str | None, *,
                  parent_channel_id: str | None = None) -> None:
        """Record delivery; for the parent post, also its ts and channel id, in the same
        transaction (so a crash cannot leave a sent parent without a thread to reply in)."""
        with self.engine.begin() as conn:
            conn.execute(notify_outbox.update().where(notify_outbox.c.seq == row.seq).values(
                sent_at=utcnow(), slack_ts=slack_ts, lease_until=None,
                attempts=notify_outbox.c.attempts + 1, last_error=None))
            if parent_channel_id is not None:
                conn.execute(notify_threads.update()
                             .where(notify_threads.c.incident_id == row.incident_id)
                             .values(channel_id=parent_channel_id, ts=slack_ts))

    def mark_failed(self, seq: int, error: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(notify_outbox.update().where(notify_outbox.c.seq == seq).values(
                last_error=error, lease_until=None, attempts=notify_outbox.c.attempts + 1))
