"""Ledger operations. Each method is one short database transaction."""

from __future__ import annotations

import builtins
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError

from playbooks.engine.transitions import Event, apply_event
from playbooks.errors import ConfigError, MlpbError, UnknownNameError
from playbooks.ledger.audit import Refusals
from playbooks.ledger.chain import append_event
from playbooks.ledger.leases import Leases
from playbooks.ledger.migrate import upgrade
from playbooks.ledger.monitoring import MonitoringWindows
from playbooks.ledger.schema import (
    hypothesis_results,
    incidents,
    metadata,
    remediation_journal,
    timeline,
)
from playbooks.models.incident import (
    HypothesisResult,
    Incident,
    TimelineEvent,
    utcnow,
)

__all__ = ["JournalEntry", "Ledger", "LedgerError"]


class LedgerError(MlpbError):
    """The ledger database cannot be reached or used."""


@dataclass(frozen=True)
class JournalEntry:
    seq: int
    incident_id: str
    model: str
    remediation_id: str
    action: str
    phase: str
    plan: dict[str, Any]
    change: dict[str, Any] | None
    at: datetime
    closed: bool


def _engine(url: str) -> sa.Engine:
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    try:
        kwargs: dict[str, Any] = {"future": True}
        if url.startswith("sqlite"):
            # Concurrent writers (flows, receiver) wait instead of failing at once.
            kwargs["connect_args"] = {"timeout": 30}
        engine = sa.create_engine(url, **kwargs)
        if url.startswith("sqlite") and ":memory:" not in url:
            sa.event.listen(engine, "connect", _sqlite_wal)
        return engine
    except (SQLAlchemyError, ImportError, ValueError) as exc:
        # The URL may not parse, so hide the password by pattern, in the message too.
        def hide(text: str) -> str:
            return re.sub(r"(://[^:/@\s]*:)\S*@", r"\1***@", text)

        raise ConfigError(
            f"invalid ledger URL {hide(url)!r}: {hide(str(exc))}",
            hint="use sqlite:///ABS/PATH.db or postgresql://user@host:5432/db",
        ) from None


def _sqlite_wal(dbapi_conn: Any, _record: Any) -> None:
    # WAL: readers don't block the writer. synchronous=FULL fsyncs the WAL on every commit,
    # so an acknowledged alert survives a power loss (NORMAL may lose the last commits).
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.close()


class Ledger:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = _engine(url)
        try:
            metadata.create_all(self.engine)
        except OperationalError as exc:
            raise LedgerError(
                "cannot open the ledger at "
                f"{self.engine.url.render_as_string(hide_password=True)}: {exc.orig}",
                hint="check MLPB_LEDGER_URL / MLPB_HOME and that the database is running",
            ) from None
        try:
            upgrade(self.engine)  # an existing ledger gets new columns in place
        except SQLAlchemyError as exc:
            raise LedgerError(
                "cannot upgrade the ledger at "
                f"{self.engine.url.render_as_string(hide_password=True)} to this version "
                f"(timeline hash chain): {getattr(exc, 'orig', exc)}",
                hint="open it once as a user that may ALTER its tables (e.g. the database "
                     "owner); nothing was changed",
            ) from None

    @property
    def leases(self) -> Leases:
        return Leases(self.engine)

    @property
    def windows(self) -> MonitoringWindows:
        return MonitoringWindows(self.engine)

    @property
    def refusals(self) -> Refusals:
        return Refusals(self.engine)

    # -- incidents -------------------------------------------------------------------------
    def open_incident(self, incident: Incident, *, attempts: int = 3) -> tuple[Incident, bool]:
        """Insert ``incident``; if one with the same dedup key is open, return that one.

        Returns (incident, created). A clash that is not an open duplicate (the holder closed
        between our insert and lookup, or an id already taken) is retried at most
        ``attempts`` times, with a fresh id when the id is the clash.
        """
        for _ in range(attempts):
            row = self._row(incident)
            try:
                with self.engine.begin() as conn:
                    conn.execute(incidents.insert().values(**row))
                    for ev in incident.timeline or [
                        TimelineEvent(kind="opened", message="incident opened")
                    ]:
                        self._event(conn, incident.id, ev)
                return incident, True
            except IntegrityError:
                existing = self.find_open(incident.dedup_key)
                if existing is not None:
                    self.add_event(existing.id, "repeat", "same trigger while open",
                                   {"trigger": incident.trigger})
                    return existing, False
                if self._exists(incident.id):
                    from playbooks.engine.lifecycle import new_incident_id  # lifecycle imports us

                    incident = incident.model_copy(update={"id": new_incident_id()})
        raise LedgerError(
            f"could not open an incident for {incident.dedup_key!r} after {attempts} attempts "
            "(its id or key kept clashing)",
            hint="retry; if it persists, check the ledger's mlpb_incidents table",
        )

    def _exists(self, incident_id: str) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(
                sa.select(incidents.c.id).where(incidents.c.id == incident_id)
            ).first() is not None

    def claim(self, incident_id: str, *, message: str = "run started") -> Incident | None:
        """Move an incident from ``open`` (queued by the receiver) to ``investigating`` for
        exactly one run; None when it is not open any more (another run has it)."""
        with self.engine.begin() as conn:
            row = conn.execute(
                sa.select(incidents.c.payload).where(
                    (incidents.c.id == incident_id) & (incidents.c.status == "open")
                )
            ).first()
            if row is None:
                return None
            inc = apply_event(Incident.model_validate(row[0]), Event.STARTED, message)
            values = self._row(inc)
            values.pop("id")
            n = conn.execute(
                incidents.update()
                .where((incidents.c.id == incident_id) & (incidents.c.status == "open"))
                .values(**values)
            ).rowcount
            if n != 1:
                return None
            self._event(conn, incident_id, inc.timeline[-1])
        return inc

    def find_open(self, dedup_key: str) -> Incident | None:
        with self.engine.connect() as conn:
            r = conn.execute(
                sa.select(incidents.c.payload).where(incidents.c.open_dedup_key == dedup_key)
            ).first()
        return Incident.model_validate(r[0]) if r else None

    def save(self, incident: Incident, *, event: TimelineEvent | None = None) -> Incident:
        """Write the incident; with ``event``, append that timeline entry in the same
        transaction (status changes come from playbooks.engine.transitions.record_event)."""
        incident = incident.model_copy(update={"updated_at": utcnow()})
        row = self._row(incident)
        row.pop("id")
        with self.engine.begin() as conn:
            n = conn.execute(
                incidents.update().where(incidents.c.id == incident.id).values(**row)
            ).rowcount
            if n != 1:
                raise UnknownNameError(f"incident '{incident.id}' is not in the ledger")
            if event is not None:
                self._event(conn, incident.id, event)
        return incident

    def get(self, incident_id: str) -> Incident:
        with self.engine.connect() as conn:
            r = conn.execute(
                sa.select(incidents.c.payload).where(incidents.c.id == incident_id)
            ).first()
            if r is None:
                like = conn.execute(
                    sa.select(incidents.c.payload)
                    .where(incidents.c.id.startswith(incident_id))
                    .limit(2)
                ).all()
                if len(like) == 1:
                    r = like[0]
        if r is None:
            raise UnknownNameError(
                f"no incident '{incident_id}' in the ledger",
                hint="`mlpb incidents list` shows the ids",
            )
        inc = Incident.model_validate(r[0])
        return inc.model_copy(update={"timeline": self.events(inc.id)})

    def list(
        self, *, limit: int = 50, status: str | None = None, model: str | None = None,
        playbook: str | None = None, owner: str | None = None,
    ) -> list[Incident]:
        """Newest first. ``owner`` matches who holds it: the owner or the escalation target
        (kept in the payload, so filtered after the query)."""
        q = sa.select(incidents.c.payload).order_by(incidents.c.detected_at.desc())
        if status:
            q = q.where(incidents.c.status == status)
        if model:
            q = q.where(incidents.c.model == model)
        if playbook:
            q = q.where(incidents.c.playbook == playbook)
        if owner is None:
            q = q.limit(limit)
        with self.engine.connect() as conn:
            found = [Incident.model_validate(r[0]) for r in conn.execute(q)]
        if owner is not None:
            found = [i for i in found if owner in (i.owner, i.escalated_to)][:limit]
        return found

    # -- timeline and results (`builtins.list`: in this class `list` is the method above) --
    def add_event(
        self, incident_id: str, kind: str, message: str, data: dict[str, Any] | None = None
    ) -> TimelineEvent:
        ev = TimelineEvent(kind=kind, message=message, data=data or {})
        with self.engine.begin() as conn:
            self._event(conn, incident_id, ev)
        return ev

    def events(self, incident_id: str) -> builtins.list[TimelineEvent]:
        with self.engine.connect() as conn:
            rows = (
                conn.execute(
                    sa.select(timeline)
                    .where(timeline.c.incident_id == incident_id)
                    .order_by(timeline.c.seq)
                )
                .mappings()
                .all()
            )
        return [
            TimelineEvent(at=r["at"], kind=r["kind"], message=r["message"], data=r["data"])
            for r in rows
        ]

    def record_hypotheses(self, incident_id: str, results: builtins.list[HypothesisResult]) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                hypothesis_results.delete().where(hypothesis_results.c.incident_id == incident_id)
            )
            if results:
                conn.execute(
                    hypothesis_results.insert(),
                    [
                        {
                            "incident_id": incident_id,
                            "hypothesis_id": r.id,
                            "check_name": r.check,
                            "verdict": r.verdict.value,
                            "confidence": r.confidence,
                            "summary": r.summary,
                            "findings": [f.model_dump(mode="json") for f in r.findings],
                        }
                        for r in results
                    ],
                )

    # -- remediation journal ---------------------------------------------------------------
    def journal_intent(
        self, incident_id: str, model: str, remediation_id: str, action: str, plan: dict[str, Any]
    ) -> int:
        """Write the journal entry *before* a remediation acts; returns its sequence number."""
        with self.engine.begin() as conn:
            res = conn.execute(
                remediation_journal.insert().values(
                    incident_id=incident_id,
                    model=model,
                    remediation_id=remediation_id,
                    action=action,
                    phase="intent",
                    plan=plan,
                    change=None,
                    at=utcnow(),
                    closed=False,
                )
            )
            key = res.inserted_primary_key
            assert key is not None, "an INSERT returns its primary key"
            return int(key[0])

    def journal_update(
        self, seq: int, phase: str, change: dict[str, Any] | None = None, *, closed: bool = False
    ) -> None:
        values: dict[str, Any] = {"phase": phase, "at": utcnow(), "closed": closed}
        if change is not None:
            values["change"] = change
        with self.engine.begin() as conn:
            conn.execute(
                remediation_journal.update()
                .where(remediation_journal.c.seq == seq)
                .values(**values)
            )

    def journal(
        self, *, incident_id: str | None = None, model: str | None = None, unfinished: bool = False
    ) -> builtins.list[JournalEntry]:
        q = sa.select(remediation_journal).order_by(remediation_journal.c.seq)
        if incident_id:
            q = q.where(remediation_journal.c.incident_id == incident_id)
        if model:
            q = q.where(remediation_journal.c.model == model)
        if unfinished:
            q = q.where(remediation_journal.c.closed.is_(False))
        with self.engine.connect() as conn:
            return [JournalEntry(**dict(r)) for r in conn.execute(q).mappings()]

    # -- helpers ---------------------------------------------------------------------------
    @staticmethod
    def _row(inc: Incident) -> dict[str, Any]:
        payload = inc.model_dump(mode="json", exclude={"timeline"})
        return {
            "id": inc.id,
            "dedup_key": inc.dedup_key,
            "open_dedup_key": inc.dedup_key if inc.status.is_open else None,
            "playbook": inc.playbook,
            "model": inc.model,
            "status": inc.status.value,
            "severity": inc.severity.value,
            "drill": inc.drill,
            "dry_run": inc.dry_run,
            "detected_at": inc.detected_at,
            "resolved_at": inc.resolved_at,
            "updated_at": inc.updated_at,
            "payload": payload,
        }

    @staticmethod
    def _event(conn: sa.Connection, incident_id: str, ev: TimelineEvent) -> None:
        append_event(conn, incident_id, ev)  # the one writer of timeline rows (hash chain)

    def close(self) -> None:
        self.engine.dispose()
