"""Competing hypotheses for a serving SLO breach (p95 latency or error rate).

* heavier-version: latency rose with a version change - the new version is heavier; roll
  back to the lighter one.
* saturation: latency tracks request volume, whatever version serves - capacity, not the
  model; escalate to on-call with the infrastructure finding, change nothing.
* error-spike: the error rate breaches its SLO - the serving stack fails requests; escalate.
* within-slo: latency and errors are within their SLOs: a false alarm.

Reads the ``serving-metrics`` collector's metrics.
"""

from __future__ import annotations

from pydantic import Field

from playbooks.checks.base import CheckResult
from playbooks.checks.evidence_gate import metric_finding, needs_metrics
from playbooks.checks.strength import Specificity, strength
from playbooks.engine.plugins import check
from playbooks.models.common import StrictParams
from playbooks.models.evidence import EvidencePackage
from playbooks.models.incident import Verdict
from playbooks.stats.significance import p_share_above

__all__ = ["ErrorSpikeParams", "HeavierVersionParams", "SaturationParams", "WithinSloParams",
           "check_error_spike", "check_heavier_version", "check_saturation", "check_within_slo"]

_COLLECTOR = "serving-metrics"


class HeavierVersionParams(StrictParams):
    min_version_ratio: float = Field(
        1.5, gt=1, description="p95 ratio vs the previous version that makes it 'heavier'.")


class SaturationParams(StrictParams):
    min_corr: float = Field(
        0.6, gt=0, le=1, description="Rank correlation of latency with volume that counts.")
    version_ratio: float = Field(
        1.5, gt=1, description="A version change this much slower explains it instead.")


class ErrorSpikeParams(StrictParams):
    max_slo_ratio: float = Field(1.0, gt=0, description="Error rate / SLO tolerated.")


class WithinSloParams(StrictParams):
    max_slo_ratio: float = Field(1.0, gt=0, description="Latency and error ratio tolerated.")


def _latency_breached(ev: EvidencePackage) -> bool:
    return ev.metrics.get("latency_p95_slo_ratio", 0.0) > 1.0


def _latency_strength(ev: EvidencePackage) -> float:
    """A p95 SLO is breached when more than 5% of requests are slower than it."""
    m = ev.metrics
    return strength(p_share_above(m.get("latency_slo_exceed_share", 0.0),
                                  int(m.get("recent_requests", 0)), 0.05))


@check("heavier-version", params=HeavierVersionParams)
@needs_metrics(_COLLECTOR, "latency_p95_slo_ratio", "version_changed_in_window")
def check_heavier_version(evidence: EvidencePackage, params: HeavierVersionParams) -> CheckResult:
    """Latency rose with a version change: the new version is heavier."""
    m = evidence.metrics
    ratio = m.get("latency_version_ratio", 1.0)
    findings = [metric_finding(evidence, "latency_slo", "latency_p95_slo_ratio", 1.0,
                               _latency_breached(evidence), p95_ms=m.get("latency_p95_ms")),
                metric_finding(evidence, "version_latency", "latency_version_ratio",
                               params.min_version_ratio, ratio >= params.min_version_ratio)]
    if not _latency_breached(evidence):
        return CheckResult(Verdict.REFUTED, 0.85, "p95 latency is within its SLO", findings)
    if not m["version_changed_in_window"]:
        return CheckResult(Verdict.REFUTED, 0.85, "no version change inside the window",
                           findings)
    if ratio < params.min_version_ratio:
        return CheckResult(Verdict.REFUTED, 0.7, f"the new version is only x{ratio:.2f} slower",
                           findings)
    return CheckResult(Verdict.SUPPORTED, _latency_strength(evidence),
                       f"p95 latency rose x{ratio:.1f} with the new version "
                       f"({m.get('latency_p95_ms', float('nan')):.0f} ms): a heavier release",
                       findings, specificity=Specificity.LOCALISED)


@check("saturation", params=SaturationParams)
@needs_metrics(_COLLECTOR, "latency_p95_slo_ratio")
def check_saturation(evidence: EvidencePackage, params: SaturationParams) -> CheckResult:
    """Latency tracks request volume within one version: capacity, not the model."""
    m = evidence.metrics
    corr = m.get("latency_volume_corr")
    findings = [metric_finding(evidence, "latency_slo", "latency_p95_slo_ratio", 1.0,
                               _latency_breached(evidence)),
                metric_finding(evidence, "saturation", "latency_volume_corr", params.min_corr,
                               corr is not None and corr >= params.min_corr,
                               volume_ratio=m.get("volume_ratio"))]
    if not _latency_breached(evidence):
        return CheckResult(Verdict.REFUTED, 0.85, "p95 latency is within its SLO", findings)
    if corr is None:
        return CheckResult(Verdict.INCONCLUSIVE, 0.3, "too few busy hours to relate latency to "
                           "volume", findings)
    if corr < params.min_corr:
        return CheckResult(Verdict.REFUTED, 0.75,
                           f"latency does not follow volume (rho {corr:.2f})", findings)
    heavier = (m.get("version_changed_in_window") and
               m.get("latency_version_ratio", 1.0) >= params.version_ratio)
    # A heavier version that also breaches explains the latency better: weaker evidence here.
    conf = min(_latency_strength(evidence), 0.6) if heavier else _latency_strength(evidence)
    return CheckResult(Verdict.SUPPORTED, conf,
                       f"hourly latency follows request volume (rho {corr:.2f}, volume "
                       f"x{m.get('volume_ratio', float('nan')):.1f} of baseline): the serving "
                       "capacity is saturated; infrastructure finding for on-call", findings,
                       specificity=Specificity.LOCALISED)


@check("error-spike", params=ErrorSpikeParams)
@needs_metrics(_COLLECTOR, "error_rate_slo_ratio")
def check_error_spike(evidence: EvidencePackage, params: ErrorSpikeParams) -> CheckResult:
    """The serving error rate breaches its SLO."""
    m = evidence.metrics
    ratio = m["error_rate_slo_ratio"]
    findings = [metric_finding(evidence, "error_rate", "error_rate_slo_ratio",
                               params.max_slo_ratio, ratio > params.max_slo_ratio,
                               error_rate=m.get("error_rate"))]
    if ratio <= params.max_slo_ratio:
        return CheckResult(Verdict.REFUTED, 0.9, "the error rate is within its SLO", findings)
    rate = m.get("error_rate", 0.0)
    slo = rate / ratio if ratio else 0.0
    conf = strength(p_share_above(rate, int(m.get("recent_requests", 0)),
                                  slo * params.max_slo_ratio))
    return CheckResult(Verdict.SUPPORTED, conf,
                       f"error rate {rate:.1%} is x{ratio:.1f} its SLO ({slo:.2%}): the serving "
                       "stack is failing requests", findings, specificity=Specificity.LOCALISED)


@check("within-slo", params=WithinSloParams)
@needs_metrics(_COLLECTOR, "latency_p95_slo_ratio")
def check_within_slo(evidence: EvidencePackage, params: WithinSloParams) -> CheckResult:
    """Latency and error rate are within their SLOs: a false alarm."""
    m = evidence.metrics
    pairs = (("latency_p95_slo_ratio", m["latency_p95_slo_ratio"]),
             ("error_rate_slo_ratio", m.get("error_rate_slo_ratio", 0.0)))
    findings = [metric_finding(evidence, "serving_slo", k, params.max_slo_ratio,
                               v > params.max_slo_ratio) for k, v in pairs]
    if any(f.breached for f in findings):
        return CheckResult(Verdict.REFUTED, 0.9, "an SLO is breached", findings)
    return CheckResult(Verdict.SUPPORTED, 0.85,
                       "latency and errors are within their SLOs; suggested monitoring change: "
                       "alert on the p95 over 15 minutes rather than single slow requests",
                       findings)
