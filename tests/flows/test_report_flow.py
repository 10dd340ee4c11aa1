"""The report/weekly flow in the Prefect harness: HTML under the state dir, a markdown
artifact, and the summary posted to Slack (the local stand-in) with the HTML in its thread."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from flows.report import weekly_report
from playbooks.config import load_settings
from playbooks.ledger import Ledger
from tests.integration.fake_slack import FakeSlack
from tests.unit.test_report import NOW, seed_history

pytestmark = [pytest.mark.flows, pytest.mark.integration]


@pytest.fixture
def slack(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSlack]:
    with FakeSlack() as server:
        monkeypatch.setenv("SLACK_BOT_TOKEN", server.token)
        monkeypatch.setenv("MLPB_SLACK_API_URL", server.url)
        yield server


def test_weekly_report_publishes_html_artifact_and_slack_summary(
        home: Path, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLPB_CLOCK", (NOW + timedelta(days=1)).isoformat())
    seed_history(Ledger(load_settings(home).ensure().ledger_url))

    result = weekly_report(since="60d", home=str(home))

    html = Path(result["html"])
    assert html.parent == home / "reports" and html.read_text(encoding="utf-8").count(
        "data:image/png;base64,") >= 3
    assert result["slack"] == "posted"
    [post] = slack.accepted("chat.postMessage")
    text = post.body["text"]
    assert "production incidents since" in text and ": 3 (" in text
    assert "drills: 2" in text and "open action items: 1 (1 overdue)" in text
    [shared] = slack.uploaded().values()
    assert shared["filename"] == html.name and shared["data"] == html.read_bytes()
    assert shared["thread_ts"] == post.response["ts"]

    from prefect.artifacts import Artifact

    artifact = Artifact.get("mlpb-report")  # sync outside an event loop: the stored artifact
    assert "Production by playbook" in str(getattr(artifact, "data", ""))
