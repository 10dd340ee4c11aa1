"""People in the loop, engine side: the approval policy, the pinned plan, who may decide,
escalation levels on the engine clock, and the people actions — on a real SQLite ledger."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from playbooks.clock import set_clock
from playbooks.config import load_settings
from playbooks.engine import people
from playbooks.engine.approvals import (
    DecisionRefused,
    approval_needed,
    decide,
    is_approver,
    new_request,
    plan_hash,
)
from playbooks.engine.escalation import (
    advance_people,
    approval_expired,
    due_pages,
    levels_for,
    people_incidents,
)
from playbooks.engine.plugins import default_plugins
from playbooks.engine.runtime import Runtime
from playbooks.engine.transitions import Event, apply_event
from playbooks.loader import CATALOG_DIR, load_spec
from playbooks.models.incident import Incident, IncidentStatus
from playbooks.models.profile import ModelProfile
from playbooks.models.spec import EscalationLevel, PlaybookSpec, RemediationSpec

T0 = datetime(2026, 3, 1, 9, tzinfo=UTC)


def _profile(criticality: str = "medium", **approvals: Any) -> ModelProfile:
    return ModelProfile.model_validate({
        "name": "credit", "criticality": criticality,
        "owners": {"model": "ml-team", "oncall": "ml-oncall",
                   "approvers": ["alice", "group:ml-leads"],
                   "groups": {"ml-leads": ["bob", "carol"]}},
        "approvals": approvals,
        "data": {"reference": {"path": "r.csv"}, "current": {"path": "c.csv"}},
        "features": {"numeric": ["x"]},
    })


def _entry(risk: str, *, requires_approval: bool = False) -> RemediationSpec:
    return RemediationSpec(id="retrain", action="retrain", risk=risk, effort="low",  # type: ignore[arg-type]
                           requires_approval=requires_approval, rollback="alias back")


@pytest.mark.parametrize(("risk", "criticality", "required_at", "needed"), [
    ("low", "medium", "high", False),
    ("medium", "medium", "high", False),
    ("high", "medium", "high", True),
    ("medium", "high", "high", True),  # a criticality: high model is judged one level stricter
    ("low", "high", "high", False),
    ("low", "high", "medium", True),
    ("low", "low", "low", True),
])
def test_policy_combines_risk_and_criticality(risk: str, criticality: str, required_at: str,
                                              needed: bool) -> None:
    why = approval_needed(_entry(risk), _profile(criticality, required_at_risk=required_at))
    assert (why is not None) is needed
    if why:
        assert risk in why


def test_explicit_flag_always_asks() -> None:
    why = approval_needed(_entry("low", requires_approval=True), _profile("low"))
    assert why is not None and "marks 'retrain'" in why


def test_plan_hash_pins_params_and_plan() -> None:
    e = _entry("medium")
    assert plan_hash(e, {"a": 1, "b": [2]}) == plan_hash(e, {"b": [2], "a": 1})
    assert plan_hash(e, {"a": 1}) != plan_hash(e, {"a": 2})


def test_approvers_are_people_and_group_members() -> None:
    prof = _profile()
    assert [w for w in ("alice", "bob", "carol", "mallory", "ml-leads") if is_approver(prof, w)] \
        == ["alice", "bob", "carol"]
    with pytest.raises(ValueError, match="unknown group"):
        ModelProfile.model_validate({**prof.model_dump(), "owners": {"approvers": ["group:x"]}})


@pytest.fixture
def spec() -> PlaybookSpec:
    return load_spec(CATALOG_DIR / "data-drift.yaml", default_plugins())


@pytest.fixture
def rt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Runtime:
    monkeypatch.delenv("MLPB_CLOCK", raising=False)
    monkeypatch.delenv("MLPB_LEDGER_URL", raising=False)
    set_clock(tmp_path, T0)  # the engine clock the sandbox moves
    return Runtime(load_settings(tmp_path).ensure())


def _waiting(rt: Runtime, spec: PlaybookSpec, *, drill: bool = False) -> Incident:
    path = rt.settings.home / "profile.yaml"
    path.write_text(json.dumps(_profile("high").model_dump(mode="json")), encoding="utf-8")
    inc = Incident(id=f"INC-test-{'d' if drill else 'p'}", playbook="data-drift",
                   playbook_version="1.0.0", playbook_hash="h", model="credit", dedup_key="k",
                   drill=drill, detected_at=T0, profile_path=str(path))
    inc, _ = rt.ledger.open_incident(inc)
    for ev in (Event.STARTED, Event.PLANNING):
        inc = rt.record(inc, ev, ev.value)
    req = new_request(spec, _profile("high"), spec.remediation("retrain"), {"summary": "train"},
                      why="policy", evidence=["drift: 3 features"], remaining=[],
                      escalate_to=None, now=T0)
    return rt.record(inc, Event.APPROVAL_REQUESTED, "ask", approval=req)


def test_refusals_are_recorded_and_nothing_moves(rt: Runtime, spec: PlaybookSpec) -> None:
    inc = _waiting(rt, spec)
    prof = _profile("high")
    with pytest.raises(DecisionRefused, match="mallory is not an approver"):
        decide(rt, inc.id, "approve", approver="mallory", channel="cli", profile=prof)
    with pytest.raises(DecisionRefused, match="needs a reason"):
        decide(rt, inc.id, "reject", approver="alice", channel="slack", profile=prof)
    with pytest.raises(DecisionRefused, match="plan changed"):
        decide(rt, inc.id, "approve", approver="bob", channel="slack", profile=prof,
               plan_hash="sha256:older")
    with pytest.raises(DecisionRefused, match="drill incidents only"):
        decide(rt, inc.id, "approve", approver="game-day", channel="drill", profile=prof)
    now = rt.ledger.get(inc.id)
    assert now.status is IncidentStatus.AWAITING_APPROVAL
    assert now.approval is not None and now.approval.state == "pending"
    assert [d.accepted for d in now.approval.decisions] == [False] * 4
    assert [e.kind for e in now.timeline].count("decision_refused") == 4


def test_approval_then_a_second_decision_is_refused(rt: Runtime, spec: PlaybookSpec) -> None:
    inc = _waiting(rt, spec)
    prof = _profile("high")
    done = decide(rt, inc.id, "approve", approver="carol", channel="prefect-ui",
                  reason="ok", profile=prof).incident
    assert done.status is IncidentStatus.REMEDIATING
    assert done.approval is not None and done.approval.state == "approved"
    d = done.approval.accepted
    assert d is not None and (d.approver, d.channel, d.reason, d.at) == (
        "carol", "prefect-ui", "ok", T0)
    with pytest.raises(DecisionRefused, match="not awaiting approval"):
        decide(rt, inc.id, "reject", approver="alice", channel="cli", reason="late",
               profile=prof)


def test_rejection_hands_the_incident_to_the_model_owner(rt: Runtime, spec: PlaybookSpec) -> None:
    inc = _waiting(rt, spec)
    out = decide(rt, inc.id, "reject", approver="alice", channel="cli",
                 reason="retraining now is too risky", profile=_profile("high")).incident
    assert out.status is IncidentStatus.ESCALATED and out.escalated_to == "ml-team"
    assert out.approval is not None and out.approval.state == "rejected"


def test_a_drill_approves_itself_only_through_the_drill_channel(rt: Runtime,
                                                                 spec: PlaybookSpec) -> None:
    inc = _waiting(rt, spec, drill=True)
    out = decide(rt, inc.id, "approve", approver="game-day", channel="drill",
                 profile=_profile("high")).incident
    assert out.status is IncidentStatus.REMEDIATING


def test_timeout_escalates_then_levels_page_in_order_until_ack(rt: Runtime,
                                                               spec: PlaybookSpec) -> None:
    """data-drift sets no levels: the default pages the owner it was escalated to at once
    (oncall after ``escalation.after`` is the same person here, so nobody twice)."""
    inc = _waiting(rt, spec)
    assert inc.approval is not None
    assert not approval_expired(inc, inc.approval.due_at - timedelta(seconds=1))
    assert people_incidents(rt) == [inc.id]
    assert advance_people(rt, inc.id) == []  # not due yet
    due = inc.approval.due_at
    set_clock(rt.settings.home, due)
    steps = advance_people(rt, inc.id)  # expires, escalates, pages level 1 at once
    assert [s.action for s in steps] == ["escalated", "paged"]
    esc = rt.ledger.get(inc.id)
    assert esc.status is IncidentStatus.ESCALATED and esc.approval is not None
    assert esc.approval.state == "expired" and esc.escalated_to == "ml-oncall"
    assert [p.target for p in esc.escalation.pages] == ["ml-oncall"]  # type: ignore[union-attr]
    assert [lv.notify for lv in levels_for(spec, esc, _profile().owners)] == ["ml-oncall"]
    assert [lv.notify for lv in levels_for(spec, esc.model_copy(
        update={"escalated_to": "ml-team"}), _profile().owners)] == ["ml-team", "oncall"]
    set_clock(rt.settings.home, due + timedelta(hours=1))
    assert advance_people(rt, inc.id) == []  # paged once, not again
    assert people_incidents(rt) == [inc.id]
    people.acknowledge(rt, inc.id, who="dana")
    assert people_incidents(rt) == []  # ack stops the clock
    acked = rt.ledger.get(inc.id)
    assert acked.mtta_seconds == (due + timedelta(hours=1) - T0).total_seconds()


def test_levels_fire_in_order_and_stop_on_ack() -> None:
    levels = [EscalationLevel(notify="oncall", after=timedelta(minutes=15)),
              EscalationLevel(notify="group:ml-leads", after=timedelta(hours=1))]
    inc = apply_event(Incident(id="i", playbook="p", playbook_version="1", playbook_hash="h",
                               model="m", dedup_key="k", status=IncidentStatus.INVESTIGATING,
                               detected_at=T0), Event.ESCALATED, "x", at=T0)
    assert due_pages(inc, levels, T0 + timedelta(minutes=14)) == []
    assert [i for i, _ in due_pages(inc, levels, T0 + timedelta(minutes=15))] == [0]
    assert [i for i, _ in due_pages(inc, levels, T0 + timedelta(hours=2))] == [0, 1]
    assert inc.escalation is not None
    acked = inc.model_copy(update={"escalation": inc.escalation.model_copy(
        update={"acknowledged_at": T0, "acknowledged_by": "x"})})
    assert due_pages(acked, levels, T0 + timedelta(hours=2)) == []


def test_people_actions_are_transitions(rt: Runtime, spec: PlaybookSpec) -> None:
    inc = _waiting(rt, spec)
    people.add_note(rt, inc.id, text="looking at the feed", who="bob")
    people.assign(rt, inc.id, to="carol", who="bob")
    with pytest.raises(people.ActionRefused, match="--note"):
        people.resolve_by_hand(rt, inc.id, who="carol", note=" ")
    done = people.resolve_by_hand(rt, inc.id, who="carol", note="upstream fixed the unit")
    assert done.status is IncidentStatus.RESOLVED and done.owner == "carol"
    assert done.approval is not None and done.approval.state == "void"
    with pytest.raises(people.ActionRefused, match="cannot be resolved"):
        people.resolve_by_hand(rt, inc.id, who="carol", note="again")
    back = people.reopen(rt, inc.id, who="dana", reason="drift is back")
    assert back.status is IncidentStatus.ESCALATED and back.owner == "dana"
    kinds = [e.kind for e in rt.ledger.get(inc.id).timeline]
    assert kinds[-4:] == ["note", "assigned", "resolved_by_hand", "reopened"]


def test_postmortem_names_who_decided_and_through_which_channel(rt: Runtime,
                                                               spec: PlaybookSpec) -> None:
    from playbooks.engine.postmortem import render_postmortem

    inc = _waiting(rt, spec)
    with pytest.raises(DecisionRefused):
        decide(rt, inc.id, "approve", approver="mallory", channel="slack", profile=_profile("high"))
    decide(rt, inc.id, "reject", approver="bob", channel="cli", reason="too risky now",
           profile=_profile("high"))
    people.acknowledge(rt, inc.id, who="ml-team")
    text = render_postmortem(rt.ledger.get(inc.id), spec, None)
    section = text.split("## People and decisions")[1].split("\n## ")[0]
    assert "**rejected**" in section and "| mallory | slack | refused: " in section
    assert "| bob | cli | yes | too risky now |" in section
    assert "Acknowledged by ml-team" in section
    assert "- MTTA (detection → first acknowledgement): 0" in text
