"""The evidence-strength scale (playbooks/checks/strength.py), the tests behind it, the one
unit-change estimator, and the checks whose semantics issue 11 fixed: SLOs that nobody set,
outputs without history, partial collapse and score shift."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest

from playbooks.checks.freshness import FreshParams, StaleFeedParams, check_fresh, check_stale_feed
from playbooks.checks.outputs import (
    ScoreCollapseParams,
    ScoreShiftParams,
    check_score_collapse,
    check_score_shift,
)
from playbooks.checks.strength import (
    MAX_BAYES_FACTOR,
    bayes_factor,
    jeffreys_band,
    posterior,
    strength,
)
from playbooks.data.io import DataWindows
from playbooks.evidence.freshness import assess_freshness
from playbooks.models import EvidencePackage, ModelProfile, Verdict
from playbooks.stats.significance import (
    p_auc_drop,
    p_psi_above,
    p_ratio_below,
    p_share_above,
)
from playbooks.stats.units import unit_change

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


def test_the_scale_maps_p_values_to_bounded_calibrated_strengths() -> None:
    assert bayes_factor(0.5) == 1.0 and strength(0.5) == 0.5  # no evidence, even odds
    # Sellke-Bayarri-Berger: p = 0.05 is worth at most ~2.5:1, not 19:1
    assert bayes_factor(0.05) == pytest.approx(1 / (-math.e * 0.05 * math.log(0.05)))
    assert 2.4 < bayes_factor(0.05) < 2.5
    assert bayes_factor(1e-300) == MAX_BAYES_FACTOR  # capped: no check is surer than 1e4:1
    ps = [0.3, 0.05, 1e-3, 1e-6, 1e-12]
    assert [strength(p) for p in ps] == sorted(strength(p) for p in ps)
    # the prior moves the same evidence: a rare class needs more of it
    assert posterior(0.99, 0.05) < posterior(0.99, 0.2) < 0.99
    assert [jeffreys_band(o) for o in (1.5, 5, 50, 500)] == [0, 1, 2, 3]


def test_tests_weigh_the_statistic_by_the_sample_size() -> None:
    # 40% nulls against a 5% threshold: decisive on 500 rows, 6% on 30 rows is not
    assert p_share_above(0.4, 500, 0.05) < 1e-50
    assert p_share_above(0.06, 30, 0.05) > 0.2
    assert p_psi_above(1.0, 5000, 5000, 10, 0.2) < 1e-10 < p_psi_above(0.25, 100, 100, 10, 0.2)
    assert p_ratio_below(0.0, 500, 500, 0.5) < 1e-100
    assert p_ratio_below(0.45, 20, 20, 0.5) > 0.3
    assert p_auc_drop(0.3, 0.65, 400, 400, 0.05) < 1e-10 < p_auc_drop(0.06, 0.7, 20, 20, 0.05)


def test_one_unit_change_estimator_sees_a_rescale_through_sampling_noise() -> None:
    rng = np.random.default_rng(3)
    ref, cur = rng.lognormal(6, 0.5, 300), rng.lognormal(6, 0.5, 500)
    scale = unit_change(ref, cur * 100, min_factor=2)
    assert scale is not None and scale.nearest_factor == 100
    assert abs(scale.ratio / 100 - 1) < 0.1
    # the quantile ratios of two small samples spread by noise; the shape test allows it
    assert scale.spread <= 1.36 * math.sqrt(1 / 300 + 1 / 500)
    assert unit_change(ref, cur, min_factor=2) is None  # no rescale
    shifted = rng.normal(3000, 50, 500)  # moved and narrowed: not the same shape
    assert unit_change(ref, shifted, min_factor=2) is None


def _profile(**slo: Any) -> ModelProfile:
    return ModelProfile.model_validate({
        "name": "m", "data": {"timestamp": "ts", "reference": {"path": "r.csv"},
                              "current": {"path": "c.csv"}},
        "features": {"numeric": ["x"]}, "slo": slo})


def _windows(ts: pd.Series) -> DataWindows:
    frame = pd.DataFrame({"ts": ts, "x": 1.0})
    return DataWindows(reference=frame, log=frame, current=frame, labelled=None)


def _freshness_check(profile: ModelProfile, log_end: datetime, days: int) -> Any:
    ts = pd.Series(pd.date_range(log_end - timedelta(days=days), log_end, freq="10min"))
    part = assess_freshness(profile, _windows(ts), NOW) | {"clock": "wall clock"}
    return part, check_stale_feed(_ev({"freshness": part}), StaleFeedParams())


def test_a_historical_extract_without_an_slo_is_not_judged_stale() -> None:
    part, res = _freshness_check(_profile(), NOW - timedelta(days=300), 28)
    assert res.verdict is Verdict.INCONCLUSIVE and "historical extract" in res.summary
    assert "x the" not in res.summary  # no ratio to an SLO nobody set
    assert part["max_staleness_hours"] is None
    fresh = check_fresh(_ev({"freshness": part}), FreshParams())
    assert fresh.verdict is Verdict.SUPPORTED and "not judged" in fresh.summary


def test_a_feed_that_stopped_breaches_the_slo_inferred_from_its_cadence() -> None:
    part, res = _freshness_check(_profile(), NOW - timedelta(days=2), 14)
    assert part["max_staleness_hours"] == pytest.approx(2 * 10 / 60, rel=0.01)
    assert res.verdict is Verdict.SUPPORTED and "inferred" in res.summary
    _, ok = _freshness_check(_profile(max_staleness="3d"), NOW - timedelta(days=2), 14)
    assert ok.verdict is Verdict.REFUTED and "profile slo.max_staleness" in ok.summary


def _ev(parts: dict[str, Any] | None = None, /, **metrics: float) -> EvidencePackage:
    return EvidencePackage(incident_id="INC-t", collected_at=NOW, metrics=metrics,
                           parts=parts or {})


def test_a_partial_collapse_is_a_collapse_and_says_how_much() -> None:
    base = {"scored_rows": 800.0, "baseline_scored_rows": 5000.0, "modal_score_share": 0.02,
            "score_out_of_range_share": 0.0}
    partial = check_score_collapse(_ev(**base, score_std_ratio=0.3), ScoreCollapseParams())
    assert partial.verdict is Verdict.SUPPORTED and "partly" in partial.summary
    assert partial.findings[0].detail["extent"] == "partial" and partial.confidence > 0.99
    total = check_score_collapse(_ev(**{**base, "modal_score_share": 1.0}, score_std_ratio=0.0),
                                 ScoreCollapseParams())
    assert "totally" in total.summary
    healthy = check_score_collapse(_ev(**base, score_std_ratio=0.9), ScoreCollapseParams())
    assert healthy.verdict is Verdict.REFUTED


def test_a_score_shift_counts_only_when_inputs_and_prevalence_held() -> None:
    base = {"scored_rows": 800.0, "baseline_scored_rows": 5000.0, "modal_score_share": 0.02,
            "score_out_of_range_share": 0.0, "score_std_ratio": 1.0, "score_psi": 0.9,
            "score_ks": 0.3, "psi_act": 0.2}
    drift = [{"feature": f, "psi": 0.01} for f in "abc"]
    stable = EvidencePackage(incident_id="i", collected_at=NOW, metrics=base,
                             feature_drift=drift)
    res = check_score_shift(stable, ScoreShiftParams())
    assert res.verdict is Verdict.SUPPORTED and "stable inputs" in res.summary
    moved = stable.model_copy(update={"feature_drift": [{"feature": f, "psi": 0.5}
                                                        for f in "abc"]})
    assert check_score_shift(moved, ScoreShiftParams()).verdict is Verdict.REFUTED
    prevalence = stable.model_copy(update={"metrics": {**base, "prevalence_change": 0.2}})
    assert check_score_shift(prevalence, ScoreShiftParams()).verdict is Verdict.REFUTED
    quiet = stable.model_copy(update={"metrics": {**base, "score_psi": 0.02, "score_ks": 0.03}})
    assert check_score_shift(quiet, ScoreShiftParams()).verdict is Verdict.REFUTED
