"""The tamper-evident timeline: each row carries the hash of the row before it (per incident).

``row_hash = sha256(canonical JSON of {incident, at, kind, message, data, prev})``; an
incident's first row chains from ``GENESIS``. ``mlpb_timeline_heads`` keeps the last hash and
the row count of each chain, so a deleted *last* row shows as well as an edited, deleted or
reordered one in the middle. ``append_event`` is the one writer of timeline rows; ``first_break``
is the pure check. The chain shows tampering by anyone who edits rows with plain SQL; whoever
can also recompute every hash can rewrite it, so keep the exported heads elsewhere to compare.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from playbooks.ledger.schema import incident_ref, metadata, timeline
from playbooks.models.incident import TimelineEvent

__all__ = ["GENESIS", "Break", "ChainRow", "Head", "append_event", "chain_hash", "first_break",
           "heads", "read_chain"]

GENESIS = "0" * 64  # the "previous hash" of an incident's first row

heads = sa.Table(
    "mlpb_timeline_heads",
    metadata,
    incident_ref(primary_key=True),
    sa.Column("head", sa.String(64), nullable=False),  # row_hash of the last row
    sa.Column("length", sa.Integer, nullable=False),  # rows in the chain
)


def chain_hash(prev: str, incident_id: str, at: datetime, kind: str, message: str,
               data: Any) -> str:
    """The hash of one timeline row given the hash of the row before it."""
    body = {"incident": incident_id, "at": at.astimezone(UTC).isoformat(), "kind": kind,
            "message": message, "data": data, "prev": prev}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def append_event(conn: sa.Connection, incident_id: str, ev: TimelineEvent) -> str:
    """Append ``ev`` to the incident's chain inside the caller's transaction; returns its hash.

    The head row is updated *first*: that write locks the chain (a row lock on PostgreSQL, the
    write lock on SQLite) until the caller commits, so two writers never chain from the same
    row."""
    prev = conn.execute(heads.update().where(heads.c.incident_id == incident_id)
                        .values(length=heads.c.length + 1).returning(heads.c.head)).scalar()
    if prev is None:  # the incident's first row
        prev = GENESIS
        conn.execute(heads.insert().values(incident_id=incident_id, head=GENESIS, length=1))
    h = chain_hash(prev, incident_id, ev.at, ev.kind, ev.message, ev.data)
    conn.execute(timeline.insert().values(
        incident_id=incident_id, at=ev.at, kind=ev.kind, message=ev.message, data=ev.data,
        prev_hash=prev, row_hash=h))
    conn.execute(heads.update().where(heads.c.incident_id == incident_id).values(head=h))
    return h


@dataclass(frozen=True)
class ChainRow:
    """A timeline row as stored."""

    seq: int
    at: datetime
    kind: str
    message: str
    data: Any
    prev_hash: str | None
    row_hash: str | None


@dataclass(frozen=True)
class Head:
    head: str
    length: int


@dataclass(frozen=True)
class Break:
    """The first row of an incident's chain that does not hold."""

    incident_id: str
    seq: int | None  # None: the chain's end (rows missing after the last one)
    position: int  # 1-based row of the incident's timeline
    reason: str

    def describe(self) -> str:
        where = f"row {self.position} (seq {self.seq})" if self.seq is not None else "its end"
        return f"{self.incident_id}: chain broken at {where}: {self.reason}"


def first_break(incident_id: str, rows: list[ChainRow], head: Head | None) -> Break | None:
    """Recompute the chain of ``rows`` (in seq order); the first row that does not hold."""
    prev = GENESIS
    for i, r in enumerate(rows, start=1):
        if r.row_hash is None or r.prev_hash is None:
            return Break(incident_id, r.seq, i, f"'{r.kind}' row has no hash (written without "
                         "the chain, by an older mlpb or by hand)")
        if r.prev_hash != prev:
            return Break(incident_id, r.seq, i, f"'{r.kind}' row does not follow the row before "
                         "it (a row was deleted, inserted or reordered here)")
        if chain_hash(r.prev_hash, incident_id, r.at, r.kind, r.message, r.data) != r.row_hash:
            return Break(incident_id, r.seq, i, f"'{r.kind}' row was edited (its content no "
                         "longer matches its hash)")
        prev = r.row_hash
    if head is None:
        if rows:
            return Break(incident_id, None, len(rows) + 1, "the chain has no recorded head")
        return None
    if head.length != len(rows):
        return Break(incident_id, None, len(rows) + 1,
                     f"the ledger recorded {head.length} row(s), {len(rows)} are there "
                     "(rows were deleted at the end, or added outside the chain)")
    if head.head != prev:
        return Break(incident_id, rows[-1].seq if rows else None, len(rows),
                     "the last row's hash is not the recorded head (it was rewritten)")
    return None


def read_chain(conn: sa.Connection, incident_id: str) -> tuple[list[ChainRow], Head | None]:
    rows = conn.execute(sa.select(timeline).where(timeline.c.incident_id == incident_id)
                        .order_by(timeline.c.seq)).mappings().all()
    h = conn.execute(sa.select(heads.c.head, heads.c.length)
                     .where(heads.c.incident_id == incident_id)).first()
    return ([ChainRow(r["seq"], r["at"], r["kind"], r["message"], r["data"], r["prev_hash"],
                      r["row_hash"]) for r in rows],
            Head(h[0], int(h[1])) if h is not None else None)
