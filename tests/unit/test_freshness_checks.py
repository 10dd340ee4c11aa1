"""Freshness evidence, its three competing hypotheses and the mark-window remediation on small
synthetic logs (pure; the marks file lives in a temp dir)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from playbooks.data.io import DataWindows
from playbooks.evidence.freshness import assess_freshness, reference_now
from playbooks.loader import CATALOG_DIR, load_spec
from playbooks.models import EvidencePackage, HypothesisResult, ModelProfile, Verdict
from playbooks.remediations.base import RemediationContext
from playbooks.remediations.mark_window import MarkWindow, MarkWindowParams, read_marks
from tests.unit._support import ranked_hypotheses

END = datetime(2026, 3, 15, tzinfo=UTC)
SPEC = load_spec(CATALOG_DIR / "data-freshness.yaml")


def _profile(base: Path = Path(".")) -> ModelProfile:
    return ModelProfile.model_validate({
        "name": "credit", "data": {"timestamp": "ts", "reference": {"path": "r.csv"},
                                   "current": {"path": "c.csv", "window": "7d"}},
        "features": {"numeric": ["x"]}, "slo": {"max_staleness": "1d"}}).model_copy(
        update={"base_dir": base})


def _log(days: int = 14, per_day: int = 200, drop: tuple[int, ...] = (),
         thin: tuple[int, ...] = (), stop_days_ago: int = 0) -> DataWindows:
    """``per_day`` rows a day over ``days`` days to END; ``drop``/``thin`` are days-ago."""
    rng = np.random.default_rng(0)
    frames = []
    for ago in range(days, 0, -1):
        if ago in drop or ago <= stop_days_ago:
            continue
        n = per_day // 5 if ago in thin else per_day
        day = END - timedelta(days=ago)
        ts = day + pd.to_timedelta(np.sort(rng.uniform(0, 86_399, n)), unit="s")
        frames.append(pd.DataFrame({"ts": ts, "x": rng.normal(size=n)}))
    log = pd.concat(frames, ignore_index=True)
    now = log["ts"].max()
    current = log[log["ts"] > now - timedelta(days=7)].reset_index(drop=True)
    return DataWindows(reference=log.head(10), log=log, current=current, labelled=None)


def _diagnose(data: DataWindows,
              now: datetime = END) -> tuple[dict[str, Any], list[HypothesisResult]]:
    part = assess_freshness(_profile(), data, now) | {"clock": "test"}
    ev = EvidencePackage(incident_id="INC-t", collected_at=END, parts={"freshness": part})
    return part, ranked_hypotheses(SPEC, ev)


def test_fresh_complete_log_is_a_false_alarm() -> None:
    part, ranked = _diagnose(_log())
    assert part["staleness_hours"] < 1 and part["missing_days"] == [] and part["volume_drops"] == {}
    assert ranked[0].id == "fresh" and ranked[0].verdict is Verdict.SUPPORTED
    assert all(r.verdict is Verdict.REFUTED for r in ranked[1:])


def test_stopped_feed_is_stale() -> None:
    part, ranked = _diagnose(_log(stop_days_ago=2))
    assert 48 <= part["staleness_hours"] < 49
    assert ranked[0].id == "stale-feed" and ranked[0].verdict is Verdict.SUPPORTED
    (f,) = ranked[0].findings
    assert f.kind == "staleness" and f.threshold == 24
    assert f.detail["ratio"] == pytest.approx(2, abs=0.05)
    assert next(r for r in ranked if r.id == "missing-partitions").verdict is Verdict.REFUTED


def test_missing_day_inside_the_window() -> None:
    part, ranked = _diagnose(_log(drop=(3,)))
    assert part["missing_days"] == ["2026-03-12"]
    assert ranked[0].id == "missing-partitions"
    assert ranked[0].findings[0].detail["days"] == ["2026-03-12"]


def test_thin_day_is_a_volume_drop() -> None:
    part, ranked = _diagnose(_log(thin=(4,)))
    assert part["volume_drops"] == {"2026-03-11": 40}
    assert part["min_daily_volume_ratio"] == pytest.approx(0.2)
    assert ranked[0].id == "missing-partitions"
    assert ranked[0].findings[0].kind == "volume_drop"


def test_old_gaps_before_the_window_do_not_count() -> None:
    part, ranked = _diagnose(_log(drop=(12,)))
    assert part["missing_days"] == [] and ranked[0].id == "fresh"


def test_now_is_the_sandbox_clock_when_the_profile_has_one(tmp_path: Path) -> None:
    assert reference_now(_profile(tmp_path))[1] == "wall clock"
    (tmp_path / "sandbox.json").write_text(json.dumps({"now": END.isoformat()}))
    now, clock = reference_now(_profile(tmp_path))
    assert now == END and clock.startswith("simulated clock")


def test_mark_window_round_trip(tmp_path: Path) -> None:
    data = _log(stop_days_ago=2)
    part = assess_freshness(_profile(), data, END)
    ev = EvidencePackage(incident_id="INC-m", collected_at=END, parts={"freshness": part})
    ctx = RemediationContext(incident_id="INC-m", profile=_profile(), model_store=None,
                             state_dir=tmp_path, evidence=ev, data=data)
    mark, params = MarkWindow(), MarkWindowParams()
    plan = mark.plan(ctx, params)
    assert [w["kind"] for w in plan["windows"]] == ["stale"]
    change = mark.apply(ctx, params, plan)
    (entry,) = read_marks(tmp_path, "credit")
    assert entry["incident_id"] == "INC-m" and entry["end"] == END.isoformat()
    assert mark.verify(ctx, params, change) == {"window_marked": 1.0}
    mark.revert(ctx, change)
    assert read_marks(tmp_path, "credit") == []
    assert not (tmp_path / "marks" / "credit.json").exists()
