"""The audit trail on SQLite and PostgreSQL: concurrent writers keep one chain, a timeline
row edited with raw SQL is found by verify, an old ledger upgrades in place, the export."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from playbooks.ledger import AlertStore, Ledger
from playbooks.ledger.audit import export_records, verify
from playbooks.ledger.chain import GENESIS
from playbooks.models.incident import Incident, IncidentStatus, TimelineEvent
from playbooks.policy import Refusal

pytestmark = pytest.mark.integration


def _incident(iid: str) -> Incident:
    return Incident(id=iid, playbook="data-drift", playbook_version="1.0.0",
                    playbook_hash="abc123", model="credit-risk", dedup_key=f"k-{iid}",
                    status=IncidentStatus.INVESTIGATING)


def _edit_and_verify(url: str, home: Path) -> None:
    led = Ledger(url)
    led.open_incident(_incident("INC-1"))
    led.open_incident(_incident("INC-2"))

    def write(i: int) -> None:  # several writers on one incident at once
        led.add_event("INC-1", "note", f"note {i}", {"i": i, "value": 0.1 * i})

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(write, range(12)))
    with AlertStore(led).transaction() as tx:  # the receiver's writer chains too
        tx.event("INC-2", TimelineEvent(kind="repeat", message="same alert"))
    saved = led.get("INC-2")
    led.save(saved.model_copy(update={"owner": "ana"}),
             event=TimelineEvent(kind="assigned", message="to ana"))
    assert verify(led.engine) == (2, [])

    with led.engine.begin() as conn:
        seq = conn.execute(sa.text("SELECT seq FROM mlpb_timeline WHERE incident_id='INC-1' "
                                   "ORDER BY seq LIMIT 1 OFFSET 5")).scalar_one()
        conn.execute(sa.text("UPDATE mlpb_timeline SET message = 'edited' WHERE seq = :s"),
                     {"s": seq})
    checked, broken = verify(led.engine)
    assert checked == 2 and [(b.incident_id, b.seq, b.position) for b in broken] == [
        ("INC-1", seq, 6)]
    assert "edited" in broken[0].reason

    led.refusals.record(Refusal(at=datetime(2026, 3, 1, tzinfo=UTC), who="eve", channel="cli",
                                action="run-live", playbook="data-drift", model="credit-risk",
                                reason="dry run only"))
    records = list(export_records(led.engine, home))
    kinds = [(r["record"], r.get("id")) for r in records]
    assert kinds == [("incident", "INC-1"), ("incident", "INC-2"), ("refusal", None)]
    one = records[0]
    assert len(one["timeline"]) == 13 and one["timeline"][0]["prev_hash"] == GENESIS
    assert one["chain"]["intact"] is False and f"seq {seq}" in one["chain"]["break"]
    assert records[1]["chain"] == {"head": records[1]["timeline"][-1]["row_hash"],
                                   "length": 3, "intact": True, "break": None}
    assert records[1]["spec"]["hash"] == "abc123" and records[1]["spec"]["archived_path"] is None
    assert records[2]["who"] == "eve" and records[2]["channel"] == "cli"
    json.dumps(records)  # every record is plain JSON
    only = list(export_records(led.engine, home, incident_id="INC-2"))
    assert [r["id"] for r in only] == ["INC-2"]  # no refusals with one incident
    led.close()


def test_sqlite_chain_edit_found(tmp_path: Path) -> None:
    _edit_and_verify(f"sqlite:///{tmp_path / 'ledger.db'}", tmp_path)


@pytest.mark.postgres
def test_postgres_chain_edit_found(postgres_url: str, tmp_path: Path) -> None:
    _edit_and_verify(postgres_url, tmp_path)


@pytest.mark.postgres
def test_postgres_old_ledger_upgrades_in_place(postgres_url: str) -> None:
    """The tables as the ledger wrote them before the chain: columns added, rows chained."""
    eng = sa.create_engine(postgres_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with eng.begin() as conn:
        conn.execute(sa.text("CREATE TABLE mlpb_incidents (id VARCHAR(64) PRIMARY KEY, "
                             "dedup_key VARCHAR(512) NOT NULL, open_dedup_key VARCHAR(512) "
                             "UNIQUE, playbook VARCHAR(128) NOT NULL, model VARCHAR(256) NOT "
                             "NULL, status VARCHAR(32) NOT NULL, severity VARCHAR(8) NOT NULL, "
                             "drill BOOLEAN NOT NULL, dry_run BOOLEAN NOT NULL, detected_at "
                             "TIMESTAMPTZ NOT NULL, resolved_at TIMESTAMPTZ, updated_at "
                             "TIMESTAMPTZ NOT NULL, payload JSON NOT NULL)"))
        conn.execute(sa.text("CREATE TABLE mlpb_timeline (seq SERIAL PRIMARY KEY, incident_id "
                             "VARCHAR(64) REFERENCES mlpb_incidents (id), at TIMESTAMPTZ NOT "
                             "NULL, kind VARCHAR(64) NOT NULL, message TEXT NOT NULL, data "
                             "JSON NOT NULL)"))
        inc = _incident("INC-OLD")
        conn.execute(sa.text(
            "INSERT INTO mlpb_incidents VALUES ('INC-OLD', 'k', NULL, 'data-drift', 'm', "
            "'resolved', 'SEV4', false, false, now(), now(), now(), CAST(:p AS JSON))"),
            {"p": inc.model_dump_json()})
        for i, kind in enumerate(["opened", "evidence", "closed"]):
            conn.execute(sa.text("INSERT INTO mlpb_timeline (incident_id, at, kind, message, "
                                 "data) VALUES ('INC-OLD', now() + make_interval(secs => :i), "
                                 ":k, :m, CAST(:d AS JSON))"),
                         {"i": i, "k": kind, "m": f"{kind} {i}",
                          "d": json.dumps({"i": i, "x": [1.5, "é"]})})
    eng.dispose()
    led = Ledger(postgres_url)
    assert verify(led.engine) == (1, [])
    led.add_event("INC-OLD", "note", "after the upgrade")
    assert verify(led.engine) == (1, [])
    with led.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM mlpb_timeline WHERE seq = (SELECT max(seq) FROM "
                             "mlpb_timeline)"))
    _, broken = verify(led.engine)
    assert len(broken) == 1 and broken[0].seq is None and "deleted at the end" in \
        broken[0].reason
    led.close()


def test_receiver_route_refused_live_runs_dry_and_is_recorded(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Over real HTTP: the route 'drift' may run dry only; the alert's incident is a dry run
    and one refusal names the route."""
    import httpx

    from deployments.receiver import ReceiverConfig, create_app
    from playbooks.notify import ConsoleNotifier
    from tests.integration._receiver_support import (
        ReceiverServer,
        am_payload,
        auth,
        body,
        credentials,
        write_routes,
    )

    monkeypatch.delenv("MLPB_POLICY", raising=False)
    (tmp_path / "policy.yaml").write_text("run: {default: dry-run}\n", encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    app = create_app(ReceiverConfig(ledger_url=url, home=tmp_path, rules=write_routes(tmp_path),
                                    credentials=credentials(), dispatch=False,
                                    notifier=ConsoleNotifier(quiet=True)))
    with ReceiverServer(app) as srv, httpx.Client(base_url=srv.url, timeout=30) as client:
        r = client.post("/alerts/alertmanager", content=body(am_payload()),
                        headers={**auth(), "Content-Type": "application/json"})
    assert r.status_code == 202, r.text
    (a,) = r.json()["alerts"]
    led = Ledger(url)
    inc = led.get(a["incident_id"])
    assert inc.dry_run and inc.status is IncidentStatus.OPEN
    (ref,) = led.refusals.since()
    assert (ref.who, ref.channel, ref.action, ref.model) == (
        "route:drift", "receiver", "run-live", "credit-risk")
    assert [d.parameters["dry_run"] for d in AlertStore(led).dispatches()] == [True]
    led.close()
