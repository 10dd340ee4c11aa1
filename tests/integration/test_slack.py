"""The Slack notifier: real slack-sdk over real HTTP against the local fake (fake_slack.py)."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from playbooks.config import Settings
from playbooks.engine.runtime import Runtime
from playbooks.errors import ConfigError
from playbooks.ledger import Ledger, Outbox
from playbooks.models.incident import (
    ApprovalRequest,
    CriterionResult,
    HypothesisResult,
    Incident,
    IncidentStatus,
    RootCause,
    Severity,
    Verdict,
    Verification,
    utcnow,
)
from playbooks.notify import ConsoleNotifier, Notification, NotifyKind, SlackNotifier, SlackSettings
from playbooks.notify.reminders import due_reminders, send_reminders
from tests.integration.fake_slack import FakeSlack, Recorded

pytestmark = pytest.mark.integration

PARENT_CHANNEL = "C0MLINC01"


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as server:
        yield server


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    return Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")


@pytest.fixture
def any_ledger(ledger_url: str) -> Ledger:
    """SQLite and PostgreSQL (skipped with a reason when MLPB_TEST_POSTGRES_URL is unset)."""
    return Ledger(ledger_url)


def _settings(slack: FakeSlack, **kw: Any) -> SlackSettings:
    return SlackSettings(token=SecretStr(kw.pop("token", slack.token)), api_url=slack.url, **kw)


def _notifier(slack: FakeSlack, ledger: Ledger, tmp_path: Path, **kw: Any) -> SlackNotifier:
    return SlackNotifier(_settings(slack, **kw), ledger, postmortem_dir=tmp_path / "postmortems")


def _incident(ledger: Ledger, iid: str = "INC-20250101-aaaaaa") -> Incident:
    inc = Incident(id=iid, playbook="data-drift", playbook_version="1.0.0", playbook_hash="h",
                   model="credit-risk", model_version="3", owner="U0ONCALL1",
                   dedup_key=f"k-{iid}", status=IncidentStatus.INVESTIGATING)
    return ledger.open_incident(inc)[0]


def _note(kind: NotifyKind, inc: Incident, *lines: str, **kw: Any) -> Notification:
    return Notification(kind, inc, kw.pop("title", f"{kind} title"), list(lines), **kw)


def _posts(slack: FakeSlack) -> list[Recorded]:
    return slack.accepted("chat.postMessage")


def _kind(r: Recorded) -> str:
    """The notification kind of a reply (its context line ends with it)."""
    return str(r.body["blocks"][-1]["elements"][0]["text"]).rsplit(" · ", 1)[-1]


# -- 1. a whole incident ------------------------------------------------------------------
def test_whole_incident_is_one_parent_with_an_ordered_thread(
        slack: FakeSlack, any_ledger: Ledger, tmp_path: Path) -> None:
    n = _notifier(slack, any_ledger, tmp_path)
    inc = _incident(any_ledger)
    hyps = [HypothesisResult(id="population-shift", check="population-shift",
                             verdict=Verdict.SUPPORTED, confidence=0.9, summary="3 drifted"),
            HypothesisResult(id="no-material-drift", check="no-material-drift",
                             verdict=Verdict.REFUTED, confidence=0.1, summary="drift is real")]
    pm = tmp_path / "postmortems" / f"{inc.id}.md"
    pm.parent.mkdir(parents=True)
    pm.write_text("# Post-mortem\n\n## Summary\n\nRoot cause: **population-shift**\n\n"
                  "## Timeline (UTC)\n\n| a | b |\n", encoding="utf-8")
    mlflow = "https://mlflow.example/#/models/credit-risk/versions/3"
    steps: list[tuple[NotifyKind, dict[str, Any]]] = [
        ("opened", {}),
        ("evidence", {}),
        ("hypotheses", {"hypotheses": hyps, "severity": Severity.SEV3}),
        ("root_cause", {"root_cause": RootCause(hypothesis_id="population-shift",
                                                confidence=0.9, summary="3 drifted")}),
        ("remediation_plan", {"status": IncidentStatus.REMEDIATING}),
        ("verification", {"verification": Verification(passed=True, criteria=[CriterionResult(
            id="auc-floor", metric="roc_auc", op=">=", target=0.7, observed=0.8, passed=True)])}),
        ("resolved", {"status": IncidentStatus.RESOLVED, "postmortem_path": str(pm),
                      "resolved_at": utcnow()}),
    ]
    for kind, changes in steps:
        inc = inc.model_copy(update=changes)
        n.send(_note(kind, inc, f"{kind} detail", data={"links": {"MLflow model": mlflow}}))

    parents = [r for r in _posts(slack) if "thread_ts" not in r.body]
    assert len(parents) == 1
    parent = parents[0]
    assert parent.body["channel"] == "#ml-incidents"  # the data-drift spec's channel
    ts = parent.response["ts"]
    replies = [r for r in _posts(slack) if "thread_ts" in r.body]
    assert [_kind(r) for r in replies] == [k for k, _ in steps]
    assert {(r.body["channel"], r.body["thread_ts"]) for r in replies} == {(PARENT_CHANNEL, ts)}
    assert all(r.response["ok"] for r in slack.requests)
    # status changes edit the parent in place (severity, remediating, resolved + root cause)
    updates = slack.accepted("chat.update")
    assert len(updates) >= 3
    assert {(u.body["channel"], u.body["ts"]) for u in updates} == {(PARENT_CHANNEL, ts)}
    assert "resolved" in updates[-1].body["text"]
    assert slack.requests[0].method == "chat.postMessage" and slack.requests[0] is parent
    resolved = replies[-1].body["blocks"]
    assert any("population-shift" in str(b) for b in resolved)  # post-mortem summary
    assert "<@U0ONCALL1>" in str(parent.body["blocks"])  # owner mention
    assert f"<{mlflow}|MLflow model>" in str(parent.body["blocks"])
    # every row delivered once and marked with Slack's ts
    rows = Outbox(any_ledger).rows(inc.id)
    assert all(r.sent_at and r.slack_ts and r.attempts == 1 for r in rows)

    # after a restart (new notifier, same ledger) replies still thread under the parent
    n2 = _notifier(slack, any_ledger, tmp_path)
    n2.send(_note("escalated", inc.model_copy(update={"escalated_to": "data-team"}), "late"))
    assert _posts(slack)[-1].body["thread_ts"] == ts
    assert len([r for r in _posts(slack) if "thread_ts" not in r.body]) == 1


# -- 2. rate limit ------------------------------------------------------------------------
def test_429_is_retried_after_retry_after_and_delivered_once(
        slack: FakeSlack, ledger: Ledger, tmp_path: Path) -> None:
    n = _notifier(slack, ledger, tmp_path)
    inc = _incident(ledger)
    slack.fail_next(1, status=429, retry_after=1)
    n.send(_note("opened", inc))
    first, second = slack.requests[0], slack.requests[1]
    assert first.status == 429 and first.response == {"ok": False, "error": "ratelimited"}
    assert second.response["ok"] and second.method == "chat.postMessage"
    assert second.at - first.at >= 1.0  # waited Retry-After
    assert len([r for r in _posts(slack) if "thread_ts" not in r.body]) == 1
    assert len(_posts(slack)) == 2  # parent + the 'opened' reply, each once
    assert Outbox(ledger).pending() == []


# -- 3. outage ----------------------------------------------------------------------------
@pytest.mark.parametrize("outage", ["connection-refused", "http-500"])
def test_outage_keeps_messages_and_flush_delivers_each_once_in_order(
        slack: FakeSlack, any_ledger: Ledger, tmp_path: Path, outage: str) -> None:
    n = _notifier(slack, any_ledger, tmp_path)
    a, b = _incident(any_ledger, "INC-A"), _incident(any_ledger, "INC-B")
    if outage == "connection-refused":
        slack.stop()
    else:
        slack.fail_next(1000, status=500)
    kinds: list[NotifyKind] = ["opened", "evidence", "hypotheses"]
    for kind in kinds:  # interleaved incidents; the playbook never sees an error
        n.send(_note(kind, a, f"A {kind}"))
        b_now = b if kind == "opened" else b.model_copy(update={"severity": Severity.SEV2})
        n.send(_note(kind, b_now, f"B {kind}"))
    out = Outbox(any_ledger)
    pending = out.pending()
    assert len(pending) == 2 * (1 + len(kinds)) + 1  # parents, replies, B's severity update
    assert all(r.sent_at is None for r in pending)
    assert any(r.last_error and "mlpb notify flush" in r.last_error for r in pending)

    if outage == "connection-refused":
        slack.start()  # back on the same port
    else:
        slack.recover()
    before = len(slack.requests)
    report = _notifier(slack, any_ledger, tmp_path).flush()  # e.g. the next run's start
    assert report.sent == len(pending) and report.pending == 0 and not report.errors
    sent = slack.requests[before:]
    assert all(r.response["ok"] for r in sent) and len(sent) == len(pending)
    for iid in ("INC-A", "INC-B"):
        mine = [r for r in sent if iid in r.body["text"]]
        assert mine[0].method == "chat.postMessage" and "thread_ts" not in mine[0].body
        ts = mine[0].response["ts"]
        replies = [r for r in mine if r.method == "chat.postMessage"][1:]
        assert [_kind(r) for r in replies] == kinds
        assert [r.method for r in mine].count("chat.update") == (iid == "INC-B")
        assert {r.body["thread_ts"] for r in replies} == {ts}
    assert [r.seq for r in out.rows() if r.sent_at] == [r.seq for r in pending]

    again = _notifier(slack, any_ledger, tmp_path).flush()
    assert again.sent == 0 and len(slack.requests) == before + len(pending)


# -- 4. limits ----------------------------------------------------------------------------
def _check_limits(body: dict[str, Any]) -> None:
    blocks = body["blocks"]
    assert len(blocks) <= 50 and len(body["text"]) <= 40_000
    for b in blocks:
        if b["type"] == "header":
            assert len(b["text"]["text"]) <= 150
        if b["type"] == "section":
            assert len(b.get("text", {}).get("text", "")) <= 3000
            assert all(len(f["text"]) <= 2000 for f in b.get("fields", []))


def test_oversized_content_is_truncated_with_a_pointer(
        slack: FakeSlack, ledger: Ledger, tmp_path: Path) -> None:
    n = _notifier(slack, ledger, tmp_path)
    inc = _incident(ledger).model_copy(update={"hypotheses": [
        HypothesisResult(id=f"hypothesis-{i}", check="c", verdict=Verdict.INCONCLUSIVE,
                         confidence=0.5, summary="s" * 200) for i in range(300)]})
    huge = "x" * 10_000
    pm = tmp_path / "pm.md"
    pm.write_text("# PM\n## Summary\n" + "\n".join(["y" * 500] * 60), encoding="utf-8")
    n.send(_note("opened", inc, huge, title="T" * 400))
    n.send(_note("hypotheses", inc, *[huge] * 5))
    n.send(_note("evidence", inc, huge, huge, huge))
    n.send(_note("resolved", inc.model_copy(update={
        "status": IncidentStatus.RESOLVED, "postmortem_path": str(pm)}), huge))
    assert Outbox(ledger).pending() == []
    assert all(r.response["ok"] for r in slack.requests)  # the fake enforces Slack's limits
    for r in slack.requests:
        _check_limits(r.body)
    pointer = f"… truncated; full post-mortem: {tmp_path / 'postmortems' / (inc.id + '.md')}"
    hyp = next(r for r in _posts(slack) if r.body.get("thread_ts") and _kind(r) == "hypotheses")
    assert any(pointer in str(b) for b in hyp.body["blocks"])
    assert pointer in hyp.body["text"]
    resolved = _posts(slack)[-1]
    assert any(f"… truncated; full post-mortem: {pm}" in str(b) for b in resolved.body["blocks"])


# -- 5. permanent errors and the token --------------------------------------------------
def test_invalid_auth_is_recorded_clearly_and_never_raises_or_leaks_the_token(
        slack: FakeSlack, ledger: Ledger, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "xoxb-0000-very-secret-wrong-token"
    n = _notifier(slack, ledger, tmp_path, token=secret)
    rt = Runtime(Settings(home=tmp_path, ledger_url=ledger.url), n)
    inc = _incident(ledger)
    rt.notify(_note("opened", inc))  # must not raise
    rt.notify(_note("evidence", inc))
    assert [r.response["error"] for r in slack.requests] == ["invalid_auth"]  # then held
    row = Outbox(ledger).pending()[0]
    assert row.last_error is not None
    assert row.last_error.startswith("invalid_auth: ") and "SLACK_BOT_TOKEN" in row.last_error
    assert "notify_failed" not in [e.kind for e in ledger.events(inc.id)]
    texts = [row.last_error, caplog.text, repr(n), repr(n._settings), str(n._settings),
             *(str(r.payload) for r in Outbox(ledger).rows()), *n.flush().errors]
    assert all(secret not in t for t in texts)
    assert "invalid_auth" in caplog.text


def test_channel_not_found_blocks_only_its_incident(
        slack: FakeSlack, ledger: Ledger, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    n = _notifier(slack, ledger, tmp_path)
    rt = Runtime(Settings(home=tmp_path, ledger_url=ledger.url), n)
    lost, fine = _incident(ledger, "INC-LOST"), _incident(ledger, "INC-FINE")
    rt.notify(_note("opened", lost, channel="#does-not-exist"))
    rt.notify(_note("opened", fine))
    rt.notify(_note("evidence", lost))
    report = n.flush()
    assert report.sent == 0 and report.pending == 3
    (err,) = report.errors
    assert "channel_not_found" in err and "#does-not-exist" in err and "invite" in err
    assert [_kind(r) for r in _posts(slack) if "thread_ts" in r.body] == ["opened"]
    assert all("INC-FINE" in r.body["text"] for r in _posts(slack))
    rows = Outbox(ledger).pending()
    assert {r.incident_id for r in rows} == {"INC-LOST"}
    assert rows[0].attempts >= 2 and "channel_not_found" in (rows[0].last_error or "")
    assert slack.token not in caplog.text


# -- 6. selection -------------------------------------------------------------------------
def test_runtime_picks_console_without_a_token_and_slack_with_one(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, slack: FakeSlack) -> None:
    for var in ("SLACK_BOT_TOKEN", "MLPB_SLACK_TOKEN_BLOCK"):
        monkeypatch.delenv(var, raising=False)
    assert isinstance(Runtime.from_env(str(tmp_path / "a"), quiet=True).notifier, ConsoleNotifier)
    monkeypatch.setenv("SLACK_BOT_TOKEN", slack.token)
    monkeypatch.setenv("MLPB_SLACK_API_URL", slack.url)
    rt = Runtime.from_env(str(tmp_path / "b"), quiet=True)
    assert isinstance(rt.notifier, SlackNotifier) and slack.token not in repr(rt)
    assert rt.notifier.check()["team"] == "Fake"  # auth.test
    rt.flush_notifications()  # nothing queued: a no-op that never raises


def test_token_block_is_resolved_by_the_loader_passed_in(tmp_path: Path) -> None:
    env = {"MLPB_SLACK_TOKEN_BLOCK": "slack-bot-token"}
    asked: list[str] = []

    def loader(name: str) -> str:
        asked.append(name)
        return " xoxb-from-block "

    settings = SlackSettings.from_env(env, token_loader=loader)
    assert settings is not None and settings.token.get_secret_value() == "xoxb-from-block"
    assert asked == ["slack-bot-token"]
    # SLACK_BOT_TOKEN wins and the block is never loaded
    direct = SlackSettings.from_env({**env, "SLACK_BOT_TOKEN": "xoxb-direct"}, token_loader=loader)
    assert direct is not None and direct.token.get_secret_value() == "xoxb-direct"
    assert asked == ["slack-bot-token"]


def test_unloadable_token_block_is_a_config_error_naming_the_block(tmp_path: Path) -> None:
    env = {"MLPB_SLACK_TOKEN_BLOCK": "slack-bot-token"}
    with pytest.raises(ConfigError, match="cannot load secret blocks") as no_loader:
        SlackSettings.from_env(env)
    assert "SLACK_BOT_TOKEN" in (no_loader.value.hint or "")

    def broken(name: str) -> str:
        raise ValueError(f"block {name} holds xoxb-do-not-print")

    with pytest.raises(ConfigError, match="'slack-bot-token'") as failed:
        SlackSettings.from_env(env, token_loader=broken)
    assert "xoxb-do-not-print" not in str(failed.value) and failed.value.__cause__ is None


def test_run_link_comes_from_the_provider_passed_in(
        slack: FakeSlack, ledger: Ledger, tmp_path: Path) -> None:
    url = "http://127.0.0.1:4200/runs/flow-run/0b5e"
    n = SlackNotifier(_settings(slack), ledger, run_url=lambda: url)
    n.send(_note("opened", _incident(ledger)))
    assert f"<{url}|Prefect flow run>" in str(_posts(slack)[0].body["blocks"])

    def no_run() -> str | None:
        raise RuntimeError("no flow run context")

    quiet = SlackNotifier(_settings(slack), ledger, run_url=no_run)
    quiet.send(_note("opened", _incident(ledger, "INC-NORUN")))  # no link, still delivered
    parent = _posts(slack)[-2]
    assert "INC-NORUN" in parent.body["text"] and "Prefect flow run" not in str(parent.body)


def test_playbooks_slack_does_not_import_prefect() -> None:
    code = "import sys, playbooks.notify.slack, playbooks.notify.reminders; " \
           "sys.exit('prefect' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


# -- status cadence -----------------------------------------------------------------------
def test_waiting_incident_gets_a_reminder_every_status_every(
        slack: FakeSlack, any_ledger: Ledger, tmp_path: Path) -> None:
    n = _notifier(slack, any_ledger, tmp_path)
    inc = _incident(any_ledger)
    n.send(_note("opened", inc))
    n.send(_note("approval_needed", inc, "promote v4"))
    now = utcnow()
    assert due_reminders(any_ledger, now) == []
    later = now + timedelta(minutes=31)  # data-drift: status_every 30m
    (due,) = due_reminders(any_ledger, later)
    assert due.incident_id == inc.id and due.waiting_for == "approval"
    assert send_reminders(any_ledger, n, later) == [due]
    reminder = _posts(slack)[-1]
    assert _kind(reminder) == "reminder" and "Still waiting for approval" in str(reminder.body)
    assert reminder.body["thread_ts"] == _posts(slack)[0].response["ts"]
    assert due_reminders(any_ledger, later + timedelta(minutes=5)) == []
    assert len(due_reminders(any_ledger, later + timedelta(minutes=30))) == 1
    n.send(_note("escalated", inc.model_copy(update={"status": IncidentStatus.ESCALATED})))
    assert due_reminders(any_ledger, later + timedelta(hours=5)) == []


# -- channel by severity ------------------------------------------------------------------
def test_severity_picks_the_channel_and_a_raise_moves_the_thread(
        slack: FakeSlack, ledger: Ledger, tmp_path: Path) -> None:
    """communication.channels {SEV1: '#ml-sev1', default: '#ml-incidents'}: raised to SEV1,
    the incident gets a new parent in #ml-sev1 linking back, the old thread says where it
    went, the pending approval's buttons move along; lowered again, it stays."""
    spec = tmp_path / "drift-by-severity.yaml"
    text = (Path(__file__).parents[2] / "playbooks/catalog/data-drift.yaml").read_text()
    spec.write_text(text.split("\ncommunication:")[0] + "\ncommunication: {channels: "
                    "{SEV1: '#ml-sev1', default: '#ml-incidents'}}\n", encoding="utf-8")
    profile = tmp_path / "profile.yaml"
    profile.write_text(
        "name: credit-risk\nowners: {model: ml-team, approvers: [alice, 'group:leads'], "
        "groups: {leads: [bob]}, slack_ids: {alice: U01ALICE, bob: U01BOB}}\n"
        "data: {reference: {path: r.csv}, current: {path: c.csv}}\n"
        "features: {numeric: [x]}\n", encoding="utf-8")
    n = _notifier(slack, ledger, tmp_path)
    inc = _incident(ledger).model_copy(update={
        "playbook": str(spec), "severity": Severity.SEV3, "profile_path": str(profile)})
    now = utcnow()
    asking = inc.model_copy(update={"status": IncidentStatus.AWAITING_APPROVAL,
                                    "approval": ApprovalRequest(
        remediation_id="retrain", action="retrain", risk="high", plan={},
        plan_hash="sha256:" + "a" * 64, why="policy", approvers=["alice", "group:leads"],
        requested_at=now, due_at=now + timedelta(hours=4))})
    n.send(_note("opened", inc))
    n.send(_note("approval_needed", asking, data={"plan_hash": "sha256:" + "a" * 64}))
    old_parent, ask = _posts(slack)[0], _posts(slack)[-1]
    assert old_parent.body["channel"] == "#ml-incidents"
    assert "<@U01ALICE>" in str(ask.body["blocks"]) and "leads (<@U01BOB>)" in str(
        ask.body["blocks"])
    old_ts = old_parent.response["ts"]

    before = len(slack.requests)
    n.send(_note("evidence", asking.model_copy(update={"severity": Severity.SEV1})))
    moved = slack.requests[before:]
    assert [r.method for r in moved] == ["chat.update", "chat.postMessage", "chat.postMessage",
                                         "chat.postMessage", "chat.postMessage"]
    edit, note, parent, again, reply = moved
    assert (edit.body["channel"], edit.body["ts"]) == (PARENT_CHANNEL, ask.response["ts"])
    assert "actions" not in str([b["type"] for b in edit.body["blocks"]])
    assert "moved to #ml-sev1" in str(edit.body["blocks"])
    assert note.body["thread_ts"] == old_ts and "moved to #ml-sev1" in note.body["text"]
    assert parent.body["channel"] == "#ml-sev1" and "thread_ts" not in parent.body
    link = f"https://slack.com/archives/{PARENT_CHANNEL}/p{old_ts.replace('.', '')}"
    assert link in str(parent.body["blocks"])
    new_ts = parent.response["ts"]
    assert again.body["thread_ts"] == new_ts and _kind(again) == "approval_needed"
    assert "mlpb_approve" in str(again.body["blocks"])  # decide in the new thread
    assert reply.body["thread_ts"] == new_ts and _kind(reply) == "evidence"

    before = len(slack.requests)  # lowered: it stays where it is
    n.send(_note("hypotheses", asking.model_copy(update={"severity": Severity.SEV3})))
    later = slack.requests[before:]
    assert [r.method for r in later] == ["chat.update", "chat.postMessage"]
    assert later[0].body["ts"] == new_ts and later[1].body["thread_ts"] == new_ts
    assert all(r.response["ok"] for r in slack.requests)
