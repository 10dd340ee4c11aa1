"""Charts into the incident's Slack thread: real slack-sdk ``files_upload_v2`` over real
HTTP against the local stand-in (its three steps: upload URL, bytes, complete)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from playbooks.charts import drift_statistic_chart
from playbooks.ledger import Ledger, Outbox
from playbooks.models.incident import Incident, IncidentStatus
from playbooks.notify import Notification, SlackNotifier, SlackSettings
from playbooks.notify.uploads import SHARED_EVENT, incident_chart_files, share_charts
from tests.integration.fake_slack import FakeSlack

pytestmark = pytest.mark.integration


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as server:
        yield server


def _closed_incident(tmp_path: Path, ledger: Ledger, slack: FakeSlack) -> Incident:
    """An incident whose thread Slack has (opened notification delivered) and whose
    post-mortem folder holds two real charts."""
    pm = tmp_path / "postmortems"
    inc = Incident(id="INC-20260101-charts", playbook="data-drift", playbook_version="1.0.0",
                   playbook_hash="h", model="credit-risk", owner="U0ONCALL1", dedup_key="k",
                   status=IncidentStatus.INVESTIGATING,
                   postmortem_path=str(pm / "INC-20260101-charts.md"))
    inc = ledger.open_incident(inc)[0]
    notifier = SlackNotifier(_settings(slack), ledger, postmortem_dir=pm)
    notifier.send(Notification("opened", inc, "drift suspected", ["trigger: test"]))
    drift = [{"feature": f"f{i}", "psi": 0.1 * i} for i in range(5)]
    for name in ("drift-statistics", "distributions"):
        drift_statistic_chart(drift, 0.2, pm / inc.id / f"{name}.png")
    return inc


def _settings(slack: FakeSlack) -> SlackSettings:
    return SlackSettings(token=SecretStr(slack.token), api_url=slack.url)


def test_charts_land_in_the_incident_thread_once(tmp_path: Path, slack: FakeSlack) -> None:
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    inc = _closed_incident(tmp_path, ledger, slack)
    thread = Outbox(ledger).thread(inc.id)
    assert thread is not None and thread.ts is not None

    report = share_charts(ledger, inc, settings=_settings(slack))

    assert report.uploaded == ["distributions.png", "drift-statistics.png"], report
    files = slack.uploaded()
    assert {f["filename"] for f in files.values()} == set(report.uploaded)
    on_disk = {p.name: p.read_bytes() for p in incident_chart_files(inc)}
    for f in files.values():  # the bytes arrived whole, shared into the incident's thread
        assert f["data"] == on_disk[f["filename"]] and f["data"][:4] == b"\x89PNG"
        assert (f["channel"], f["thread_ts"]) == (thread.channel_id, thread.ts)
    shares = [m for m in slack.thread(thread.channel_id or "", thread.ts)
              if m.get("subtype") == "file_share"]
    assert len(shares) == 1 and len(shares[0]["files"]) == 2
    assert [r.method for r in slack.requests if r.method.startswith(("files.", "upload"))] == [
        "files.getUploadURLExternal", "files.getUploadURLExternal", "upload", "upload",
        "files.completeUploadExternal"]

    again = share_charts(ledger, inc, settings=_settings(slack))
    assert again.skipped and not again.uploaded
    assert [e.kind for e in ledger.events(inc.id)].count(SHARED_EVENT) == 1


def test_a_refused_upload_says_what_to_fix_and_records_nothing(tmp_path: Path,
                                                               slack: FakeSlack) -> None:
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    inc = _closed_incident(tmp_path, ledger, slack)
    slack.fail_next(1, status=200, error="missing_scope")

    report = share_charts(ledger, inc, settings=_settings(slack))

    assert report.error and "files:write" in report.error and not report.uploaded
    assert SHARED_EVENT not in [e.kind for e in ledger.events(inc.id)]
    assert share_charts(ledger, inc, settings=None).skipped  # no token: nothing tried
