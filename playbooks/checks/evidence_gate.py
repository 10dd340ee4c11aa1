"""Helpers the model-side checks share: the "evidence not collected" gate and metric findings.

A check whose collector did not run (e.g. triage's broad evidence holds no latency) answers
INCONCLUSIVE with low confidence instead of guessing, and says which collector to add.
"""

from __future__ import annotations

from playbooks.checks.base import CheckResult
from playbooks.models.evidence import EvidencePackage
from playbooks.models.incident import Finding, Verdict

__all__ = ["metric_finding", "missing_evidence"]


def missing_evidence(evidence: EvidencePackage, metrics: tuple[str, ...],
                     collector: str) -> CheckResult | None:
    """INCONCLUSIVE when any of ``metrics`` is absent from the evidence, else None."""
    gone = [m for m in metrics if m not in evidence.metrics]
    if not gone:
        return None
    return CheckResult(Verdict.INCONCLUSIVE, 0.1,
                       f"evidence not collected: {', '.join(gone)} (add the '{collector}' "
                       "collector to the spec's evidence, and check the profile provides its data)")


def metric_finding(evidence: EvidencePackage, kind: str, metric: str, threshold: float | None,
                   breached: bool, **detail: object) -> Finding:
    """A finding about one headline metric of the evidence."""
    return Finding(kind=kind, statistic=metric, value=evidence.metrics.get(metric),
                   threshold=threshold, breached=breached, detail=dict(detail))
