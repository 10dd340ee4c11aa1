"""In-place upgrades of existing ledgers (``create_all`` adds new tables, never new columns).

Each step checks whether it is needed, so opening a current ledger costs one catalog query per
process and URL. A step runs in one transaction under a lock (SQLite: ``BEGIN IMMEDIATE``;
PostgreSQL: an exclusive table lock) and checks again inside it: several processes that open an
old ledger at once upgrade it once.
"""

from __future__ import annotations

import sqlalchemy as sa

from playbooks.ledger.chain import GENESIS, chain_hash, heads
from playbooks.ledger.schema import timeline

__all__ = ["backfill_chain", "upgrade"]

_CHAIN_COLUMNS = ("prev_hash", "row_hash")
_upgraded: set[str] = set()  # ledger URLs this process has checked


def _missing(conn: sa.Connection) -> list[str]:
    have = {c["name"] for c in sa.inspect(conn).get_columns(timeline.name)}
    return [c for c in _CHAIN_COLUMNS if c not in have]


def upgrade(engine: sa.Engine) -> list[str]:
    """Bring the ledger at ``engine`` to this version's schema; returns what was done."""
    key = engine.url.render_as_string(hide_password=False)
    if key in _upgraded:
        return []
    with engine.connect() as conn:
        needed = bool(_missing(conn))
    done = _add_chain(engine) if needed else []
    _upgraded.add(key)
    return done


def _add_chain(engine: sa.Engine) -> list[str]:
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.execute(sa.text(f"LOCK TABLE {timeline.name} IN ACCESS EXCLUSIVE MODE"))
        try:
            missing = _missing(conn)
            for name in missing:
                conn.execute(sa.text(f"ALTER TABLE {timeline.name} ADD COLUMN {name} "
                                     "VARCHAR(64)"))
            n = backfill_chain(conn) if missing else 0
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
    return [f"timeline hash chain added ({', '.join(missing)}); {n} row(s) chained"] if missing \
        else []


def backfill_chain(conn: sa.Connection) -> int:
    """Chain every timeline row in seq order and record each incident's head (rows written
    before the chain existed: their content is taken as it stands now)."""
    rows = conn.execute(sa.select(timeline.c.seq, timeline.c.incident_id, timeline.c.at,
                                  timeline.c.kind, timeline.c.message, timeline.c.data)
                        .order_by(timeline.c.incident_id, timeline.c.seq)).all()
    updates: list[dict[str, object]] = []
    last: dict[str, tuple[str, int]] = {}
    for seq, iid, at, kind, message, data in rows:
        prev, n = last.get(iid, (GENESIS, 0))
        h = chain_hash(prev, iid, at, kind, message, data)
        updates.append({"b_seq": seq, "b_prev": prev, "b_hash": h})
        last[iid] = (h, n + 1)
    if updates:
        conn.execute(timeline.update().where(timeline.c.seq == sa.bindparam("b_seq"))
                     .values(prev_hash=sa.bindparam("b_prev"), row_hash=sa.bindparam("b_hash")),
                     updates)
    conn.execute(heads.delete())
    if last:
        conn.execute(heads.insert(), [{"incident_id": i, "head": h, "length": n}
                                      for i, (h, n) in last.items()])
    return len(updates)
