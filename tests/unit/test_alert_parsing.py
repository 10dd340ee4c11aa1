"""Alert parsing and its limits, dedup keys, routing rules, request signatures and the replay
guard, metrics text, backoff and drill scoring: pure functions, no servers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from playbooks.alerts import (
    AlertParseError,
    AlertStatus,
    AuthError,
    Backoff,
    Credentials,
    ParsedAlert,
    ReceiverMetrics,
    ReplayGuard,
    RoutingError,
    RoutingRules,
    alert_dedup_key,
    incident_key,
    load_routing_rules,
    member_key,
    parse_alertmanager,
    parse_generic,
    parse_grafana,
    sign,
)
from playbooks.alerts.dedup import unrouted_key
from playbooks.alerts.drill import pick_fault
from playbooks.alerts.limits import MAX_PROBLEMS
from playbooks.errors import SpecError
from playbooks.loader import catalog_ids

REPO = Path(__file__).resolve().parents[2]
# Alertmanager's documented v4 example (prometheus.io webhook_config), plus a future field.
AM_DOC = {
    "version": "4", "groupKey": '{}/{severity="critical"}:{alertname="ProbeFailure"}',
    "truncatedAlerts": 0, "status": "firing", "receiver": "sms",
    "groupLabels": {"alertname": "ProbeFailure"}, "commonLabels": {"alertname": "ProbeFailure"},
    "commonAnnotations": {}, "externalURL": "http://am:9093", "future": [1, 2],
    "alerts": [
        {"status": "firing", "labels": {"alertname": "ProbeFailure", "model": "credit-risk"},
         "annotations": {"summary": "s"}, "startsAt": "2023-02-06T13:08:45.828Z",
         "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://p:9090/graph",
         "fingerprint": "1a30ba71cca2921f"},
        {"status": "resolved", "labels": {"alertname": "ProbeFailure", "model": "churn"},
         "annotations": {}, "startsAt": "2023-02-06T13:08:45.828Z",
         "endsAt": "2023-02-06T14:00:00Z", "fingerprint": "bb"},
    ],
}


def _b(data: Any) -> bytes:
    return json.dumps(data).encode()


def test_alertmanager_v4_one_parsed_alert_per_alert_unknown_fields_ignored() -> None:
    first, second = parse_alertmanager(_b(AM_DOC)).alerts
    assert first.source == "alertmanager" and first.status is AlertStatus.FIRING
    assert first.model == "credit-risk" and first.fingerprint == "1a30ba71cca2921f"
    assert first.group_key == AM_DOC["groupKey"] and first.raw["alert"] == AM_DOC["alerts"][0]
    assert second.status is AlertStatus.RESOLVED  # per-alert status, not the group's


@pytest.mark.parametrize("mutate,field", [
    (lambda d: d.update(version="3"), "version"),
    (lambda d: d.pop("groupKey"), "groupKey"),
    (lambda d: d.update(alerts=[]), "alerts"),
    (lambda d: d.update(receiver="\x00"), "receiver"),
    (lambda d: d.update(anything={"ignored": [float("nan")]}), "anything.ignored.0"),
    (lambda d: d.update(alerts=[{**d["alerts"][0], "status": "pending"}]), "alerts.0.status"),
])
def test_alertmanager_envelope_errors_name_the_field(mutate: Any, field: str) -> None:
    data = json.loads(json.dumps(AM_DOC))
    mutate(data)
    with pytest.raises(AlertParseError) as info:
        parse_alertmanager(_b(data))
    assert info.value.status_code == 422
    assert field in [loc for loc, _ in info.value.problems]


@pytest.mark.parametrize("mutate,field", [
    (lambda a: a.update(status="pending"), "alerts.0.status"),
    (lambda a: a.pop("labels"), "alerts.0.labels"),
    (lambda a: a["labels"].update(x=1), "alerts.0.labels.x"),
    (lambda a: a["labels"].update(team="a\x00b"), "alerts.0.labels.team"),
    (lambda a: a["labels"].update(model="m" * 257), "alerts.0.labels.model"),
    (lambda a: a["labels"].update(note="x" * 5000), "alerts.0.labels.note"),
    (lambda a: a.update(ignoredField=float("inf")), "alerts.0.ignoredField"),
    (lambda a: a.update(deep=json.loads("[" * 40 + "]" * 40)), "alerts.0.deep"),
])
def test_a_bad_alert_is_refused_alone_and_the_group_goes_on(mutate: Any, field: str) -> None:
    """Limits hold at parse time (a 4xx, never a ledger error): NUL, lengths that do not fit
    the ledger's columns, non-finite numbers even in ignored fields, nesting."""
    data = json.loads(json.dumps(AM_DOC))
    mutate(data["alerts"][0])
    parsed = parse_alertmanager(_b(data))
    assert [a.fingerprint for a in parsed.alerts] == ["bb"] and parsed.indexes == [1]
    (rejected,) = parsed.rejected
    assert rejected.index == 0 and rejected.fingerprint == "1a30ba71cca2921f"
    assert any(loc.startswith(field) for loc, _ in rejected.problems), rejected.problems
    data["alerts"][1] = data["alerts"][0]
    with pytest.raises(AlertParseError, match="no alert in it is valid") as info:
        parse_alertmanager(_b(data))
    assert info.value.status_code == 422


def test_answers_to_huge_bad_bodies_stay_small() -> None:
    """600 KB of bad alerts: the answer names 20 problems, each cut, and counts the rest."""
    bad = {"status": "burning", "labels": {"k" * 1000: "v"}}
    data = {**AM_DOC, "alerts": [bad] * 900, "title": "t" * 100}
    raw = _b(data)
    assert len(raw) > 600_000
    with pytest.raises(AlertParseError) as info:
        parse_alertmanager(raw)
    answer = json.dumps(info.value.to_json())
    assert len(answer) < 20_000 and info.value.to_json()["more_problems"] > 0
    assert len(info.value.to_json()["problems"]) == MAX_PROBLEMS


def test_strings_the_ledger_cannot_hold_and_huge_numbers_are_422_not_500() -> None:
    for raw in (b'{"version": "4", "x": "\\ud800"}', b'{"x": ' + b"9" * 5000 + b"}",
                b'{"x": NaN}', b'{"x": -Infinity}', b'{"x": 1e999}', b'{"\\u0000": 1}'):
        with pytest.raises(AlertParseError) as info:
            parse_alertmanager(raw)
        assert info.value.status_code == 422, raw[:40]
        json.dumps(info.value.to_json(), ensure_ascii=False).encode()  # no lone surrogate back
    with pytest.raises(AlertParseError) as info:
        parse_generic(b'{"model": "m", "annotations": {"s": "a\\u0000"}}')
    assert [loc for loc, _ in info.value.problems] == ["annotations.s"]


def test_not_json_is_400() -> None:
    for raw in (b"", b"{", b"[]", b"\xff", b"\x00"):
        with pytest.raises(AlertParseError) as info:
            parse_alertmanager(raw)
        assert info.value.status_code == 400


def test_grafana_unified_payload_and_legacy_refusal() -> None:
    data = {**AM_DOC, "orgId": 1, "title": "[FIRING:1]", "state": "alerting", "version": "1"}
    data["alerts"] = [{**AM_DOC["alerts"][0], "values": {"B": 44.2, "C": 1},
                       "valueString": "[...]", "silenceURL": "u", "dashboardURL": ""}]
    (a,) = parse_grafana(_b(data)).alerts
    assert a.source == "grafana" and a.fingerprint == "1a30ba71cca2921f"
    with pytest.raises(AlertParseError, match="legacy"):
        parse_grafana(_b({"title": "t", "ruleId": 1, "state": "alerting", "evalMatches": []}))


def test_generic_payload_model_and_playbook_become_labels() -> None:
    (a,) = parse_generic(_b({"model": "credit-risk", "playbook": "data-drift",
                             "labels": {"model": "other", "team": "x"}})).alerts
    assert a.labels == {"model": "credit-risk", "playbook": "data-drift", "team": "x"}
    assert a.status is AlertStatus.FIRING and a.fingerprint is None
    with pytest.raises(AlertParseError) as info:
        parse_generic(_b({"model": "m", "status": "FIRING", "playbok": "x"}))
    assert {loc for loc, _ in info.value.problems} == {"status", "playbok"}


def _alert(labels: dict[str, str], fingerprint: str | None = None) -> ParsedAlert:
    return ParsedAlert(source="generic", status=AlertStatus.FIRING, labels=labels,
                       fingerprint=fingerprint)


def test_dedup_keys_are_stable_and_label_order_free() -> None:
    a = _alert({"model": "m", "a": "1", "b": "2"})
    b = _alert({"b": "2", "a": "1", "model": "m"})
    assert alert_dedup_key(a, "data-drift") == alert_dedup_key(b, "data-drift")
    assert alert_dedup_key(a, "data-drift") != alert_dedup_key(a, "triage")
    assert alert_dedup_key(_alert({"model": "m"}, "fp1"), "p") == "alert:p:m:fp1"
    long_key = alert_dedup_key(_alert({"model": "m"}, "x" * 300 + " /?"), "p")
    assert len(long_key) < 64 and "/" not in long_key


def test_alerts_of_one_group_share_an_incident_key_per_playbook_and_model() -> None:
    def grouped(fp: str, model: str = "m", group: str | None = "{}:{alertname=\"D\"}") -> Any:
        return ParsedAlert(source="alertmanager", status=AlertStatus.FIRING,
                           labels={"model": model, "feature": fp}, fingerprint=fp,
                           group_key=group)

    a, b = grouped("f1"), grouped("f2")
    assert incident_key(a, "data-drift") == incident_key(b, "data-drift")
    assert incident_key(a, "data-drift").startswith("group:data-drift:m:")
    assert incident_key(a, "data-drift") != incident_key(grouped("f1", "other"), "data-drift")
    assert member_key(a) != member_key(b)
    assert incident_key(grouped("f1", group=None), "p") == "alert:p:m:f1"
    assert unrouted_key(a) == unrouted_key(b) and unrouted_key(a).startswith("unrouted:m:")


ROUTES = """
max_concurrent_runs_per_model: 3
routes:
  - name: drift
    match: {alertname: FeatureDrift}
    match_re: {model: "credit-.*"}
    playbook: data-drift
    profile: profiles/{model}.yaml
default: {playbook: triage, profile: "{home}/{model}.yaml"}
"""


def test_routing_first_match_default_and_playbook_label(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(ROUTES)
    rules = load_routing_rules(tmp_path / "r.yaml")
    catalog = {"data-drift", "triage"}
    d = rules.route(_alert({"alertname": "FeatureDrift", "model": "credit-risk"}),
                    catalog=catalog, home=Path("/state"))
    assert (d.route, d.playbook) == ("drift", "data-drift")
    assert d.profile == tmp_path / "profiles" / "credit-risk.yaml"
    # anchored regex: "xcredit-risk" does not match "credit-.*"
    d = rules.route(_alert({"alertname": "FeatureDrift", "model": "xcredit-risk"}),
                    catalog=catalog, home=Path("/state"))
    assert (d.route, d.playbook) == ("default", "triage")
    assert d.profile == Path("/state/xcredit-risk.yaml")
    d = rules.route(_alert({"model": "m", "playbook": "data-drift"}), catalog=catalog,
                    home=Path("/s"))
    assert d.playbook == "data-drift" and not d.notes
    d = rules.route(_alert({"model": "m", "playbook": "nope"}), catalog=catalog, home=Path("/s"))
    assert d.playbook == "triage" and "not in the catalog" in d.notes[0]
    with pytest.raises(RoutingError, match="needs a 'model' label"):
        rules.route(_alert({"alertname": "Other"}), catalog=catalog, home=Path("/s"))
    with pytest.raises(RoutingError, match="not a safe file name"):
        rules.route(_alert({"alertname": "FeatureDrift", "model": "credit-../../x"}),
                    catalog=catalog, home=Path("/s"))


def test_builtin_routing_uses_the_labels_and_the_first_profile_that_exists(
        tmp_path: Path) -> None:
    rules = RoutingRules.builtin()
    catalog = set(catalog_ids())
    d = rules.route(_alert({"model": "churn"}), catalog=catalog, home=tmp_path)
    assert (d.route, d.playbook) == ("built-in", "triage")
    assert d.profile == tmp_path / "profiles" / "churn.yaml"  # none exists: the first
    (tmp_path / "sandbox" / "churn").mkdir(parents=True)
    (tmp_path / "sandbox" / "churn" / "profile.yaml").write_text("name: churn\n")
    d = rules.route(_alert({"model": "churn", "playbook": "data-drift"}), catalog=catalog,
                    home=tmp_path)
    assert d.playbook == "data-drift"
    assert d.profile == tmp_path / "sandbox" / "churn" / "profile.yaml"
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "churn.yaml").write_text("name: churn\n")
    assert rules.route(_alert({"model": "churn"}), catalog=catalog,
                       home=tmp_path).profile == tmp_path / "profiles" / "churn.yaml"
    with pytest.raises(RoutingError, match="needs a 'model' label"):
        rules.route(_alert({"alertname": "X"}), catalog=catalog, home=tmp_path)


@pytest.mark.parametrize("text,field,words", [
    ("routes: [{playbook: Data_Drift, profile: p.yaml}]", "routes.0.playbook", "kebab-case"),
    ("routes: [{playbook: a, profile: p.yaml, match_re: {m: '('}}]", "routes.0.match_re",
     "invalid regex"),
    ("routes: [{playbook: a, profile: '{user}.yaml'}]", "routes.0.profile", "placeholder"),
    ("routes: [{playbook: a, profile: p.yaml, mach: {}}]", "routes.0.mach", "unknown field"),
    ("routes: []", "routes", "nothing would run"),
    ("max_concurrent_runs_per_model: 0\ndefault: {playbook: a, profile: p}",
     "max_concurrent_runs_per_model", "greater than or equal"),
    ("routes: [\n  {playbook: a", "<root>", "invalid YAML"),
])
def test_routing_rules_errors_name_file_and_field(tmp_path: Path, text: str, field: str,
                                                  words: str) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text(text)
    with pytest.raises(SpecError) as info:
        load_routing_rules(path)
    assert str(path) in info.value.message
    assert any((loc or "<root>") == field and words in msg for loc, msg in info.value.problems), \
        info.value.problems


def test_shipped_routes_example_is_valid() -> None:
    rules = load_routing_rules(REPO / "deployments" / "routes.example.yaml")
    assert rules.default is not None and rules.default.playbook == "triage"
    assert all(r.playbook in catalog_ids() for r in rules.routes)


def test_prefect_yaml_is_current_and_covers_the_catalog_and_the_drill() -> None:
    from deployments.serve import PREFECT_YAML, render_prefect_yaml

    assert PREFECT_YAML.read_text() == render_prefect_yaml(), (
        "deployments/prefect.yaml is stale: run `python -m deployments.serve --write-prefect-yaml`")
    spec = yaml.safe_load(PREFECT_YAML.read_text())
    deps = {d["name"]: d for d in spec["deployments"]}
    for pid in catalog_ids():
        assert deps[pid]["entrypoint"] == "flows/engine.py:run_playbook"
        assert deps[pid]["parameters"] == {"playbook": pid}
        assert deps[pid]["work_pool"]["name"] == "mlpb"
    assert deps["weekly"]["entrypoint"] == "flows/game_day.py:game_day"
    for d in deps.values():
        module, func = d["entrypoint"].split(":")
        assert f"def {func}(" in (REPO / module).read_text()


def test_signatures_bearer_and_hmac_with_timestamps() -> None:
    creds = Credentials(token="t0k", hmac_secret="s3cret")
    assert creds.check_bearer({"authorization": "Bearer t0k"})
    assert not creds.check_bearer({"authorization": "Bearer t0"})
    assert not creds.check_bearer({"authorization": "t0k"})
    assert not Credentials().check_bearer({"authorization": "Bearer "})
    body, now = b'{"a": 1}', 1_800_000_000.0

    def ours(ts: float, secret: str = "s3cret", data: bytes = body) -> dict[str, str]:
        return {"x-mlpb-timestamp": str(int(ts)),
                "x-mlpb-signature": sign(secret, data, int(ts))}

    ok = creds.verify_signature(ours(now), body, now)
    assert ok.timestamped and ok.expires_at == now + 300
    assert creds.verify_signature(ours(now - 299), body, now)  # inside ±5 minutes
    for headers, why in [
        (ours(now - 301), "stale signature"), (ours(now + 301), "stale signature"),
        (ours(now, "other"), "invalid HMAC"), (ours(now, data=b"{}"), "invalid HMAC"),
        ({"x-mlpb-signature": sign("s3cret", body)}, "missing X-MLPB-Timestamp"),
        ({**ours(now), "x-mlpb-timestamp": "soon"}, "not unix seconds"),
    ]:
        with pytest.raises(AuthError, match=why):
            creds.verify_signature(headers, body, now)
    # Grafana: body alone (untimed), or '<ts>:<body>' with its timestamp header
    grafana = sign("s3cret", body).removeprefix("sha256=")
    assert not creds.verify_signature({"x-grafana-alerting-signature": grafana}, body,
                                      now).timestamped
    timed = sign("s3cret", f"{int(now)}:".encode() + body).removeprefix("sha256=")
    assert creds.verify_signature({"x-grafana-alerting-signature": timed,
                                   "x-grafana-alerting-signature-timestamp": str(int(now))},
                                  body, now).timestamped
    with pytest.raises(AuthError, match="stale"):
        creds.verify_signature({"x-grafana-alerting-signature": timed,
                                "x-grafana-alerting-signature-timestamp": str(int(now))},
                               body, now + 400)
    with pytest.raises(AuthError, match="no MLPB_RECEIVER_HMAC_SECRET"):
        Credentials(token="t").verify_signature(ours(now), body, now)


def test_replay_guard_remembers_signatures_until_their_window_ends() -> None:
    creds, body, now = Credentials(hmac_secret="s"), b"{}", 1_800_000_000.0
    headers = {"x-mlpb-timestamp": str(int(now)), "x-mlpb-signature": sign("s", body, int(now))}
    signed = creds.verify_signature(headers, body, now)
    guard = ReplayGuard(max_entries=2)
    assert not guard.seen(signed, now)
    guard.remember(signed, now)
    assert guard.seen(signed, now + 299) and not guard.seen(signed, now + 301)
    for i in range(3):  # bounded memory: the oldest goes first
        h = {"x-mlpb-timestamp": str(int(now) + i),
             "x-mlpb-signature": sign("s", body, int(now) + i)}
        guard.remember(creds.verify_signature(h, body, now + i), now + i)
    assert not guard.seen(signed, now + 3)


def test_metrics_render_prometheus_text_that_parses() -> None:
    from prometheus_client.parser import text_string_to_metric_families

    m = ReceiverMetrics()
    m.inc("mlpb_receiver_requests_total", "Answers.", endpoint="generic", code="202")
    m.inc("mlpb_receiver_requests_total", "Answers.", by=2, endpoint="generic", code="422")
    for s in (0.001, 0.02, 20.0):
        m.observe(s, endpoint="generic")
    text = m.render([("mlpb_dispatch_queue", "Rows.", {"state": "queued"}, 3.0)])
    families = {f.name: f for f in text_string_to_metric_families(text)}
    reqs = {(s.labels["code"]): s.value for s in families["mlpb_receiver_requests"].samples}
    assert reqs == {"202": 1.0, "422": 2.0}
    hist = {(s.name, s.labels.get("le")): s.value
            for s in families["mlpb_receiver_request_duration_seconds"].samples}
    assert hist[("mlpb_receiver_request_duration_seconds_bucket", "0.005")] == 1
    assert hist[("mlpb_receiver_request_duration_seconds_bucket", "10.0")] == 2
    assert hist[("mlpb_receiver_request_duration_seconds_bucket", "+Inf")] == 3
    assert hist[("mlpb_receiver_request_duration_seconds_count", None)] == 3
    assert families["mlpb_dispatch_queue"].samples[0].value == 3
    assert m.total("mlpb_receiver_requests_total", endpoint="generic") == 3


def test_incident_ids_have_a_readable_prefix_and_128_random_bits() -> None:
    import re

    from playbooks.engine.lifecycle import new_incident_id

    ids = {new_incident_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(re.fullmatch(r"INC-\d{8}-[0-9a-f]{32}", i) for i in ids)


def test_backoff_doubles_and_caps() -> None:
    b = Backoff(base=1, cap=5)
    assert [b.delay(n).total_seconds() for n in (1, 2, 3, 4, 5)] == [1, 2, 4, 5, 5]


def test_drill_fault_choice_is_seeded() -> None:
    assert pick_fault(["none", "unit-change"], "unit-change", 1) == "unit-change"
    assert pick_fault(["a", "b", "c"], "random", 4) == pick_fault(["c", "b", "a"], "random", 4)
    assert {pick_fault(["a", "b", "c"], "random", s) for s in range(30)} == {"a", "b", "c"}
