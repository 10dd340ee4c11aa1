"""Monitoring windows as rows: one per (incident, window index), so a window is measured and
acted on once however many controllers run (the primary key decides)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from playbooks.ledger.schema import TS, metadata
from playbooks.models.incident import WindowResult

__all__ = ["MonitoringWindows"]

windows = sa.Table(
    "mlpb_monitoring_windows",
    metadata,
    sa.Column("incident_id", sa.String(64), primary_key=True),
    sa.Column("idx", sa.Integer, primary_key=True),
    sa.Column("verdict", sa.String(16), nullable=False),
    sa.Column("measured_at", TS, nullable=False),
    sa.Column("payload", sa.JSON, nullable=False),
)


class MonitoringWindows:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def record(self, incident_id: str, result: WindowResult) -> bool:
        """Store one window's result; False when that window was already recorded."""
        try:
            with self.engine.begin() as conn:
                conn.execute(windows.insert().values(
                    incident_id=incident_id, idx=result.index, verdict=result.verdict,
                    measured_at=result.measured_at, payload=result.model_dump(mode="json")))
        except IntegrityError:
            return False
        return True

    def of(self, incident_id: str) -> list[WindowResult]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(windows.c.payload)
                                .where(windows.c.incident_id == incident_id)
                                .order_by(windows.c.idx)).all()
        return [WindowResult.model_validate(r[0]) for r in rows]
