"""fairness-regression: the serving version decides groups further apart than the version that
served before it, on the same requests (the ``group-fairness`` collector). Used by the
bad-release and threshold-miscalibration playbooks: a release or a threshold can each move
one group's decision rate away from the others' while every overall metric holds."""

from __future__ import annotations

from pydantic import Field

from playbooks.checks.base import CheckResult
from playbooks.checks.evidence_gate import metric_finding, needs_metrics
from playbooks.checks.strength import Specificity, strength_from_bf
from playbooks.engine.plugins import check
from playbooks.models.common import StrictParams
from playbooks.models.evidence import EvidencePackage
from playbooks.models.incident import Verdict

__all__ = ["FairnessRegressionParams", "check_fairness_regression"]

_COLLECTOR = "group-fairness"
# A widened gap proves the decisions moved apart, not why: strong evidence, never decisive.
_MAX_BF = 100.0


class FairnessRegressionParams(StrictParams):
    max_widening: float = Field(
        0.05, gt=0, lt=1, description="Widening of the decision-rate gap between groups (serving "
        "minus previous version, worst sensitive attribute) that counts, e.g. 0.05 = 5 points.")
    max_odds_widening: float = Field(
        0.05, gt=0, lt=1, description="The same for equalized odds (when labels are known).")


@check("fairness-regression", params=FairnessRegressionParams)
@needs_metrics(_COLLECTOR, "group_gap_widening")
def check_fairness_regression(evidence: EvidencePackage,
                              params: FairnessRegressionParams) -> CheckResult:
    """The current version widened the gap between sensitive groups vs the previous one."""
    m = evidence.metrics
    pairs = [(k, t) for k, t in (("group_gap_widening", params.max_widening),
                                 ("group_odds_widening", params.max_odds_widening)) if k in m]
    # Judged on the widening we are confident about (the collector's bootstrap low bound;
    # evidence without one: the point value), so a day's sampling noise is no regression.
    sure = {k: m.get(f"{k}_low", m[k]) for k, _ in pairs}
    findings = [metric_finding(evidence, "group_gap", k, t, sure[k] >= t) for k, t in pairs]
    worst = max(pairs, key=lambda kt: sure[kt[0]] / kt[1])
    value, limit = sure[worst[0]], worst[1]
    gap = (f"{m['group_gap_previous']:.3f} -> {m['group_gap_serving']:.3f}"
           if "group_gap_serving" in m and "group_gap_previous" in m else "")
    noisy = [k for k, t in pairs if m[k] >= t > sure[k]]
    if value < limit and noisy:
        k = noisy[0]
        return CheckResult(Verdict.INCONCLUSIVE, 0.0, f"the gap between groups widened by "
                           f"{m[k]:.3f} ({k}), but within sampling noise (at least "
                           f"{sure[k]:+.3f} with the profile's confidence; limit {limit:g})",
                           findings)
    if value >= limit:
        bf = _MAX_BF ** min(max(value / limit - 1.0, 0.0), 1.0)
        return CheckResult(Verdict.SUPPORTED, strength_from_bf(max(bf, 3.2)),
                           f"the current version widened the gap between groups by "
                           f"{m[worst[0]]:.3f} (at least {value:.3f}; {worst[0]}; decision-rate "
                           f"gap {gap}) vs the previous version on the same requests", findings,
                           specificity=Specificity.LOCALISED)
    return CheckResult(Verdict.REFUTED, 0.8, f"the gap between groups did not widen past "
                       f"{limit:g} (widening {m[worst[0]]:+.3f}{'; gap ' + gap if gap else ''})",
                       findings)
