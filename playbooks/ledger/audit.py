"""The audit trail: refusals by policy, the export (JSON Lines) and the chain check.

``export_records`` yields one object per record: an ``incident`` (the incident, its timeline
with hashes, its chain, approval and decisions, the spec that ran and where it is archived,
the evidence hashes) or a ``refusal`` (something the policy refused; it opened no incident).
``verify`` recomputes every chain (playbooks/ledger/chain.py).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from playbooks.ledger.chain import Break, first_break, heads, read_chain
from playbooks.ledger.schema import TS, incidents, metadata, seq_column, timeline
from playbooks.models.incident import Incident
from playbooks.policy import Refusal

__all__ = ["Refusals", "export_records", "refusals", "spec_archive", "verify"]

refusals = sa.Table(
    "mlpb_refusals",
    metadata,
    seq_column(),
    sa.Column("at", TS, nullable=False, index=True),
    sa.Column("who", sa.String(256), nullable=False),
    sa.Column("channel", sa.String(32), nullable=False),  # cli | receiver | prefect-ui
    sa.Column("action", sa.String(32), nullable=False),  # run-live | run
    sa.Column("playbook", sa.String(128), nullable=False),
    sa.Column("model", sa.String(256), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("detail", sa.JSON, nullable=False),  # e.g. where the identity came from
)


class Refusals:
    """Writes and reads ``mlpb_refusals`` (one short transaction each, like ``Ledger``)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def record(self, r: Refusal) -> None:
        with self.engine.begin() as conn:
            conn.execute(refusals.insert().values(
                at=r.at, who=r.who, channel=r.channel, action=r.action, playbook=r.playbook,
                model=r.model, reason=r.reason, detail=dict(r.detail)))

    def since(self, since: datetime | None = None) -> list[Refusal]:
        q = sa.select(refusals).order_by(refusals.c.seq)
        if since is not None:
            q = q.where(refusals.c.at >= since)
        with self.engine.connect() as conn:
            return [Refusal(at=m["at"], who=m["who"], channel=m["channel"], action=m["action"],
                            playbook=m["playbook"], model=m["model"], reason=m["reason"],
                            detail=m["detail"]) for m in conn.execute(q).mappings()]


def _incident_ids(conn: sa.Connection, since: datetime | None) -> list[str]:
    q = sa.select(incidents.c.id).order_by(incidents.c.detected_at, incidents.c.id)
    if since is not None:
        q = q.where(incidents.c.updated_at >= since)
    return [r[0] for r in conn.execute(q)]


def _file_sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def spec_archive(home: Path, inc: Incident) -> dict[str, Any]:
    """The spec the incident ran with: version, hash, its file, and where it is archived
    (``archived_path`` None: not in the archive, e.g. opened before the archive existed)."""
    from playbooks.archive.specs import archived_versions

    hit = next((v for v in archived_versions(home, inc.playbook)
                if v["hash"] == inc.playbook_hash), None)
    return {"playbook": inc.playbook, "version": inc.playbook_version,
            "hash": inc.playbook_hash, "spec_path": inc.spec_path,
            "archived_path": hit["path"] if hit else None}


def _evidence(home: Path, incident_id: str) -> dict[str, Any] | None:
    path = home / "evidence" / f"{incident_id}.json"  # playbooks/engine/diagnosis.evidence_path
    digest = _file_sha256(path)
    if digest is None:
        return None
    try:
        windows = json.loads(path.read_text(encoding="utf-8")).get("windows") or {}
    except ValueError:
        windows = {}
    return {"path": str(path), "sha256": digest,
            "windows": {n: w.get("sha256") for n, w in windows.items() if isinstance(w, dict)}}


def _incident_record(conn: sa.Connection, home: Path, incident_id: str) -> dict[str, Any]:
    payload = conn.execute(sa.select(incidents.c.payload)
                           .where(incidents.c.id == incident_id)).scalar_one()
    inc = Incident.model_validate(payload)
    rows, head = read_chain(conn, incident_id)
    broken = first_break(incident_id, rows, head)
    approval = inc.approval.model_dump(mode="json") if inc.approval else None
    return {
        "record": "incident", "id": inc.id,
        "incident": inc.to_contract(),
        "timeline": [{"seq": r.seq, "at": r.at.isoformat(), "kind": r.kind,
                      "message": r.message, "data": r.data, "prev_hash": r.prev_hash,
                      "row_hash": r.row_hash} for r in rows],
        "chain": {"head": head.head if head else None, "length": head.length if head else 0,
                  "intact": broken is None, "break": broken.describe() if broken else None},
        "approval": approval,
        "decisions": approval["decisions"] if approval else [],
        "spec": spec_archive(home, inc),
        "evidence": _evidence(home, inc.id),
    }


def export_records(engine: sa.Engine, home: Path, *, incident_id: str | None = None,
                   since: datetime | None = None) -> Iterator[dict[str, Any]]:
    """The audit records of one incident, or of every incident active since ``since`` and
    the refusals since then (both: everything)."""
    with engine.connect() as conn:
        ids = [incident_id] if incident_id else _incident_ids(conn, since)
    for iid in ids:
        with engine.connect() as conn:
            yield _incident_record(conn, home, iid)
    if incident_id is None:
        for r in Refusals(engine).since(since):
            yield {"record": "refusal", **r.to_json()}


def verify(engine: sa.Engine, incident_id: str | None = None) -> tuple[int, list[Break]]:
    """(chains checked, the first break of each broken one)."""
    with engine.connect() as conn:
        if incident_id is not None:
            ids = [incident_id]
        else:  # every chain: incidents, and rows or heads whose incident row is gone
            ids = sorted({r[0] for q in (sa.select(incidents.c.id),
                                         sa.select(timeline.c.incident_id).distinct(),
                                         sa.select(heads.c.incident_id))
                          for r in conn.execute(q)})
        broken = [b for iid in ids if (b := first_break(iid, *read_chain(conn, iid)))]
    return len(ids), broken
