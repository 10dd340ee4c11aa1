"""Alerts as received, the members of each incident's alert group, the signatures seen
recently, and the dispatch queue that turns new incidents into flow runs.

The tables sit on the ledger's shared ``metadata`` (so ``Ledger`` creates them) and beside the
incidents they refer to. A dispatch row exists once per incident (primary key): that, plus the
Prefect idempotency key (the incident id), is why an incident never starts two runs.

``AlertStore.transaction`` is the receiver's one transaction per request (``IntakeTx``): on
SQLite it takes the write lock first (``BEGIN IMMEDIATE``), so the look-up of an open incident
and the insert that may follow are never interleaved with another writer; on PostgreSQL the
inserts are ``ON CONFLICT DO NOTHING`` and a lost race reads the winner's row.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from playbooks.ledger.chain import append_event
from playbooks.ledger.schema import TS, incident_ref, incidents, metadata
from playbooks.ledger.store import Ledger
from playbooks.models.incident import Incident, IncidentStatus, TimelineEvent, utcnow

__all__ = ["AlertRow", "AlertStore", "Dispatch", "IntakeTx", "Member", "alerts", "dispatches",
           "members", "new_alert_id", "signatures"]

R = TypeVar("R")

alerts = sa.Table(
    "mlpb_alerts",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("received_at", TS, nullable=False, index=True),
    sa.Column("source", sa.String(32), nullable=False),
    sa.Column("status", sa.String(16), nullable=False, index=True),  # firing|resolved|rejected
    sa.Column("dedup_key", sa.String(512), nullable=True, index=True),
    sa.Column("model", sa.String(256), nullable=True),
    sa.Column("playbook", sa.String(128), nullable=True),
    sa.Column("route", sa.String(256), nullable=True),
    sa.Column("incident_id", sa.String(64), nullable=True, index=True),
    # queued | dispatched | repeat | resolved | error | none (rejected)
    sa.Column("dispatch_state", sa.String(16), nullable=False),
    sa.Column("http_status", sa.Integer, nullable=False),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("payload", sa.JSON, nullable=True),
)

dispatches = sa.Table(
    "mlpb_dispatches",
    metadata,
    incident_ref(primary_key=True),
    sa.Column("model", sa.String(256), nullable=False, index=True),
    sa.Column("deployment", sa.String(256), nullable=False),
    sa.Column("parameters", sa.JSON, nullable=False),
    sa.Column("state", sa.String(16), nullable=False, index=True),  # queued|dispatched|failed
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_attempt_at", TS, nullable=False),
    sa.Column("note", sa.Text, nullable=True),  # why it waits: storm control or the last error
    sa.Column("flow_run_id", sa.String(64), nullable=True),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("updated_at", TS, nullable=False),
)


members = sa.Table(
    "mlpb_incident_alerts",
    metadata,
    incident_ref(primary_key=True),
    # the alert's identity in its group: the sender's fingerprint, else a hash of its labels
    sa.Column("member", sa.String(64), primary_key=True),
    sa.Column("fingerprint", sa.String(256), nullable=True),
    sa.Column("labels", sa.JSON, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # firing | resolved (the latest)
    sa.Column("first_alert_id", sa.String(40), nullable=False),
    sa.Column("last_alert_id", sa.String(40), nullable=False),
    sa.Column("first_seen", TS, nullable=False),
    sa.Column("last_seen", TS, nullable=False),
    sa.Column("times", sa.Integer, nullable=False),
)

signatures = sa.Table(  # signed requests already accepted, until their timestamp window ends
    "mlpb_request_signatures",
    metadata,
    sa.Column("signature", sa.String(64), primary_key=True),
    sa.Column("expires_at", TS, nullable=False, index=True),
)


def new_alert_id() -> str:
    return f"ALR-{uuid.uuid4().hex[:16]}"


@dataclass(frozen=True)
class AlertRow:
    id: str
    received_at: datetime
    source: str
    status: str
    dedup_key: str | None
    model: str | None
    playbook: str | None
    route: str | None
    incident_id: str | None
    dispatch_state: str
    http_status: int
    error: str | None
    payload: Any


@dataclass(frozen=True)
class Dispatch:
    incident_id: str
    model: str
    deployment: str
    parameters: dict[str, Any]
    state: str
    attempts: int
    next_attempt_at: datetime
    note: str | None
    flow_run_id: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Member:
    incident_id: str
    member: str
    fingerprint: str | None
    labels: dict[str, str]
    status: str
    first_alert_id: str
    last_alert_id: str
    first_seen: datetime
    last_seen: datetime
    times: int


def _dialect_insert(conn: sa.Connection, table: sa.Table) -> Any:
    """``INSERT`` of the connection's dialect, so ``.on_conflict_do_nothing()`` is there."""
    dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
    return dialect.insert(table)


class IntakeTx:
    """The writes of one receiver request, all in one transaction (see the module doc)."""

    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def _inserted(self, stmt: Any, key: sa.Column[Any]) -> bool:
        """Run an INSERT as ``ON CONFLICT DO NOTHING``; True when it inserted the row.
        (RETURNING tells, rowcount does not: psycopg reports -1 for it. SQLite >= 3.35.)"""
        return self.conn.execute(stmt.on_conflict_do_nothing().returning(key)).first() is not None

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """Undo only what the block wrote when it raises (one poison alert of a group)."""
        with self.conn.begin_nested():
            yield

    def claim_signature(self, signature: str, expires_at: datetime) -> bool:
        """Remember an accepted signature; False when it was seen before (a replay)."""
        return self._inserted(_dialect_insert(self.conn, signatures).values(
            signature=signature, expires_at=expires_at), signatures.c.signature)

    def prune_signatures(self, now: datetime) -> None:
        self.conn.execute(signatures.delete().where(signatures.c.expires_at < now))

    def find_open(self, dedup_key: str) -> Incident | None:
        r = self.conn.execute(sa.select(incidents.c.payload)
                              .where(incidents.c.open_dedup_key == dedup_key)).first()
        return Incident.model_validate(r[0]) if r else None

    def insert_incident(self, inc: Incident) -> bool:
        """Insert ``inc`` and its timeline; False (nothing written) when its dedup key is
        already open or its id taken."""
        if not self._inserted(_dialect_insert(self.conn, incidents).values(**Ledger._row(inc)),
                              incidents.c.id):
            return False
        for ev in inc.timeline:
            self.event(inc.id, ev)
        return True

    def event(self, incident_id: str, ev: TimelineEvent) -> None:
        Ledger._event(self.conn, incident_id, ev)

    def record_alert(self, **row: Any) -> None:
        self.conn.execute(alerts.insert().values(received_at=utcnow(), **row))

    def has_dispatch(self, incident_id: str) -> bool:
        q = sa.select(dispatches.c.incident_id).where(dispatches.c.incident_id == incident_id)
        return self.conn.execute(q).first() is not None

    def enqueue(self, incident_id: str, model: str, deployment: str, parameters: dict[str, Any],
                running_as: str | None = None) -> bool:
        row = AlertStore._dispatch_row(incident_id, model, deployment, parameters, running_as)
        return self._inserted(_dialect_insert(self.conn, dispatches).values(**row),
                              dispatches.c.incident_id)

    def touch_member(self, incident_id: str, member: str, *, fingerprint: str | None,
                     labels: dict[str, str], status: str, alert_id: str) -> bool:
        """Record the alert as a member of the incident's group; True when it is new."""
        now = utcnow()
        if self._inserted(_dialect_insert(self.conn, members).values(
                incident_id=incident_id, member=member, fingerprint=fingerprint, labels=labels,
                status=status, first_alert_id=alert_id, last_alert_id=alert_id, first_seen=now,
                last_seen=now, times=1), members.c.member):
            return True
        self.conn.execute(members.update().where(members.c.incident_id == incident_id,
                                                 members.c.member == member)
                          .values(status=status, last_alert_id=alert_id, last_seen=now,
                                  times=members.c.times + 1))
        return False


# Statuses in which a playbook run is working on the incident.
_RUNNING = [IncidentStatus.OPEN.value, IncidentStatus.INVESTIGATING.value,
            IncidentStatus.REMEDIATING.value]


class AlertStore:
    """Alert and dispatch rows; one short transaction per method, like ``Ledger``, and the
    receiver's request transaction (``transaction``)."""

    def __init__(self, ledger: Ledger | str) -> None:
        self.ledger = ledger if isinstance(ledger, Ledger) else Ledger(ledger)
        self.engine = self.ledger.engine

    def use_wal(self) -> bool:
        """SQLite only: switch the ledger file to write-ahead logging (persistent), so the
        receiver's many small commits stop paying a rollback-journal fsync pair each and
        readers never block the writer. Durability is unchanged (synchronous stays FULL)."""
        if self.engine.dialect.name != "sqlite":
            return False
        with self.engine.connect() as conn:
            mode = conn.exec_driver_sql("PRAGMA journal_mode=WAL").scalar()
        return str(mode).lower() == "wal"

    @contextmanager
    def transaction(self) -> Iterator[IntakeTx]:
        """One transaction for everything a request writes; rolled back when it raises."""
        with self.engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                # Take the write lock now: a deferred transaction that reads first and then
                # writes gets SQLITE_BUSY at once (no busy wait) when another writer was first.
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                yield IntakeTx(conn)
                conn.commit()
            except BaseException:
                conn.rollback()
                raise

    def ping(self) -> None:
        """Raises when the ledger database cannot be reached."""
        with self.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))

    def members(self, incident_id: str) -> list[Member]:
        """The alerts of the incident's group, first seen first."""
        q = (sa.select(members).where(members.c.incident_id == incident_id)
             .order_by(members.c.first_seen, members.c.member))
        return self._fetch(Member, q)

    def orphans(self, before: datetime, limit: int = 100) -> list[Incident]:
        """Incidents the receiver opened for a run (status ``open``, a receiver dedup key)
        that have no dispatch row: a crash between two commits of an older receiver, or a
        row removed by hand. Only those detected before ``before``."""
        q = (sa.select(incidents.c.payload).select_from(incidents.outerjoin(
                dispatches, dispatches.c.incident_id == incidents.c.id))
             .where(incidents.c.status == "open", dispatches.c.incident_id.is_(None),
                    incidents.c.detected_at < before,
                    sa.or_(incidents.c.dedup_key.startswith("alert:"),
                           incidents.c.dedup_key.startswith("group:")))
             .order_by(incidents.c.detected_at).limit(limit))
        with self.engine.connect() as conn:
            return [Incident.model_validate(r[0]) for r in conn.execute(q)]

    def prune_signatures(self, now: datetime) -> int:
        with self.engine.begin() as conn:
            return int(conn.execute(signatures.delete()
                                    .where(signatures.c.expires_at < now)).rowcount or 0)

    # -- alerts ----------------------------------------------------------------------------
    def record(self, *, alert_id: str | None = None, source: str, status: str,
               dispatch_state: str, http_status: int, dedup_key: str | None = None,
               model: str | None = None, playbook: str | None = None, route: str | None = None,
               incident_id: str | None = None, error: str | None = None,
               payload: Any = None, event: TimelineEvent | None = None,
               queue: tuple[str, dict[str, Any]] | None = None) -> bool:
        """Insert the alert row, in the same transaction the incident's timeline ``event``
        and, for a new incident, its dispatch (``queue`` = deployment, parameters): one commit
        per alert is what bounds the receiver's latency. True if the dispatch was queued."""
        row = {"id": alert_id or new_alert_id(), "received_at": utcnow(), "source": source,
               "status": status, "dedup_key": dedup_key, "model": model, "playbook": playbook,
               "route": route, "incident_id": incident_id, "dispatch_state": dispatch_state,
               "http_status": http_status, "error": error, "payload": payload}
        try:
            self._insert(row, incident_id, event, queue)
            return queue is not None
        except IntegrityError:
            if queue is None:
                raise
            # A repeat re-queued this incident first (see enqueue): keep the alert anyway.
            self._insert(row, incident_id, event, None)
            return False

    def _insert(self, row: dict[str, Any], incident_id: str | None, event: TimelineEvent | None,
                queue: tuple[str, dict[str, Any]] | None) -> None:
        with self.engine.begin() as conn:
            conn.execute(alerts.insert().values(**row))
            if event is not None and incident_id:
                append_event(conn, incident_id, event)
            if queue is not None and incident_id:
                conn.execute(dispatches.insert().values(
                    **self._dispatch_row(incident_id, str(row["model"]), *queue)))

    def alerts(self, *, status: str | None = None, incident_id: str | None = None,
               limit: int = 1000) -> list[AlertRow]:
        q = sa.select(alerts).order_by(alerts.c.received_at.desc()).limit(limit)
        return self._fetch(AlertRow, q, status=status, incident_id=incident_id)

    # -- dispatch queue --------------------------------------------------------------------
    def enqueue(self, incident_id: str, model: str, deployment: str,
                parameters: dict[str, Any], *, running_as: str | None = None) -> bool:
        """Queue the incident's run unless it already is; True if this call queued it.

        ``running_as``: the caller runs it itself as this run id (drills): recorded as
        dispatched so no dispatch loop starts it again."""
        with self.engine.connect() as conn:
            if conn.execute(sa.select(dispatches.c.incident_id)
                            .where(dispatches.c.incident_id == incident_id)).first():
                return False
        try:
            with self.engine.begin() as conn:
                conn.execute(dispatches.insert().values(
                    **self._dispatch_row(incident_id, model, deployment, parameters,
                                         running_as)))
            return True
        except IntegrityError:  # a concurrent repeat queued it first
            return False

    @staticmethod
    def _dispatch_row(incident_id: str, model: str, deployment: str, parameters: dict[str, Any],
                      running_as: str | None = None) -> dict[str, Any]:
        now = utcnow()
        return {"incident_id": incident_id, "model": model, "deployment": deployment,
                "parameters": parameters, "state": "dispatched" if running_as else "queued",
                "attempts": 0, "next_attempt_at": now, "note": None, "flow_run_id": running_as,
                "created_at": now, "updated_at": now}

    def dispatch(self, incident_id: str) -> Dispatch | None:
        with self.engine.connect() as conn:
            r = conn.execute(sa.select(dispatches)
                             .where(dispatches.c.incident_id == incident_id)).mappings().first()
        return Dispatch(**dict(r)) if r else None

    def dispatches(self, *, state: str | None = None, model: str | None = None) -> list[Dispatch]:
        q = sa.select(dispatches).order_by(dispatches.c.created_at)
        return self._fetch(Dispatch, q, state=state, model=model)

    def due(self, now: datetime, limit: int = 100) -> list[Dispatch]:
        """Queued dispatches whose next attempt is due, oldest first."""
        q = (sa.select(dispatches).where(dispatches.c.state == "queued",
                                         dispatches.c.next_attempt_at <= now)
             .order_by(dispatches.c.created_at).limit(limit))
        return self._fetch(Dispatch, q)

    def next_due_at(self) -> datetime | None:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.min(dispatches.c.next_attempt_at))
                                .where(dispatches.c.state == "queued")).scalar()

    def active_runs(self, model: str) -> int:
        """Dispatched runs still working on their incident: the model's concurrent playbook
        runs. An incident that waits (monitoring, needs_triage) has no run working on it, so
        it does not hold back new alerts for days."""
        q = (sa.select(sa.func.count()).select_from(
                dispatches.join(incidents, incidents.c.id == dispatches.c.incident_id))
             .where(dispatches.c.model == model, dispatches.c.state == "dispatched",
                    incidents.c.status.in_(_RUNNING)))
        with self.engine.connect() as conn:
            return int(conn.execute(q).scalar() or 0)

    def open_dispatched(self) -> list[Dispatch]:
        """Dispatched runs whose incident is still open (to check their flow runs ended well)."""
        q = (sa.select(dispatches).select_from(
                dispatches.join(incidents, incidents.c.id == dispatches.c.incident_id))
             .where(dispatches.c.state == "dispatched", incidents.c.open_dedup_key.is_not(None)))
        return self._fetch(Dispatch, q)

    def defer(self, incident_id: str, note: str) -> bool:
        """Keep it queued with a reason; True the first time this reason is given."""
        with self.engine.begin() as conn:
            n = conn.execute(dispatches.update().where(
                dispatches.c.incident_id == incident_id, dispatches.c.state == "queued",
                sa.or_(dispatches.c.note.is_(None), dispatches.c.note != note))
                .values(note=note, updated_at=utcnow())).rowcount
        return n == 1

    def retry_later(self, incident_id: str, error: str, delay: timedelta) -> int:
        """Record a failed attempt; returns the number of attempts so far."""
        now = utcnow()
        with self.engine.begin() as conn:
            conn.execute(dispatches.update().where(dispatches.c.incident_id == incident_id)
                         .values(attempts=dispatches.c.attempts + 1, note=error,
                                 next_attempt_at=now + delay, updated_at=now))
            return int(conn.execute(sa.select(dispatches.c.attempts)
                                    .where(dispatches.c.incident_id == incident_id)).scalar_one())

    def mark_dispatched(self, incident_id: str, flow_run_id: str) -> None:
        now = utcnow()
        with self.engine.begin() as conn:
            conn.execute(dispatches.update().where(dispatches.c.incident_id == incident_id)
                         .values(state="dispatched", flow_run_id=flow_run_id, note=None,
                                 attempts=dispatches.c.attempts + 1, updated_at=now))
            conn.execute(alerts.update().where(alerts.c.incident_id == incident_id,
                                               alerts.c.dispatch_state == "queued")
                         .values(dispatch_state="dispatched"))

    def mark_failed(self, incident_id: str, error: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(dispatches.update().where(dispatches.c.incident_id == incident_id)
                         .values(state="failed", note=error, updated_at=utcnow()))
            conn.execute(alerts.update().where(alerts.c.incident_id == incident_id,
                                               alerts.c.dispatch_state == "queued")
                         .values(dispatch_state="error", error=error))

    def _fetch(self, row: type[R], q: sa.Select[Any], **equal: str | None) -> list[R]:
        """``q``'s rows as ``row`` objects; a keyword keeps the rows whose column of that name
        equals its value (None or "": no filter)."""
        for name, value in equal.items():
            if value:
                q = q.where(q.selected_columns[name] == value)
        with self.engine.connect() as conn:
            return [row(**dict(r)) for r in conn.execute(q).mappings()]

    def counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(dispatches.c.state, sa.func.count())
                                .group_by(dispatches.c.state)).all()
        return {state: int(n) for state, n in rows}
