"""Group-fairness metrics (fairlearn) against hand-computed values on tiny frames, and the
acceptance criterion that compares a change with the version it replaced."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from playbooks.engine.fairness import criterion_observed, fairness_metrics
from playbooks.engine.verify import evaluate_criteria
from playbooks.models import ModelProfile
from playbooks.models.spec import GROUP_METRIC_NAMES, AcceptanceCriterion
from playbooks.stats.fairness import GROUP_METRICS, group_fairness

# Group a: decided 1,1,0,0 (rate 0.5); group b: 1,0,0,0 (rate 0.25).
GROUPS = pd.Series(list("aaaabbbb"), name="region")
DECIDED = np.array([1, 1, 0, 0, 1, 0, 0, 0])
LABELS = np.array([1, 0, 1, 0, 1, 0, 1, 0])


def test_parity_and_odds_match_hand_computed_values() -> None:
    af = group_fairness(GROUPS, DECIDED, LABELS, min_group_rows=4)
    assert af.inconclusive == ""
    assert af.rows == {"a": 4, "b": 4}
    assert af.selection_rates == {"a": 0.5, "b": 0.25}
    assert af.metrics["demographic_parity_difference"] == pytest.approx(0.25)
    assert af.metrics["demographic_parity_ratio"] == pytest.approx(0.5)
    # TPR a = 1/2, b = 1/2; FPR a = 1/2, b = 0: the worst gap is the FPR's 0.5.
    assert af.metrics["equalized_odds_difference"] == pytest.approx(0.5)


def test_a_small_group_is_inconclusive_never_a_pass() -> None:
    af = group_fairness(GROUPS, DECIDED, LABELS, min_group_rows=5)
    assert af.metrics == {}
    assert "fewer than 5 rows" in af.inconclusive and "'a'" in af.inconclusive


def test_equalized_odds_needs_both_labels_in_every_group() -> None:
    one_class = np.array([1, 0, 1, 0, 1, 1, 1, 1])  # group b: positives only
    af = group_fairness(GROUPS, DECIDED, one_class, min_group_rows=4)
    assert "equalized_odds_difference" not in af.metrics
    assert af.metrics["demographic_parity_difference"] == pytest.approx(0.25)
    assert "lack positive or negative labels" in af.inconclusive


def test_spec_and_stats_name_the_same_group_metrics() -> None:
    assert set(GROUP_METRIC_NAMES) == set(GROUP_METRICS)


class _ByColumn:
    """A stand-in for a fitted classifier: its score is one column of the frame."""

    def __init__(self, column: str) -> None:
        self.column = column

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        s = frame[self.column].to_numpy(float)
        return np.column_stack([1 - s, s])


def _profile(**fairness: Any) -> ModelProfile:
    return ModelProfile.model_validate({
        "name": "m", "data": {"reference": {"path": "r.csv"}, "current": {"path": "c.csv"}},
        "features": {"numeric": ["old", "new"]}, "fairness": fairness})


def _frame() -> pd.DataFrame:
    # The replaced version declines one row per group (gap 0); the new one declines two of
    # group a's (gap 0.25).
    return pd.DataFrame({"region": list("aaaabbbb"),
                         "old": [1, 0, 0, 0, 1, 0, 0, 0],
                         "new": [1, 1, 0, 0, 1, 0, 0, 0]})


def _widening(value: float = 0.02, **extra: Any) -> AcceptanceCriterion:
    return AcceptanceCriterion.model_validate({
        "id": "gap", "metric": "demographic_parity_difference", "versus": "previous",
        "op": "<=", "value": value, **extra})


def test_versus_previous_reads_the_widening_on_the_same_rows() -> None:
    prof = _profile(sensitive_attributes=["region"], min_group_rows=4)
    many = pd.concat([_frame()] * 100, ignore_index=True)  # 800 rows: the widening is clear
    m = fairness_metrics(prof, many, serving=_ByColumn("new"), previous=_ByColumn("old"),
                         labels=None)
    assert m["demographic_parity_difference@region"] == pytest.approx(0.25)
    assert m["demographic_parity_difference_previous@region"] == pytest.approx(0.0)
    assert m["selection_rate@region=a"] == 0.5 and m["selection_rate_previous@region=a"] == 0.25
    seen = criterion_observed(_widening(), m)
    assert seen.attribute == "region" and seen.estimate == pytest.approx(0.25)
    # Judged on the widening we are 95% sure of: below the estimate, far above the limit.
    assert 0.15 < seen.value < 0.25
    ver = evaluate_criteria([_widening(), _widening(0.3).model_copy(update={"id": "lax"})], m)
    assert [(c.id, c.passed) for c in ver.criteria] == [("gap", False), ("lax", True)]
    assert ver.criteria[0].estimate == pytest.approx(0.25)
    assert not ver.passed


def test_a_widening_within_sampling_noise_does_not_fail_the_criterion() -> None:
    # The same 0.25 widening on 8 rows: one declined row more. Not evidence of harm.
    prof = _profile(sensitive_attributes=["region"], min_group_rows=4)
    m = fairness_metrics(prof, _frame(), serving=_ByColumn("new"), previous=_ByColumn("old"),
                         labels=None)
    ver = evaluate_criteria([_widening()], m)
    (gap,) = ver.criteria
    assert gap.estimate == pytest.approx(0.25) and gap.observed is not None
    assert gap.observed <= 0.02 and gap.passed


def test_the_attribute_closest_to_failing_decides() -> None:
    metrics = {"demographic_parity_ratio": 0.7, "demographic_parity_ratio@region": 0.9,
               "demographic_parity_ratio@age_band": 0.7,
               "demographic_parity_ratio_previous@region": 0.8,
               "demographic_parity_ratio_previous@age_band": 0.8}
    floor = AcceptanceCriterion(id="ratio", metric="demographic_parity_ratio", op=">=",
                                value=-0.05, versus="previous")
    assert criterion_observed(floor, metrics)[:2] == (pytest.approx(-0.1), "age_band")
    one = floor.model_copy(update={"attribute": "region"})
    assert criterion_observed(one, metrics)[:2] == (pytest.approx(0.1), "region")
    # With bounds, the bound nearest to passing is judged ('>=': the high one) and decides.
    bounded = metrics | {"demographic_parity_ratio_change_high@age_band": 0.02,
                         "demographic_parity_ratio_change_high@region": 0.15}
    seen = criterion_observed(floor, bounded)
    assert seen == (pytest.approx(0.02), "age_band", pytest.approx(-0.1))
    assert evaluate_criteria([floor], bounded).passed  # a narrowing within the noise


def test_too_small_groups_fail_the_criterion() -> None:
    prof = _profile(sensitive_attributes=["region"], min_group_rows=5)
    m = fairness_metrics(prof, _frame(), serving=_ByColumn("new"), previous=_ByColumn("old"),
                         labels=None)
    assert "demographic_parity_difference" not in m
    ver = evaluate_criteria([_widening(1.0)], m)
    assert ver.criteria[0].observed is None and not ver.passed


def test_without_a_previous_version_there_is_nothing_to_compare_with() -> None:
    prof = _profile(sensitive_attributes=["region"], min_group_rows=4)
    m = fairness_metrics(prof, _frame(), serving=_ByColumn("new"), previous=None, labels=None)
    assert not evaluate_criteria([_widening(1.0)], m).passed


def test_a_profile_without_sensitive_attributes_has_no_group_to_harm() -> None:
    m = fairness_metrics(_profile(), _frame(), serving=_ByColumn("new"),
                         previous=_ByColumn("old"), labels=None)
    assert criterion_observed(_widening(), m)[:2] == (0.0, None)
    assert evaluate_criteria([_widening()], m).passed


def test_group_fields_are_only_for_group_metrics() -> None:
    with pytest.raises(ValidationError, match="for group metrics"):
        AcceptanceCriterion(id="x", metric="roc_auc", op=">=", value=0.7, versus="previous")
    with pytest.raises(ValidationError, match="versus"):
        _widening(versus="baseline")


def test_profile_rejects_a_sensitive_attribute_listed_twice() -> None:
    with pytest.raises(ValidationError, match="listed twice"):
        _profile(sensitive_attributes=["region", "region"])


def _run_check(**metrics: float) -> Any:
    from datetime import UTC, datetime

    from playbooks.engine.plugins import default_plugins
    from playbooks.models import EvidencePackage

    ev = EvidencePackage(incident_id="INC-t", collected_at=datetime.now(UTC), metrics=metrics)
    plugin = default_plugins().get("check", "fairness-regression")
    return plugin.impl(ev, plugin.parse_params({"max_widening": 0.05}))


def test_fairness_regression_is_supported_by_a_widened_gap_only() -> None:
    from playbooks.models.incident import Verdict

    wide = _run_check(group_gap_widening=0.18, group_gap_serving=0.26, group_gap_previous=0.08)
    assert wide.verdict is Verdict.SUPPORTED and wide.confidence > 0.9
    assert "0.080 -> 0.260" in wide.summary and wide.findings[0].breached
    edge = _run_check(group_gap_widening=0.05)
    assert edge.verdict is Verdict.SUPPORTED and edge.confidence < wide.confidence
    narrow = _run_check(group_gap_widening=0.01, group_gap_serving=0.09, group_gap_previous=0.08)
    assert narrow.verdict is Verdict.REFUTED and not narrow.findings[0].breached
    # Odds widen while parity holds: still a regression.
    odds = _run_check(group_gap_widening=0.0, group_odds_widening=0.2)
    assert odds.verdict is Verdict.SUPPORTED and "group_odds_widening" in odds.summary
    assert _run_check().verdict is Verdict.INCONCLUSIVE  # no comparison: never a verdict


def test_fairness_regression_reads_the_widening_it_is_confident_about() -> None:
    from playbooks.models.incident import Verdict

    sure = _run_check(group_gap_widening=0.2, group_gap_widening_low=0.12)
    assert sure.verdict is Verdict.SUPPORTED and "at least 0.120" in sure.summary
    noise = _run_check(group_gap_widening=0.09, group_gap_widening_low=0.01)
    assert noise.verdict is Verdict.INCONCLUSIVE and "within sampling noise" in noise.summary
    assert not noise.findings[0].breached
    assert _run_check(group_gap_widening=0.02, group_gap_widening_low=-0.05).verdict \
        is Verdict.REFUTED


def test_sandbox_area_follows_the_region_without_a_random_draw() -> None:
    from playbooks.sandbox.simulator import area_of

    area = area_of(pd.Series(["north", "south", "central", "mars"]))
    assert area.name == "area"
    assert area.iloc[:3].tolist() == ["rural", "urban", "rural"] and pd.isna(area.iloc[3])


def _drill_incident(*, reverted: bool, passed: bool) -> dict[str, Any]:
    return {"id": "INC-1", "playbook": "data-drift", "status": "escalated",
            "root_cause": {"hypothesis_id": "population-shift"},
            "remediations": [{"id": "retrain", "applied": True, "reverted": reverted}],
            "verification": {"passed": passed}, "monitoring": None,
            "timeline": [{"kind": "escalated", "at": "2026-01-01T00:00:09+00:00"}],
            "detected_at": "2026-01-01T00:00:03+00:00", "resolved_at": None}


def test_the_fairness_drill_expects_a_pre_check_revert_and_escalation() -> None:
    from datetime import UTC, datetime

    from playbooks.drills.scoring import expectation_for, score_drill
    from playbooks.sandbox import FAULTS

    exp = expectation_for("biased-retrain", FAULTS.get("biased-retrain").params)
    assert (exp.playbook, exp.root_cause, exp.outcome) == ("data-drift", "population-shift",
                                                          "escalated")
    assert (exp.live, exp.pre_check, exp.remediates) == (None, "reverted", True)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    caught = score_drill(exp, _drill_incident(reverted=True, passed=False), seed=1,
                         injected_at=t0)
    assert caught.passed and caught.remediation == "retrain"
    kept = score_drill(exp, _drill_incident(reverted=False, passed=True), seed=1, injected_at=t0)
    assert not kept.passed and not kept.detail["remediation_ok"]


def test_a_release_that_only_harms_a_group_is_rolled_back_and_handed_to_its_owner() -> None:
    from datetime import UTC, datetime

    from playbooks.engine.decide import decide
    from playbooks.loader import load_spec, resolve_spec_path
    from playbooks.models import EvidencePackage
    from tests.unit._support import ranked_hypotheses

    spec = load_spec(resolve_spec_path("bad-release"))
    fine = {"recent_release": 1.0, "release_traffic_share": 0.5, "release_auc_drop": 0.0,
            "release_labelled_rows": 2000.0, "release_worst_slice_auc_drop": 0.01,
            "release_latency_ratio": 1.0}
    ev = EvidencePackage(incident_id="INC-t", collected_at=datetime.now(UTC), metrics={
        **fine, "group_gap_widening": 0.2, "group_gap_serving": 0.25,
        "group_gap_previous": 0.05})
    ranked = ranked_hypotheses(spec, ev)
    assert ranked[0].id == "fairness-regression", [(r.id, r.confidence) for r in ranked]
    prof = _profile(sensitive_attributes=["region"])
    assert decide(ranked, spec, prof).action == "remediate"
    even = EvidencePackage(incident_id="INC-t", collected_at=datetime.now(UTC), metrics={
        **fine, "group_gap_widening": 0.0, "group_gap_serving": 0.05,
        "group_gap_previous": 0.05})
    assert ranked_hypotheses(spec, even)[0].id == "release-not-the-cause"
