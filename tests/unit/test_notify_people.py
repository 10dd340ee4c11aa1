"""The pure parts of Slack decisions and PagerDuty: button values, signature headers,
payload parsing, channel by severity, and which PagerDuty event a notification becomes."""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

import pytest
from slack_sdk.signature import SignatureVerifier

from playbooks.models.incident import Incident, IncidentStatus, Severity
from playbooks.models.spec import Communication
from playbooks.notify import Notification
from playbooks.notify.blocks import button_value, parse_button_value
from playbooks.notify.interactions import (
    InteractionError,
    header_problem,
    parse_interaction,
    signature_problem,
)
from playbooks.notify.pagerduty import event_for

SECRET = "e0c8b1d1b1a54f0f8a0c6d4d9b0e1f22"


def _inc(status: IncidentStatus = IncidentStatus.ESCALATED,
         severity: Severity = Severity.SEV2) -> Incident:
    return Incident(id="INC-1", playbook="data-drift", playbook_version="1", playbook_hash="h",
                    model="credit", dedup_key="k", status=status, severity=severity)


def test_button_values_round_trip() -> None:
    assert parse_button_value(button_value("INC-1", "sha256:ab")) == ("INC-1", "sha256:ab")
    assert parse_button_value(button_value("INC-1")) == ("INC-1", None)


def test_signature_headers_are_checked_before_the_body() -> None:
    now = time.time()
    ts = str(int(now))
    assert "SLACK_SIGNING_SECRET" in str(header_problem(None, {}))
    assert "missing Slack signature" in str(header_problem(SECRET, {}))
    stale = {"x-slack-request-timestamp": str(int(now) - 301), "x-slack-signature": "v0=x"}
    assert "stale" in str(header_problem(SECRET, stale, now=now))
    future = {**stale, "x-slack-request-timestamp": str(int(now) + 301)}
    assert "stale" in str(header_problem(SECRET, future, now=now))
    body = b"payload=%7B%7D"
    good = {"x-slack-request-timestamp": ts,
            "x-slack-signature": SignatureVerifier(SECRET).generate_signature(
                timestamp=ts, body=body)}
    assert signature_problem(SECRET, good, body, now=now) is None
    assert "invalid Slack signature" in str(signature_problem(SECRET, good, body + b"x",
                                                              now=now))


@pytest.mark.parametrize(("payload", "message"), [
    ("not json", "form-encoded 'payload'"),
    (json.dumps({"type": "block_actions", "actions": []}), "names no user"),
    (json.dumps({"type": "shortcut", "user": {"id": "U1"}}), "unsupported interaction type"),
    (json.dumps({"type": "block_actions", "user": {"id": "U1"},
                 "actions": [{"action_id": "other", "value": "INC-1"}]}), "unknown action_id"),
    (json.dumps({"type": "view_submission", "user": {"id": "U1"},
                 "view": {"callback_id": "mlpb_reject"}}), "without its incident"),
])
def test_malformed_interactions_are_400_with_the_reason(payload: str, message: str) -> None:
    with pytest.raises(InteractionError, match=message) as err:
        parse_interaction(urlencode({"payload": payload}).encode())
    assert err.value.http_status == 400


def test_a_button_press_parses() -> None:
    press = parse_interaction(urlencode({"payload": json.dumps({
        "type": "block_actions", "user": {"id": "U01ALICE", "username": "alice"},
        "trigger_id": "1.2", "response_url": "https://hooks.slack.com/actions/x",
        "actions": [{"action_id": "mlpb_approve", "value": "INC-1|sha256:ab"}]})}).encode())
    assert (press.kind, press.incident_id, press.plan_hash, press.user_id) == (
        "approve", "INC-1", "sha256:ab", "U01ALICE")


def test_channel_by_severity() -> None:
    comm = Communication.model_validate({"channel": "#fallback",
                                         "channels": {"SEV1": "#ml-sev1",
                                                      "default": "#ml-incidents"}})
    assert [comm.channel_for(s.value) for s in Severity] == [
        "#ml-sev1", "#ml-incidents", "#ml-incidents", "#ml-incidents"]
    assert Communication(channel="#only").channel_for("SEV1") == "#only"
    with pytest.raises(ValueError, match="SEV9"):
        Communication.model_validate({"channels": {"SEV9": "#x"}})


def test_pagerduty_events_follow_pages_acks_and_closes() -> None:
    page = Notification("paged", _inc(severity=Severity.SEV3), "paging oncall",
                        data={"page": {"level": 0, "target": "oncall", "people": ["dana"]}})
    action, event = event_for(page, triggered=False, last_action=None) or ("", {})
    assert action == "trigger" and event["dedup_key"] == "INC-1"
    assert event["payload"]["severity"] == "warning" and event["payload"]["source"] == "credit"
    ack = Notification("acknowledged", _inc(), "acknowledged by dana")
    assert event_for(ack, triggered=False, last_action=None) is None  # never paged
    assert event_for(ack, triggered=True, last_action="trigger") == (
        "acknowledge", {"event_action": "acknowledge", "dedup_key": "INC-1"})
    assert event_for(ack, triggered=True, last_action="acknowledge") is None
    done = Notification("resolved", _inc(IncidentStatus.RESOLVED), "resolved")
    assert event_for(done, triggered=True, last_action="acknowledge") == (
        "resolve", {"event_action": "resolve", "dedup_key": "INC-1"})
    assert event_for(done, triggered=True, last_action="resolve") is None
    still = Notification("escalated", _inc(IncidentStatus.ESCALATED), "escalated")
    assert event_for(still, triggered=True, last_action="trigger") is None  # a person is needed
