"""Alert parsing, dedup keys, routing rules, request signatures, backoff and drill scoring:
pure functions, no servers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from playbooks.alerts import (
    AlertParseError,
    AlertStatus,
    Backoff,
    Credentials,
    ParsedAlert,
    RoutingError,
    alert_dedup_key,
    load_routing_rules,
    parse_alertmanager,
    parse_generic,
    parse_grafana,
    sign,
)
from playbooks.alerts.drill import pick_fault
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
    first, second = parse_alertmanager(_b(AM_DOC))
    assert first.source == "alertmanager" and first.status is AlertStatus.FIRING
    assert first.model == "credit-risk" and first.fingerprint == "1a30ba71cca2921f"
    assert first.group_key == AM_DOC["groupKey"] and first.raw["alert"] == AM_DOC["alerts"][0]
    assert second.status is AlertStatus.RESOLVED  # per-alert status, not the group's


@pytest.mark.parametrize("mutate,field", [
    (lambda d: d.update(version="3"), "version"),
    (lambda d: d.pop("groupKey"), "groupKey"),
    (lambda d: d.update(alerts=[]), "alerts"),
    (lambda d: d["alerts"][0].update(status="pending"), "alerts.0.status"),
    (lambda d: d["alerts"][0].pop("labels"), "alerts.0.labels"),
    (lambda d: d["alerts"][1]["labels"].update(x=1), "alerts.1.labels.x"),
])
def test_alertmanager_errors_name_the_field(mutate: Any, field: str) -> None:
    data = json.loads(json.dumps(AM_DOC))
    mutate(data)
    with pytest.raises(AlertParseError) as info:
        parse_alertmanager(_b(data))
    assert info.value.status_code == 422
    assert field in [loc for loc, _ in info.value.problems]


def test_not_json_is_400() -> None:
    for raw in (b"", b"{", b"[]", b"\xff", b"\x00"):
        with pytest.raises(AlertParseError) as info:
            parse_alertmanager(raw)
        assert info.value.status_code == 400


def test_grafana_unified_payload_and_legacy_refusal() -> None:
    data = {**AM_DOC, "orgId": 1, "title": "[FIRING:1]", "state": "alerting", "version": "1"}
    data["alerts"] = [{**AM_DOC["alerts"][0], "values": {"B": 44.2, "C": 1},
                       "valueString": "[...]", "silenceURL": "u", "dashboardURL": ""}]
    (a,) = parse_grafana(_b(data))
    assert a.source == "grafana" and a.fingerprint == "1a30ba71cca2921f"
    with pytest.raises(AlertParseError, match="legacy"):
        parse_grafana(_b({"title": "t", "ruleId": 1, "state": "alerting", "evalMatches": []}))


def test_generic_payload_model_and_playbook_become_labels() -> None:
    (a,) = parse_generic(_b({"model": "credit-risk", "playbook": "data-drift",
                             "labels": {"model": "other", "team": "x"}}))
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


def test_signatures_bearer_and_hmac() -> None:
    creds = Credentials(token="t0k", hmac_secret="s3cret")
    assert creds.check_bearer({"authorization": "Bearer t0k"})
    assert not creds.check_bearer({"authorization": "Bearer t0"})
    assert not creds.check_bearer({"authorization": "t0k"})
    body = b'{"a": 1}'
    assert creds.check_signature({"x-mlpb-signature": sign("s3cret", body)}, body)
    assert creds.check_signature({"x-grafana-alerting-signature":
                                  sign("s3cret", body).removeprefix("sha256=")}, body)
    assert not creds.check_signature({"x-mlpb-signature": sign("other", body)}, body)
    assert not Credentials(token="t").check_signature({"x-mlpb-signature": "sha256=0"}, body)
    assert not Credentials().check_bearer({"authorization": "Bearer "})


def test_backoff_doubles_and_caps() -> None:
    b = Backoff(base=1, cap=5)
    assert [b.delay(n).total_seconds() for n in (1, 2, 3, 4, 5)] == [1, 2, 4, 5, 5]


def test_drill_fault_choice_is_seeded() -> None:
    assert pick_fault(["none", "unit-change"], "unit-change", 1) == "unit-change"
    assert pick_fault(["a", "b", "c"], "random", 4) == pick_fault(["c", "b", "a"], "random", 4)
    assert {pick_fault(["a", "b", "c"], "random", s) for s in range(30)} == {"a", "b", "c"}
