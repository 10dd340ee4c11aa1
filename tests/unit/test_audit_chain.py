"""The timeline hash chain: pure recomputation (edited, deleted, reordered, truncated rows),
and the writer and in-place upgrade on a real SQLite file ledger."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from playbooks.ledger import Ledger, LedgerError
from playbooks.ledger.audit import verify
from playbooks.ledger.chain import GENESIS, ChainRow, Head, chain_hash, first_break
from playbooks.models.incident import Incident, IncidentStatus

T0 = datetime(2026, 3, 1, 9, tzinfo=UTC)


def _chain(n: int, iid: str = "INC-1") -> tuple[list[ChainRow], Head]:
    rows, prev = [], GENESIS
    for i in range(n):
        at, data = T0 + timedelta(minutes=i), {"i": i, "psi": 0.25, "names": ["a", "b"]}
        h = chain_hash(prev, iid, at, f"k{i}", f"message {i}", data)
        rows.append(ChainRow(10 + i, at, f"k{i}", f"message {i}", data, prev, h))
        prev = h
    return rows, Head(prev, n)


def test_hash_is_canonical_and_covers_every_field() -> None:
    base = chain_hash(GENESIS, "INC-1", T0, "opened", "m", {"a": 1, "b": [1, 2]})
    assert len(base) == 64
    # key order and the time zone of the same instant do not matter ...
    same_at = T0.astimezone(datetime.now().astimezone().tzinfo)
    assert chain_hash(GENESIS, "INC-1", same_at, "opened", "m", {"b": [1, 2], "a": 1}) == base
    # ... every field does
    others = [chain_hash("1" * 64, "INC-1", T0, "opened", "m", {"a": 1, "b": [1, 2]}),
              chain_hash(GENESIS, "INC-2", T0, "opened", "m", {"a": 1, "b": [1, 2]}),
              chain_hash(GENESIS, "INC-1", T0 + timedelta(microseconds=1), "opened", "m",
                         {"a": 1, "b": [1, 2]}),
              chain_hash(GENESIS, "INC-1", T0, "closed", "m", {"a": 1, "b": [1, 2]}),
              chain_hash(GENESIS, "INC-1", T0, "opened", "m.", {"a": 1, "b": [1, 2]}),
              chain_hash(GENESIS, "INC-1", T0, "opened", "m", {"a": 1, "b": [2, 1]})]
    assert base not in others and len(set(others)) == len(others)


def test_intact_chain_and_each_kind_of_break() -> None:
    rows, head = _chain(4)
    assert first_break("INC-1", rows, head) is None

    edited = [*rows[:2], dataclasses.replace(rows[2], message="nothing happened"), rows[3]]
    b = first_break("INC-1", edited, head)
    assert b is not None and (b.seq, b.position) == (12, 3) and "edited" in b.reason
    assert "INC-1" in b.describe() and "seq 12" in b.describe()

    deleted = [rows[0], rows[2], rows[3]]
    b = first_break("INC-1", deleted, head)
    assert b is not None and b.seq == 12 and "deleted, inserted or reordered" in b.reason

    swapped = [rows[0], rows[2], rows[1], rows[3]]
    b = first_break("INC-1", swapped, head)
    assert b is not None and b.seq == 12 and b.position == 2

    truncated = rows[:3]
    b = first_break("INC-1", truncated, head)
    assert b is not None and b.seq is None and "4 row(s), 3 are there" in b.reason

    # the last row rewritten with a freshly computed hash: only the head tells
    last = rows[3]
    forged_hash = chain_hash(last.prev_hash or "", "INC-1", last.at, last.kind, "forged",
                             last.data)
    forged = [*rows[:3], dataclasses.replace(last, message="forged", row_hash=forged_hash)]
    b = first_break("INC-1", forged, head)
    assert b is not None and b.seq == 13 and "rewritten" in b.reason

    unhashed = [*rows[:1], dataclasses.replace(rows[1], row_hash=None)]
    b = first_break("INC-1", unhashed, Head(rows[1].row_hash or "", 2))
    assert b is not None and b.seq == 11 and "no hash" in b.reason

    assert first_break("INC-1", [], None) is None
    assert first_break("INC-1", rows, None) is not None  # rows but no head


def _incident(iid: str) -> Incident:
    return Incident(id=iid, playbook="data-drift", playbook_version="1.0.0", playbook_hash="h",
                    model="credit-risk", dedup_key=f"k-{iid}",
                    status=IncidentStatus.INVESTIGATING)


def test_writes_chain_and_raw_edit_is_found(tmp_path: Path) -> None:
    led = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    led.open_incident(_incident("INC-A"))
    led.open_incident(_incident("INC-B"))
    for i in range(3):
        led.add_event("INC-A", "note", f"note {i}", {"i": i})
    led.add_event("INC-B", "note", "other incident")
    assert verify(led.engine) == (2, [])
    with led.engine.begin() as conn:
        seq = conn.execute(sa.text("SELECT seq FROM mlpb_timeline WHERE incident_id='INC-A' "
                                   "AND message='note 1'")).scalar_one()
        conn.execute(sa.text("UPDATE mlpb_timeline SET message='nothing to see' WHERE seq=:s"),
                     {"s": seq})
    checked, broken = verify(led.engine)
    assert checked == 2 and [(b.incident_id, b.seq, b.position) for b in broken] == [
        ("INC-A", seq, 3)]
    assert verify(led.engine, "INC-B") == (1, [])
    led.close()


def test_old_ledger_upgrades_in_place_with_backfilled_chain(tmp_path: Path) -> None:
    """A ledger written before the chain existed: no hash columns, no heads table."""
    path = tmp_path / "old.db"
    eng = sa.create_engine(f"sqlite:///{path}")
    with eng.begin() as conn:
        conn.execute(sa.text("CREATE TABLE mlpb_incidents (id VARCHAR(64) PRIMARY KEY, "
                             "dedup_key VARCHAR(512) NOT NULL, open_dedup_key VARCHAR(512) "
                             "UNIQUE, playbook VARCHAR(128) NOT NULL, model VARCHAR(256) NOT "
                             "NULL, status VARCHAR(32) NOT NULL, severity VARCHAR(8) NOT NULL, "
                             "drill BOOLEAN NOT NULL, dry_run BOOLEAN NOT NULL, detected_at "
                             "DATETIME NOT NULL, resolved_at DATETIME, updated_at DATETIME NOT "
                             "NULL, payload JSON NOT NULL)"))
        conn.execute(sa.text("CREATE TABLE mlpb_timeline (seq INTEGER PRIMARY KEY "
                             "AUTOINCREMENT, incident_id VARCHAR(64) REFERENCES "
                             "mlpb_incidents (id), at DATETIME NOT NULL, kind VARCHAR(64) NOT "
                             "NULL, message TEXT NOT NULL, data JSON NOT NULL)"))
        for i, (iid, kind) in enumerate([("INC-OLD", "opened"), ("INC-OLD", "evidence"),
                                         ("INC-OLD2", "opened"), ("INC-OLD", "closed")]):
            conn.execute(sa.text("INSERT INTO mlpb_timeline (incident_id, at, kind, message, "
                                 "data) VALUES (:i, :at, :k, :m, :d)"),
                         {"i": iid, "at": f"2026-03-01 09:0{i}:00.000000", "k": kind,
                          "m": f"{kind} {i}", "d": json.dumps({"n": i})})
    eng.dispose()

    led = Ledger(f"sqlite:///{path}")  # the migration runs here
    assert verify(led.engine) == (2, [])
    with led.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT prev_hash, row_hash FROM mlpb_timeline WHERE "
                                    "incident_id='INC-OLD' ORDER BY seq")).all()
    assert rows[0][0] == GENESIS and rows[1][0] == rows[0][1] and rows[2][0] == rows[1][1]
    with led.engine.begin() as conn:  # new events continue the backfilled chain
        from playbooks.ledger.chain import append_event
        from playbooks.models.incident import TimelineEvent

        append_event(conn, "INC-OLD", TimelineEvent(at=T0, kind="note", message="after"))
    assert verify(led.engine, "INC-OLD") == (1, [])
    with led.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM mlpb_timeline WHERE kind='evidence'"))
    _, broken = verify(led.engine)
    assert [(b.incident_id, b.position) for b in broken] == [("INC-OLD", 2)]
    led.close()


def test_an_upgrade_that_cannot_write_is_a_ledger_error(tmp_path: Path) -> None:
    """Every table there but the chain columns missing, opened read-only: a clear error."""
    path = tmp_path / "old.db"
    Ledger(f"sqlite:///{path}").close()
    eng = sa.create_engine(f"sqlite:///{path}")
    with eng.begin() as conn:
        conn.execute(sa.text("ALTER TABLE mlpb_timeline DROP COLUMN row_hash"))
    eng.dispose()
    with pytest.raises(LedgerError, match=r"cannot upgrade the ledger .* readonly") as e:
        Ledger(f"sqlite:///file:{path}?mode=ro&uri=true")
    assert e.value.hint and "ALTER" in e.value.hint
