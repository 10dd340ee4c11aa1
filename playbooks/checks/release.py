"""Competing hypotheses for "the new release broke it".

* regression-after-release: a version promoted inside the window ranks worse than the one
  before it on the same labelled rows (or is much slower): roll back.
* slice-regression: overall it holds, but some profile segment lost a lot: roll back too
  (a segment is customers), then the owner investigates.
* release-not-the-cause: no recent release, or the new version is as good as the old one -
  the release is not what went wrong: close (another playbook's case).

Reads the ``release-history`` collector's metrics.
"""

from __future__ import annotations

from pydantic import Field

from playbooks.checks.base import CheckResult
from playbooks.checks.evidence_gate import metric_finding, needs_metrics
from playbooks.checks.strength import MAX_BAYES_FACTOR, Specificity, strength, strength_from_bf
from playbooks.engine.plugins import check
from playbooks.models.common import StrictParams
from playbooks.models.evidence import EvidencePackage
from playbooks.models.incident import Finding, Verdict
from playbooks.stats.significance import p_auc_drop

__all__ = ["NotTheReleaseParams", "RegressionParams", "SliceRegressionParams",
           "check_regression_after_release", "check_release_not_the_cause",
           "check_slice_regression"]

_COLLECTOR = "release-history"


class RegressionParams(StrictParams):
    min_auc_drop: float = Field(0.03, gt=0, lt=1, description="AUC drop vs previous that counts.")
    min_rows: int = Field(200, ge=10, description="Labelled rows needed for the comparison.")
    max_latency_ratio: float = Field(
        1.5, gt=1, description="p95 latency ratio vs the previous version that counts.")


class SliceRegressionParams(StrictParams):
    min_slice_drop: float = Field(0.05, gt=0, lt=1, description="Segment AUC drop that counts.")
    max_overall_drop: float = Field(
        0.03, gt=0, lt=1, description="Above this overall drop it is a global regression.")
    min_rows: int = Field(200, ge=10, description="Labelled rows needed for the comparison.")


class NotTheReleaseParams(StrictParams):
    min_auc_drop: float = Field(0.03, gt=0, lt=1, description="AUC drop that implicates it.")
    min_slice_drop: float = Field(0.05, gt=0, lt=1, description="Segment drop that implicates it.")
    max_latency_ratio: float = Field(1.5, gt=1, description="Latency ratio that implicates it.")


def _release_strength(ev: EvidencePackage, drop: float, threshold: float,
                      share_of_rows: float = 1.0) -> float:
    """Strength of an AUC drop measured on the release's labelled rows (or a share of them,
    for a segment), few positives assumed (a wider error: weaker)."""
    rows = int(ev.metrics.get("release_labelled_rows", 0) * share_of_rows)
    n_pos = round(rows * 0.1)
    return strength(p_auc_drop(drop, 0.75, n_pos, rows - n_pos, threshold))


def _ratio_strength(ratio: float, threshold: float) -> float:
    """Latency ratios are measured, not sampled: twice the threshold or more is certain."""
    return strength_from_bf(MAX_BAYES_FACTOR ** min(max(ratio / threshold - 1.0, 0.0), 1.0))


def _compared(ev: EvidencePackage, min_rows: int) -> bool:
    return ev.metrics.get("release_labelled_rows", 0.0) >= min_rows


def _findings(ev: EvidencePackage, auc: float, slice_: float, lat: float) -> list[Finding]:
    m = ev.metrics
    return [metric_finding(ev, "release_regression", k, t, m.get(k, 0.0) >= t)
            for k, t in (("release_auc_drop", auc), ("release_worst_slice_auc_drop", slice_),
                         ("release_latency_ratio", lat)) if k in m]


@check("regression-after-release", params=RegressionParams)
@needs_metrics(_COLLECTOR, "recent_release")
def check_regression_after_release(evidence: EvidencePackage,
                                   params: RegressionParams) -> CheckResult:
    """A version promoted in the window is worse than its predecessor on the same rows."""
    m = evidence.metrics
    findings = _findings(evidence, params.min_auc_drop, 1.0, params.max_latency_ratio)
    if not m["recent_release"]:
        return CheckResult(Verdict.REFUTED, 0.9, "no version was promoted inside the window",
                           findings)
    drop, lat = m.get("release_auc_drop"), m.get("release_latency_ratio", 1.0)
    if drop is not None and _compared(evidence, params.min_rows) and drop >= params.min_auc_drop:
        return CheckResult(Verdict.SUPPORTED,
                           _release_strength(evidence, drop, params.min_auc_drop),
                           f"the new version's AUC is {drop:.3f} below its predecessor's on the "
                           f"same {m['release_labelled_rows']:.0f} labelled requests", findings,
                           specificity=Specificity.LOCALISED)
    if lat >= params.max_latency_ratio:
        return CheckResult(Verdict.SUPPORTED, _ratio_strength(lat, params.max_latency_ratio),
                           f"the new version is x{lat:.1f} slower (p95) than its predecessor",
                           # latency is serving-latency's to localise; here it is a symptom
                           findings, specificity=Specificity.SYMPTOM)
    if drop is None or not _compared(evidence, params.min_rows):
        return CheckResult(Verdict.INCONCLUSIVE, 0.3,
                           "too few labelled requests since the release to compare versions",
                           findings)
    return CheckResult(Verdict.REFUTED, 0.8, f"the new version holds up (AUC {-drop:+.3f}, "
                       f"latency x{lat:.2f})", findings)


@check("slice-regression", params=SliceRegressionParams)
@needs_metrics(_COLLECTOR, "recent_release")
def check_slice_regression(evidence: EvidencePackage,
                           params: SliceRegressionParams) -> CheckResult:
    """Overall the new version holds, but a profile segment lost a lot."""
    m = evidence.metrics
    findings = _findings(evidence, params.max_overall_drop, params.min_slice_drop, 1e9)
    worst, drop = m.get("release_worst_slice_auc_drop"), m.get("release_auc_drop")
    if not m["recent_release"]:
        return CheckResult(Verdict.REFUTED, 0.9, "no version was promoted inside the window",
                           findings)
    if worst is None or drop is None or not _compared(evidence, params.min_rows):
        return CheckResult(Verdict.INCONCLUSIVE, 0.3, "no segment comparison available",
                           findings)
    if drop >= params.max_overall_drop:
        return CheckResult(Verdict.REFUTED, 0.6, "the regression is global, not one segment's",
                           findings)
    if worst >= params.min_slice_drop:
        # A segment is a fraction of the rows (a quarter, say): its AUC is that much noisier.
        return CheckResult(Verdict.SUPPORTED,
                           _release_strength(evidence, worst, params.min_slice_drop, 0.25),
                           f"a segment lost {worst:.3f} AUC under the new version while the "
                           f"overall change is {-drop:+.3f}", findings,
                           specificity=Specificity.LOCALISED)
    return CheckResult(Verdict.REFUTED, 0.8, f"no segment lost more than {worst:.3f} AUC",
                       findings)


@check("release-not-the-cause", params=NotTheReleaseParams)
@needs_metrics(_COLLECTOR, "recent_release")
def check_release_not_the_cause(evidence: EvidencePackage,
                                params: NotTheReleaseParams) -> CheckResult:
    """No recent release, or the new version is as good as the old: not a release problem."""
    m = evidence.metrics
    findings = _findings(evidence, params.min_auc_drop, params.min_slice_drop,
                         params.max_latency_ratio)
    if not m["recent_release"]:
        return CheckResult(Verdict.SUPPORTED, 0.85, "no version was promoted inside the window: "
                           "the release is not the cause; suggested monitoring change: route "
                           "this alert to triage unless a deployment preceded it", findings)
    if any(f.breached for f in findings):
        return CheckResult(Verdict.REFUTED, 0.85, "the new version is worse than its predecessor",
                           findings)
    if "release_auc_drop" not in m:
        return CheckResult(Verdict.INCONCLUSIVE, 0.3, "versions not compared yet", findings)
    return CheckResult(Verdict.SUPPORTED, 0.8, "the new version is as good as its predecessor "
                       "on the same requests: the release is not the cause", findings)
