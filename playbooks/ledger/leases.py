"""Per-model leases: a change to a model (apply, revert, a monitoring verdict) is made only
while holding that model's lease. A lease has a holder, a heartbeat and an expiry; a holder
that dies stops renewing, and only then may someone else take over (and recover its work).

Lease time is the system clock, not the engine clock: it measures whether a process is
alive, which a simulated sandbox day says nothing about.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from playbooks.errors import MlpbError
from playbooks.ledger.schema import TS, metadata

__all__ = ["Lease", "LeaseBusy", "Leases", "holder_id"]

leases = sa.Table(
    "mlpb_leases",
    metadata,
    sa.Column("model", sa.String(256), primary_key=True),
    sa.Column("holder", sa.String(200), nullable=False),
    sa.Column("purpose", sa.String(200), nullable=False, default=""),
    sa.Column("acquired_at", TS, nullable=False),
    sa.Column("heartbeat_at", TS, nullable=False),
    sa.Column("expires_at", TS, nullable=False),
)

DEFAULT_TTL = timedelta(minutes=2)


def holder_id() -> str:
    """Unique per process and call: host, pid and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _now() -> datetime:
    return datetime.now(UTC)


class LeaseBusy(MlpbError):
    """Another live holder has the model's lease."""


@dataclass(frozen=True)
class Lease:
    model: str
    holder: str
    purpose: str
    expires_at: datetime

    @property
    def expired(self) -> bool:
        return self.expires_at <= _now()


class Leases:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def get(self, model: str) -> Lease | None:
        with self.engine.connect() as conn:
            r = conn.execute(sa.select(leases).where(leases.c.model == model)).mappings().first()
        return None if r is None else Lease(r["model"], r["holder"], r["purpose"], r["expires_at"])

    def try_acquire(self, model: str, holder: str, purpose: str = "",
                    ttl: timedelta = DEFAULT_TTL) -> bool:
        """Take the lease if it is free, expired, or already ours (one atomic statement
        each: the row's primary key and a conditional UPDATE decide races)."""
        now = _now()
        values = {"holder": holder, "purpose": purpose, "heartbeat_at": now,
                  "expires_at": now + ttl}
        with self.engine.begin() as conn:
            n = conn.execute(
                leases.update()
                .where((leases.c.model == model)
                       & ((leases.c.expires_at <= now) | (leases.c.holder == holder)))
                .values(acquired_at=now, **values)
            ).rowcount
            if n == 1:
                return True
        try:
            with self.engine.begin() as conn:
                conn.execute(leases.insert().values(model=model, acquired_at=now, **values))
            return True
        except IntegrityError:  # someone holds it (or took it between our two statements)
            return False

    def take_over(self, model: str, holder: str, purpose: str,
                  ttl: timedelta = DEFAULT_TTL) -> None:
        """Take the lease whoever holds it (a person has said its holder is gone)."""
        now = _now()
        with self.engine.begin() as conn:
            conn.execute(leases.delete().where(leases.c.model == model))
        if not self.try_acquire(model, holder, purpose, ttl):
            raise LeaseBusy(f"model {model}: another process took the lease while it was "
                            "being taken over", hint=f"retry (at {now.isoformat()})")

    def renew(self, model: str, holder: str, ttl: timedelta = DEFAULT_TTL) -> bool:
        now = _now()
        with self.engine.begin() as conn:
            n = conn.execute(
                leases.update()
                .where((leases.c.model == model) & (leases.c.holder == holder))
                .values(heartbeat_at=now, expires_at=now + ttl)
            ).rowcount
        return n == 1

    def release(self, model: str, holder: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(leases.delete().where((leases.c.model == model)
                                               & (leases.c.holder == holder)))

    @contextmanager
    def hold(self, model: str, purpose: str, *, holder: str | None = None,
             ttl: timedelta = DEFAULT_TTL, force: bool = False) -> Iterator[str]:
        """Hold ``model``'s lease for the block, renewing it every ttl/3 from a daemon
        thread (a slow retrain stays covered; a dead process stops renewing). Raises
        LeaseBusy when a live holder has it (``force``: take it over regardless)."""
        me = holder or holder_id()
        if force:
            self.take_over(model, me, purpose, ttl)
        elif not self.try_acquire(model, me, purpose, ttl):
            other = self.get(model)
            raise LeaseBusy(
                f"model {model} is being changed by {other.holder if other else 'another run'}"
                f" ({other.purpose if other else '?'}); its lease expires "
                f"{other.expires_at.isoformat(timespec='seconds') if other else 'soon'}",
                hint="wait for that run; a dead holder's lease expires by itself")
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(ttl.total_seconds() / 3):
                self.renew(model, me, ttl)

        thread = threading.Thread(target=beat, name=f"lease-{model}", daemon=True)
        thread.start()
        try:
            yield me
        finally:
            stop.set()
            thread.join()
            self.release(model, me)
