"""Competing hypotheses for anomalous model outputs.

* score-collapse: scores (nearly) stopped varying - a broken artifact, a constant fallback
  path, zeroed weights. Roll back / switch to the fallback, then the owner fixes it.
* out-of-range-scores: scores outside [0, 1] or missing - a post-processing bug (raw logits,
  a regressor released as a classifier). Switch to the fallback, then the owner fixes it.
* decision-rate-jump: decisions jumped while the scores look healthy - a threshold or
  prevalence matter: threshold-miscalibration's case.
* outputs-normal: nothing anomalous: a false alarm.

Reads the ``output-distribution`` collector's metrics.
"""

from __future__ import annotations

from pydantic import Field

from playbooks.checks.base import CheckResult
from playbooks.checks.evidence_gate import metric_finding, needs_metrics
from playbooks.engine.plugins import check
from playbooks.models.common import StrictParams
from playbooks.models.evidence import EvidencePackage
from playbooks.models.incident import Finding, Verdict

__all__ = ["DecisionJumpParams", "OutOfRangeParams", "OutputsNormalParams",
           "ScoreCollapseParams", "check_decision_rate_jump", "check_out_of_range_scores",
           "check_outputs_normal", "check_score_collapse", "collapsed"]

_COLLECTOR = "output-distribution"


class ScoreCollapseParams(StrictParams):
    max_std_ratio: float = Field(0.2, gt=0, lt=1, description="Score std / baseline's below this.")
    min_modal_share: float = Field(0.5, gt=0, le=1, description="Share of one score above this.")


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


def collapsed(ev: EvidencePackage, p: ScoreCollapseParams) -> list[Finding]:
    """Findings of a collapsed score distribution (empty when the spread is healthy)."""
    m = ev.metrics
    out = []
    if m.get("score_std_ratio", 1.0) <= p.max_std_ratio:
        out.append(metric_finding(ev, "score_collapse", "score_std_ratio", p.max_std_ratio, True,
                                  iqr_ratio=m.get("score_iqr_ratio")))
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
    ratio = evidence.metrics.get("score_std_ratio", float("nan"))
    conf = 0.95 if len(hits) == 2 else 0.8
    return CheckResult(Verdict.SUPPORTED, conf,
                       f"scores collapsed: spread x{ratio:.3f} of baseline, "
                       f"{evidence.metrics['modal_score_share']:.0%} share one value", hits)


@check("out-of-range-scores", params=OutOfRangeParams)
@needs_metrics(_COLLECTOR, "score_out_of_range_share")
def check_out_of_range_scores(evidence: EvidencePackage, params: OutOfRangeParams) -> CheckResult:
    """Scores outside [0, 1] or missing: a broken output path."""
    share = evidence.metrics["score_out_of_range_share"]
    finding = metric_finding(evidence, "out_of_range_scores", "score_out_of_range_share",
                             params.max_share, share > params.max_share)
    if share > params.max_share:
        return CheckResult(Verdict.SUPPORTED, round(min(0.97, 0.8 + share), 3),
                           f"{share:.1%} of recent scores are outside [0, 1] or missing",
                           [finding])
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
    return CheckResult(Verdict.SUPPORTED, round(min(0.9, 0.6 + abs(change)), 3),
                       f"positive-decision rate moved {change:+.3f} with healthy scores: hand "
                       "over to threshold-miscalibration", [finding])


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
               >= params.max_decision_change, params.max_decision_change)]
    findings = [metric_finding(evidence, "output_health", k, t, bad) for k, bad, t in checks]
    bad = [f.statistic for f in findings if f.breached]
    if bad:
        return CheckResult(Verdict.REFUTED, 0.9, f"anomalous: {', '.join(map(str, bad))}",
                           findings)
    return CheckResult(Verdict.SUPPORTED, 0.85,
                       "scores and decisions look like the baseline; suggested monitoring "
                       "change: require the anomaly to hold for an hour before paging", findings)
