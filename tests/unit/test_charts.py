"""Charts are PNG files made without a display; each returns None when it has nothing to
show (a chart of nothing would mislead), and the row samples survive a broken feed."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from playbooks.archive import keep_samples, load_samples
from playbooks.charts import distribution_chart, drift_statistic_chart, serving_chart
from playbooks.charts.drift import score_chart, top_drifted
from playbooks.data.io import DataWindows
from playbooks.models.profile import ModelProfile
from tests.unit._support import T0

PNG = b"\x89PNG\r\n\x1a\n"


def test_serving_chart_draws_latency_and_errors_against_the_slos(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    log = pd.DataFrame({"ts": [T0 + timedelta(minutes=5 * i) for i in range(600)],
                        "latency_ms": rng.gamma(2, 40, 600),
                        "status": rng.choice(["ok", "ok", "ok", "error"], 600)})
    chart = serving_chart(log, tmp_path / "serving.png", timestamp="ts", latency="latency_ms",
                          status="status", p95_slo_ms=200, error_slo=0.05)
    assert chart is not None and chart.path.read_bytes()[:8] == PNG
    assert serving_chart(log, tmp_path / "none.png", timestamp="ts", latency=None) is None
    assert not (tmp_path / "none.png").exists()


def test_charts_of_nothing_are_not_drawn(tmp_path: Path) -> None:
    assert drift_statistic_chart([{"feature": "x", "psi": None}], 0.2, tmp_path / "a.png") is None
    empty = pd.DataFrame({"x": []})
    assert distribution_chart(empty, empty, [{"feature": "y"}], tmp_path / "b.png") is None
    assert score_chart(pd.Series([], dtype=float), pd.Series([0.2]), tmp_path / "c.png") is None
    assert list(tmp_path.iterdir()) == []


def test_top_drifted_puts_drifted_features_first() -> None:
    rows = [{"feature": "a", "status": "ok", "psi": 0.9},
            {"feature": "b", "status": "drift", "psi": 0.3},
            {"feature": "c", "status": "drift", "psi": 0.5}]
    assert [d["feature"] for d in top_drifted(rows, 2)] == ["c", "b"]


def test_samples_of_a_feed_with_mixed_types_are_kept_as_text(tmp_path: Path) -> None:
    profile = ModelProfile.model_validate({
        "name": "m", "data": {"timestamp": "ts", "reference": {"path": "r.csv"},
                              "current": {"path": "c.csv"}},
        "features": {"numeric": ["x"], "categorical": ["code"]}})
    ts = [T0 + timedelta(hours=i) for i in range(10)]
    mixed = pd.DataFrame({"ts": ts, "x": range(10), "code": [1, "a", 2.5, None, "b"] * 2})
    data = DataWindows(reference=mixed, log=mixed, current=mixed.iloc[5:], labelled=None)
    assert keep_samples(tmp_path, "INC-M", data, profile) is not None
    kept = load_samples(tmp_path, "INC-M")
    assert kept is not None
    codes = [None if pd.isna(v) else v for v in kept.frames["current"]["code"]]
    assert codes == ["1", "a", "2.5", None, "b"]
    assert len(kept.frames["baseline"]) == 4  # the window spans 4 h: the 4 h before it
