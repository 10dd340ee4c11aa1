"""The model/serving playbooks' checks on small synthetic evidence (pure, no I/O): every
check's verdicts, the missing-evidence gate, and the spec-level ranking per failure signature."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pydantic import BaseModel

from playbooks.engine.decide import decide
from playbooks.engine.plugins import default_plugins
from playbooks.evidence.frames import ece, previous_version
from playbooks.evidence.outputs import score_profile
from playbooks.loader import CATALOG_DIR, load_spec
from playbooks.models import EvidencePackage, ModelProfile, Verdict
from playbooks.models.profile import ServiceLevels
from playbooks.remediations.base import NotApplicable
from playbooks.remediations.recalibrate import choose_threshold, threshold_outcomes
from tests.unit._support import ranked_hypotheses

S, R, U = Verdict.SUPPORTED, Verdict.REFUTED, Verdict.INCONCLUSIVE  # U: undecided

# Healthy baselines per collector; each signature below overrides a few metrics.
HEALTHY: dict[str, float] = {
    # feature-drift
    "max_psi": 0.01, "drifted_features": 0, "drifted_feature_share": 0.0,
    # labelled-performance
    "performance_auc_drop": 0.01, "performance_log_loss_increase": 0.01,
    "label_coverage": 0.85, "label_coverage_expected": 0.85, "labelled_window_rows": 1800,
    "decayed_days": 0, "version_changed_in_window": 0,
    # threshold-metrics
    "approval_rate": 0.92, "approval_rate_gap": 0.01, "approval_gap_beyond_tolerance": 0.0,
    "precision_floor_gap": 0.0, "recall_floor_gap": 0.0, "calibration_error": 0.03,
    "prevalence_change": 0.01, "threshold_auc_drop": 0.01,
    # release-history
    "recent_release": 0, "release_traffic_share": 1.0,
    # output-distribution
    "score_std_ratio": 1.05, "score_iqr_ratio": 1.1, "score_out_of_range_share": 0.0,
    "modal_score_share": 0.02, "decision_rate_change": 0.01, "scored_rows": 2000,
    "baseline_scored_rows": 10000,
    # serving-metrics
    "recent_requests": 2000, "latency_slo_exceed_share": 0.01,
    "latency_p95_ms": 48, "latency_p95_slo_ratio": 0.4, "error_rate": 0.0,
    "error_rate_slo_ratio": 0.0, "latency_volume_corr": 0.0, "volume_ratio": 1.0,
}

SIGNATURES: dict[str, dict[str, float]] = {
    "concept-drift": {"performance_auc_drop": 0.2, "performance_log_loss_increase": 0.3,
                      "decayed_days": 6},
    "input-drift": {"performance_auc_drop": 0.1, "drifted_features": 6,
                    "drifted_feature_share": 0.5, "max_psi": 0.8},
    "release-decay": {"performance_auc_drop": 0.1, "version_changed_in_window": 1},
    "few-labels": {"labelled_window_rows": 120, "label_coverage": 0.1,
                   "performance_auc_drop": 0.2},
    "prevalence-shift": {"approval_rate": 0.84, "approval_gap_beyond_tolerance": 0.04,
                         "prevalence_change": 0.35, "calibration_error": 0.26},
    "calibration-error": {"approval_rate": 0.80, "approval_gap_beyond_tolerance": 0.08,
                          "calibration_error": 0.12},
    "ranking-degraded": {"threshold_auc_drop": 0.2, "approval_gap_beyond_tolerance": 0.02},
    "bad-release": {"recent_release": 1, "release_auc_drop": 0.07,
                    "release_worst_slice_auc_drop": 0.08, "release_labelled_rows": 550,
                    "release_latency_ratio": 1.0, "release_traffic_share": 0.4},
    "slice-release": {"recent_release": 1, "release_auc_drop": 0.005,
                      "release_worst_slice_auc_drop": 0.12, "release_labelled_rows": 550,
                      "release_latency_ratio": 1.0},
    "fine-release": {"recent_release": 1, "release_auc_drop": 0.0,
                     "release_worst_slice_auc_drop": 0.01, "release_labelled_rows": 550,
                     "release_latency_ratio": 1.02},
    "score-collapse": {"score_std_ratio": 0.002, "score_iqr_ratio": 0.002,
                       "modal_score_share": 0.53, "decision_rate_change": -0.07},
    "out-of-range": {"score_out_of_range_share": 0.4, "score_std_ratio": 3.0,
                     "decision_rate_change": -0.07},
    "decision-jump": {"decision_rate_change": 0.09},
    "heavy-release": {"latency_p95_ms": 262, "latency_p95_slo_ratio": 2.2,
                      "version_changed_in_window": 1, "latency_version_ratio": 5.8,
                      "latency_volume_corr": 0.02, "latency_slo_exceed_share": 0.3},
    "saturation": {"latency_p95_ms": 203, "latency_p95_slo_ratio": 1.7,
                   "latency_slo_exceed_share": 0.2,
                   "latency_volume_corr": 0.94, "volume_ratio": 2.8},
    "error-spike": {"error_rate": 0.08, "error_rate_slo_ratio": 4.0},
}

# signature -> (playbook, top-1 hypothesis, decision action)
EXPECTED = {
    "healthy/performance-decay": ("performance-decay", "no-decay", "close"),
    "concept-drift": ("performance-decay", "concept-drift", "remediate"),
    "input-drift": ("performance-decay", "input-drift-explains-it", "handover"),
    "release-decay": ("performance-decay", "release-explains-it", "handover"),
    "few-labels": ("performance-decay", "label-delay-artifact", "escalate"),
    "healthy/threshold-miscalibration": ("threshold-miscalibration", "on-target", "close"),
    "prevalence-shift": ("threshold-miscalibration", "prevalence-shift", "remediate"),
    "calibration-error": ("threshold-miscalibration", "calibration-error", "remediate"),
    "ranking-degraded": ("threshold-miscalibration", "ranking-degraded", "handover"),
    "healthy/bad-release": ("bad-release", "release-not-the-cause", "close"),
    "bad-release": ("bad-release", "regression-after-release", "remediate"),
    "slice-release": ("bad-release", "slice-regression", "remediate"),
    "fine-release": ("bad-release", "release-not-the-cause", "close"),
    "healthy/output-anomaly": ("output-anomaly", "outputs-normal", "close"),
    "score-collapse": ("output-anomaly", "score-collapse", "remediate"),
    "out-of-range": ("output-anomaly", "out-of-range-scores", "remediate"),
    "decision-jump": ("output-anomaly", "decision-rate-jump", "handover"),
    "healthy/serving-latency": ("serving-latency", "within-slo", "close"),
    "heavy-release": ("serving-latency", "heavier-version", "remediate"),
    "saturation": ("serving-latency", "saturation", "escalate"),
    "error-spike": ("serving-latency", "error-spike", "escalate"),
}


def _ev(**overrides: float) -> EvidencePackage:
    return EvidencePackage(incident_id="INC-t", collected_at=datetime.now(UTC),
                           metrics={**HEALTHY, **overrides})


def _run(check: str, ev: EvidencePackage, **params: Any) -> Any:
    plugin = default_plugins().get("check", check)
    return plugin.impl(ev, plugin.parse_params(params))


def _slo(**fields: Any) -> ServiceLevels:
    return ServiceLevels.model_validate(fields)


def _profile() -> ModelProfile:
    return ModelProfile.model_validate({
        "name": "m", "data": {"reference": {"path": "r.csv"}, "current": {"path": "c.csv"}},
        "features": {"numeric": ["x"]},
        "owners": {"model": "models", "data": "data", "oncall": "oncall"}})


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_each_signature_ranks_its_own_hypothesis_first(case: str) -> None:
    playbook, top, action = EXPECTED[case]
    spec = load_spec(CATALOG_DIR / f"{playbook}.yaml")
    ranked = ranked_hypotheses(spec, _ev(**SIGNATURES.get(case, {})))
    assert ranked[0].id == top, [(r.id, r.verdict.value, r.confidence) for r in ranked]
    assert decide(ranked, spec, _profile()).action == action


# check -> {signature (None: healthy): expected verdict}
VERDICTS: dict[str, dict[str | None, Verdict]] = {
    "concept-drift": {"concept-drift": S, "input-drift": R, "release-decay": R, "few-labels": U,
                      None: R},
    "input-drift-explains-it": {"input-drift": S, "concept-drift": R},
    "release-explains-it": {"release-decay": S, "concept-drift": R},
    "label-delay-artifact": {"few-labels": S, None: R},
    "no-decay": {None: S, "concept-drift": R, "few-labels": U},
    "prevalence-shift": {"prevalence-shift": S, "calibration-error": R, "ranking-degraded": R,
                         None: R},
    "calibration-error": {"calibration-error": S, "prevalence-shift": R, None: R},
    "ranking-degraded": {"ranking-degraded": S, "prevalence-shift": R},
    "on-target": {None: S, "prevalence-shift": R},
    # heavy-release has no recent_release: the evidence says no release
    "regression-after-release": {"bad-release": S, "heavy-release": R, "fine-release": R, None: R},
    "slice-regression": {"slice-release": S, "bad-release": R, "fine-release": R},
    "release-not-the-cause": {None: S, "fine-release": S, "bad-release": R},
    "score-collapse": {"score-collapse": S, None: R},
    "out-of-range-scores": {"out-of-range": S, None: R},
    "decision-rate-jump": {"decision-jump": S, "score-collapse": U, None: R},
    "outputs-normal": {None: S, "score-collapse": R, "decision-jump": R},
    "heavier-version": {"heavy-release": S, "saturation": R, None: R},
    "saturation": {"saturation": S, "heavy-release": R, None: R},
    "error-spike": {"error-spike": S, None: R},
    "within-slo": {None: S, "error-spike": R, "heavy-release": R},
}


@pytest.mark.parametrize(("check", "signature", "verdict"), [
    (check, signature, verdict)
    for check, row in VERDICTS.items() for signature, verdict in row.items()])
def test_check_verdict(check: str, signature: str | None, verdict: Verdict) -> None:
    res = _run(check, _ev(**SIGNATURES.get(signature or "", {})))
    assert res.verdict is verdict, res.summary
    assert 0 <= res.confidence <= 1 and res.summary


def test_slow_release_counts_as_a_release_regression() -> None:
    ev = _ev(recent_release=1, release_auc_drop=0.0, release_labelled_rows=550,
             release_latency_ratio=4.0)
    assert _run("regression-after-release", ev).verdict is S
    assert _run("release-not-the-cause", ev).verdict is R


def test_saturation_is_weaker_when_a_heavier_version_also_explains_it() -> None:
    both = {**SIGNATURES["saturation"], "version_changed_in_window": 1,
            "latency_version_ratio": 3.0}
    alone = _run("saturation", _ev(**SIGNATURES["saturation"]))
    mixed = _run("saturation", _ev(**both))
    assert mixed.verdict is S and mixed.confidence < alone.confidence


def test_findings_are_machine_readable() -> None:
    res = _run("concept-drift", _ev(**SIGNATURES["concept-drift"]))
    drop = next(f for f in res.findings if f.statistic == "performance_auc_drop")
    assert drop.kind == "performance_decay" and drop.breached and drop.value == 0.2
    assert drop.threshold == 0.05


@pytest.mark.parametrize("check", ["concept-drift", "no-decay", "label-delay-artifact",
                                   "prevalence-shift", "on-target", "regression-after-release",
                                   "score-collapse", "outputs-normal", "heavier-version",
                                   "within-slo"])
def test_missing_collector_is_inconclusive_and_names_it(check: str) -> None:
    ev = EvidencePackage(incident_id="INC-t", collected_at=datetime.now(UTC),
                         metrics={"max_psi": 0.5})
    res = _run(check, ev)
    assert res.verdict is U and res.confidence <= 0.2
    assert "evidence not collected" in res.summary and "collector" in res.summary


def test_every_check_has_a_typed_params_model_with_defaults() -> None:
    reg = default_plugins()
    mine = [n for n in reg.names("check")
            if reg.get("check", n).impl.__module__.rsplit(".", 1)[-1]
            in ("performance", "threshold", "release", "outputs", "serving")]
    assert len(mine) == 21
    for name in mine:
        params = reg.get("check", name).parse_params({})
        assert isinstance(params, BaseModel)
        with pytest.raises(ValueError):
            reg.get("check", name).parse_params({"no_such_param": 1})


# -- pure helpers ---------------------------------------------------------------------------


def test_choose_threshold_meets_the_approval_target_nearest() -> None:
    rng = np.random.default_rng(0)
    s = rng.beta(2, 6, 5000)
    y = (rng.random(5000) < s).astype(int)
    slo = _slo(target_approval_rate=0.9, approval_rate_tolerance=0.02)
    t, out = choose_threshold(s, y, slo, current=0.5)
    assert out["approval_rate"] == pytest.approx(0.9, abs=0.005)
    assert threshold_outcomes(s, y, t)["approval_rate"] == out["approval_rate"]


def test_choose_threshold_honours_floors_and_refuses_conflicts() -> None:
    rng = np.random.default_rng(1)
    s = rng.beta(2, 6, 4000)
    y = (rng.random(4000) < s).astype(int)
    t, out = choose_threshold(s, y, _slo(min_recall=0.8), current=0.5)
    assert out["recall"] is not None and out["recall"] >= 0.8 and t < 0.5
    with pytest.raises(NotApplicable, match="no threshold meets"):
        choose_threshold(s, y, _slo(target_approval_rate=0.95,
                                             approval_rate_tolerance=0.01, min_recall=0.9),
                         current=0.5)
    with pytest.raises(NotApplicable, match="no target"):
        choose_threshold(s, y, _slo(), current=0.5)


def test_ece_is_small_for_calibrated_scores_and_large_otherwise() -> None:
    rng = np.random.default_rng(2)
    s = rng.random(20_000)
    y = (rng.random(20_000) < s).astype(int)
    calibrated, off = ece(y, s), ece(y, s**3)
    assert calibrated is not None and off is not None
    assert calibrated < 0.02 < 0.1 < off
    assert ece(y[:5], s[:5]) is None


def test_score_profile_sees_collapse_and_range_violations() -> None:
    healthy = score_profile(np.random.default_rng(3).beta(2, 6, 1000))
    flat = score_profile(np.full(1000, 0.1123) + np.random.default_rng(4).normal(0, 1e-5, 1000))
    broken = score_profile(np.array([0.2, 1.7, -0.3, np.nan]))
    assert healthy["modal_share"] < 0.05 and flat["modal_share"] > 0.9
    assert broken["out_of_range_share"] == 0.75


def test_previous_version_is_the_one_serving_before_the_current() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    log = pd.DataFrame({"ts": [t0 + timedelta(hours=h) for h in range(6)],
                        "v": ["1", "1", "3", "3", "4", "4"]})
    assert previous_version(log, "ts", "v", "4") == ("3", t0 + timedelta(hours=4))
    assert previous_version(log, "ts", "v", "3")[0] == "1"
    assert previous_version(log, "ts", "v", "1")[0] is None
    assert previous_version(log, "ts", "v", "9") == ("4", None)  # never served: newest other
