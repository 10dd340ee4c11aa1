"""Competing hypotheses for input drift.

* population-shift: several features moved in ways no unit/encoding change explains — the
  applicant population changed, retraining on recent data helps.
* upstream-unit-change: one feature is the reference distribution rescaled by a unit factor
  (or a categorical was re-encoded) — a pipeline bug; retraining would learn the bug.
* no-material-drift: nothing crosses the action threshold — a false alarm.
"""

from __future__ import annotations

from pydantic import Field

from playbooks.checks.base import CheckResult, FeatureDriftView, drift_view
from playbooks.engine.plugins import check
from playbooks.models.common import StrictParams
from playbooks.models.evidence import EvidencePackage
from playbooks.models.incident import Finding, Verdict
from playbooks.stats.units import unit_scale

__all__ = [
    "NoMaterialDriftParams",
    "PopulationShiftParams",
    "UnitChangeParams",
    "check_no_material_drift",
    "check_population_shift",
    "check_upstream_unit_change",
    "unit_change_signature",
]

_QUANTILES = ("p5", "p25", "p50", "p75", "p95")


class UnitChangeParams(StrictParams):
    min_factor: float = Field(2.0, gt=1, description="Ignore scale changes smaller than this.")
    tolerance: float = Field(
        0.1,
        gt=0,
        lt=1,
        description="Max relative spread of per-quantile ratios (shape preserved) and max "
        "relative distance to a known unit factor.",
    )
    min_unseen_share: float = Field(
        0.5, gt=0, le=1, description="Unseen-category share that signals a re-encoding."
    )


class PopulationShiftParams(StrictParams):
    min_drifted_features: int = Field(
        2, ge=1, description="Drifted features (not explained by unit changes) needed."
    )
    unit_change: UnitChangeParams = Field(default_factory=UnitChangeParams)


class NoMaterialDriftParams(StrictParams):
    max_drifted_features: int = Field(0, ge=0, description="Drifted features still tolerated.")


def unit_change_signature(f: FeatureDriftView, p: UnitChangeParams) -> Finding | None:
    """A finding when ``f`` looks like a unit/scale or encoding change, else None."""
    if not f.drifted:
        return None
    if f.kind == "categorical":
        if f.unseen_share >= p.min_unseen_share:
            return Finding(
                kind="encoding_change",
                feature=f.feature,
                statistic="unseen_share",
                value=f.unseen_share,
                threshold=p.min_unseen_share,
                breached=True,
                detail={"unseen_values": f.unseen_categories[:10]},
            )
        return None
    ref, cur = f.reference_summary, f.current_summary
    shared = [q for q in _QUANTILES if q in ref and q in cur]
    scale = unit_scale([ref[q] for q in shared], [cur[q] for q in shared],
                       min_factor=p.min_factor, tolerance=p.tolerance)
    if scale is None:
        return None
    return Finding(
        kind="unit_change",
        feature=f.feature,
        statistic="quantile_ratio",
        value=round(scale.ratio, 6),
        threshold=p.min_factor,
        breached=True,
        detail={
            "quantile_ratios": [round(r, 6) for r in scale.ratios],
            "ratio_spread": round(scale.spread, 4),
            "nearest_unit_factor": scale.nearest_factor,
            "known_factor": scale.factor_distance <= p.tolerance,
            "psi": f.psi,
        },
    )


def _drift_finding(f: FeatureDriftView, threshold: float | None) -> Finding:
    return Finding(
        kind="feature_drift",
        feature=f.feature,
        statistic="psi",
        value=f.psi,
        threshold=threshold,
        breached=f.drifted,
        detail={
            "ks": f.ks,
            "wasserstein_normed": f.wasserstein_normed,
            "js": f.js,
            "status": f.status,
        },
    )


@check("upstream-unit-change", params=UnitChangeParams)
def check_upstream_unit_change(evidence: EvidencePackage, params: UnitChangeParams) -> CheckResult:
    """A feature is the reference rescaled by a unit factor, or a categorical was re-encoded."""
    feats = drift_view(evidence)
    hits = [h for f in feats if (h := unit_change_signature(f, params)) is not None]
    if not hits:
        return CheckResult(
            Verdict.REFUTED,
            0.85,
            "no drifted feature looks like a rescaled or re-encoded reference",
        )
    drifted = [f for f in feats if f.drifted]
    explained = len(hits) / max(len(drifted), 1)
    known = all(h.detail.get("known_factor", True) for h in hits)
    conf = min(0.95, 0.6 + 0.25 * explained + (0.1 if known else 0.0))
    names = ", ".join(
        f"{h.feature} (x{h.value:g})" if h.kind == "unit_change" else f"{h.feature} (re-encoded)"
        for h in hits
    )
    return CheckResult(
        Verdict.SUPPORTED,
        round(conf, 3),
        f"upstream unit/encoding change in {names}: same shape, different scale; "
        "retraining would learn the bug",
        hits,
    )


@check("population-shift", params=PopulationShiftParams)
def check_population_shift(evidence: EvidencePackage, params: PopulationShiftParams) -> CheckResult:
    """Several features drifted in ways no unit or encoding change explains."""
    feats = drift_view(evidence)
    shifted = sorted(
        (f for f in feats if f.drifted and unit_change_signature(f, params.unit_change) is None),
        key=lambda f: -(f.psi or 0),
    )
    findings = [_drift_finding(f, evidence.metrics.get("psi_act")) for f in shifted]
    share = len(shifted) / max(len(feats), 1)
    if len(shifted) >= params.min_drifted_features:
        conf = min(0.95, 0.6 + share)
        top = ", ".join(f"{f.feature} (PSI {f.psi:.2f})" for f in shifted[:4])
        return CheckResult(
            Verdict.SUPPORTED,
            round(conf, 3),
            f"{len(shifted)} of {len(feats)} features shifted together: {top}",
            findings,
        )
    if shifted:
        return CheckResult(
            Verdict.INCONCLUSIVE,
            0.4,
            f"only {shifted[0].feature} drifted; too narrow for a population shift",
            findings,
        )
    return CheckResult(Verdict.REFUTED, 0.8, "no drift beyond what unit changes explain", findings)


@check("no-material-drift", params=NoMaterialDriftParams)
def check_no_material_drift(
    evidence: EvidencePackage, params: NoMaterialDriftParams
) -> CheckResult:
    """Nothing crosses the action threshold: the alert was a false alarm."""
    feats = drift_view(evidence)
    drifted = [f for f in feats if f.drifted]
    top = sorted(feats, key=lambda f: -(f.psi or 0))[:5]
    findings = [_drift_finding(f, evidence.metrics.get("psi_act")) for f in top]
    max_psi = max((f.psi or 0.0) for f in feats) if feats else 0.0
    if len(drifted) <= params.max_drifted_features:
        return CheckResult(
            Verdict.SUPPORTED,
            round(min(0.95, 0.7 + 0.25 * (1 - min(max_psi / 0.2, 1))), 3),
            f"no material drift: max PSI {max_psi:.3f} across {len(feats)} features",
            findings,
        )
    return CheckResult(
        Verdict.REFUTED, 0.9, f"{len(drifted)} feature(s) drifted (max PSI {max_psi:.2f})", findings
    )
