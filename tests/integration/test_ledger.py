"""The ledger on SQLite and PostgreSQL."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from playbooks.errors import UnknownNameError
from playbooks.ledger import Ledger, LedgerError
from playbooks.models import (
    Finding,
    HypothesisResult,
    Incident,
    IncidentStatus,
    Verdict,
)

pytestmark = pytest.mark.integration


def _incident(iid: str, key: str = "k1") -> Incident:
    return Incident(
        id=iid,
        playbook="data-drift",
        playbook_version="1.0.0",
        playbook_hash="h",
        model="credit-risk",
        dedup_key=key,
        status=IncidentStatus.INVESTIGATING,
    )


def test_open_is_idempotent_on_dedup_key_while_open(ledger_url: str) -> None:
    led = Ledger(ledger_url)
    first, created = led.open_incident(_incident("INC-1"))
    assert created
    again, created2 = led.open_incident(_incident("INC-2"))
    assert not created2 and again.id == "INC-1"
    assert [e.kind for e in led.get("INC-1").timeline] == ["opened", "repeat"]
    # once closed, the same key opens a new incident
    first.status = IncidentStatus.RESOLVED
    led.save(first)
    third, created3 = led.open_incident(_incident("INC-3"))
    assert created3 and third.id == "INC-3"


def test_concurrent_opens_create_exactly_one(ledger_url: str) -> None:
    led = Ledger(ledger_url)
    with ThreadPoolExecutor(8) as pool:
        results = list(
            pool.map(lambda i: led.open_incident(_incident(f"INC-{i}", "storm")), range(24))
        )
    created = [inc.id for inc, c in results if c]
    assert len(created) == 1
    assert {inc.id for inc, _ in results} == set(created)
    assert len(led.list()) == 1


def test_roundtrip_results_journal_and_tz(ledger_url: str) -> None:
    led = Ledger(ledger_url)
    inc, _ = led.open_incident(_incident("INC-9"))
    led.record_hypotheses(
        inc.id,
        [
            HypothesisResult(
                id="population-shift",
                check="population-shift",
                verdict=Verdict.SUPPORTED,
                confidence=0.9,
                summary="s",
                findings=[
                    Finding(
                        kind="feature_drift",
                        feature="age",
                        statistic="psi",
                        value=0.5,
                        breached=True,
                    )
                ],
            )
        ],
    )
    seq = led.journal_intent(inc.id, inc.model, "retrain", "retrain", {"summary": "plan"})
    assert [e.phase for e in led.journal(model="credit-risk", unfinished=True)] == ["intent"]
    led.journal_update(seq, "applied", {"new_version": "2"})
    led.journal_update(seq, "kept", closed=True)
    assert led.journal(model="credit-risk", unfinished=True) == []
    entry = led.journal(incident_id=inc.id)[0]
    assert entry.change == {"new_version": "2"} and entry.phase == "kept"
    got = led.get("INC-9")
    assert got.detected_at.tzinfo is not None and got.timeline[0].at.tzinfo is not None
    assert led.get("INC-").id == "INC-9"  # unique prefix


def test_unknown_incident_and_bad_url(tmp_path) -> None:  # type: ignore[no-untyped-def]
    led = Ledger(f"sqlite:///{tmp_path / 'l.db'}")
    with pytest.raises(UnknownNameError, match="no incident 'nope'"):
        led.get("nope")
    with pytest.raises(LedgerError, match="cannot open the ledger"):
        Ledger("sqlite:////nonexistent-dir/deeper/l.db")
