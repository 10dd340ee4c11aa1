"""Ledger tables (SQLAlchemy Core). The full incident is kept as JSON; the columns beside it
exist for querying and for the uniqueness rule on open incidents."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

__all__ = ["TS", "UTCDateTime", "hypothesis_results", "incident_ref", "incidents", "metadata",
           "pagerduty_outbox", "remediation_journal", "seq_column", "timeline"]

metadata = sa.MetaData()


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Timezone-aware UTC on every backend (SQLite drops the zone otherwise)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the ledger; use UTC-aware datetimes")
        return (
            value.astimezone(UTC)
            if dialect.name != "sqlite"
            else value.astimezone(UTC).replace(tzinfo=None)
        )

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


TS = UTCDateTime()  # the column type of every ledger timestamp

incidents = sa.Table(
    "mlpb_incidents",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("dedup_key", sa.String(512), nullable=False, index=True),
    # Equals dedup_key while the incident is open, NULL once closed: the unique constraint
    # then allows one open incident per key on SQLite and PostgreSQL alike.
    sa.Column("open_dedup_key", sa.String(512), unique=True, nullable=True),
    sa.Column("playbook", sa.String(128), nullable=False),
    sa.Column("model", sa.String(256), nullable=False, index=True),
    sa.Column("status", sa.String(32), nullable=False, index=True),
    sa.Column("severity", sa.String(8), nullable=False),
    sa.Column("drill", sa.Boolean, nullable=False, default=False),
    sa.Column("dry_run", sa.Boolean, nullable=False, default=False),
    sa.Column("detected_at", TS, nullable=False),
    sa.Column("resolved_at", TS, nullable=True),
    sa.Column("updated_at", TS, nullable=False),
    sa.Column("payload", sa.JSON, nullable=False),
)



def seq_column() -> sa.Column[int]:
    """The insertion order of an append-only table (its primary key)."""
    return sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True)


def incident_ref(**kw: Any) -> sa.Column[str]:
    """``incident_id``, a foreign key to the incident the row belongs to."""
    return sa.Column("incident_id", sa.String(64), sa.ForeignKey(incidents.c.id), **kw)


timeline = sa.Table(
    "mlpb_timeline",
    metadata,
    seq_column(),
    incident_ref(index=True),
    sa.Column("at", TS, nullable=False),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("data", sa.JSON, nullable=False),
    # The hash chain (playbooks/ledger/chain.py). Nullable: added to existing ledgers in place
    # (playbooks/ledger/migrate.py backfills them); a NULL after that is a broken chain.
    sa.Column("prev_hash", sa.String(64), nullable=True),
    sa.Column("row_hash", sa.String(64), nullable=True),
)

hypothesis_results = sa.Table(
    "mlpb_hypothesis_results",
    metadata,
    incident_ref(primary_key=True),
    sa.Column("hypothesis_id", sa.String(128), primary_key=True),
    sa.Column("check_name", sa.String(128), nullable=False),
    sa.Column("verdict", sa.String(16), nullable=False),
    sa.Column("confidence", sa.Float, nullable=False),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("findings", sa.JSON, nullable=False),
)

remediation_journal = sa.Table(
    "mlpb_remediation_journal",
    metadata,
    seq_column(),
    incident_ref(index=True),
    sa.Column("model", sa.String(256), nullable=False, index=True),
    sa.Column("remediation_id", sa.String(128), nullable=False),
    sa.Column("action", sa.String(128), nullable=False),
    # intent → applied → (reverted | kept); an 'intent' or 'applied' entry with no final
    # phase after its run ended means the run died mid-change: recovery reverts it.
    sa.Column("phase", sa.String(16), nullable=False),
    sa.Column("plan", sa.JSON, nullable=False),
    sa.Column("change", sa.JSON, nullable=True),
    sa.Column("at", TS, nullable=False),
    sa.Column("closed", sa.Boolean, nullable=False, default=False),
)

# PagerDuty Events API v2 outbox (playbooks/ledger/pagerduty.py): one row per event, sent in
# order per incident. Defined here so every Ledger creates it. No foreign key, like Slack's.
pagerduty_outbox = sa.Table(
    "mlpb_pagerduty_outbox",
    metadata,
    seq_column(),
    sa.Column("incident_id", sa.String(64), nullable=False, index=True),
    sa.Column("action", sa.String(16), nullable=False),  # trigger | acknowledge | resolve
    sa.Column("payload", sa.JSON, nullable=False),  # the event without its routing key
    sa.Column("created_at", TS, nullable=False),
    sa.Column("state", sa.String(8), nullable=False, index=True),  # pending | sent | failed
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("sent_at", TS, nullable=True),
    sa.Column("lease_until", TS, nullable=True),  # held by one sender while delivering
)
