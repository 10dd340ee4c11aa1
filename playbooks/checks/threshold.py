"""Competing hypotheses for a decision threshold that misses its target.

* prevalence-shift: the share of positives moved (e.g. more defaults in a downturn) while the
  ranking holds - the fixed threshold now yields the wrong approval rate / precision / recall.
* calibration-error: the prevalence did not move but the scores no longer mean what they say
  (high ECE) - the threshold sits at the wrong score.
* ranking-degraded: AUC itself fell - no threshold fixes that; performance-decay's case.
* on-target: approval rate and precision/recall floors are met: a false alarm.

Reads the ``threshold-metrics`` collector's metrics. "Off target" means the approval rate is
outside the profile's tolerance or a precision/recall floor is missed.
"""

from __future__ import annotations

from pydantic import Field

from playbooks.checks.base import CheckResult
from playbooks.checks.evidence_gate import metric_finding, needs_metrics
from playbooks.checks.performance import auc_drop_strength
from playbooks.checks.strength import strength
from playbooks.engine.plugins import check
from playbooks.models.common import StrictParams
from playbooks.models.evidence import EvidencePackage
from playbooks.models.incident import Finding, Verdict
from playbooks.stats.significance import p_rate_change, p_share_above

__all__ = ["CalibrationErrorParams", "OnTargetParams", "PrevalenceShiftParams",
           "RankingDegradedParams", "check_calibration_error", "check_on_target",
           "check_prevalence_shift", "check_ranking_degraded", "off_target"]

_COLLECTOR = "threshold-metrics"
_GAPS = ("approval_gap_beyond_tolerance", "precision_floor_gap", "recall_floor_gap")


class PrevalenceShiftParams(StrictParams):
    min_prevalence_change: float = Field(
        0.05, gt=0, lt=1, description="Absolute change of the labelled positive rate that counts.")
    max_auc_drop: float = Field(0.05, gt=0, lt=1, description="AUC drop still 'ranking holds'.")


class CalibrationErrorParams(StrictParams):
    max_ece: float = Field(0.05, gt=0, lt=1, description="Calibration error still tolerated.")
    min_prevalence_change: float = Field(
        0.05, gt=0, lt=1, description="Above this the prevalence shift explains the error.")
    max_auc_drop: float = Field(0.05, gt=0, lt=1, description="AUC drop still 'ranking holds'.")


class RankingDegradedParams(StrictParams):
    max_auc_drop: float = Field(0.05, gt=0, lt=1, description="AUC drop that is a ranking problem.")


class OnTargetParams(StrictParams):
    max_auc_drop: float = Field(0.05, gt=0, lt=1, description="AUC drop still tolerated.")


def off_target(evidence: EvidencePackage) -> list[Finding]:
    """Breached targets (approval tolerance, precision/recall floors) as findings."""
    return [metric_finding(evidence, "threshold_target", g, 0.0, True)
            for g in _GAPS if evidence.metrics.get(g, 0.0) > 0]


def _gap_strength(ev: EvidencePackage, gap: float, threshold: float) -> float:
    """Strength of "a labelled rate moved by more than ``threshold``" (a positive rate, or
    ECE, a mean of such gaps), judged at the widest sampling error a rate has (at 1/2)."""
    n = int(ev.metrics.get("labelled_window_rows", 0))
    return strength(p_share_above(0.5 + abs(gap), n, 0.5 + threshold))


def _prevalence_strength(ev: EvidencePackage, change: float, threshold: float) -> float:
    """Two-proportion test of the labelled positive rate, window against baseline (the
    widest-error approximation when the collector did not record the rates)."""
    part = ev.parts.get(_COLLECTOR) or {}
    cur, base = part.get("window") or {}, part.get("baseline") or {}
    if cur.get("positive_rate") is None or base.get("positive_rate") is None:
        return _gap_strength(ev, change, threshold)
    return strength(p_rate_change(cur["positive_rate"], int(cur.get("rows") or 0),
                                  base["positive_rate"], int(base.get("rows") or 0), threshold))


def _auc_holds(ev: EvidencePackage, max_drop: float) -> bool:
    return ev.metrics.get("threshold_auc_drop", 0.0) < max_drop


@check("prevalence-shift", params=PrevalenceShiftParams)
@needs_metrics(_COLLECTOR, "approval_rate", "prevalence_change")
def check_prevalence_shift(evidence: EvidencePackage,
                           params: PrevalenceShiftParams) -> CheckResult:
    """The positive rate moved while the ranking holds: the threshold misses its target."""
    change = evidence.metrics["prevalence_change"]
    findings = [*off_target(evidence), metric_finding(
        evidence, "prevalence_shift", "prevalence_change", params.min_prevalence_change,
        abs(change) >= params.min_prevalence_change)]
    if not off_target(evidence):
        return CheckResult(Verdict.REFUTED, 0.8, "the threshold meets its targets", findings)
    if not _auc_holds(evidence, params.max_auc_drop):
        return CheckResult(Verdict.REFUTED, 0.75, "AUC fell too: not only a prevalence change",
                           findings)
    if abs(change) < params.min_prevalence_change:
        return CheckResult(Verdict.REFUTED, 0.75,
                           f"the positive rate barely moved ({change:+.3f})", findings)
    return CheckResult(Verdict.SUPPORTED,
                       _prevalence_strength(evidence, change, params.min_prevalence_change),
                       f"positive rate moved {change:+.3f} while AUC holds; the threshold now "
                       f"gives approval rate {evidence.metrics['approval_rate']:.1%}, off target",
                       findings)


@check("calibration-error", params=CalibrationErrorParams)
@needs_metrics(_COLLECTOR, "calibration_error", "prevalence_change")
def check_calibration_error(evidence: EvidencePackage,
                            params: CalibrationErrorParams) -> CheckResult:
    """Scores are miscalibrated though prevalence is stable: the threshold sits wrong."""
    err, change = evidence.metrics["calibration_error"], evidence.metrics["prevalence_change"]
    findings = [*off_target(evidence), metric_finding(
        evidence, "calibration_error", "calibration_error", params.max_ece, err >= params.max_ece)]
    if err < params.max_ece:
        return CheckResult(Verdict.REFUTED, 0.8, f"scores are calibrated (ECE {err:.3f})", findings)
    if abs(change) >= params.min_prevalence_change:
        return CheckResult(Verdict.REFUTED, 0.6, f"ECE {err:.3f} is explained by the prevalence "
                           f"change ({change:+.3f})", findings)
    if not _auc_holds(evidence, params.max_auc_drop):
        return CheckResult(Verdict.REFUTED, 0.6, "AUC fell: a ranking problem first", findings)
    if not off_target(evidence) and err < 2 * params.max_ece:
        return CheckResult(Verdict.INCONCLUSIVE, 0.4,
                           f"ECE {err:.3f} is high but decisions still meet their targets",
                           findings)
    return CheckResult(Verdict.SUPPORTED, _gap_strength(evidence, err, params.max_ece),
                       f"scores are miscalibrated (ECE {err:.3f}) at a stable prevalence; the "
                       "threshold no longer sits where the targets need it", findings)


@check("ranking-degraded", params=RankingDegradedParams)
@needs_metrics(_COLLECTOR, "threshold_auc_drop")
def check_ranking_degraded(evidence: EvidencePackage,
                           params: RankingDegradedParams) -> CheckResult:
    """AUC itself fell: not a threshold problem (no threshold restores ranking)."""
    drop = evidence.metrics["threshold_auc_drop"]
    findings = [metric_finding(evidence, "ranking", "threshold_auc_drop", params.max_auc_drop,
                               drop >= params.max_auc_drop)]
    if drop >= params.max_auc_drop:
        return CheckResult(Verdict.SUPPORTED,
                           auc_drop_strength(evidence, drop, params.max_auc_drop),
                           f"labelled AUC fell {drop:.3f}: the ranking degraded, which no "
                           "threshold fixes; hand over to performance-decay", findings)
    return CheckResult(Verdict.REFUTED, 0.85, f"ranking holds (AUC drop {drop:+.3f})", findings)


@check("on-target", params=OnTargetParams)
@needs_metrics(_COLLECTOR, "approval_rate")
def check_on_target(evidence: EvidencePackage, params: OnTargetParams) -> CheckResult:
    """Approval rate within tolerance and floors met: a false alarm."""
    breached = off_target(evidence)
    if breached or not _auc_holds(evidence, params.max_auc_drop):
        return CheckResult(Verdict.REFUTED, 0.9, "a target is missed or the ranking degraded",
                           breached)
    return CheckResult(Verdict.SUPPORTED, 0.85,
                       f"approval rate {evidence.metrics['approval_rate']:.1%} and precision/"
                       "recall floors are on target; suggested monitoring change: alert on the "
                       "approval rate leaving the profile's tolerance only", [metric_finding(
                           evidence, "threshold_target", "approval_rate", None, False)])
