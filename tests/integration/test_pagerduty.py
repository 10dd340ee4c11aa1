"""PagerDuty Events API v2: the real HTTP client (httpx) against the local stand-in
(fake_pagerduty.py), driven by the engine's own people paths (page, acknowledge, resolve by
hand), through the Runtime's fan-out next to the console."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr

from playbooks.clock import set_clock
from playbooks.config import Settings
from playbooks.engine import people
from playbooks.engine.escalation import advance_people
from playbooks.engine.lifecycle import close_with_spec
from playbooks.engine.plugins import default_plugins
from playbooks.engine.runtime import Runtime
from playbooks.engine.transitions import Event
from playbooks.errors import ConfigError
from playbooks.ledger import Ledger
from playbooks.ledger.pagerduty import PagerDutyOutbox
from playbooks.loader import CATALOG_DIR, load_spec
from playbooks.models.incident import Incident, IncidentStatus, Severity
from playbooks.notify import (
    ConsoleNotifier,
    FanoutNotifier,
    PagerDutyNotifier,
    PagerDutySettings,
    find_notifier,
)
from tests.integration.fake_pagerduty import FakePagerDuty

pytestmark = pytest.mark.integration
T0 = datetime(2026, 3, 1, 9, tzinfo=UTC)
PROFILE = {"name": "credit", "owners": {"model": "ml-team", "oncall": "group:ml-oncall",
                                        "groups": {"ml-oncall": ["dana", "erin"]}},
           "data": {"reference": {"path": "r.csv"}, "current": {"path": "c.csv"}},
           "features": {"numeric": ["x"]}}


@pytest.fixture
def pd() -> Iterator[FakePagerDuty]:
    with FakePagerDuty() as server:
        yield server


def _runtime(home: Path, ledger_url: str, pd: FakePagerDuty, key: str | None = None) -> Runtime:
    set_clock(home, T0)
    settings = PagerDutySettings(routing_key=SecretStr(key or pd.routing_key), url=pd.url)
    ledger = Ledger(ledger_url)
    return Runtime(Settings(home=home, ledger_url=ledger_url).ensure(), FanoutNotifier(
        [ConsoleNotifier(quiet=True), PagerDutyNotifier(settings, ledger)]))


def _escalated(rt: Runtime, iid: str = "INC-pd-1") -> Incident:
    """An incident a run escalated: the controller pages level 1 at once."""
    path = rt.settings.home / "profile.yaml"
    path.write_text(json.dumps(PROFILE), encoding="utf-8")
    inc, _ = rt.ledger.open_incident(Incident(
        id=iid, playbook="data-drift", playbook_version="1.0.0", playbook_hash="h",
        model="credit", dedup_key=f"k-{iid}", severity=Severity.SEV1, detected_at=T0,
        profile_path=str(path)))
    inc = rt.record(inc, Event.STARTED, "run started")
    return rt.record(inc, Event.ESCALATED, "no remediation verified",
                     data={"to": "group:ml-oncall"}, escalated_to="group:ml-oncall")


def _pager(rt: Runtime) -> PagerDutyNotifier:
    pager = find_notifier(rt.notifier, PagerDutyNotifier)
    assert pager is not None
    return pager


def test_page_ack_and_resolve_reach_pagerduty_in_order(pd: FakePagerDuty, ledger_url: str,
                                                       tmp_path: Path) -> None:
    rt = _runtime(tmp_path / "home", ledger_url, pd)
    inc = _escalated(rt)
    assert pd.requests == []  # escalated, not yet paged: nothing for PagerDuty
    assert [s.action for s in advance_people(rt, inc.id)] == ["paged"]
    people.acknowledge(rt, inc.id, who="dana")
    people.acknowledge(rt, inc.id, who="erin")  # a second ack is not mirrored again
    done = people.resolve_by_hand(rt, inc.id, who="dana", note="upstream fixed the feed")
    spec = load_spec(CATALOG_DIR / "data-drift.yaml", default_plugins())
    close_with_spec(rt, spec, done, None)  # what `mlpb incidents resolve` does next

    events = pd.accepted()
    assert [e["event_action"] for e in events] == ["trigger", "acknowledge", "resolve"]
    assert {e["dedup_key"] for e in events} == {inc.id}
    assert {e["routing_key"] for e in events} == {pd.routing_key}
    trigger = events[0]["payload"]
    assert (trigger["severity"], trigger["source"], trigger["component"]) == (
        "critical", "credit", "data-drift")
    assert inc.id in trigger["summary"] and "SEV1" in trigger["summary"]
    assert trigger["custom_details"]["page_target"] == "group:ml-oncall"
    assert trigger["custom_details"]["people"] == ["dana", "erin"]
    rows = PagerDutyOutbox(rt.ledger).rows(inc.id)
    assert [(r.action, r.state, r.attempts) for r in rows] == [
        ("trigger", "sent", 1), ("acknowledge", "sent", 1), ("resolve", "sent", 1)]
    assert all(pd.routing_key not in json.dumps(r.payload) for r in rows)  # key not stored


@pytest.mark.parametrize("outage", ["429", "connection-refused"])
def test_outage_then_recovery_delivers_everything_once_in_order(
        pd: FakePagerDuty, tmp_path: Path, outage: str) -> None:
    rt = _runtime(tmp_path / "home", f"sqlite:///{tmp_path / 'l.db'}", pd)
    a, b = _escalated(rt, "INC-pd-a"), _escalated(rt, "INC-pd-b")
    if outage == "429":
        pd.fail_next(1, status=429)
    else:
        pd.stop()
    advance_people(rt, a.id)  # trigger A: refused, kept; later sends only queue for a while
    advance_people(rt, b.id)
    people.acknowledge(rt, a.id, who="dana")
    out = PagerDutyOutbox(rt.ledger)
    assert [(r.incident_id, r.action) for r in out.pending()] == [
        (a.id, "trigger"), (b.id, "trigger"), (a.id, "acknowledge")]
    first = out.pending()[0]
    assert first.attempts == 1 and first.last_error
    assert ("429" in first.last_error) if outage == "429" else (
        "cannot reach PagerDuty" in first.last_error)
    if outage == "connection-refused":
        pd.start()  # back on the same port
    before = len(pd.requests)
    rt.flush_notifications()  # e.g. the next controller pass
    sent = pd.requests[before:]
    assert all(r.status == 202 for r in sent)
    assert [(r.body["dedup_key"], r.body["event_action"]) for r in sent] == [
        (a.id, "trigger"), (a.id, "acknowledge"), (b.id, "trigger")]  # in order per incident
    assert out.pending() == []
    rt.flush_notifications()
    assert len(pd.requests) == before + 3  # each once


def test_400_is_marked_failed_with_the_api_error_and_never_resent(
        pd: FakePagerDuty, tmp_path: Path) -> None:
    wrong = "short-key-that-must-not-leak"
    rt = _runtime(tmp_path / "home", f"sqlite:///{tmp_path / 'l.db'}", pd, key=wrong)
    inc = _escalated(rt)
    advance_people(rt, inc.id)
    (row,) = PagerDutyOutbox(rt.ledger).rows(inc.id)
    assert row.state == "failed" and row.last_error is not None
    assert "HTTP 400" in row.last_error and "Length of 'routing_key' is incorrect" in \
        row.last_error and "PAGERDUTY_ROUTING_KEY" in row.last_error
    assert wrong not in row.last_error
    report = _pager(rt).flush()
    assert report.sent == 0 and report.pending == 0 and len(pd.requests) == 1
    people.acknowledge(rt, inc.id, who="dana")  # never triggered: nothing to acknowledge
    assert len(pd.requests) == 1
    assert rt.ledger.get(inc.id).status is IncidentStatus.ESCALATED  # paging never fails it


def test_runtime_adds_pagerduty_when_a_routing_key_is_set(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, pd: FakePagerDuty) -> None:
    for var in ("SLACK_BOT_TOKEN", "MLPB_SLACK_TOKEN_BLOCK", "PAGERDUTY_ROUTING_KEY",
                "MLPB_PAGERDUTY_KEY_BLOCK"):
        monkeypatch.delenv(var, raising=False)
    assert isinstance(Runtime.from_env(str(tmp_path / "a"), quiet=True).notifier,
                      ConsoleNotifier)
    monkeypatch.setenv("MLPB_PAGERDUTY_KEY_BLOCK", "pd-key")
    monkeypatch.setenv("MLPB_PAGERDUTY_URL", pd.url)
    asked: list[str] = []

    def loader(name: str) -> str:
        asked.append(name)
        return f" {pd.routing_key} "

    rt = Runtime.from_env(str(tmp_path / "b"), quiet=True, token_loader=loader)
    assert isinstance(rt.notifier, FanoutNotifier) and asked == ["pd-key"]
    assert isinstance(rt.notifier.notifiers[0], ConsoleNotifier)
    assert pd.routing_key not in repr(rt.notifier)
    inc = _escalated(rt)
    set_clock(rt.settings.home, T0)
    advance_people(rt, inc.id)
    assert [e["event_action"] for e in pd.accepted()] == ["trigger"]
    with pytest.raises(ConfigError, match="cannot load secret blocks"):
        PagerDutySettings.from_env({"MLPB_PAGERDUTY_KEY_BLOCK": "pd-key"})
