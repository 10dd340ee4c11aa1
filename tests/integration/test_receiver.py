"""The receiver over real HTTP (uvicorn on loopback), dispatch off: auth (bearer, timestamped
signatures, replays), limits, bad input, partial answers, grouping, needs_triage, metrics and
what gets recorded. Dispatch to Prefect is in test_dispatch_prefect.py; slow clients in
test_receiver_limits.py; the fuzz tier in test_receiver_fuzz.py."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from deployments.receiver import ReceiverConfig, create_app
from playbooks.alerts import ParsedAlert, ReceiverMetrics, sign
from playbooks.alerts.model import AlertStatus
from playbooks.ledger import AlertStore
from playbooks.models.incident import IncidentStatus
from playbooks.notify import ConsoleNotifier
from tests.integration._receiver_support import (
    SECRET,
    ReceiverServer,
    am_payload,
    auth,
    body,
    credentials,
    signed,
    write_routes,
)

pytestmark = pytest.mark.integration


class Receiver:
    def __init__(self, client: httpx.Client, app: Any) -> None:
        self.client, self.app = client, app
        self.store: AlertStore = app.state.store
        self.metrics: ReceiverMetrics = app.state.metrics
        self.notifier: ConsoleNotifier = app.state.intake.notifier

    def __iter__(self) -> Iterator[Any]:  # `client, store = receiver`
        return iter((self.client, self.store))


@pytest.fixture
def receiver(tmp_path: Path, ledger_url: str) -> Iterator[Receiver]:
    rules = write_routes(tmp_path)
    app = create_app(ReceiverConfig(ledger_url=ledger_url, home=tmp_path, rules=rules,
                                    credentials=credentials(), dispatch=False,
                                    max_body=64 * 1024, notifier=ConsoleNotifier(quiet=True),
                                    reject_sample_s=3600))
    with ReceiverServer(app) as srv, httpx.Client(base_url=srv.url, timeout=30) as client:
        yield Receiver(client, app)


def _post(client: httpx.Client, path: str, payload: Any, **kw: Any) -> httpx.Response:
    headers = {**auth(), "Content-Type": "application/json", **kw.pop("headers", {})}
    data = payload if isinstance(payload, bytes) else body(payload)
    return client.post(path, content=data, headers=headers, **kw)


def test_healthz_and_an_alert_opens_an_incident(receiver: Receiver) -> None:
    client, store = receiver
    assert client.get("/healthz").json() == {"status": "ok", "ledger": "reachable"}
    details = client.get("/healthz", headers=auth()).json()
    assert details["dispatch"]["enabled"] is False and "routes" in details["routing"]
    r = _post(client, "/alerts/alertmanager", am_payload())
    assert r.status_code == 202, r.text
    (a,) = r.json()["alerts"]
    assert a["dispatch_state"] == "queued" and a["incident_id"].startswith("INC-")
    inc = store.ledger.get(a["incident_id"])
    assert inc.status.value == "open"
    assert (inc.playbook, inc.model) == ("data-drift", "credit-risk")
    assert inc.dedup_key.startswith("group:data-drift:credit-risk:")  # the group's incident
    assert inc.profile_path and inc.profile_path.endswith("profiles/credit-risk.yaml")
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
    ({"X-MLPB-Signature": "sha256=" + "0" * 64}, "missing X-MLPB-Timestamp"),
    # "NOW": stamped when the test runs (a collection-time stamp goes stale in a long session)
    ({"X-MLPB-Signature": "sha256=" + "0" * 64, "X-MLPB-Timestamp": "NOW"},
     "invalid HMAC signature"),
    ({"X-Grafana-Alerting-Signature": "abc"}, "invalid HMAC signature"),
])
def test_unauthenticated_requests_get_401_start_nothing_and_are_sampled(
        receiver: Receiver, headers: dict[str, str], reason: str) -> None:
    client, store = receiver
    headers = {k: str(int(time.time())) if v == "NOW" else v for k, v in headers.items()}
    for _ in range(5):
        r = client.post("/alerts/alertmanager", content=body(am_payload()), headers=headers)
        assert r.status_code == 401 and reason in r.json()["error"]
    assert store.ledger.list() == [] and store.dispatches() == []
    (row,) = store.alerts(status="rejected")  # a sample, not a row per request
    assert row.http_status == 401 and reason in (row.error or "")
    assert row.payload is None  # an unauthenticated body is not stored
    assert receiver.metrics.value("mlpb_receiver_requests_total", endpoint="alertmanager",
                                  code="401") == 5


def test_timestamped_hmac_signatures_authenticate_once(receiver: Receiver) -> None:
    client, store = receiver
    data, headers = signed(am_payload())
    r = client.post("/alerts/alertmanager", content=data, headers=headers)
    assert r.status_code == 202, r.text
    again = client.post("/alerts/alertmanager", content=data, headers=headers)
    assert again.status_code == 401 and "replayed" in again.json()["error"]
    # the same alert signed anew (a retry done right) is a repeat, not a replay
    data2, headers2 = signed(am_payload(), at=time.time() + 1)
    r = client.post("/alerts/alertmanager", content=data2, headers=headers2)
    assert r.status_code == 202 and r.json()["alerts"][0]["dispatch_state"] == "repeat"
    # stale or from the future: refused before the body is even read
    for at in (time.time() - 310, time.time() + 310):  # the exact edge: the unit test
        old, old_headers = signed(am_payload(), at=at)
        r = client.post("/alerts/alertmanager", content=old, headers=old_headers)
        assert r.status_code == 401 and "stale signature" in r.json()["error"]
    # a valid signature of another body does not authenticate this one
    r = client.post("/alerts/alertmanager", content=data2 + b" ", headers=headers2)
    assert r.status_code == 401 and "invalid HMAC" in r.json()["error"]
    # the ledger remembers accepted signatures: a second receiver refuses the replay too
    config = receiver.app.state.config
    fresh = create_app(ReceiverConfig(ledger_url=config.ledger_url, home=config.home,
                                      rules=config.rules, credentials=credentials(),
                                      dispatch=False, notifier=ConsoleNotifier(quiet=True)))
    with ReceiverServer(fresh) as srv:
        r = httpx.post(f"{srv.url}/alerts/alertmanager", content=data, headers=headers)
    assert r.status_code == 401 and "replayed" in r.json()["error"]
    assert len(store.ledger.list()) == 1


def test_grafana_signatures_with_and_without_its_timestamp_header(receiver: Receiver) -> None:
    client, store = receiver
    data = body(am_payload())
    untimed = hmac.new(SECRET.encode(), data, hashlib.sha256).hexdigest()
    r = client.post("/alerts/grafana", content=data,
                    headers={"X-Grafana-Alerting-Signature": untimed})
    assert r.status_code == 202, r.text
    r = client.post("/alerts/grafana", content=data,
                    headers={"X-Grafana-Alerting-Signature": untimed})
    assert r.status_code == 401 and "replayed" in r.json()["error"]
    ts = str(int(time.time()))
    timed = hmac.new(SECRET.encode(), f"{ts}:".encode() + data, hashlib.sha256).hexdigest()
    r = client.post("/alerts/grafana", content=data, headers={
        "X-Grafana-Alerting-Signature": timed, "X-Grafana-Alerting-Signature-Timestamp": ts})
    assert r.status_code == 202, r.text
    stale = str(int(time.time()) - 3600)
    timed = hmac.new(SECRET.encode(), f"{stale}:".encode() + data, hashlib.sha256).hexdigest()
    r = client.post("/alerts/grafana", content=data, headers={
        "X-Grafana-Alerting-Signature": timed, "X-Grafana-Alerting-Signature-Timestamp": stale})
    assert r.status_code == 401 and "stale" in r.json()["error"]
    assert len(store.ledger.list()) == 1
    assert sign(SECRET, data).removeprefix("sha256=") == untimed


def _problems(r: httpx.Response) -> dict[str, str]:
    return {p["field"]: p["message"] for p in r.json().get("problems", [])}


def test_bad_input_gets_4xx_with_reasons_counted_and_sampled(receiver: Receiver) -> None:
    client, store = receiver
    cases: list[tuple[str, Any, int, str]] = [
        ("/alerts/alertmanager", b"{not json", 400, "not valid JSON"),
        ("/alerts/alertmanager", b"\xff\xfe", 400, "not UTF-8"),
        ("/alerts/alertmanager", [1, 2], 400, "expected a JSON object"),
        ("/alerts/alertmanager", {**am_payload(), "version": "3"}, 422, "version 4"),
        ("/alerts/alertmanager", b'{"version": "4", "x": NaN}', 422, "version 4"),
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
    # one sample per (endpoint, status): 400 and 422 on alertmanager, 422 on grafana/generic
    assert sorted((row.source, row.http_status) for row in rejected) == [
        ("alertmanager", 400), ("alertmanager", 422), ("generic", 422), ("grafana", 422)]
    assert all(row.error and row.payload and len(row.payload["body"]) <= 8192
               for row in rejected)
    m = receiver.metrics
    assert m.value("mlpb_receiver_requests_total", endpoint="alertmanager", code="422") == 3
    assert m.value("mlpb_receiver_requests_total", endpoint="alertmanager", code="400") == 3
    assert m.value("mlpb_receiver_alerts_total", source="generic", state="rejected") == 2
    assert store.ledger.list() == []


def test_a_huge_bad_body_gets_a_small_answer_and_a_small_sample(tmp_path: Path,
                                                                ledger_url: str) -> None:
    app = create_app(ReceiverConfig(ledger_url=ledger_url, home=tmp_path,
                                    rules=write_routes(tmp_path), credentials=credentials(),
                                    dispatch=False, notifier=ConsoleNotifier(quiet=True)))
    huge = am_payload()
    huge["alerts"] = [{"status": "burning", "labels": {"x" * 500: "y" * 100}}] * 1000
    data = body(huge)
    assert len(data) > 600_000
    with ReceiverServer(app) as srv:
        r = httpx.post(f"{srv.url}/alerts/alertmanager", content=data, headers=auth())
    assert r.status_code == 422 and len(r.content) < 16_000
    assert len(r.json()["problems"]) == 20 and r.json()["more_problems"] > 0
    (row,) = app.state.store.alerts(status="rejected")
    assert len(json.dumps(row.payload)) < 16_000


def test_a_poison_group_records_the_good_alerts_once_and_names_the_bad(
        receiver: Receiver) -> None:
    client, store = receiver
    note = am_payload()
    good = note["alerts"][0]
    bad = {**good, "fingerprint": "bad", "labels": {**good["labels"], "team": "a\u0000b"}}
    note["alerts"] = [good, bad, {**good, "fingerprint": "2b30ba71cca2921f"}]
    for attempt in range(2):  # a sender that retries anyway gets the same truthful answer
        r = _post(client, "/alerts/alertmanager", note)
        assert r.status_code == 422, r.text
        answer = r.json()
        assert answer["accepted"] == 2 and "1 of 3 alerts were not recorded" in answer["error"]
        (missing,) = answer["not_recorded"]
        assert missing["index"] == 1 and missing["fingerprint"] == "bad"
        assert missing["problems"][0]["field"] == "alerts.1.labels.team"
        states = [a["dispatch_state"] for a in answer["alerts"]]
        assert [a["index"] for a in answer["alerts"]] == [0, 2]
        assert states == (["queued", "grouped"] if attempt == 0 else ["repeat", "repeat"])
    (inc,) = store.ledger.list()
    assert [m.fingerprint for m in store.members(inc.id)] == [
        "1a30ba71cca2921f", "2b30ba71cca2921f"]
    assert len(store.alerts(incident_id=inc.id)) == 4 and len(store.dispatches()) == 1


def test_an_alert_the_ledger_refuses_is_reported_and_the_rest_commit_once(
        receiver: Receiver) -> None:
    """Bad data the parser let through (here built by hand: a lone surrogate) fails in the
    ledger under its own savepoint; the request's other alerts commit exactly once."""
    _, store = receiver
    intake = receiver.app.state.intake

    def alert(fp: str, model: str = "credit-risk") -> ParsedAlert:
        return ParsedAlert(source="alertmanager", status=AlertStatus.FIRING,
                           labels={"alertname": "FeatureDrift", "model": model},
                           fingerprint=fp, group_key="{}:{}", raw={"fp": fp})

    outcome = intake.process([alert("a1"), alert("a2", "bad\ud800model"), alert("a3")])
    assert [r.index for r in outcome.results] == [0, 2]
    (missing,) = outcome.not_recorded
    assert missing.index == 1 and "refused" in missing.error
    (inc,) = [i for i in store.ledger.list() if i.model == "credit-risk"]
    assert {m.fingerprint for m in store.members(inc.id)} == {"a1", "a3"}
    assert len(store.alerts()) == 2 and len(store.dispatches()) == 1


def test_bodies_over_the_limit_get_413(receiver: Receiver) -> None:
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
    assert [row.http_status for row in store.alerts(status="rejected")] == [413]  # sampled
    assert receiver.metrics.value("mlpb_receiver_requests_total", endpoint="alertmanager",
                                  code="413") == 2
    assert store.ledger.list() == []


def test_odd_but_authenticated_bodies_never_get_5xx(receiver: Receiver) -> None:
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


def test_unroutable_alerts_open_a_needs_triage_incident_and_notify(
        receiver: Receiver) -> None:
    client, store = receiver
    # default route → a playbook not in the catalog
    r = _post(client, "/alerts/generic", {"model": "credit-risk", "labels": {"alertname": "X"}})
    assert r.status_code == 202
    (a,) = r.json()["alerts"]
    assert a["dispatch_state"] == "triage" and "unknown playbook 'not-yet-written'" in a["error"]
    inc = store.ledger.get(a["incident_id"])
    assert inc.status is IncidentStatus.NEEDS_TRIAGE and inc.playbook == "triage"
    assert [e.kind for e in inc.timeline] == ["opened", "unrouted"]
    # no profile for this model: one incident for the group, its members listed
    note = am_payload(model="fraud")
    note["alerts"].append({**note["alerts"][0], "fingerprint": "ff02",
                           "labels": {**note["alerts"][0]["labels"], "feature": "age"}})
    r = _post(client, "/alerts/alertmanager", note)
    first, second = r.json()["alerts"]
    assert first["dispatch_state"] == "triage" and "fraud.yaml" in first["error"]
    assert second["dispatch_state"] == "grouped"
    assert first["incident_id"] == second["incident_id"]
    fraud = store.ledger.get(first["incident_id"])
    assert fraud.status is IncidentStatus.NEEDS_TRIAGE and fraud.model == "fraud"
    assert fraud.playbook == "data-drift"  # the route's playbook, for whoever picks it up
    assert len(fraud.trigger["alerts"]) == 2
    assert len(store.members(fraud.id)) == 2
    # a repeat lands on the same incident; nothing is queued for either
    r = _post(client, "/alerts/alertmanager", am_payload(model="fraud"))
    assert r.json()["alerts"][0]["incident_id"] == fraud.id
    assert store.dispatches() == []
    sent = [(n.kind, n.incident.id) for n in receiver.notifier.sent]
    assert sent == [("opened", inc.id), ("opened", fraud.id)]
    assert "needs triage" in receiver.notifier.sent[1].title
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
    assert len(store.ledger.list(status="needs_triage")) == 2 and len(store.dispatches()) == 2


def test_one_incident_per_alert_group_repeats_and_resolutions_on_its_timeline(
        receiver: Receiver) -> None:
    client, store = receiver
    note = am_payload()
    base = note["alerts"][0]
    note["alerts"] = [{**base, "fingerprint": f"f{i}",
                       "labels": {**base["labels"], "feature": feat}}
                      for i, feat in enumerate(("age", "income", "region"))]
    r = _post(client, "/alerts/alertmanager", note)
    assert r.status_code == 202
    assert [a["dispatch_state"] for a in r.json()["alerts"]] == ["queued", "grouped", "grouped"]
    (inc,) = store.ledger.list()
    assert len(store.dispatches()) == 1
    # Alertmanager re-sends the group: one repeat entry; then one member resolves
    _post(client, "/alerts/alertmanager", note)
    note["alerts"][1] = {**note["alerts"][1], "status": "resolved"}
    r = _post(client, "/alerts/alertmanager", note)
    assert [a["dispatch_state"] for a in r.json()["alerts"]] == ["repeat", "resolved", "repeat"]
    kinds = [e.kind for e in store.ledger.get(inc.id).timeline]
    # one "repeat" per notification however many members repeat, a resolution per member
    assert kinds == ["opened", "alert_added", "alert_added", "repeat", "repeat",
                     "alert_resolved"]
    members = {m.fingerprint: m for m in store.members(inc.id)}
    assert set(members) == {"f0", "f1", "f2"} and members["f1"].status == "resolved"
    assert members["f0"].times == 3
    assert len(store.ledger.list()) == 1 and len(store.dispatches()) == 1


def test_metrics_endpoint(receiver: Receiver) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    client, _ = receiver
    _post(client, "/alerts/alertmanager", am_payload())
    _post(client, "/alerts/alertmanager", b"{")
    assert client.get("/metrics").status_code == 401
    r = client.get("/metrics", headers=auth())
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(r.text)}
    codes = {(s.labels["endpoint"], s.labels["code"]): s.value
             for s in families["mlpb_receiver_requests"].samples}
    assert codes[("alertmanager", "202")] == 1 and codes[("alertmanager", "400")] == 1
    assert codes[("metrics", "401")] == 1
    queue = {s.labels["state"]: s.value for s in families["mlpb_dispatch_queue"].samples}
    assert queue == {"queued": 1, "dispatched": 0, "failed": 0}
    assert families["mlpb_ledger_up"].samples[0].value == 1
    states = {s.labels["state"] for s in families["mlpb_receiver_alerts"].samples}
    assert {"queued", "rejected"} <= states
    assert "mlpb_receiver_request_duration_seconds" in families


def test_resolved_is_recorded_never_started(receiver: Receiver) -> None:
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


def test_grafana_and_generic_payloads(receiver: Receiver) -> None:
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
    assert r.json()["alerts"][0]["dedup_key"].startswith("group:data-drift:churn:")
    generic = {"model": "credit-risk", "playbook": "data-drift", "status": "firing",
               "labels": {"b": "2", "a": "1"}, "annotations": {"summary": "s"}}
    first = _post(client, "/alerts/generic", generic).json()["alerts"][0]
    again = _post(client, "/alerts/generic", {**generic, "labels": {"a": "1", "b": "2"}})
    assert again.json()["alerts"][0]["incident_id"] == first["incident_id"]
    assert again.json()["alerts"][0]["dispatch_state"] == "repeat"
    assert json.loads(json.dumps(store.alerts()[0].payload))["model"] == "credit-risk"
