"""Slack decisions end to end over real HTTP: a real engine run (data-quality on a small
parquet log, a real MLflow registry entry, a real SQLite ledger) waits for approval and posts
its Approve / Reject buttons through slack-sdk to the Slack stand-in; presses come back to the
receiver (uvicorn) signed with slack-sdk's own signature code; the approved change is carried
out in the background. Tests run in file order on one incident (module fixture)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import numpy as np
import pandas as pd
import pytest
from pydantic import SecretStr
from slack_sdk.signature import SignatureVerifier

from deployments.receiver import ReceiverConfig, create_app
from deployments.slack_interactions import SlackInteractions
from playbooks.alerts import RoutingRules
from playbooks.clock import set_clock
from playbooks.config import Settings
from playbooks.engine import diagnosis
from playbooks.engine.lifecycle import load_inputs, open_or_claim
from playbooks.engine.runner import DirectSteps, remediation_context, run_remediations
from playbooks.engine.runtime import Runtime
from playbooks.models.incident import Incident, IncidentStatus
from playbooks.notify import SlackNotifier, SlackSettings
from playbooks.notify.interactions import signature_problem
from tests.integration._receiver_support import ReceiverServer, credentials
from tests.integration.fake_slack import FakeSlack

pytestmark = pytest.mark.integration
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
T = datetime(2026, 3, 10, tzinfo=UTC)
PROFILE = """\
name: credit-risk
criticality: low
model: {registry_name: credit-risk}
approvals: {required_at_risk: low}     # every change waits for a person
owners:
  model: ml-team
  data: data-platform
  oncall: ml-oncall
  approvers: [alice, "group:ml-leads"]
  groups: {ml-leads: [bob]}
  slack_ids: {alice: U01ALICE, bob: U01BOB, mallory: U0MALLORY}
data:
  timestamp: ts
  reference: {path: reference.parquet}
  current: {path: "current/*.parquet", window: 7d}
features:
  numeric: [age, income]
  categorical: [region]
"""


def _frame(rng: np.random.Generator, n: int, start: datetime, nulls: float = 0.0
           ) -> pd.DataFrame:
    df = pd.DataFrame({"ts": [start + timedelta(minutes=10 * i) for i in range(n)],
                       "age": rng.normal(40, 10, n), "income": rng.normal(5e4, 1e4, n),
                       "region": rng.choice(["n", "s", "e"], n)})
    if nulls:
        df.loc[rng.random(n) < nulls, "income"] = np.nan
    return df


def _register_model(home: Path) -> None:
    """A champion in the local MLflow registry (data-quality never loads it)."""
    from mlflow import MlflowClient

    (home / "mlflow").mkdir(parents=True, exist_ok=True)
    client = MlflowClient(tracking_uri=f"sqlite:///{home / 'mlflow' / 'mlflow.db'}")
    client.create_registered_model("credit-risk")
    version = client.create_model_version("credit-risk", source=str(home / "no-artifact"))
    client.set_registered_model_alias("credit-risk", "champion", version.version)


def _run_until_approval(rt: Runtime, profile: Path) -> Incident:
    """The engine flow's phases without Prefect (flows/engine.py sequences the same calls)."""
    inputs = load_inputs("data-quality", profile)
    inc = open_or_claim(rt, inputs, {"source": "test"}, dry_run=False, drill=False,
                        dedup_key=None)
    ctx = diagnosis.collect_context(rt, inputs, inc)
    pkg = diagnosis.assemble_package(inc, {n: inputs.plugins.get("collector", n)
                                           .run_collector(ctx) for n in inputs.spec.evidence})
    inc = diagnosis.record_evidence(rt, inc, pkg)
    results = [diagnosis.test_hypothesis(inputs, h, pkg) for h in inputs.spec.hypotheses]
    inc, decision = diagnosis.record_diagnosis(rt, inputs, inc, pkg, results)
    steps = DirectSteps(rt, inputs, remediation_context(rt, inputs, inc, pkg))
    return run_remediations(rt, inputs, inc, pkg, decision, steps)


@dataclass
class World:
    root: Path
    slack: FakeSlack
    rt: Runtime
    incident_id: str
    client: httpx.Client
    interactions: SlackInteractions

    def incident(self) -> Incident:
        return self.rt.ledger.get(self.incident_id)

    def posted(self, kind: str) -> list[dict[str, Any]]:
        """Accepted chat.postMessage bodies whose context line ends with ``kind``."""
        return [r.body | {"ts": r.response["ts"], "channel_id": r.response["channel"]}
                for r in self.slack.accepted("chat.postMessage")
                if str(r.body["blocks"][-1].get("elements", [{}])[0].get("text", ""))
                .endswith(f"· {kind}") or (kind == "parent" and "thread_ts" not in r.body)]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("slack-decisions")
    rng = np.random.default_rng(1)
    _frame(rng, 2000, T - timedelta(days=60)).to_parquet(root / "reference.parquet")
    (root / "current").mkdir()
    for day in range(7):  # the last day arrives with 40% of incomes missing
        _frame(rng, 144, T - timedelta(days=7 - day), nulls=0.4 if day == 6 else 0.0) \
            .to_parquet(root / "current" / f"day{day}.parquet")
    (root / "profile.yaml").write_text(PROFILE, encoding="utf-8")
    home = root / "home"
    set_clock(home, T)
    _register_model(home)
    ledger_url = f"sqlite:///{home / 'ledger.db'}"
    with FakeSlack(channels={"#data-incidents": "C0DATA0001"}) as slack:
        settings = SlackSettings(token=SecretStr(slack.token), api_url=slack.url)
        rt = Runtime(Settings(home=home, ledger_url=ledger_url).ensure(),
                     SlackNotifier(settings, Runtime(Settings(home, ledger_url)).ledger))
        inc = _run_until_approval(rt, root / "profile.yaml")
        assert inc.status is IncidentStatus.AWAITING_APPROVAL, [e.message for e in inc.timeline]
        app = create_app(ReceiverConfig(
            ledger_url=ledger_url, home=home, rules=RoutingRules.builtin(),
            credentials=credentials(), dispatch=False, slack_signing_secret=SIGNING_SECRET,
            notifier=SlackNotifier(settings, rt.ledger)))
        with ReceiverServer(app) as srv, httpx.Client(base_url=srv.url, timeout=30) as client:
            yield World(root, slack, rt, inc.id, client, app.state.slack)


def _press(w: World, user: str, action_id: str, value: str, *,
           ts_offset: int = 0, secret: str = SIGNING_SECRET) -> httpx.Response:
    """A block_actions interaction as Slack sends it, signed with slack-sdk's code."""
    ask = w.posted("approval_needed")[-1]
    payload = {"type": "block_actions", "user": {"id": user, "username": user.lower()},
               "api_app_id": "A0FAKE", "token": "deprecated-verification-token",
               "trigger_id": f"{time.time():.0f}.98765.abcdef", "response_url":
               w.slack.response_url(), "container": {"type": "message", "message_ts":
                                                     ask["ts"], "channel_id": ask["channel_id"]},
               "channel": {"id": ask["channel_id"]}, "message": {"ts": ask["ts"]},
               "actions": [{"type": "button", "action_id": action_id, "block_id":
                            "mlpb_actions", "value": value, "action_ts": "1"}]}
    return _post(w, {"payload": json.dumps(payload)}, ts_offset=ts_offset, secret=secret)


def _post(w: World, form: dict[str, str], *, ts_offset: int = 0,
          secret: str = SIGNING_SECRET) -> httpx.Response:
    body = urlencode(form)
    ts = str(int(time.time()) + ts_offset)
    sig = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    assert sig is not None
    return w.client.post("/slack/interactions", content=body, headers={
        "X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sig,
        "Content-Type": "application/x-www-form-urlencoded"})


def _button(w: World, action_id: str) -> str:
    ask = w.posted("approval_needed")[-1]
    (actions,) = [b for b in ask["blocks"] if b["type"] == "actions"]
    return str(next(e["value"] for e in actions["elements"] if e["action_id"] == action_id))


def _ephemerals(w: World) -> list[str]:
    assert w.interactions.background.join(30)
    return [str(r.body.get("text")) for r in w.slack.requests if r.method == "response_url"]


def test_approval_request_carries_buttons_pinned_to_the_plan(world: World) -> None:
    inc = world.incident()
    assert inc.approval is not None
    value = _button(world, "mlpb_approve")
    assert value == f"{inc.id}|{inc.approval.plan_hash}" == _button(world, "mlpb_reject")
    ask = world.posted("approval_needed")[-1]
    assert "<@U01ALICE>" in json.dumps(ask["blocks"]) and "<@U01BOB>" in json.dumps(ask["blocks"])
    parent = world.posted("parent")[0]
    assert "mlpb_ack" not in json.dumps(parent["blocks"])  # as opened: nobody needed yet
    shown = world.slack.message(parent["channel_id"], parent["ts"])
    assert shown is not None and "mlpb_ack" in json.dumps(shown["blocks"])  # awaiting approval


def test_forged_stale_or_unsigned_presses_get_401_and_nothing_is_recorded(world: World) -> None:
    value = _button(world, "mlpb_approve")
    forged = _press(world, "U01ALICE", "mlpb_approve", value, secret="not-the-signing-secret")
    stale = _press(world, "U01ALICE", "mlpb_approve", value, ts_offset=-301)
    unsigned = world.client.post("/slack/interactions", content=urlencode({"payload": "{}"}),
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert [r.status_code for r in (forged, stale, unsigned)] == [401, 401, 401]
    assert "invalid Slack signature" in forged.json()["error"]
    assert "stale Slack request" in stale.json()["error"]
    assert "missing Slack signature" in unsigned.json()["error"]
    inc = world.incident()
    assert inc.status is IncidentStatus.AWAITING_APPROVAL
    assert inc.approval is not None and inc.approval.decisions == []
    assert "SLACK_SIGNING_SECRET" in str(signature_problem(None, {}, b""))  # not configured


def test_unknown_slack_user_is_refused_and_recorded(world: World) -> None:
    r = _press(world, "U0STRANGER", "mlpb_approve", _button(world, "mlpb_approve"))
    assert r.status_code == 200 and "not an approver" in r.json()["text"]
    assert "owners.slack_ids" in r.json()["text"]
    assert any("U0STRANGER is not an approver" in t for t in _ephemerals(world))
    inc = world.incident()
    assert inc.status is IncidentStatus.AWAITING_APPROVAL and inc.approval is not None
    (d,) = inc.approval.decisions
    assert (d.approver, d.channel, d.accepted) == ("U0STRANGER", "slack", False)
    assert inc.timeline[-1].kind == "decision_refused"


def test_reject_asks_for_a_reason_in_a_modal(world: World) -> None:
    r = _press(world, "U01ALICE", "mlpb_reject", _button(world, "mlpb_reject"))
    assert r.status_code == 200
    (opened,) = [q for q in world.slack.requests if q.method == "views.open"]
    assert opened.response["ok"] and opened.body["trigger_id"]
    view = json.loads(opened.body["view"]) if isinstance(opened.body["view"], str) \
        else opened.body["view"]
    meta = json.loads(view["private_metadata"])
    assert meta["incident"] == world.incident_id
    # a submission by someone who may not decide keeps the modal open with the refusal
    submit = {"type": "view_submission", "user": {"id": "U0MALLORY"}, "view": {
        "callback_id": "mlpb_reject", "private_metadata": view["private_metadata"],
        "state": {"values": {"reason": {"reason": {"type": "plain_text_input",
                                                   "value": "not now"}}}}}}
    refused = _post(world, {"payload": json.dumps(submit)})
    assert refused.status_code == 200 and refused.json()["response_action"] == "errors"
    assert "mallory is not an approver" in refused.json()["errors"]["reason"]
    assert world.incident().status is IncidentStatus.AWAITING_APPROVAL


def test_signed_approve_records_the_decision_and_the_change_is_carried_out(
        world: World) -> None:
    r = _press(world, "U01ALICE", "mlpb_approve", _button(world, "mlpb_approve"))
    assert r.status_code == 200 and r.json()["text"] == f"approved {world.incident_id} as alice"
    assert world.interactions.background.join(120)
    inc = world.incident()
    assert inc.status is not IncidentStatus.AWAITING_APPROVAL
    assert inc.approval is not None and inc.approval.state == "applied"
    d = inc.approval.accepted
    assert d is not None and (d.approver, d.channel) == ("alice", "slack")
    kinds = [e.kind for e in inc.timeline]
    assert kinds.index("approved") < kinds.index("applied")  # applied after the decision
    assert not (world.root / "current" / "day6.parquet").exists()  # the batch was quarantined
    assert inc.status is IncidentStatus.ESCALATED  # contained, then the data owner's
    # the approval message lost its buttons and says who decided
    ask = world.posted("approval_needed")[-1]
    now = world.slack.message(ask["channel_id"], ask["ts"])
    assert now is not None and now.get("edited")
    assert not [b for b in now["blocks"] if b["type"] == "actions"]
    assert "Approved* by <@U01ALICE> via slack" in json.dumps(now["blocks"])


def test_a_press_on_a_decided_approval_is_refused_clearly(world: World) -> None:
    r = _press(world, "U01BOB", "mlpb_approve", _button(world, "mlpb_approve"))
    assert r.status_code == 200 and "not awaiting approval" in r.json()["text"]
    assert any("not awaiting approval" in t for t in _ephemerals(world))
    assert world.incident().timeline[-1].kind == "decision_refused"


def test_acknowledge_button_takes_the_escalated_incident(world: World) -> None:
    parent = world.posted("parent")[0]
    shown = world.slack.message(parent["channel_id"], parent["ts"])
    assert shown is not None and "mlpb_ack" in json.dumps(shown["blocks"])  # escalated: wanted
    payload = {"type": "block_actions", "user": {"id": "U0NOBODY"}, "trigger_id": "1.2.3",
               "response_url": world.slack.response_url(), "actions": [
                   {"type": "button", "action_id": "mlpb_ack", "value": world.incident_id}]}
    unknown = _post(world, {"payload": json.dumps(payload)})
    assert unknown.status_code == 200 and "not in owners.slack_ids" in unknown.json()["text"]
    assert world.incident().timeline[-1].kind == "action_refused"
    payload["user"] = {"id": "U01BOB"}
    ok = _post(world, {"payload": json.dumps(payload)})
    assert ok.status_code == 200 and "acknowledged by bob" in ok.json()["text"]
    assert world.interactions.background.join(30)
    inc = world.incident()
    assert inc.acknowledged_by == "bob" and inc.escalation is not None
    assert inc.escalation.acknowledged_by == "bob"
    shown = world.slack.message(parent["channel_id"], parent["ts"])
    assert shown is not None and "mlpb_ack" not in json.dumps(shown["blocks"])
    assert "Acknowledged by*\\n<@U01BOB>" in json.dumps(shown["blocks"])


def test_reject_with_a_reason_from_the_modal_hands_the_incident_over(world: World) -> None:
    """A second incident waiting for approval: Reject → modal → submitted reason decides."""
    from playbooks.engine.approvals import new_request
    from playbooks.engine.plugins import default_plugins
    from playbooks.engine.transitions import Event
    from playbooks.loader import CATALOG_DIR, load_profile, load_spec

    rt, profile_path = world.rt, world.root / "profile.yaml"
    spec = load_spec(CATALOG_DIR / "data-quality.yaml", default_plugins())
    inc, _ = rt.ledger.open_incident(Incident(
        id="INC-slack-reject", playbook="data-quality", playbook_version="1.0.0",
        playbook_hash="h", model="credit-risk", dedup_key="k-reject", detected_at=T,
        profile_path=str(profile_path)))
    for ev in (Event.STARTED, Event.PLANNING):
        inc = rt.record(inc, ev, ev.value)
    req = new_request(spec, load_profile(profile_path), spec.remediation("quarantine-batch"),
                      {"summary": "move 1 file"}, why="policy", evidence=[], remaining=[],
                      escalate_to=None, now=T)
    inc = rt.record(inc, Event.APPROVAL_REQUESTED, "ask", approval=req)
    value = f"{inc.id}|{req.plan_hash}"
    assert _press(world, "U01BOB", "mlpb_reject", value).status_code == 200
    opened = [q for q in world.slack.requests if q.method == "views.open"][-1]
    view = opened.body["view"]
    view = json.loads(view) if isinstance(view, str) else view
    assert json.loads(view["private_metadata"])["incident"] == inc.id
    submit = {"type": "view_submission", "user": {"id": "U01BOB"}, "view": {
        "callback_id": "mlpb_reject", "private_metadata": view["private_metadata"],
        "state": {"values": {"reason": {"reason": {"type": "plain_text_input",
                                                   "value": "the feed is being fixed"}}}}}}
    done = _post(world, {"payload": json.dumps(submit)})
    assert done.status_code == 200 and done.content == b""  # closes the modal
    after = rt.ledger.get(inc.id)
    assert after.status is IncidentStatus.ESCALATED and after.escalated_to == "ml-team"
    assert after.approval is not None and after.approval.state == "rejected"
    d = after.approval.accepted
    assert d is not None and (d.approver, d.channel, d.reason) == (
        "bob", "slack", "the feed is being fixed")
