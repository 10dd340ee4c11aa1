"""Streamed drift equals the one-pass drift: batches of the window accumulate to the same
PSI, KS, W1 (numeric, on the reference grid) and PSI/JS (categorical) as compute_drift on
the whole window, and ``stream_window`` reads a window in bounded batches."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from playbooks.data import WindowNeeds, load_windows
from playbooks.errors import MlpbError
from playbooks.evidence.collect import collect_feature_drift
from playbooks.stats import DriftThresholds, compute_drift, fit_reference
from playbooks.stats.streaming import DriftAccumulator
from tests.unit.test_data_windows import _profile, _write_log

NUMERIC, CATEGORICAL = ["a", "b", "c", "k"], ["colour"]


def _frame(n: int, seed: int, *, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "a": rng.normal(shift, 1.0, n), "b": rng.lognormal(0.0, 0.5, n) * (1 + shift),
        "c": rng.poisson(3.0, n).astype(float), "k": np.full(n, 2.0),
        "colour": rng.choice(["red", "blue", "green"] + (["plum"] if shift else []), n)})
    frame.loc[rng.random(n) < 0.05, "a"] = np.nan
    return frame


@pytest.mark.parametrize("shift", [0.0, 0.4])
def test_batches_add_up_to_the_one_pass_report(shift: float) -> None:
    t = DriftThresholds()
    ref = fit_reference(_frame(20_000, 1), NUMERIC, CATEGORICAL, t)
    current = _frame(30_000, 2, shift=shift)
    whole = compute_drift(ref, current, t)
    acc = DriftAccumulator(ref)
    for part in np.array_split(np.arange(len(current)), 7):
        acc.add(current.iloc[part])
    streamed = acc.report(t)
    grid_step = 1.0 / 1000
    for w, s in zip(whole.features, streamed.features, strict=True):
        assert (w.feature, w.status, w.n_current) == (s.feature, s.status, s.n_current)
        for stat in ("psi", "ks", "wasserstein_normed", "js"):
            a, b = getattr(w, stat), getattr(s, stat)
            assert (a is None) == (b is None), (w.feature, stat)
            if a is not None and b is not None:
                assert b == pytest.approx(a, rel=1e-9, abs=1e-12), (w.feature, stat)
        assert s.unseen_categories == w.unseen_categories
        assert [x[0] for x in s.top_category_shift] == [x[0] for x in w.top_category_shift]
        assert [x[1:] for x in s.top_category_shift] == [
            pytest.approx(x[1:]) for x in w.top_category_shift]
        if w.kind == "numeric":
            assert s.current_summary["mean"] == pytest.approx(w.current_summary["mean"], rel=1e-6)
            assert s.current_summary["std"] == pytest.approx(w.current_summary["std"], rel=1e-4)
            # Quantiles come from the ECDF at the reference grid: within one grid interval.
            row = ref.numeric.columns.index(w.feature)
            spread = float(np.max(np.diff(ref.numeric.grid[row]))) + 1e-12
            for q in ("p5", "p50", "p95"):
                assert abs(s.current_summary[q] - w.current_summary[q]) <= spread + grid_step
    assert [f.feature for f in streamed.drifted()] == [f.feature for f in whole.drifted()]
    assert bool(streamed.drifted()) == bool(shift)


def test_a_window_over_the_budget_is_sampled_and_its_drift_streamed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write_log(tmp_path)
    prof = _profile(tmp_path)
    needs = WindowNeeds(timedelta(days=3), "window")
    whole = load_windows(prof, needs=needs)
    assert whole.stream is None  # 3 days x 240 rows: far below the default budget
    monkeypatch.setenv("MLPB_MEMORY_BUDGET", "8KiB")
    data = load_windows(prof, needs=needs)
    assert data.stream is not None and data.stream.every > 1
    assert len(data.current) == pytest.approx(len(whole.current) / data.stream.every, abs=2)
    assert data.refs["current"].rows == len(whole.current)
    assert "1-in-" in data.refs["current"].name
    t = DriftThresholds(min_rows=10)
    rows, metrics = collect_feature_drift(prof, data, t)
    expected, expected_metrics = collect_feature_drift(prof, whole, t)
    assert metrics == pytest.approx(expected_metrics)
    assert [(r["feature"], r["status"]) for r in rows] == [
        (r["feature"], r["status"]) for r in expected]
    monkeypatch.setenv("MLPB_MEMORY_BUDGET", "lots")
    with pytest.raises(MlpbError, match="not a size"):
        load_windows(prof, needs=needs)
