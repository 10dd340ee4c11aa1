"""The ledger's durability and id rules on real databases: SQLite commits with
synchronous=FULL, passwords never printed, an id clash retried with a fresh id."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from playbooks.errors import ConfigError
from playbooks.ledger import Ledger
from playbooks.models.incident import Incident

pytestmark = pytest.mark.integration


def test_sqlite_ledger_is_wal_with_synchronous_full(tmp_path: Path) -> None:
    ledger = Ledger(f"sqlite:///{tmp_path / 'l.db'}")
    with ledger.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    ledger.close()


@pytest.mark.parametrize("url", ["postgresql+nosuchdriver://ml:hunter2@db:5432/ledger",
                                 "nosuchdialect://ml:hunter2@db/ledger"])
def test_an_invalid_ledger_url_error_hides_the_password(url: str) -> None:
    with pytest.raises(ConfigError) as info:
        Ledger(url)
    assert "hunter2" not in info.value.message and "ml:***@db" in info.value.message


def _incident(inc_id: str, key: str) -> Incident:
    return Incident(id=inc_id, playbook="data-drift", playbook_version="1.0.0",
                    playbook_hash="h", model="m", dedup_key=key)


def test_an_id_clash_is_retried_with_a_fresh_id(ledger_url: str) -> None:
    ledger = Ledger(ledger_url)
    first, created = ledger.open_incident(_incident("INC-20260101-aaaa", "k1"))
    assert created
    second, created = ledger.open_incident(_incident("INC-20260101-aaaa", "k2"))
    assert created and second.id != first.id
    assert re.fullmatch(r"INC-\d{8}-[0-9a-f]{32}", second.id)
    assert {i.dedup_key for i in ledger.list()} == {"k1", "k2"}
    again, created = ledger.open_incident(_incident("INC-20260101-bbbb", "k1"))
    assert not created and again.id == first.id  # an open duplicate is not a clash
    ledger.close()
