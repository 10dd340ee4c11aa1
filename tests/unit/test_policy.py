"""Policy: the pure checks, the file's validation and lookup, and a decision the policy
forbids refused and recorded by ``decide`` on a real SQLite ledger."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from playbooks.clock import set_clock
from playbooks.config import load_settings
from playbooks.engine.approvals import DecisionRefused, decide, new_request
from playbooks.engine.plugins import default_plugins
from playbooks.engine.runtime import Runtime
from playbooks.engine.transitions import Event
from playbooks.errors import SpecError
from playbooks.loader import CATALOG_DIR, load_spec
from playbooks.models.incident import Incident, IncidentStatus
from playbooks.models.profile import ModelProfile
from playbooks.policy import (
    Identity,
    Policy,
    PolicyRefused,
    approval_refusal,
    check_run,
    cli_identity,
    edit_refusal,
    load_policy,
    policy_for,
    policy_path,
    run_refusal,
)
from playbooks.schemas import SCHEMA_DIR, schema_for

T0 = datetime(2026, 3, 1, 9, tzinfo=UTC)

POLICY = {
    "groups": {"oncall": ["carol", "U0ONCALL1"], "ml-leads": ["bob"]},
    "run": {"default": "dry-run", "grants": [
        {"who": ["group:oncall"], "playbooks": ["*"], "mode": "live"},
        {"who": ["dave"], "playbooks": ["data-*"], "models": ["credit*"], "mode": "live"},
        {"who": ["erin"], "mode": "dry-run"}]},
    "approve": {"grants": [
        {"who": ["alice"], "risk": ["low", "medium"]},
        {"who": ["group:ml-leads"], "criticality": ["high"]}]},
    "edit": {"grants": [{"who": ["alice"], "playbooks": ["data-*"]}]},
}


@pytest.fixture
def policy() -> Policy:
    return Policy.model_validate(POLICY)


def test_no_policy_and_left_out_sections_allow_everything() -> None:
    assert run_refusal(None, "anyone", playbook="p", model="m", live=True) is None
    assert approval_refusal(None, "x", risk="high", criticality="high", model="m") is None
    assert edit_refusal(None, "x", playbook="p") is None
    empty = Policy()
    assert run_refusal(empty, "anyone", playbook="p", model="m", live=True) is None
    assert approval_refusal(empty, "x", risk="high", criticality="high", model="m") is None
    assert edit_refusal(empty, "x", playbook="p") is None


@pytest.mark.parametrize(("who", "playbook", "model", "live", "allowed"), [
    ("carol", "bad-release", "fraud", True, True),        # group grant, any playbook
    ("U0ONCALL1", "triage", "credit", True, True),        # a Slack id in a group
    ("dave", "data-drift", "credit-risk", True, True),    # globs on both
    ("dave", "bad-release", "credit-risk", True, False),  # playbook outside the glob
    ("dave", "bad-release", "credit-risk", False, True),  # ... but the default lets him dry-run
    ("dave", "data-drift", "fraud", True, False),         # model outside the glob
    ("erin", "data-drift", "credit", True, False),        # a dry-run grant
    ("erin", "data-drift", "credit", False, True),
    ("mallory", "data-drift", "credit", False, True),     # default dry-run
    ("mallory", "data-drift", "credit", True, False),
])
def test_run_grants(policy: Policy, who: str, playbook: str, model: str, live: bool,
                    allowed: bool) -> None:
    why = run_refusal(policy, who, playbook=playbook, model=model, live=live)
    assert (why is None) is allowed
    if why:
        assert who in why and "dry run only" in why


def test_run_default_none_refuses_even_a_dry_run() -> None:
    pol = Policy.model_validate({"run": {"default": "none"}})
    why = run_refusal(pol, "x", playbook="p", model="m", live=False)
    assert why is not None and "may not run 'p'" in why


@pytest.mark.parametrize(("who", "risk", "criticality", "allowed"), [
    ("alice", "medium", "high", True),
    ("alice", "high", "low", False),      # risk not granted
    ("bob", "high", "high", True),        # group grant on high-criticality models
    ("bob", "low", "medium", False),      # ... only those
    ("mallory", "low", "low", False),     # default deny
])
def test_approval_grants(policy: Policy, who: str, risk: str, criticality: str,
                         allowed: bool) -> None:
    why = approval_refusal(policy, who, risk=risk, criticality=criticality, model="credit")
    assert (why is None) is allowed
    if why:
        assert f"{risk}-risk" in why and criticality in why


def test_edit_grants(policy: Policy) -> None:
    assert edit_refusal(policy, "alice", playbook="data-drift") is None
    assert "may not" not in (edit_refusal(policy, "alice", playbook="triage") or "may not")
    assert edit_refusal(policy, "alice", playbook="triage") == (
        "the policy does not let alice edit the 'triage' spec")
    allow = Policy.model_validate({"edit": {"default": "allow"}})
    assert edit_refusal(allow, "anyone", playbook="triage") is None


def test_check_run_says_who_and_where_the_name_came_from(policy: Policy) -> None:
    with pytest.raises(PolicyRefused, match=r"dry run only \(policy\) \[erin from --as\]") as e:
        check_run(policy, Identity("erin", "--as"), playbook="data-drift", model="credit",
                  live=True, where=Path("/etc/policy.yaml"))
    assert e.value.exit_code == 4 and e.value.hint and "--dry-run" in e.value.hint
    check_run(policy, Identity("erin", "--as"), playbook="data-drift", model="credit",
              live=False)
    assert cli_identity("  alice ") == Identity("alice", "--as")
    assert cli_identity(None).source == "os-user" and cli_identity(None).name


def test_policy_file_errors_name_the_file_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "policy.yaml"
    bad.write_text(yaml.safe_dump({"run": {"grants": [{"who": ["x"], "mode": "yes"}]},
                                   "approve": {"grants": [{"who": ["group:nope"]}]},
                                   "edits": {}}), encoding="utf-8")
    with pytest.raises(SpecError) as e:
        load_policy(bad)
    locs = dict(e.value.problems)
    assert str(bad) in e.value.message
    assert "run.grants.0.mode" in locs and "edits" in locs
    groups = tmp_path / "groups.yaml"
    groups.write_text(yaml.safe_dump({"approve": {"grants": [{"who": ["group:nope"]}]}}),
                      encoding="utf-8")
    with pytest.raises(SpecError, match=r"unknown group\(s\) \['nope'\]"):
        load_policy(groups)


def test_lookup_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLPB_POLICY", raising=False)
    assert policy_path(tmp_path) is None and policy_for(tmp_path) is None  # open by default
    (tmp_path / "policy.yaml").write_text(yaml.safe_dump(POLICY), encoding="utf-8")
    assert policy_path(tmp_path) == tmp_path / "policy.yaml"
    assert policy_for(tmp_path) == Policy.model_validate(POLICY)
    monkeypatch.setenv("MLPB_POLICY", str(tmp_path / "missing.yaml"))
    with pytest.raises(SpecError, match="file not found"):  # named on purpose: never open
        policy_for(tmp_path)


def test_committed_policy_schema_is_up_to_date() -> None:
    committed = json.loads((SCHEMA_DIR / "policy.schema.json").read_text())
    assert committed == json.loads(json.dumps(schema_for("policy"))), (
        "run `mlpb schema --write playbooks/schemas` and commit the result")


def _waiting(rt: Runtime, risk_profile: ModelProfile) -> Incident:
    spec = load_spec(CATALOG_DIR / "data-drift.yaml", default_plugins())
    inc, _ = rt.ledger.open_incident(Incident(
        id="INC-policy", playbook="data-drift", playbook_version="1.0.0", playbook_hash="h",
        model="credit", dedup_key="k", detected_at=T0))
    for ev in (Event.STARTED, Event.PLANNING):
        inc = rt.record(inc, ev, ev.value)
    req = new_request(spec, risk_profile, spec.remediation("retrain"), {"summary": "train"},
                      why="policy", evidence=[], remaining=[], escalate_to=None, now=T0)
    return rt.record(inc, Event.APPROVAL_REQUESTED, "ask", approval=req)


def test_decide_refuses_and_records_what_the_policy_forbids(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("MLPB_CLOCK", "MLPB_LEDGER_URL", "MLPB_POLICY"):
        monkeypatch.delenv(var, raising=False)
    set_clock(tmp_path, T0)
    rt = Runtime(load_settings(tmp_path).ensure())
    profile = ModelProfile.model_validate({
        "name": "credit", "criticality": "high",
        "owners": {"approvers": ["alice", "bob"]},
        "data": {"reference": {"path": "r.csv"}, "current": {"path": "c.csv"}},
        "features": {"numeric": ["x"]}})
    inc = _waiting(rt, profile)
    risk = inc.approval.risk if inc.approval else ""
    (tmp_path / "policy.yaml").write_text(yaml.safe_dump({"approve": {"grants": [
        {"who": ["bob"], "risk": [risk]}]}}), encoding="utf-8")
    # alice is an approver of the profile, but the policy does not let her decide
    with pytest.raises(DecisionRefused, match="policy does not let alice decide"):
        decide(rt, inc.id, "approve", approver="alice", channel="slack", profile=profile)
    after = rt.ledger.get(inc.id)
    assert after.status is IncidentStatus.AWAITING_APPROVAL
    assert after.timeline[-1].kind == Event.DECISION_REFUSED.value
    assert after.approval is not None
    refused = after.approval.decisions[-1]
    assert not refused.accepted and "policy" in refused.refusal
    assert refused.approver == "alice" and refused.channel == "slack"
    done = decide(rt, inc.id, "approve", approver="bob", channel="prefect-ui", profile=profile)
    assert done.outcome == "approved"
