"""Alerts → Prefect flow runs against a real `prefect server` (one per module, own
PREFECT_HOME) with the deployments of deployments/serve.py registered, and the receiver over
real HTTP. No worker is needed: a scheduled flow run is what the receiver creates."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from deployments.dispatcher import PrefectLauncher
from deployments.receiver import ReceiverConfig, create_app
from playbooks.alerts import Backoff
from playbooks.engine.transitions import Event, record_event
from playbooks.ledger import AlertStore, DrillStore, Ledger
from playbooks.models.incident import IncidentStatus, utcnow
from tests.integration._receiver_support import (
    ReceiverServer,
    TcpForwarder,
    am_payload,
    auth,
    credentials,
    drain_prefect_workers,
    prefect_server,
    write_routes,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def prefect_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from deployments.serve import build_deployments

    with prefect_server(tmp_path_factory.mktemp("prefect-home")) as api:
        with temporary_settings({PREFECT_API_URL: api}):
            for dep in build_deployments():  # what `python -m deployments.serve` registers
                dep.apply()
        yield api
        drain_prefect_workers()  # while the server is up: nothing queued outlives it


def _runs(api: str, incident_ids: set[str] | None) -> list[Any]:
    """Flow runs whose idempotency key is one of ``incident_ids`` (None: all runs)."""
    from prefect.client.orchestration import SyncPrefectClient

    with SyncPrefectClient(api) as client:
        runs = client.read_flow_runs(limit=200)
    return [r for r in runs if incident_ids is None or r.idempotency_key in incident_ids]


def _wait(cond: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.1)


def _app(tmp_path: Path, ledger_url: str, api: str, **kw: Any) -> Any:
    return create_app(ReceiverConfig(ledger_url=ledger_url, home=tmp_path,
                                     rules=write_routes(tmp_path), credentials=credentials(),
                                     prefect_api_url=api, poll=0.2, **kw))


async def _storm(url: str, payload: dict[str, Any], n: int) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        return await asyncio.gather(*[client.post("/alerts/alertmanager", json=payload,
                                                  headers=auth()) for _ in range(n)])


def test_200_identical_notifications_open_one_incident_and_one_run(
        tmp_path: Path, ledger_url: str, prefect_api: str) -> None:
    app = _app(tmp_path, ledger_url, prefect_api)
    store: AlertStore = app.state.store
    with ReceiverServer(app) as srv:
        responses = asyncio.run(_storm(srv.url, am_payload(), 200))
        assert [r.status_code for r in responses] == [202] * 200
        (inc,) = store.ledger.list()
        assert {r.json()["alerts"][0]["incident_id"] for r in responses} == {inc.id}
        states = sorted(r.json()["alerts"][0]["dispatch_state"] for r in responses)
        assert states == ["queued"] + ["repeat"] * 199
        _wait(lambda: store.dispatch(inc.id).state == "dispatched")  # type: ignore[union-attr]
    (run,) = _runs(prefect_api, {inc.id})
    d = store.dispatch(inc.id)
    assert d is not None and d.flow_run_id == str(run.id) and d.attempts == 1
    assert run.parameters["dedup_key"] == inc.dedup_key
    assert run.parameters["playbook"] == "data-drift"
    assert run.state_type.value == "SCHEDULED"
    kinds = [e.kind for e in store.ledger.get(inc.id).timeline]
    assert kinds.count("opened") == 1 and kinds.count("repeat") == 199
    assert kinds.count("dispatched") == 1
    assert len(store.alerts()) == 200
    assert {a.dispatch_state for a in store.alerts()} == {"dispatched", "repeat"}


def test_resolved_notifications_start_nothing(tmp_path: Path, prefect_api: str) -> None:
    app = _app(tmp_path, f"sqlite:///{tmp_path / 'l.db'}", prefect_api)
    store: AlertStore = app.state.store
    with ReceiverServer(app) as srv, httpx.Client(base_url=srv.url) as client:
        r = client.post("/alerts/alertmanager", json=am_payload("resolved", fingerprint="aa01"),
                        headers=auth())
        assert r.json()["alerts"][0]["dispatch_state"] == "resolved"
        time.sleep(1.0)  # give the dispatch loop every chance to (wrongly) start something
        assert store.ledger.list() == [] and store.dispatches() == []
    assert not [r for r in _runs(prefect_api, None) if "aa01" in str(r.parameters)]


def test_storm_control_queues_runs_beyond_the_model_limit(tmp_path: Path,
                                                          prefect_api: str) -> None:
    app = _app(tmp_path, f"sqlite:///{tmp_path / 'l.db'}", prefect_api)
    store: AlertStore = app.state.store
    with ReceiverServer(app) as srv, httpx.Client(base_url=srv.url) as client:
        ids = [client.post("/alerts/alertmanager", headers=auth(), json=am_payload(
                   fingerprint=f"fp{i}", group=f'{{}}:{{fp="{i}"}}'),  # three groups
               ).json()["alerts"][0]["incident_id"] for i in range(3)]
        assert len(set(ids)) == 3
        _wait(lambda: len(store.dispatches(state="dispatched")) == 2)
        time.sleep(0.5)
        (queued,) = store.dispatches(state="queued")
        assert queued.incident_id == ids[2] and "storm control" in (queued.note or "")
        assert "queued" in [e.kind for e in store.ledger.get(ids[2]).timeline]
        assert len(_runs(prefect_api, set(ids))) == 2
        # one run's incident closes: the queued one gets its turn
        record_event(store.ledger, store.ledger.get(ids[0]), Event.ESCALATED, "done by hand")
        _wait(lambda: store.dispatch(ids[2]).state == "dispatched")  # type: ignore[union-attr]
    assert len(_runs(prefect_api, set(ids))) == 3


def test_prefect_down_keeps_the_alert_and_dispatches_it_once_when_back(
        tmp_path: Path, prefect_api: str) -> None:
    port = int(prefect_api.rsplit(":", 1)[1].split("/")[0])
    outage = TcpForwarder(port)  # off: connection refused, as with a stopped server
    api = f"http://127.0.0.1:{outage.port}/api"
    app = _app(tmp_path, f"sqlite:///{tmp_path / 'l.db'}", api,
               backoff=Backoff(base=0.2, cap=0.5))
    store: AlertStore = app.state.store
    with ReceiverServer(app) as srv, httpx.Client(base_url=srv.url) as client:
        r = client.post("/alerts/alertmanager", json=am_payload(fingerprint="down1"),
                        headers=auth())
        assert r.status_code == 202  # recorded although Prefect is down
        inc_id = r.json()["alerts"][0]["incident_id"]
        _wait(lambda: store.dispatch(inc_id).attempts >= 3)  # type: ignore[union-attr]
        d = store.dispatch(inc_id)
        assert d is not None and d.state == "queued" and "unreachable" in (d.note or "")
        assert client.get("/healthz", headers=auth()).json()["dispatch"]["last_error"]
        assert client.get("/healthz").json() == {"status": "ok", "ledger": "reachable"}
        assert "dispatch_retry" in [e.kind for e in store.ledger.get(inc_id).timeline]
        outage.on()
        try:
            _wait(lambda: store.dispatch(inc_id).state == "dispatched")  # type: ignore[union-attr]
        finally:
            outage.off()
    (run,) = _runs(prefect_api, {inc_id})
    # a retry whose first answer was lost gets the same run back: nothing starts twice
    d = store.dispatch(inc_id)
    assert d is not None
    again = PrefectLauncher(prefect_api).launch(d.deployment, d.parameters, inc_id)
    assert again == str(run.id) == d.flow_run_id
    assert len(_runs(prefect_api, {inc_id})) == 1


def test_a_run_that_ends_without_closing_its_incident_escalates_it(
        tmp_path: Path, prefect_api: str) -> None:
    """A cancelled or crashed run must not leave its incident open (it would swallow every
    later alert as a repeat and hold a storm-control slot)."""
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.states import Cancelled

    app = _app(tmp_path, f"sqlite:///{tmp_path / 'l.db'}", prefect_api, reconcile_every=0.3)
    store: AlertStore = app.state.store
    with ReceiverServer(app) as srv, httpx.Client(base_url=srv.url) as client:
        first = client.post("/alerts/alertmanager", json=am_payload(fingerprint="cancel1"),
                            headers=auth()).json()["alerts"][0]["incident_id"]
        _wait(lambda: store.dispatch(first).state == "dispatched")  # type: ignore[union-attr]
        run_id = store.dispatch(first).flow_run_id  # type: ignore[union-attr]
        with SyncPrefectClient(prefect_api) as prefect:
            prefect.set_flow_run_state(run_id, Cancelled(), force=True)
        _wait(lambda: store.ledger.get(first).status is IncidentStatus.ESCALATED)
        assert any("ended CANCELLED" in e.message for e in store.ledger.get(first).timeline)
        again = client.post("/alerts/alertmanager", json=am_payload(fingerprint="cancel1"),
                            headers=auth()).json()["alerts"][0]
        assert again["dispatch_state"] == "queued" and again["incident_id"] != first


def test_orphan_incidents_are_requeued_or_escalated_by_the_dispatch_loop(
        tmp_path: Path, prefect_api: str) -> None:
    """An incident committed without its dispatch row (an older receiver killed between two
    commits) is found by the loop's sweep: re-queued and started when its profile is known,
    escalated when it is not. Nothing waits for a sender's retry."""
    from datetime import timedelta

    from playbooks.engine.lifecycle import new_incident
    from playbooks.loader import load_profile, load_spec, resolve_spec_path

    app = _app(tmp_path, f"sqlite:///{tmp_path / 'l.db'}", prefect_api, reconcile_every=0.3)
    store: AlertStore = app.state.store
    profile_path = tmp_path / "profiles" / "credit-risk.yaml"
    spec, profile = load_spec(resolve_spec_path("data-drift")), load_profile(profile_path)
    old = utcnow() - timedelta(minutes=5)
    orphans = []
    for key, path in (("group:data-drift:credit-risk:orphan1", str(profile_path)),
                      ("alert:data-drift:credit-risk:orphan2", None)):
        inc = new_incident(spec, profile, trigger={"source": "alertmanager"}, dry_run=False,
                           drill=False, dedup_key=key, queued=True, now=old)
        orphans.append(store.ledger.open_incident(
            inc.model_copy(update={"profile_path": path}))[0].id)
    requeued, lost = orphans
    with ReceiverServer(app):
        _wait(lambda: (d := store.dispatch(requeued)) is not None and d.state == "dispatched")
        _wait(lambda: store.ledger.get(lost).status is IncidentStatus.ESCALATED)
    (run,) = _runs(prefect_api, {requeued})
    assert run.parameters["profile"] == str(profile_path)
    assert "requeued" in [e.kind for e in store.ledger.get(requeued).timeline]
    assert any("profile is unknown" in e.message for e in store.ledger.get(lost).timeline)
    assert store.dispatch(lost) is None


def test_game_day_drill_goes_through_the_alert_path_and_is_scored(
        tmp_path: Path, prefect_api: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The drill opens its incident through the receiver's intake; the flow adopts it (same
    row, same dedup key) and proceeds normally to the end."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.game_day import game_day

    home = tmp_path / "home"
    monkeypatch.setenv("MLPB_HOME", str(home))
    with temporary_settings({PREFECT_API_URL: prefect_api}):
        result = game_day(fault="unit-change", seed=3, home=str(home))
    assert result["fault"] == "unit-change" and result["drill"] is True
    assert result["root_cause"] == "upstream-unit-change" and result["correct_root_cause"]
    assert result["outcome"] == "escalated" and result["passed"], result
    assert result["time_to_detect_s"] >= 0 and result["time_to_resolve_s"] >= 0
    ledger = Ledger(f"sqlite:///{home / 'ledger.db'}")
    (inc,) = ledger.list()
    assert inc.id == result["incident_id"] and inc.drill and inc.status.value == "escalated"
    assert inc.dedup_key.startswith("alert:data-drift:credit-risk:DRILL-")
    kinds = [e.kind for e in ledger.get(inc.id).timeline]
    assert kinds[0] == "opened" and kinds[-1] == "closed" and "evidence" in kinds
    assert kinds.count("opened") == 1  # the flow adopted the intake's incident
    (alert,) = AlertStore(ledger).alerts()
    assert alert.incident_id == inc.id and alert.dispatch_state == "dispatched"
    (drill,) = DrillStore(ledger).list()
    assert drill.incident_id == inc.id and drill.passed
