"""What checks require of the evidence, declared on the check, and metric findings.

A check whose collector did not run (e.g. triage's broad evidence holds no latency) answers
INCONCLUSIVE with low confidence instead of guessing, and says which collector to add. The
gates are decorators under ``@check``: the registered function still takes
``(evidence, params)``; ``reads_part`` hands the check its collector's part instead.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

from pydantic import BaseModel

from playbooks.checks.base import CheckResult
from playbooks.models.evidence import EvidencePackage
from playbooks.models.incident import Finding, Verdict

__all__ = ["CheckFn", "metric_finding", "missing_evidence", "needs_metrics", "reads_part"]

P = TypeVar("P", bound=BaseModel)
T = TypeVar("T")
CheckFn = Callable[[EvidencePackage, P], CheckResult]


def missing_evidence(evidence: EvidencePackage, metrics: tuple[str, ...],
                     collector: str) -> CheckResult | None:
    """INCONCLUSIVE when any of ``metrics`` is absent from the evidence, else None."""
    gone = [m for m in metrics if m not in evidence.metrics]
    if not gone:
        return None
    return CheckResult(Verdict.INCONCLUSIVE, 0.1,
                       f"evidence not collected: {', '.join(gone)} (add the '{collector}' "
                       "collector to the spec's evidence, and check the profile provides its data)")


def needs_metrics(collector: str, *metrics: str) -> Callable[[CheckFn[P]], CheckFn[P]]:
    """The check runs only when the evidence holds every one of ``metrics`` (headline metrics
    of ``collector``); otherwise it answers ``missing_evidence``."""
    def decorate(fn: CheckFn[P]) -> CheckFn[P]:
        @functools.wraps(fn)
        def gated(evidence: EvidencePackage, params: P) -> CheckResult:
            gate = missing_evidence(evidence, metrics, collector)
            return gate if gate is not None else fn(evidence, params)
        return gated
    return decorate


def reads_part(select: Callable[[EvidencePackage], T | None], unavailable: str
               ) -> Callable[[Callable[[T, P], CheckResult]], CheckFn[P]]:
    """For checks that read one collector's part: the check gets ``select(evidence)``; when
    that is None (the collector did not run) the answer is INCONCLUSIVE, saying ``unavailable``."""
    def decorate(fn: Callable[[T, P], CheckResult]) -> CheckFn[P]:
        @functools.wraps(fn)
        def gated(evidence: EvidencePackage, params: P) -> CheckResult:
            part = select(evidence)
            if part is None:
                return CheckResult(Verdict.INCONCLUSIVE, 0.0, unavailable)
            return fn(part, params)
        return gated
    return decorate


def metric_finding(evidence: EvidencePackage, kind: str, metric: str, threshold: float | None,
                   breached: bool, **detail: object) -> Finding:
    """A finding about one headline metric of the evidence."""
    return Finding(kind=kind, statistic=metric, value=evidence.metrics.get(metric),
                   threshold=threshold, breached=breached, detail=dict(detail))
