"""Competing hypotheses for training/serving skew, read from the ``feature-skew`` evidence.

* stale-pipeline: part of the traffic comes from another feature-pipeline version, and those
  rows compute features differently.
* swapped-columns: a feature carries another feature's values (a mis-mapped column).
* double-transform: a feature is its reference under one transformation too many (or few).
* no-skew: served features mean what training meant — the alert was a false alarm (drift
  without a skew signature belongs to the data-drift playbook).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from playbooks.checks.base import CheckResult
from playbooks.checks.evidence_gate import reads_part
from playbooks.checks.strength import Specificity, strength
from playbooks.engine.plugins import check
from playbooks.models.common import StrictParams
from playbooks.models.evidence import EvidencePackage
from playbooks.models.incident import Finding, Verdict
from playbooks.stats.significance import p_psi_above, p_share_above

__all__ = [
    "DoubleTransformParams",
    "NoSkewParams",
    "StalePipelineParams",
    "SwappedColumnsParams",
    "check_double_transform",
    "check_no_skew",
    "check_stale_pipeline",
    "check_swapped_columns",
]


class StalePipelineParams(StrictParams):
    min_stale_share: float = Field(
        default=0.02, ge=0, le=1,
        description="Share of rows on a non-expected version that counts.")


class SwappedColumnsParams(StrictParams):
    max_match_psi: float = Field(
        default=0.1, gt=0,
        description="PSI of a column against another's reference that is a match (at least "
        "the sampling noise of the window's size, which the collector records).")


class DoubleTransformParams(StrictParams):
    max_match_psi: float = Field(
        default=0.1, gt=0, description="PSI of the (un)transformed column against its reference.")


class NoSkewParams(StrictParams):
    max_rescore_gap: float = Field(
        default=0.02, ge=0, le=1, description="Re-scoring gap still consistent with the log.")


_BINS = 10
_OWN_DRIFT_PSI = 0.2  # the skew collector's drift_psi default: a candidate moved this much


def _part(evidence: EvidencePackage) -> dict[str, Any] | None:
    part = evidence.parts.get("feature-skew")
    if part is None:
        return None
    m = evidence.metrics  # sample sizes for the strengths (feature-drift's headline rows)
    return {**part, "_n_ref": int(m.get("reference_rows") or 0),
            "_n_cur": int(m.get("current_rows") or 0)}


def _moved(part: dict[str, Any], features: list[str]) -> float:
    """Strength that the features moved off their own reference (the skew's footprint)."""
    psis = [float(part["own_psi"].get(f) or 0.0) for f in features]
    return strength(min((p_psi_above(v, part["_n_ref"], part["_n_cur"], _BINS, _OWN_DRIFT_PSI)
                         for v in psis), default=1.0))


_reads_skew = reads_part(_part, "no feature-skew evidence: add 'feature-skew' to the spec's "
                         "evidence")


@check("stale-pipeline", params=StalePipelineParams)
@_reads_skew
def check_stale_pipeline(part: dict[str, Any], params: StalePipelineParams) -> CheckResult:
    """Rows from a non-expected feature-pipeline version compute features differently."""
    v = part["versions"]
    if not v.get("available"):
        return CheckResult(Verdict.INCONCLUSIVE, 0.0, v.get("reason", "no version column"))
    share = float(v["stale_share"])
    stale = {k: s for k, s in v["shares"].items() if k != v["expected"]}
    f = Finding(kind="stale_feature_version", statistic="row_share", value=round(share, 4),
                threshold=params.min_stale_share, breached=share >= params.min_stale_share,
                detail={"expected": v["expected"], "expected_from": v["expected_from"],
                        "stale_versions": stale})
    if not f.breached:
        return CheckResult(Verdict.REFUTED, 0.9,
                           f"all rows come from the expected pipeline {v['expected']}", [f])
    diffs = [Finding(kind="feature_drift", feature=name, statistic="psi_stale_vs_expected",
                     value=d["psi"], breached=True,
                     detail={"median_ratio": d["median_ratio"]})
             for name, d in v["features"].items()]
    conf = strength(p_share_above(share, part["_n_cur"], params.min_stale_share))
    how = ", ".join(f"{d.feature} (x{d.detail['median_ratio']:g})" if d.detail["median_ratio"]
                    else f"{d.feature}" for d in diffs) or "no feature measurably"
    return CheckResult(Verdict.SUPPORTED, conf,
                       f"{share:.0%} of rows come from {', '.join(stale)} instead of "
                       f"{v['expected']}; they compute {how} differently", [f, *diffs],
                       # a version mix that changes no feature says less about the cause
                       specificity=Specificity.MECHANISM if diffs else Specificity.SYMPTOM)


@check("swapped-columns", params=SwappedColumnsParams)
@_reads_skew
def check_swapped_columns(part: dict[str, Any], params: SwappedColumnsParams) -> CheckResult:
    """A feature carries another feature's values."""
    swaps = {a: s for a, s in part["swaps"].items()
             if s["psi"] <= max(params.max_match_psi, s.get("psi_limit", 0.0))}
    if not swaps:
        return CheckResult(Verdict.REFUTED, 0.85,
                           f"no drifted feature matches another feature's reference "
                           f"({len(part['drifted'])} drifted)")
    findings = [Finding(kind="swapped_columns", feature=a, statistic="psi_vs_other_reference",
                        value=s["psi"], threshold=params.max_match_psi, breached=True,
                        detail={"matches": s["matches"], "own_psi": part["own_psi"].get(a),
                                "mutual": swaps.get(s["matches"], {}).get("matches") == a})
                for a, s in swaps.items()]
    said = ", ".join(f"{f.feature} holds {f.detail['matches']}'s values" for f in findings)
    mutual = all(f.detail["mutual"] for f in findings)
    return CheckResult(Verdict.SUPPORTED, _moved(part, list(swaps)),
                       f"columns mis-mapped: {said}", findings,
                       specificity=Specificity.MECHANISM if mutual else Specificity.LOCALISED)


@check("double-transform", params=DoubleTransformParams)
@_reads_skew
def check_double_transform(part: dict[str, Any],
                           params: DoubleTransformParams) -> CheckResult:
    """A feature is its reference under one transformation too many, or one too few."""
    hits = {a: s for a, s in part["transforms"].items()
            if s["psi"] <= max(params.max_match_psi, s.get("psi_limit", 0.0))}
    if not hits:
        return CheckResult(Verdict.REFUTED, 0.85,
                           "no drifted feature is a common transformation of its reference")
    findings = [Finding(kind="transform_mismatch", feature=a, statistic="psi_after_transform",
                        value=s["psi"], threshold=params.max_match_psi, breached=True,
                        detail={"transform": s["transform"], "direction": s["direction"],
                                "own_psi": part["own_psi"].get(a)})
                for a, s in hits.items()]
    how = {"applied_extra": "once too often", "missing": "in training, not in serving"}
    said = ", ".join(f"{f.feature}: {f.detail['transform']} applied {how[f.detail['direction']]}"
                     for f in findings)
    return CheckResult(Verdict.SUPPORTED, _moved(part, list(hits)),
                       f"transformation mismatch: {said}", findings,
                       specificity=Specificity.MECHANISM)


@check("no-skew", params=NoSkewParams)
@_reads_skew
def check_no_skew(part: dict[str, Any], params: NoSkewParams) -> CheckResult:
    """No skew signature and the logged scores are reproducible: a false alarm."""
    v = part["versions"]
    rescore = part.get("rescore") or {}
    gap = rescore.get("mean_abs_gap") if rescore.get("available") else None
    gap_f = Finding(kind="rescore_gap", statistic="mean_abs_gap", value=gap,
                    threshold=params.max_rescore_gap,
                    breached=gap is not None and gap > params.max_rescore_gap)
    signatures = len(part["swaps"]) + len(part["transforms"]) + len(v.get("features") or {})
    if signatures or gap_f.breached:
        why = f"{signatures} skew signature(s)" if signatures else (
            f"re-scoring the logged features misses the logged scores by {gap:.3f}")
        return CheckResult(Verdict.REFUTED, 0.9, why, [gap_f])
    drift = (f"; {len(part['drifted'])} feature(s) drifted without a skew signature: a "
             "data-drift question" if part["drifted"] else "")
    return CheckResult(Verdict.SUPPORTED, 0.8,
                       "served features match training semantics" + drift, [gap_f])
