"""PagerDuty outbox: every Events API v2 event is written here before it is sent and marked
sent only on PagerDuty's 202, so an outage loses nothing and a later flush sends the backlog
in order per incident. A 400 (an event PagerDuty will never accept) is marked failed with the
API's errors, so it neither blocks nor repeats. The table is ``schema.pagerduty_outbox``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import sqlalchemy as sa

from playbooks.ledger.schema import pagerduty_outbox
from playbooks.ledger.store import Ledger
from playbooks.models.incident import utcnow

__all__ = ["PagerDutyOutbox", "PdAction", "PdRow"]

PdAction = Literal["trigger", "acknowledge", "resolve"]


@dataclass(frozen=True)
class PdRow:
    seq: int
    incident_id: str
    action: str
    payload: dict[str, Any]
    created_at: datetime
    state: str
    attempts: int
    last_error: str | None
    sent_at: datetime | None
    lease_until: datetime | None


class PagerDutyOutbox:
    """Outbox operations; each method is one short transaction."""

    def __init__(self, ledger: Ledger) -> None:
        self.engine = ledger.engine

    def enqueue(self, incident_id: str, action: PdAction, payload: dict[str, Any]) -> int:
        with self.engine.begin() as conn:
            result = conn.execute(pagerduty_outbox.insert().values(
                incident_id=incident_id, action=action, payload=payload, created_at=utcnow(),
                state="pending", attempts=0))
        key = result.inserted_primary_key
        assert key is not None
        return int(key[0])

    def rows(self, incident_id: str | None = None) -> list[PdRow]:
        """Every row in enqueue order (status output, tests, 'was it ever triggered?')."""
        q = sa.select(pagerduty_outbox).order_by(pagerduty_outbox.c.seq)
        if incident_id is not None:
            q = q.where(pagerduty_outbox.c.incident_id == incident_id)
        with self.engine.connect() as conn:
            return [PdRow(**dict(r)) for r in conn.execute(q).mappings()]

    def pending(self, incident_id: str | None = None) -> list[PdRow]:
        q = sa.select(pagerduty_outbox).where(pagerduty_outbox.c.state == "pending")
        if incident_id is not None:
            q = q.where(pagerduty_outbox.c.incident_id == incident_id)
        with self.engine.connect() as conn:
            rows = conn.execute(q.order_by(pagerduty_outbox.c.seq)).mappings().all()
        return [PdRow(**dict(r)) for r in rows]

    def triggered(self, incident_id: str) -> bool:
        """Whether a trigger was ever queued for the incident (ack/resolve mirror only those)."""
        q = sa.select(sa.func.count()).select_from(pagerduty_outbox).where(
            pagerduty_outbox.c.incident_id == incident_id,
            pagerduty_outbox.c.action == "trigger")
        with self.engine.connect() as conn:
            return bool(conn.execute(q).scalar_one())

    def claim(self, seq: int, lease: timedelta) -> bool:
        """Take the delivery lease on a pending row; False if done or leased elsewhere."""
        now = utcnow()
        with self.engine.begin() as conn:
            n = conn.execute(
                pagerduty_outbox.update()
                .where(pagerduty_outbox.c.seq == seq, pagerduty_outbox.c.state == "pending",
                       sa.or_(pagerduty_outbox.c.lease_until.is_(None),
                              pagerduty_outbox.c.lease_until < now))
                .values(lease_until=now + lease)).rowcount
        return n == 1

    def mark_sent(self, seq: int) -> None:
        self._finish(seq, state="sent", sent_at=utcnow(), last_error=None)

    def mark_failed(self, seq: int, error: str) -> None:
        """Permanently refused (HTTP 400): kept for the record, never sent again."""
        self._finish(seq, state="failed", last_error=error)

    def mark_retry(self, seq: int, error: str) -> None:
        """Not delivered this time (429, 5xx, unreachable): stays pending."""
        self._finish(seq, state="pending", last_error=error)

    def _finish(self, seq: int, **values: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(pagerduty_outbox.update().where(pagerduty_outbox.c.seq == seq).values(
                lease_until=None, attempts=pagerduty_outbox.c.attempts + 1, **values))
