"""How long a drill may follow live monitoring, and the simulated clock it runs on."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from playbooks.clock import clock_for
from playbooks.drills.live import day_budget, sandbox_time
from playbooks.models.incident import Monitoring
from playbooks.sandbox import Sandbox

T0 = datetime(2026, 3, 1, 10, tzinfo=UTC)


def _plan(count: int, failure_limit: int, inconclusive_limit: int) -> Monitoring:
    return Monitoring(remediation_id="retrain", action="retrain", journal_seq=1, change={},
                      started_at=T0, window=timedelta(days=1), count=count,
                      failure_limit=failure_limit, inconclusive_limit=inconclusive_limit,
                      min_rows=1, criteria=[])


def test_day_budget_covers_every_window_the_plan_can_take_plus_the_label_delay() -> None:
    assert day_budget(_plan(3, 1, 2)) == 8
    assert day_budget(_plan(1, 1, 0)) == 4


def test_sandbox_time_pins_the_engine_clock_for_the_block_only(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLPB_CLOCK", raising=False)
    box = Sandbox(root=tmp_path, reference_path=tmp_path, inference_dir=tmp_path,
                  labels_dir=tmp_path, profile_path=tmp_path, model_name="m", tracking_uri="",
                  now=T0)
    with sandbox_time(box) as now:
        assert now == T0 and clock_for(tmp_path).now() == T0
    assert "MLPB_CLOCK" not in os.environ
    monkeypatch.setenv("MLPB_CLOCK", "2030-01-01T00:00:00+00:00")
    with sandbox_time(box):
        assert clock_for(tmp_path).now() == T0
    assert os.environ["MLPB_CLOCK"] == "2030-01-01T00:00:00+00:00"  # restored
