"""The receiver over real HTTP (uvicorn on loopback), dispatch off: auth, limits, bad input,
routing errors and what gets recorded. Dispatch to Prefect is in test_dispatch_prefect.py."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from deployments.receiver import ReceiverConfig, create_app
from playbooks.alerts import sign
from playbooks.ledger import AlertStore
from tests.integration._receiver_support import (
    SECRET,
    ReceiverServer,
    am_payload,
    auth,
    body,
    credentials,
    write_routes,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def receiver(tmp_path: Path, ledger_url: str) -> Iterator[tuple[httpx.Client, AlertStore]]:
    rules = write_routes(tmp_path)
    app = create_app(ReceiverConfig(ledger_url=ledger_url, home=tmp_path, rules=rules,
                                    credentials=credentials(), dispatch=False,
                                    max_body=64 * 1024))
    with ReceiverServer(app) as srv, httpx.Client(base_url=srv.url, timeout=30) as client:
        yield client, app.state.store


def _post(client: httpx.Client, path: str, payload: Any, **kw: Any) -> httpx.Response:
    headers = {**auth(), "Content-Type": "application/json", **kw.pop("headers", {})}
    data = payload if isinstance(payload, bytes) else body(payload)
    return client.post(path, content=data, headers=headers, **kw)


def test_healthz_and_an_alert_opens_an_incident(receiver: tuple[httpx.Client, AlertStore]) -> None:
    client, store = receiver
    assert client.get("/healthz").json()["status"] == "ok"
    r = _post(client, "/alerts/alertmanager", am_payload())
    assert r.status_code == 202, r.text
    (a,) = r.json()["alerts"]
    assert a["dispatch_state"] == "queued" and a["incident_id"].startswith("INC-")
    inc = store.ledger.get(a["incident_id"])
    assert inc.status.value == "open"
    assert (inc.playbook, inc.model) == ("data-drift", "credit-risk")
    assert inc.dedup_key == "alert:data-drift:credit-risk:1a30ba71cca2921f"
    (row,) = store.alerts()
    assert row.status == "firing" and row.incident_id == inc.id and row.http_status == 202
    assert row.payload["alert"]["fingerprint"] == "1a30ba71cca2921f"  # the raw alert is kept
    (d,) = store.dispatches()
    assert d.state == "queued" and d.deployment == "run-playbook/data-drift"
    assert d.parameters["dedup_key"] == inc.dedup_key and d.parameters["playbook"] == "data-drift"


@pytest.mark.parametrize("headers,reason", [
    ({}, "missing credentials"),
    ({"Authorization": "Bearer wrong"}, "invalid bearer token"),
    ({"Authorization": "Basic dXNlcjpwYXNz"}, "invalid bearer token"),
    ({"X-MLPB-Signature": "sha256=" + "0" * 64}, "invalid HMAC signature"),
    ({"X-Grafana-Alerting-Signature": "abc"}, "invalid HMAC signature"),
])
def test_unauthenticated_requests_get_401_start_nothing_and_are_recorded(
        receiver: tuple[httpx.Client, AlertStore], headers: dict[str, str], reason: str) -> None:
    client, store = receiver
    r = client.post("/alerts/alertmanager", content=body(am_payload()), headers=headers)
    assert r.status_code == 401 and reason in r.json()["error"]
    assert store.ledger.list() == [] and store.dispatches() == []
    (row,) = store.alerts(status="rejected")
    assert row.http_status == 401 and reason in (row.error or "")
    assert row.payload is None  # an unauthenticated body is not stored


def test_hmac_signatures_authenticate(receiver: tuple[httpx.Client, AlertStore]) -> None:
    client, store = receiver
    data = body(am_payload())
    r = client.post("/alerts/alertmanager", content=data,
                    headers={"X-MLPB-Signature": sign(SECRET, data)})
    assert r.status_code == 202, r.text
    grafana_sig = hmac.new(SECRET.encode(), data, hashlib.sha256).hexdigest()
    r = client.post("/alerts/grafana", content=data,
                    headers={"X-Grafana-Alerting-Signature": grafana_sig})
    assert r.status_code == 202, r.text
    # a valid signature of another body does not authenticate this one
    r = client.post("/alerts/alertmanager", content=data + b" ",
                    headers={"X-MLPB-Signature": sign(SECRET, data)})
    assert r.status_code == 401
    assert len(store.ledger.list()) == 1  # same alert twice: one incident


def _problems(r: httpx.Response) -> dict[str, str]:
    return {p["field"]: p["message"] for p in r.json().get("problems", [])}


def test_bad_input_gets_4xx_with_reasons_and_is_recorded(
        receiver: tuple[httpx.Client, AlertStore]) -> None:
    client, store = receiver
    cases: list[tuple[str, Any, int, str]] = [
        ("/alerts/alertmanager", b"{not json", 400, "not valid JSON"),
        ("/alerts/alertmanager", b"\xff\xfe", 400, "not UTF-8"),
        ("/alerts/alertmanager", [1, 2], 400, "expected a JSON object"),
        ("/alerts/alertmanager", {**am_payload(), "version": "3"}, 422, "version 4"),
        ("/alerts/grafana", {"title": "x", "evalMatches": []}, 422, "legacy Grafana"),
        ("/alerts/generic", {"labels": {"a": "b"}}, 422, "not a generic alert"),
    ]
    for path, payload, code, reason in cases:
        r = _post(client, path, payload)
        assert r.status_code == code and reason in r.json()["error"], (path, r.text)
    bad = am_payload()
    bad["alerts"][0]["status"] = "burning"
    bad["alerts"][0]["labels"]["n"] = 3
    r = _post(client, "/alerts/alertmanager", bad)
    assert r.status_code == 422
    problems = _problems(r)
    assert "alerts.0.status" in problems and "alerts.0.labels.n" in problems
    r = _post(client, "/alerts/generic", {"model": "../../etc", "typo_field": 1})
    assert r.status_code == 422 and {"model", "typo_field"} <= set(_problems(r))
    rejected = store.alerts(status="rejected")
    assert len(rejected) == len(cases) + 2
    assert all(row.http_status in (400, 422) and row.error for row in rejected)
    assert any(row.payload and "burning" in row.payload["body"] for row in rejected)
    assert store.ledger.list() == []


def test_bodies_over_the_limit_get_413(receiver: tuple[httpx.Client, AlertStore]) -> None:
    client, store = receiver
    big = am_payload()
    big["alerts"][0]["annotations"]["description"] = "x" * (100 * 1024)
    r = _post(client, "/alerts/alertmanager", big)
    assert r.status_code == 413 and "limit" in r.json()["error"]

    def chunks() -> Iterator[bytes]:  # chunked: no Content-Length to trust
        yield b'{"version": "4", "pad": "'
        for _ in range(100):
            yield b"y" * 1024
        yield b'"}'

    r = client.post("/alerts/alertmanager", content=chunks(), headers=auth())
    assert r.status_code == 413
    assert [row.http_status for row in store.alerts(status="rejected")] == [413, 413]
    assert store.ledger.list() == []


def test_odd_but_authenticated_bodies_never_get_5xx(
        receiver: tuple[httpx.Client, AlertStore]) -> None:
    client, _ = receiver
    odd: list[Any] = [b"", b"null", b"0", b'"x"', {}, {"alerts": None}, {"alerts": [None]},
                      {**am_payload(), "alerts": []}, {**am_payload(), "groupKey": None},
                      {"model": "m", "status": "firing", "labels": {"k": None}},
                      {"model": "m" * 500}, {"model": "m", "fingerprint": ""},
                      {"model": "☃", "labels": {"☃": "❄"}}, b"[" * 5000 + b"]" * 5000]
    for payload in odd:
        for path in ("/alerts/alertmanager", "/alerts/grafana", "/alerts/generic"):
            r = _post(client, path, payload)
            assert r.status_code < 500, (path, payload if len(str(payload)) < 200 else "..",
                                                r.status_code, r.text)


def test_routing_errors_are_recorded_on_the_alert(
        receiver: tuple[httpx.Client, AlertStore]) -> None:
    client, store = receiver
    # default route → a playbook not in the catalog: 202, with the reason
    r = _post(client, "/alerts/generic", {"model": "credit-risk", "labels": {"alertname": "X"}})
    assert r.status_code == 202
    (a,) = r.json()["alerts"]
    assert a["dispatch_state"] == "error" and "unknown playbook 'not-yet-written'" in a["error"]
    # no profile for this model
    r = _post(client, "/alerts/alertmanager", am_payload(model="fraud"))
    (a,) = r.json()["alerts"]
    assert a["dispatch_state"] == "error" and "fraud.yaml" in a["error"]
    # a playbook label naming an unknown playbook falls back to the route, with a note
    r = _post(client, "/alerts/alertmanager", am_payload(playbook="nope"))
    (a,) = r.json()["alerts"]
    assert a["dispatch_state"] == "queued" and "'nope' is not in the catalog" in a["error"]
    assert store.ledger.get(a["incident_id"]).playbook == "data-drift"
    # a playbook label naming a catalog playbook is honoured over the default route
    r = _post(client, "/alerts/generic", {"model": "churn", "playbook": "data-drift",
                                          "labels": {"alertname": "Whatever"}})
    (a,) = r.json()["alerts"]
    assert a["dispatch_state"] == "queued" and a["dedup_key"].startswith("alert:data-drift:churn:")
    errors = [row for row in store.alerts() if row.dispatch_state == "error"]
    assert len(errors) == 2 and len(store.ledger.list()) == 2


def test_resolved_is_recorded_never_started(receiver: tuple[httpx.Client, AlertStore]) -> None:
    client, store = receiver
    r = _post(client, "/alerts/alertmanager", am_payload("resolved"))
    (a,) = r.json()["alerts"]
    assert r.status_code == 202 and a["dispatch_state"] == "resolved" and "incident_id" not in a
    assert store.ledger.list() == [] and store.dispatches() == []
    inc_id = _post(client, "/alerts/alertmanager", am_payload()).json()["alerts"][0]["incident_id"]
    r = _post(client, "/alerts/alertmanager", am_payload("resolved"))
    assert r.json()["alerts"][0]["incident_id"] == inc_id
    kinds = [e.kind for e in store.ledger.get(inc_id).timeline]
    assert kinds == ["opened", "alert_resolved"]
    assert len(store.dispatches()) == 1


def test_grafana_and_generic_payloads(receiver: tuple[httpx.Client, AlertStore]) -> None:
    client, store = receiver
    grafana = {"receiver": "mlpb", "status": "firing", "orgId": 1, "title": "[FIRING:1]",
               "state": "alerting", "message": "m", "groupKey": "{}:{}", "version": "1",
               "alerts": [{"status": "firing", "labels": {"alertname": "FeatureDrift",
                                                          "model": "churn"},
                           "annotations": {}, "fingerprint": "c6eadffa33fcdf37",
                           "values": {"B": 44.2, "C": 1}, "valueString": "[ ... ]",
                           "silenceURL": "http://g/silence"}]}
    r = _post(client, "/alerts/grafana", grafana)
    assert r.status_code == 202, r.text
    assert r.json()["alerts"][0]["dedup_key"] == "alert:data-drift:churn:c6eadffa33fcdf37"
    generic = {"model": "credit-risk", "playbook": "data-drift", "status": "firing",
               "labels": {"b": "2", "a": "1"}, "annotations": {"summary": "s"}}
    first = _post(client, "/alerts/generic", generic).json()["alerts"][0]
    again = _post(client, "/alerts/generic", {**generic, "labels": {"a": "1", "b": "2"}})
    assert again.json()["alerts"][0]["incident_id"] == first["incident_id"]
    assert again.json()["alerts"][0]["dispatch_state"] == "repeat"
    assert json.loads(json.dumps(store.alerts()[0].payload))["model"] == "credit-risk"
