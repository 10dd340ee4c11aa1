"""The run policy at the receiver (routes act as ``route:<name>``) and for deployment runs
(``prefect-ui``): decisions kept, made dry runs or refused, each refusal recorded, on a real
SQLite ledger."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from playbooks.alerts.model import AlertStatus, ParsedAlert
from playbooks.alerts.routing import RouteDecision, RoutingError, RoutingRules
from playbooks.ledger import Ledger
from playbooks.models.incident import Incident
from playbooks.policy import Policy, PolicyRefused, Refusal
from playbooks.run_gate import GatedRoutes, PolicyFile, check_deployment_run, gate_decision

T0 = datetime(2026, 3, 1, 9, tzinfo=UTC)
POLICY = Policy.model_validate({"run": {"default": "none", "grants": [
    {"who": ["route:prod"], "playbooks": ["data-*"], "mode": "live"},
    {"who": ["route:staging"], "mode": "dry-run"},
    {"who": ["prefect-ui"], "models": ["credit"], "mode": "dry-run"}]}})


def _decision(route: str, dry_run: bool = False) -> RouteDecision:
    return RouteDecision(route=route, playbook="data-drift", profile=Path("p.yaml"),
                         dry_run=dry_run, notes=[])


def test_gate_keeps_downgrades_or_refuses_and_records() -> None:
    seen: list[Refusal] = []
    kept = gate_decision(POLICY, None, _decision("prod"), model="credit", record=seen.append,
                         now=T0)
    assert kept == _decision("prod") and seen == []
    dry = gate_decision(POLICY, Path("/p.yaml"), _decision("staging"), model="credit",
                        record=seen.append, now=T0)
    assert dry.dry_run and "run as a dry run" in dry.notes[-1]
    (r,) = seen
    assert (r.who, r.channel, r.action, r.at) == ("route:staging", "receiver", "run-live", T0)
    assert r.detail == {"identity": "route", "policy": "/p.yaml", "outcome": "run as a dry run"}
    already_dry = gate_decision(POLICY, None, _decision("staging", dry_run=True),
                                model="credit", record=seen.append, now=T0)
    assert already_dry.dry_run and len(seen) == 1  # asked for a dry run: allowed, no record
    with pytest.raises(RoutingError, match="refused by policy: route:other may not run"):
        gate_decision(POLICY, None, _decision("other"), model="credit", record=seen.append,
                      now=T0)
    assert seen[-1].action == "run" and seen[-1].detail["outcome"] == "not run"


def test_gated_routes_rereads_the_policy_file(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLPB_POLICY", raising=False)
    rules = RoutingRules.model_validate({"routes": [
        {"name": "prod", "match": {"alertname": "Drift"}, "playbook": "data-drift",
         "profile": "p.yaml"}]})
    seen: list[Refusal] = []
    gated = GatedRoutes.wrap(rules, PolicyFile(tmp_path), seen.append, lambda: T0)
    alert = ParsedAlert.model_validate({"source": "generic", "status": "firing",
                                        "labels": {"alertname": "Drift", "model": "credit"}})
    assert not gated.route(alert, catalog={"data-drift"}, home=tmp_path).dry_run  # no policy
    (tmp_path / "policy.yaml").write_text(yaml.safe_dump({"run": {"default": "dry-run"}}),
                                          encoding="utf-8")
    assert gated.route(alert, catalog={"data-drift"}, home=tmp_path).dry_run
    assert [r.who for r in seen] == ["route:prod"] and seen[0].model == "credit"
    resolved = alert.model_copy(update={"status": AlertStatus.RESOLVED})
    gated.route(resolved, catalog={"data-drift"}, home=tmp_path)
    assert len(seen) == 1  # a resolved alert starts nothing: no refusal
    assert gated.max_concurrent_runs_per_model == rules.max_concurrent_runs_per_model


def test_deployment_runs_as_prefect_ui(tmp_path: Path) -> None:
    led = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    check_deployment_run(led, POLICY, None, playbook="data-drift", model="credit",
                         dry_run=True, trigger=None, dedup_key=None, now=T0)  # allowed
    with pytest.raises(PolicyRefused, match=r"prefect-ui may run 'data-drift' on credit as a "
                                            r"dry run only"):
        check_deployment_run(led, POLICY, Path("/p.yaml"), playbook="data-drift",
                             model="credit", dry_run=False, trigger={"source": "manual"},
                             dedup_key=None, now=T0)
    (r,) = led.refusals.since()
    assert (r.who, r.channel, r.action, r.at) == ("prefect-ui", "prefect-ui", "run-live", T0)
    assert led.list() == []

    # a run the receiver queued adopts its open incident, in the receiver's mode: not re-checked
    trigger = {"source": "alertmanager", "alert_id": "ALR-1", "route": "prod"}
    led.open_incident(Incident(id="INC-1", playbook="data-drift", playbook_version="1",
                               playbook_hash="h", model="credit", dedup_key="group:x",
                               trigger=trigger))
    check_deployment_run(led, POLICY, None, playbook="data-drift", model="credit",
                         dry_run=False, trigger=trigger, dedup_key="group:x", now=T0)
    forged = {**trigger, "alert_id": "ALR-2"}  # not the receiver's alert: checked
    with pytest.raises(PolicyRefused):
        check_deployment_run(led, POLICY, None, playbook="data-drift", model="credit",
                             dry_run=False, trigger=forged, dedup_key="group:x", now=T0)
    assert len(led.refusals.since()) == 2
    led.close()
