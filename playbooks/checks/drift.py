"""Competing hypotheses for input drift.

* population-shift: several features moved in ways no unit/encoding change explains — the
  applicant population changed, retraining on recent data helps.
* upstream-unit-change: one feature is the reference distribution rescaled by a unit factor
  (or a categorical was re-encoded) — a pipeline bug; retraining would learn the bug.
* no-material-drift: nothing crosses the action threshold — a false alarm.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from playbooks.checks.base import CheckResult, FeatureDriftView, drift_view
from playbooks.checks.strength import Specificity, strength, strength_from_bf
from playbooks.engine.plugins import check
from playbooks.models.common import StrictParams
from playbooks.models.evidence import EvidencePackage
from playbooks.models.incident import Finding, Verdict
from playbooks.stats.significance import p_psi_above
from playbooks.stats.units import UNIT_QUANTILES, unit_scale

__all__ = [
    "NoMaterialDriftParams",
    "PopulationShiftParams",
    "UnitChangeParams",
    "check_no_material_drift",
    "check_population_shift",
    "check_upstream_unit_change",
    "unit_change_signature",
]

_QUANTILES = tuple(f"p{round(q * 100)}" for q in UNIT_QUANTILES)  # the data-quality grid too
_BINS = 10  # the spec's drift.bins default; PSI's degrees of freedom for its p-value
_SUBSTANTIAL = strength_from_bf(3.2)  # Jeffreys: below this, not worth acting on


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


def measured_scales(evidence: EvidencePackage) -> dict[str, dict[str, Any] | None] | None:
    """Per numeric feature the data-quality collector's unit-change issue (None: it found
    none), or None without that evidence: then the drift summaries' quantiles decide."""
    part = evidence.parts.get("data-quality")
    if part is None:
        return None
    found = {i["feature"]: i for i in part.get("issues") or []
             if i["kind"] == "out_of_range" and i["statistic"] == "scale_ratio"}
    return {c: found.get(c) for c in (part.get("columns") or {})}


def unit_change_signature(f: FeatureDriftView, p: UnitChangeParams,
                          measured: dict[str, dict[str, Any] | None] | None = None
                          ) -> Finding | None:
    """A finding when ``f`` looks like a unit/scale or encoding change, else None.
    ``measured`` (``measured_scales``) makes numeric features use the one estimator on raw
    values that data-quality reports, so both playbooks state the same factor."""
    if not f.drifted or f.status == "all_missing":
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
    if f.feature in (measured or {}):  # the data-quality evidence's estimate, on raw values
        found = (measured or {})[f.feature]
        if found is None:
            return None
        ratio, factor = float(found["value"]), float(found["detail"]["nearest_unit_factor"])
        return Finding(kind="unit_change", feature=f.feature, statistic="median_ratio",
                       value=round(ratio, 6), threshold=p.min_factor, breached=True,
                       detail={"quantile_ratios": found["detail"].get("quantile_ratios"),
                               "shape_ks": found["detail"].get("shape_ks"),
                               "nearest_unit_factor": factor,
                               "known_factor": abs(ratio / factor - 1) <= p.tolerance,
                               "psi": f.psi, "estimated_by": "data-quality"})
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


def drift_p(f: FeatureDriftView, psi_act: float) -> float:
    """One-sided p-value that ``f``'s PSI exceeds the action threshold, from its sample sizes."""
    n_ref, n_cur = int(f.raw.get("n_reference") or 0), int(f.raw.get("n_current") or 0)
    return p_psi_above(f.psi or 0.0, n_ref, n_cur, _BINS, psi_act)


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
    measured = measured_scales(evidence)
    hits = [h for f in feats if (h := unit_change_signature(f, params, measured)) is not None]
    if not hits:
        return CheckResult(
            Verdict.REFUTED,
            0.85,
            "no drifted feature looks like a rescaled or re-encoded reference",
        )
    psi_act = evidence.metrics.get("psi_act", 0.2)
    by_name = {f.feature: f for f in feats}
    # The evidence that the column changed at all; the shape test says how.
    p = min(drift_p(by_name[h.feature or ""], psi_act) for h in hits)
    units = [f"{h.feature} (x{h.value:.4g}, near x{h.detail['nearest_unit_factor']:g})"
             for h in hits if h.kind == "unit_change"]
    codes = [f"{h.feature} ({h.value:.0%} of rows carry labels the reference never had: "
             f"{', '.join(map(str, h.detail['unseen_values'][:5]))})"
             for h in hits if h.kind == "encoding_change"]
    said = ([f"rescaled: {', '.join(units)} (quantiles keep their shape)"] if units else []) + (
        [f"re-encoded: {'; '.join(codes)}"] if codes else [])
    return CheckResult(
        Verdict.SUPPORTED,
        strength(p),
        f"upstream unit/encoding change, {'; '.join(said)}; retraining would learn the bug",
        hits,
        specificity=Specificity.MECHANISM,
    )


@check("population-shift", params=PopulationShiftParams)
def check_population_shift(evidence: EvidencePackage, params: PopulationShiftParams) -> CheckResult:
    """Several features drifted in ways no unit or encoding change explains."""
    feats = drift_view(evidence)
    psi_act = evidence.metrics.get("psi_act", 0.2)
    measured = measured_scales(evidence)
    shifted = sorted(
        (f for f in feats if f.drifted
         and unit_change_signature(f, params.unit_change, measured) is None),
        key=lambda f: -(f.psi or 0),
    )
    findings = [_drift_finding(f, psi_act) for f in shifted]
    if len(shifted) >= params.min_drifted_features:
        # The claim is "at least k features moved": as strong as the k-th strongest one.
        k = params.min_drifted_features
        p = sorted(drift_p(f, psi_act) for f in shifted)[k - 1]
        top = ", ".join(f"{f.feature} (PSI {f.psi:.2f})" for f in shifted[:4])
        if strength(p) < _SUBSTANTIAL:  # drift statuses crossed, but within sampling noise
            return CheckResult(
                Verdict.INCONCLUSIVE, strength(p),
                f"{len(shifted)} feature(s) flagged ({top}), but on "
                f"{shifted[0].raw.get('n_current')} rows that is within sampling noise of the "
                "PSI threshold",
                findings,
            )
        return CheckResult(
            Verdict.SUPPORTED,
            strength(p),
            f"{len(shifted)} of {len(feats)} features shifted together (PSI > {psi_act:g}): "
            f"{top}",
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
