"""tasks/prefect_context.py: the Prefect pieces the core library gets handed (DESIGN.md §4)."""

from __future__ import annotations

from pathlib import Path

import pytest
from prefect import flow
from prefect.blocks.system import Secret

from playbooks.notify import SlackNotifier
from tasks.prefect_context import flow_run_url, prefect_runtime, secret_block_token

pytestmark = pytest.mark.flows


def test_token_block_named_in_the_env_reaches_the_slack_notifier(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    Secret(value="xoxb-from-a-prefect-block").save("mlpb-test-slack-token", overwrite=True)
    assert secret_block_token("mlpb-test-slack-token") == "xoxb-from-a-prefect-block"
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    monkeypatch.setenv("MLPB_SLACK_TOKEN_BLOCK", "mlpb-test-slack-token")
    rt = prefect_runtime(str(tmp_path), quiet=True)
    assert isinstance(rt.notifier, SlackNotifier)
    assert rt.notifier._settings.token.get_secret_value() == "xoxb-from-a-prefect-block"


def test_missing_token_block_falls_back_to_the_console(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    monkeypatch.setenv("MLPB_SLACK_TOKEN_BLOCK", "mlpb-test-no-such-block")
    rt = prefect_runtime(str(tmp_path), quiet=True)
    assert not isinstance(rt.notifier, SlackNotifier)
    assert "mlpb-test-no-such-block" in caplog.text and "Slack disabled" in caplog.text


def test_run_url_is_the_flow_runs_ui_address_inside_a_run_only() -> None:
    from prefect.runtime import flow_run

    @flow
    def inside() -> tuple[str | None, str]:
        return flow_run_url(), str(flow_run.id)

    url, run_id = inside()
    assert url is not None and url.startswith("http") and url.endswith(f"/flow-run/{run_id}")
    assert flow_run_url() is None
