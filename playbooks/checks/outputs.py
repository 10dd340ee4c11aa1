"""Competing hypotheses for anomalous model outputs.

* score-collapse: scores (nearly) stopped varying, totally (one value) or partly (the spread
  shrank to a fraction of the baseline's) - a broken artifact, a constant fallback path,
  zeroed weights. Roll back / switch to the fallback, then the owner fixes it.
* score-shift: the score distribution moved (PSI/KS against the baseline) while the inputs
  and the labelled prevalence did not - the model or its post-processing changed; the model
  owner looks.
* out-of-range-scores: scores outside [0, 1] or missing - a post-processing bug (raw logits,
  a regressor released as a classifier). Switch to the fallback, then the owner fixes it.
* decision-rate-jump: decisions jumped while the scores look healthy - a threshold or
  prevalence matter: threshold-miscalibration's case.
* outputs-normal: nothing anomalous: a false alarm.

Reads the ``output-distribution`` collector's metrics.
"""

from __future__ import annotations

from pydantic import Field

from playbooks.checks.base import CheckResult, moved_features
from playbooks.checks.evidence_gate import metric_finding, needs_metrics
from playbooks.checks.strength import Specificity, strength
from playbooks.engine.plugins import check
from playbooks.models.common import StrictParams
from playbooks.models.evidence import EvidencePackage
from playbooks.models.incident import Finding, Verdict
from playbooks.stats.significance import (
    p_ks_above,
    p_psi_above,
    p_ratio_below,
    p_share_above,
)

__all__ = ["DecisionJumpParams", "OutOfRangeParams", "OutputsNormalParams",
           "ScoreCollapseParams", "ScoreShiftParams", "check_decision_rate_jump",
           "check_out_of_range_scores", "check_outputs_normal", "check_score_collapse",
           "check_score_shift", "collapsed"]

_COLLECTOR = "output-distribution"


class ScoreCollapseParams(StrictParams):
    max_std_ratio: float = Field(
        0.2, gt=0, lt=1, description="Score std / baseline's at or below this: a total collapse.")
    partial_std_ratio: float = Field(
        0.5, gt=0, lt=1, description="At or below this (above max_std_ratio): a partial "
        "collapse, the spread shrank to a fraction of the baseline's.")
    min_modal_share: float = Field(0.5, gt=0, le=1, description="Share of one score above this.")


class ScoreShiftParams(StrictParams):
    min_psi: float = Field(0.2, gt=0, description="Score PSI against the baseline that counts.")
    min_ks: float = Field(0.1, gt=0, le=1, description="...or score KS distance that counts.")
    max_drifted_features: int = Field(
        1, ge=0, description="Inputs count as stable with at most this many drifted features.")
    max_prevalence_change: float = Field(
        0.05, gt=0, lt=1, description="A labelled prevalence change this large explains it.")
    collapse: ScoreCollapseParams = Field(default_factory=ScoreCollapseParams)


class OutOfRangeParams(StrictParams):
    max_share: float = Field(0.001, ge=0, lt=1, description="Out-of-range share tolerated.")


class DecisionJumpParams(StrictParams):
    min_change: float = Field(0.05, gt=0, lt=1, description="Absolute decision-rate change.")
    collapse: ScoreCollapseParams = Field(default_factory=ScoreCollapseParams)


class OutputsNormalParams(StrictParams):
    min_std_ratio: float = Field(0.5, gt=0, lt=1, description="Spread ratio band, lower end.")
    max_std_ratio: float = Field(2.0, gt=1, description="Spread ratio band, upper end.")
    max_modal_share: float = Field(0.1, gt=0, lt=1, description="Largest tolerated mode share.")
    max_decision_change: float = Field(0.05, gt=0, lt=1, description="Decision-rate change.")
    max_score_psi: float = Field(0.2, gt=0, description="Score PSI against the baseline.")


def collapsed(ev: EvidencePackage, p: ScoreCollapseParams) -> list[Finding]:
    """Findings of a collapsed score distribution (empty when the spread is healthy)."""
    m = ev.metrics
    out = []
    ratio = m.get("score_std_ratio", 1.0)
    if ratio <= p.partial_std_ratio:
        total = ratio <= p.max_std_ratio
        out.append(metric_finding(ev, "score_collapse", "score_std_ratio",
                                  p.max_std_ratio if total else p.partial_std_ratio, True,
                                  iqr_ratio=m.get("score_iqr_ratio"),
                                  extent="total" if total else "partial"))
    if m.get("modal_score_share", 0.0) >= p.min_modal_share:
        out.append(metric_finding(ev, "score_collapse", "modal_score_share", p.min_modal_share,
                                  True))
    return out


@check("score-collapse", params=ScoreCollapseParams)
@needs_metrics(_COLLECTOR, "modal_score_share")
def check_score_collapse(evidence: EvidencePackage, params: ScoreCollapseParams) -> CheckResult:
    """Scores stopped varying: (near-)constant outputs."""
    hits = collapsed(evidence, params)
    if not hits:
        return CheckResult(Verdict.REFUTED, 0.9, "scores vary as they did", [metric_finding(
            evidence, "score_collapse", "score_std_ratio", params.max_std_ratio, False)])
    m = evidence.metrics
    ratio = m.get("score_std_ratio", float("nan"))
    n_cur, n_base = _rows(evidence)
    ps = [p_share_above(m["modal_score_share"], n_cur, params.min_modal_share)]
    if "score_std_ratio" in m:
        ps.append(p_ratio_below(ratio, n_cur, n_base, params.partial_std_ratio))
    total = ratio <= params.max_std_ratio or m["modal_score_share"] >= params.min_modal_share
    spread = f"spread x{ratio:.3f} of the baseline's" if "score_std_ratio" in m else (
        "no baseline spread to compare")
    return CheckResult(Verdict.SUPPORTED, strength(min(ps)),
                       f"scores collapsed {'totally' if total else 'partly'}: {spread}, "
                       f"{m['modal_score_share']:.0%} share one value", hits,
                       specificity=Specificity.LOCALISED)


@check("out-of-range-scores", params=OutOfRangeParams)
@needs_metrics(_COLLECTOR, "score_out_of_range_share")
def check_out_of_range_scores(evidence: EvidencePackage, params: OutOfRangeParams) -> CheckResult:
    """Scores outside [0, 1] or missing: a broken output path."""
    share = evidence.metrics["score_out_of_range_share"]
    finding = metric_finding(evidence, "out_of_range_scores", "score_out_of_range_share",
                             params.max_share, share > params.max_share)
    if share > params.max_share:
        return CheckResult(Verdict.SUPPORTED,
                           strength(p_share_above(share, _rows(evidence)[0], params.max_share)),
                           f"{share:.1%} of recent scores are outside [0, 1] or missing",
                           [finding], specificity=Specificity.LOCALISED)
    return CheckResult(Verdict.REFUTED, 0.9, "every recent score is a probability", [finding])


@check("decision-rate-jump", params=DecisionJumpParams)
@needs_metrics(_COLLECTOR, "decision_rate_change")
def check_decision_rate_jump(evidence: EvidencePackage, params: DecisionJumpParams) -> CheckResult:
    """Decisions jumped while the scores look healthy: a threshold/prevalence matter."""
    change = evidence.metrics["decision_rate_change"]
    finding = metric_finding(evidence, "decision_rate_jump", "decision_rate_change",
                             params.min_change, abs(change) >= params.min_change)
    if abs(change) < params.min_change:
        return CheckResult(Verdict.REFUTED, 0.85, f"decision rate steady ({change:+.3f})",
                           [finding])
    if collapsed(evidence, params.collapse) or evidence.metrics.get(
            "score_out_of_range_share", 0.0) > 0:
        return CheckResult(Verdict.INCONCLUSIVE, 0.3, f"decision rate moved {change:+.3f}, "
                           "explained by the broken scores", [finding])
    n_cur = _rows(evidence)[0]
    base = evidence.parts.get(_COLLECTOR, {}).get("baseline_decision_rate") or 0.0
    p = p_share_above(base + abs(change), n_cur, base + params.min_change) if change > 0 else (
        p_share_above(1 - base + abs(change), n_cur, 1 - base + params.min_change))
    return CheckResult(Verdict.SUPPORTED, strength(p),
                       f"positive-decision rate moved {change:+.3f} with healthy scores: hand "
                       "over to threshold-miscalibration", [finding])


def _rows(ev: EvidencePackage) -> tuple[int, int]:
    """(recent scored rows, baseline scored rows) of the output-distribution evidence."""
    return int(ev.metrics.get("scored_rows", 0)), int(ev.metrics.get("baseline_scored_rows", 0))


@check("score-shift", params=ScoreShiftParams)
@needs_metrics(_COLLECTOR, "score_psi", "score_ks")
def check_score_shift(evidence: EvidencePackage, params: ScoreShiftParams) -> CheckResult:
    """The score distribution moved while the inputs and the prevalence held."""
    m = evidence.metrics
    psi, ks = m["score_psi"], m["score_ks"]
    findings = [metric_finding(evidence, "score_shift", "score_psi", params.min_psi,
                               psi >= params.min_psi),
                metric_finding(evidence, "score_shift", "score_ks", params.min_ks,
                               ks >= params.min_ks,
                               recent_mean=(evidence.parts.get(_COLLECTOR, {}).get("recent")
                                            or {}).get("mean"))]
    if psi < params.min_psi and ks < params.min_ks:
        return CheckResult(Verdict.REFUTED, 0.85, f"scores are distributed as in the baseline "
                           f"(PSI {psi:.3f}, KS {ks:.3f})", findings)
    if collapsed(evidence, params.collapse) or m.get("score_out_of_range_share", 0.0) > 0:
        return CheckResult(Verdict.INCONCLUSIVE, 0.3, f"scores moved (PSI {psi:.2f}), explained "
                           "by the collapsed or broken scores", findings)
    drifted = moved_features(evidence)
    if drifted is not None and drifted > params.max_drifted_features:
        return CheckResult(Verdict.REFUTED, 0.7, f"scores moved (PSI {psi:.2f}) with "
                           f"{drifted:.0f} drifted input features: the inputs explain it",
                           findings)
    prev = m.get("prevalence_change")
    if prev is not None and abs(prev) >= params.max_prevalence_change:
        return CheckResult(Verdict.REFUTED, 0.7, f"scores moved (PSI {psi:.2f}) with the "
                           f"labelled prevalence ({prev:+.3f}): a threshold matter", findings)
    n_cur, n_base = _rows(evidence)
    # Two tests of one claim (the scores moved past the threshold): the sharper one counts.
    p = min(p_ks_above(ks, n_base, n_cur, params.min_ks),
            p_psi_above(psi, n_base, n_cur, 10, params.min_psi))
    inputs = ("with stable inputs" if drifted is not None else
              "(input drift not measured)")
    return CheckResult(Verdict.SUPPORTED, strength(p),
                       f"the score distribution moved (PSI {psi:.2f}, KS {ks:.2f} against the "
                       f"baseline) {inputs}: the model or its post-processing changed", findings,
                       specificity=Specificity.LOCALISED)


@check("outputs-normal", params=OutputsNormalParams)
@needs_metrics(_COLLECTOR, "modal_score_share", "score_out_of_range_share")
def check_outputs_normal(evidence: EvidencePackage, params: OutputsNormalParams) -> CheckResult:
    """Spread, range, mode and decision rate all look like the baseline: a false alarm."""
    m = evidence.metrics
    ratio = m.get("score_std_ratio", 1.0)
    checks = [("score_std_ratio", not params.min_std_ratio <= ratio <= params.max_std_ratio,
               params.min_std_ratio),
              ("modal_score_share", m["modal_score_share"] > params.max_modal_share,
               params.max_modal_share),
              ("score_out_of_range_share", m["score_out_of_range_share"] > 0, 0.0),
              ("decision_rate_change", abs(m.get("decision_rate_change", 0.0))
               >= params.max_decision_change, params.max_decision_change),
              ("score_psi", m.get("score_psi", 0.0) >= params.max_score_psi,
               params.max_score_psi)]
    findings = [metric_finding(evidence, "output_health", k, t, bad) for k, bad, t in checks]
    bad = [f.statistic for f in findings if f.breached]
    if bad:
        return CheckResult(Verdict.REFUTED, 0.9, f"anomalous: {', '.join(map(str, bad))}",
                           findings)
    return CheckResult(Verdict.SUPPORTED, 0.85,
                       "scores and decisions look like the baseline; suggested monitoring "
                       "change: require the anomaly to hold for an hour before paging", findings)
