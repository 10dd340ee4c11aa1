"""Training/serving skew evidence: do the served features still mean what training meant?

Three signatures, each tested only on features that drifted against the reference:

* swapped columns: current column A is distributed like reference column B (PSI and KS
  small), i.e. the serving-side mapping put B's values into A;
* a transformation applied once too often or not at all: ``cur ≈ f(ref)`` or ``ref ≈ f(cur)``
  for a common f (log1p, expm1, sqrt, square, x100, /100, standardize);
* a stale feature-pipeline version: rows from a version other than the expected one (the
  serving model's ``mlpb.required_feature_version`` tag, else the version the log carried
  before the window), and which features those rows compute differently.

Plus the model's own behaviour: re-scoring logged features with the serving model should
reproduce the logged scores; a gap means the log is not what the model saw.
Each test is one vectorized drift computation over all candidate columns at once.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from pydantic import Field

from playbooks.data.io import DataWindows
from playbooks.engine.plugins import collector
from playbooks.evidence.base import CollectContext, EvidencePart
from playbooks.models.common import StrictParams
from playbooks.models.profile import ModelProfile
from playbooks.modelstore.base import ModelStore
from playbooks.stats import (
    DriftThresholds,
    ReferenceProfile,
    compute_drift,
    drift_report,
    fit_reference,
)

__all__ = ["INVERSE", "SKEW_METRICS", "SkewParams", "apply_mapping", "assess_skew",
           "collect_feature_skew_part", "transform"]

TRANSFORMS = ("log1p", "expm1", "sqrt", "square", "x100", "div100", "standardize")
INVERSE = {"log1p": "expm1", "expm1": "log1p", "sqrt": "square", "square": "sqrt",
           "x100": "div100", "div100": "x100", "standardize": "destandardize"}
VERSION_TAG = "mlpb.required_feature_version"

SKEW_METRICS = {
    "skewed_features": "features with a skew signature (swap, transform or stale version)",
    "skewed_row_share": "share of current rows served with skewed features",
    "stale_version_share": "share of current rows from a non-expected feature-pipeline version",
    "rescore_gap": "mean |serving model(logged features) - logged score| on a sample",
}


class SkewParams(StrictParams):
    drift_psi: float = Field(
        default=0.2, gt=0, description="Own-reference PSI that makes a candidate.")
    match_psi: float = Field(default=0.1, gt=0, description="PSI under which two columns match.")
    match_ks: float = Field(
        default=0.1, gt=0, le=1, description="KS under which two columns match.")
    min_stale_share: float = Field(
        default=0.01, ge=0, le=1, description="Stale-version rows that count.")
    rescore_rows: int = Field(default=2000, ge=0, description="Rows re-scored (0 = skip).")


def transform(values: pd.Series, name: str, ref: pd.Series) -> pd.Series:
    """``name`` applied to ``values``; (de)standardize uses ``ref``'s mean and std."""
    v = values.astype(float)
    fns: dict[str, Callable[[], pd.Series | NDArray[np.float64]]] = {
        "log1p": lambda: np.log1p(v.where(v > -1)),
        "expm1": lambda: np.expm1(v.where(v < 60)),
        "sqrt": lambda: np.sqrt(v.where(v >= 0)),
        "square": lambda: v**2,
        "x100": lambda: v * 100,
        "div100": lambda: v / 100,
        "standardize": lambda: (v - ref.mean()) / (ref.std() or 1.0),
        "destandardize": lambda: v * (ref.std() or 1.0) + ref.mean(),
    }
    with np.errstate(all="ignore"):
        out = pd.Series(fns[name](), index=values.index)
    return out.where(out.abs() < 1e15)  # keeps squared deviations inside float32 range


def _psi_ks(reference: pd.DataFrame | ReferenceProfile, current: pd.DataFrame,
            t: DriftThresholds) -> dict[str, tuple[float, float]]:
    fitted = reference if isinstance(reference, ReferenceProfile) else fit_reference(
        reference, list(reference.columns), [], t)
    rep = compute_drift(fitted, current[list(fitted.numeric_columns)], t)
    return {f.feature: (f.psi if f.psi is not None else np.inf,
                        f.ks if f.ks is not None else 1.0) for f in rep.features}


def _swaps(ref: ReferenceProfile, cur: pd.DataFrame, drifted: list[str], num: list[str],
           p: SkewParams, t: DriftThresholds) -> dict[str, dict[str, Any]]:
    """Current column -> the reference column it matches instead of its own."""
    out = {}
    for a in drifted:
        stats = _psi_ks(ref, pd.DataFrame({b: cur[a] for b in num}), t)
        hits = sorted((s[0], b) for b, s in stats.items()
                      if b != a and s[0] <= p.match_psi and s[1] <= p.match_ks)
        if hits:
            out[a] = {"matches": hits[0][1], "psi": round(hits[0][0], 4),
                      "psi_limit": round(p.match_psi, 4)}
    return out


def _transforms(ref: pd.DataFrame, cur: pd.DataFrame, cands: list[str], p: SkewParams,
                t: DriftThresholds) -> dict[str, dict[str, Any]]:
    """Feature -> the transform relating it to its reference, and in which direction."""
    if not cands:
        return {}
    best: dict[str, dict[str, Any]] = {}

    def keep(a: str, f: str, direction: str, psi: float, ks: float) -> None:
        if psi <= p.match_psi and ks <= p.match_ks and psi < best.get(a, {}).get("psi", np.inf):
            best[a] = {"transform": f, "direction": direction, "psi": round(psi, 4),
                       "psi_limit": round(p.match_psi, 4)}

    # cur ≈ f(ref): f applied once too often in serving (fit the transformed references).
    ref_t = pd.DataFrame({f"{a}|{f}": transform(ref[a], f, ref[a]) for a in cands
                          for f in TRANSFORMS})
    ref_t = ref_t.loc[:, ref_t.notna().mean() > 0.99]
    if len(ref_t.columns):
        cur_t = pd.DataFrame({k: cur[k.split("|")[0]] for k in ref_t.columns})
        for k, (psi, ks) in _psi_ks(ref_t, cur_t, t).items():
            keep(k.split("|")[0], k.split("|")[1], "applied_extra", psi, ks)
    # ref ≈ f(cur): f missing in serving (the same relation said the other way round, so
    # only for features the first direction left unexplained).
    rest = [a for a in cands if a not in best]
    for f in TRANSFORMS if rest else ():
        # Standardizing the served values: training used its own raw population's stats,
        # which the (already standardized) reference no longer shows; the served ones do.
        cur_f = pd.DataFrame({a: transform(cur[a], f, cur[a]) for a in rest})
        ok = [a for a in rest if cur_f[a].notna().mean() > 0.99]
        if ok:
            for a, (psi, ks) in _psi_ks(ref[ok], cur_f[ok], t).items():
                keep(a, f, "missing", psi, ks)
    return best


def _versions(profile: ModelProfile, data: DataWindows, tags: dict[str, str],
              p: SkewParams, t: DriftThresholds) -> dict[str, Any]:
    col, num = profile.data.feature_version, profile.features.numeric
    if not col or col not in data.current.columns:
        return {"available": False, "reason": "the profile names no feature_version column"}
    cur = data.current
    shares = cur[col].astype(str).value_counts(normalize=True)
    ts = profile.data.timestamp
    before = data.log[data.log[ts] < cur[ts].min()] if ts and len(cur) else data.log.iloc[0:0]
    expected, source = tags.get(VERSION_TAG), "model tag"
    if not expected and col in before.columns and before[col].notna().any():
        expected, source = str(before[col].astype(str).mode().iloc[0]), "log before the window"
    if not expected:
        expected, source = str(shares.index[0]), "majority of the window"
    stale_mask = cur[col].astype(str) != expected
    out: dict[str, Any] = {"available": True, "expected": expected, "expected_from": source,
                           "shares": {k: round(float(v), 4) for k, v in shares.items()},
                           "stale_share": float(stale_mask.mean()), "features": {}}
    good, stale = cur.loc[~stale_mask], cur.loc[stale_mask]
    if stale_mask.mean() >= p.min_stale_share and min(len(good), len(stale)) >= t.min_rows:
        rep = drift_report(good, stale, num, [], t)
        for f in rep.drifted():
            ratio = (float(stale[f.feature].median()) / float(good[f.feature].median())
                     if good[f.feature].median() else None)
            out["features"][f.feature] = {
                "psi": round(f.psi or 0.0, 4),
                "median_ratio": None if ratio is None else round(ratio, 4)}
    return out


def _rescore(profile: ModelProfile, data: DataWindows, store: ModelStore | None,
             p: SkewParams) -> dict[str, Any]:
    score = profile.prediction.score
    if (not p.rescore_rows or store is None or profile.model is None or not score
            or score not in data.current.columns or data.current.empty):
        return {"available": False, "reason": "no model, score column or rows to re-score"}
    sample = data.current.sample(min(p.rescore_rows, len(data.current)), random_state=0)
    try:
        model = store.load_model(profile.model.registry_name, profile.model.alias)
        s = np.asarray(model.predict_proba(sample[profile.features.all])[:, 1], dtype=float)
    except Exception as exc:  # evidence, not a gate: record why it is missing
        return {"available": False, "reason": f"re-scoring failed: {type(exc).__name__}: {exc}"}
    gap = float(np.nanmean(np.abs(s - sample[score].astype(float).to_numpy())))
    return {"available": True, "rows": len(sample), "mean_abs_gap": round(gap, 6)}


def assess_skew(profile: ModelProfile, data: DataWindows, *, tags: dict[str, str] | None = None,
                store: ModelStore | None = None,
                params: SkewParams | None = None) -> dict[str, Any]:
    """Every skew signature of the current window (JSON-able)."""
    p, t = params or SkewParams(), DriftThresholds()
    num = profile.features.numeric
    ref = data.reference[num].astype(float)
    cur = data.current[num].astype(float)
    fitted = fit_reference(ref, num, [], t)
    # Two samples of one distribution differ by noise: a match tolerates at least that
    # (the 95% point of PSI ~ chi2(bins-1)/n_eff and of the two-sample KS distance).
    n_eff = len(ref) * len(cur) / max(len(ref) + len(cur), 1)
    if n_eff > 0:
        from scipy.stats import chi2  # ~0.6 s to import: only when measuring

        p = p.model_copy(update={
            "match_psi": max(p.match_psi, float(chi2.ppf(0.95, t.bins - 1)) / n_eff),
            "match_ks": max(p.match_ks, 1.36 / math.sqrt(n_eff))})
    own = _psi_ks(fitted, cur, t)
    drifted = [a for a in num if own[a][0] >= p.drift_psi]
    swaps = _swaps(fitted, cur, drifted, num, p, t)
    positive = [a for a in drifted if a not in swaps]
    transforms = _transforms(ref, cur, positive, p, t)
    versions = _versions(profile, data, tags or {}, p, t)
    stale_share = versions.get("stale_share", 0.0) if versions.get("available") else 0.0
    skewed = set(swaps) | set(transforms) | set(versions.get("features", {}))
    row_share = 1.0 if swaps or transforms else (stale_share if versions.get("features") else 0.0)
    return {
        "own_psi": {a: round(float(own[a][0]), 4) for a in num}, "drifted": drifted,
        "swaps": swaps, "transforms": transforms, "versions": versions,
        "rescore": _rescore(profile, data, store, p),
        "metrics": {"skewed_features": float(len(skewed)), "skewed_row_share": row_share,
                    "stale_version_share": stale_share},
    }


def apply_mapping(profile: ModelProfile, frame: pd.DataFrame, reference: pd.DataFrame,
                  mapping: dict[str, Any]) -> pd.DataFrame:
    """``frame`` as the model should have seen it under the known-good ``mapping``:
    ``columns`` {model feature: logged column}, ``transforms`` {feature: transform to apply},
    ``required_feature_version`` (rows of other versions dropped)."""
    out = frame
    col, version = profile.data.feature_version, mapping.get("required_feature_version")
    if col and version and col in out.columns:
        out = out.loc[out[col].astype(str) == version]
    out = out.copy()
    for feature, source in (mapping.get("columns") or {}).items():
        out[feature] = frame.loc[out.index, source].to_numpy()
    for feature, name in (mapping.get("transforms") or {}).items():
        stats = out[feature] if name == "standardize" else reference[feature]  # see _transforms
        out[feature] = transform(out[feature], name, stats.astype(float))
    return out


@collector("feature-skew", params=SkewParams, metrics=SKEW_METRICS)
def collect_feature_skew_part(ctx: CollectContext, params: SkewParams) -> EvidencePart:
    """Swapped columns, extra/missing transformations, stale pipeline versions, re-scoring."""
    tags: dict[str, str] = {}
    if ctx.model_store is not None and ctx.profile.model is not None:
        try:
            tags = dict(ctx.model_store.get_version(ctx.profile.model.registry_name,
                                                 ctx.profile.model.alias).tags)
        except Exception:  # evidence, not a gate: no tags means no declared version
            tags = {}
    info = assess_skew(ctx.profile, ctx.data, tags=tags, store=ctx.model_store, params=params)
    metrics = dict(info.pop("metrics"))
    if info["rescore"].get("available"):
        metrics["rescore_gap"] = info["rescore"]["mean_abs_gap"]
    said = [f"{a} holds {s['matches']}'s values" for a, s in info["swaps"].items()]
    said += [f"{a}: {s['transform']} {'extra' if s['direction'] == 'applied_extra' else 'missing'}"
             for a, s in info["transforms"].items()]
    v = info["versions"]
    if v.get("available") and v["stale_share"] > 0:
        said.append(f"{v['stale_share']:.0%} of rows not on {v['expected']}")
    return EvidencePart(data=info, metrics=metrics,
                        summary="; ".join(said) if said else "no skew signature")
