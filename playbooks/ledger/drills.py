"""Game-day drill results: one row per drill, kept apart from production MTTx."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from playbooks.ledger.schema import UTCDateTime, metadata
from playbooks.ledger.store import Ledger

__all__ = ["DrillResult", "DrillStore", "drill_results"]

drill_results = sa.Table(
    "mlpb_drill_results",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("at", UTCDateTime(), nullable=False, index=True),
    sa.Column("incident_id", sa.String(64), nullable=True, index=True),
    sa.Column("playbook", sa.String(128), nullable=False),
    sa.Column("fault", sa.String(64), nullable=False),
    sa.Column("seed", sa.Integer, nullable=False),
    sa.Column("drill", sa.Boolean, nullable=False, default=True),
    sa.Column("detected", sa.Boolean, nullable=False),
    sa.Column("expected_root_cause", sa.String(128), nullable=True),
    sa.Column("root_cause", sa.String(128), nullable=True),
    sa.Column("correct_root_cause", sa.Boolean, nullable=False),
    sa.Column("outcome", sa.String(32), nullable=False),  # the incident's final status
    sa.Column("expected_outcome", sa.String(32), nullable=True),
    sa.Column("remediation", sa.String(64), nullable=True),
    sa.Column("time_to_detect_s", sa.Float, nullable=True),
    sa.Column("time_to_resolve_s", sa.Float, nullable=True),
    sa.Column("passed", sa.Boolean, nullable=False),
    sa.Column("detail", sa.JSON, nullable=False),
)


@dataclass(frozen=True)
class DrillResult:
    id: str
    at: datetime
    incident_id: str | None
    playbook: str
    fault: str
    seed: int
    detected: bool
    expected_root_cause: str | None
    root_cause: str | None
    correct_root_cause: bool
    outcome: str
    expected_outcome: str | None
    remediation: str | None
    time_to_detect_s: float | None
    time_to_resolve_s: float | None
    passed: bool
    detail: dict[str, Any]
    drill: bool = True


class DrillStore:
    def __init__(self, ledger: Ledger | str) -> None:
        self.engine = (ledger if isinstance(ledger, Ledger) else Ledger(ledger)).engine

    def record(self, result: DrillResult) -> None:
        with self.engine.begin() as conn:
            conn.execute(drill_results.insert().values(**asdict(result)))

    def list(self, *, limit: int = 50) -> list[DrillResult]:
        q = sa.select(drill_results).order_by(drill_results.c.at.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [DrillResult(**dict(r)) for r in conn.execute(q).mappings()]
