"""Post-mortem action items: owned, dated, tracked until done (``mlpb actions``).

An item is keyed by (incident, key): writing the same post-mortem again (the controller
re-renders it) updates the text of an open item instead of adding a second one."""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from playbooks.errors import UnknownNameError
from playbooks.ledger.schema import TS, metadata, seq_column
from playbooks.ledger.store import Ledger
from playbooks.models.incident import utcnow

__all__ = ["ActionItem", "ActionStore", "NewAction", "action_items"]

action_items = sa.Table(
    "mlpb_action_items",
    metadata,
    seq_column(),
    sa.Column("incident_id", sa.String(64), nullable=False, index=True),
    sa.Column("key", sa.String(128), nullable=False),  # what it is about, stable per incident
    sa.Column("model", sa.String(256), nullable=False, index=True),
    sa.Column("playbook", sa.String(128), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("owner", sa.String(256), nullable=False),
    sa.Column("due", TS, nullable=False),
    sa.Column("status", sa.String(16), nullable=False, index=True),  # open | done
    sa.Column("created_at", TS, nullable=False),
    sa.Column("done_at", TS, nullable=True),
    sa.Column("done_by", sa.String(256), nullable=True),
    sa.Column("drill", sa.Boolean, nullable=False, default=False),
    sa.UniqueConstraint("incident_id", "key", name="uq_action_incident_key"),
)


@dataclass(frozen=True)
class NewAction:
    key: str
    text: str
    owner: str
    due: datetime


@dataclass(frozen=True)
class ActionItem:
    seq: int
    incident_id: str
    key: str
    model: str
    playbook: str
    text: str
    owner: str
    due: datetime
    status: str
    created_at: datetime
    done_at: datetime | None
    done_by: str | None
    drill: bool

    @property
    def id(self) -> str:
        return f"ACT-{self.seq}"

    def overdue(self, now: datetime) -> bool:
        return self.status == "open" and self.due < now


class ActionStore:
    def __init__(self, ledger: Ledger | str) -> None:
        self.engine = (ledger if isinstance(ledger, Ledger) else Ledger(ledger)).engine

    def upsert(self, incident_id: str, *, model: str, playbook: str, drill: bool,
               items: builtins.list[NewAction]) -> builtins.list[ActionItem]:
        """Record ``items`` for the incident (new keys inserted, open ones' text refreshed,
        done ones left alone); returns all of the incident's items."""
        now = utcnow()
        with self.engine.begin() as conn:
            have = {r.key: r for r in conn.execute(
                sa.select(action_items).where(action_items.c.incident_id == incident_id))}
            for it in items:
                old = have.get(it.key)
                if old is None:
                    conn.execute(action_items.insert().values(
                        incident_id=incident_id, key=it.key, model=model, playbook=playbook,
                        text=it.text, owner=it.owner, due=it.due, status="open",
                        created_at=now, drill=drill))
                elif old.status == "open" and old.text != it.text:
                    conn.execute(action_items.update().where(action_items.c.seq == old.seq)
                                 .values(text=it.text))
        return self.list(incident_id=incident_id, status=None)

    def list(self, *, incident_id: str | None = None, status: str | None = "open",
             model: str | None = None, playbook: str | None = None,
             include_drills: bool = True) -> builtins.list[ActionItem]:
        q = sa.select(action_items).order_by(action_items.c.due, action_items.c.seq)
        if incident_id:
            q = q.where(action_items.c.incident_id == incident_id)
        if status:
            q = q.where(action_items.c.status == status)
        if model:
            q = q.where(action_items.c.model == model)
        if playbook:
            q = q.where(action_items.c.playbook == playbook)
        if not include_drills:
            q = q.where(action_items.c.drill.is_(False))
        with self.engine.connect() as conn:
            return [ActionItem(**dict(r)) for r in conn.execute(q).mappings()]

    def done(self, action_id: str, *, by: str, at: datetime | None = None) -> ActionItem:
        """Mark ``ACT-N`` (or ``N``) done; done twice keeps the first completion."""
        raw = action_id.upper().removeprefix("ACT-")
        if not raw.isdigit():
            raise UnknownNameError(f"'{action_id}' is not an action item id",
                                   hint="ids look like ACT-12; `mlpb actions list` shows them")
        seq = int(raw)
        with self.engine.begin() as conn:
            n = conn.execute(action_items.update()
                             .where((action_items.c.seq == seq)
                                    & (action_items.c.status == "open"))
                             .values(status="done", done_at=at or utcnow(), done_by=by)).rowcount
            row = conn.execute(sa.select(action_items)
                               .where(action_items.c.seq == seq)).mappings().first()
        if row is None:
            raise UnknownNameError(f"no action item {action_id} in the ledger",
                                   hint="`mlpb actions list --all` shows every item")
        del n  # already done: the first completion stands
        return ActionItem(**dict(row))
