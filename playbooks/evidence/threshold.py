"""Decision-threshold evidence: is the threshold still meeting the profile's targets?

Approval rate (from the logged decisions: what applicants experienced) against the profile's
``slo.target_approval_rate``; precision and recall at the serving threshold and the
calibration error (ECE) on labelled rows; the labelled positive rate and AUC against the
baseline before the window, which tell a prevalence shift from a calibration error from a
ranking problem. The threshold is the serving version's ``threshold`` tag (see
:func:`version_threshold`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from pydantic import Field

from playbooks.engine.plugins import collector
from playbooks.evidence.base import CollectContext, EvidencePart
from playbooks.evidence.frames import (
    ece,
    log_view,
    ok_rows,
    safe_auc,
    serving_version_info,
    version_threshold,
)
from playbooks.models.common import StrictParams
from playbooks.models.profile import ModelProfile

__all__ = ["THRESHOLD_METRICS", "ThresholdEvidenceParams", "approval_rate",
           "collect_threshold_part", "threshold_metrics"]

THRESHOLD_METRICS = {
    "approval_rate": "share of the current window's requests given the negative decision",
    "approval_rate_gap": "absolute distance of approval_rate from slo.target_approval_rate",
    "approval_gap_beyond_tolerance": "approval_rate_gap minus slo.approval_rate_tolerance, "
                                     "floored at 0 (> 0 is off target)",
    "precision_at_threshold": "labelled precision of positive decisions at the serving threshold",
    "recall_at_threshold": "labelled recall of positive decisions at the serving threshold",
    "precision_floor_gap": "slo.min_precision minus precision, floored at 0 (0 without a floor)",
    "recall_floor_gap": "slo.min_recall minus recall, floored at 0 (0 without a floor)",
    "calibration_error": "expected calibration error of the scores on labelled window rows",
    "prevalence_change": "labelled positive rate, current window minus baseline",
    "threshold_auc_drop": "baseline labelled ROC AUC minus the window's (ranking stability)",
}


class ThresholdEvidenceParams(StrictParams):
    ece_bins: int = Field(10, ge=2, le=50, description="Score-quantile bins of the ECE.")


def approval_rate(profile: ModelProfile, frame: pd.DataFrame, threshold: float) -> float | None:
    """Share of negative decisions: the logged decision when the profile names it (what was
    served), else score < threshold."""
    pred = profile.prediction
    if frame.empty:
        return None
    if pred.decision and pred.positive_decision and pred.decision in frame.columns:
        return float((frame[pred.decision].astype(str) != pred.positive_decision).mean())
    if pred.score and pred.score in frame.columns:
        return float((frame[pred.score].astype(float) < threshold).mean())
    return None


def _labelled(frame: pd.DataFrame, target: str, score: str, threshold: float,
              bins: int) -> dict[str, Any]:
    if frame.empty:
        return {"rows": 0}
    y = frame[target].astype(int).to_numpy()
    s = frame[score].astype(float).to_numpy()
    pos = s >= threshold
    tp = float((pos & (y == 1)).sum())
    return {"rows": len(y), "positive_rate": float(y.mean()),
            "mean_score": float(np.nanmean(s)),
            "precision": tp / float(pos.sum()) if pos.sum() else None,
            "recall": tp / float((y == 1).sum()) if (y == 1).sum() else None,
            "roc_auc": safe_auc(y, s), "ece": ece(y, s, bins)}


def threshold_metrics(profile: ModelProfile, frames: dict[str, pd.DataFrame], threshold: float,
                      p: ThresholdEvidenceParams) -> tuple[dict[str, Any], dict[str, float]]:
    """``frames``: window / before (logged rows) and labelled_window / labelled_before."""
    target, score, slo = profile.target, profile.prediction.score, profile.slo
    assert target is not None and score is not None
    cur = _labelled(frames["labelled_window"], target, score, threshold, p.ece_bins)
    base = _labelled(frames["labelled_before"], target, score, threshold, p.ece_bins)
    rate = approval_rate(profile, frames["window"], threshold)
    base_rate = approval_rate(profile, frames["before"], threshold)
    m: dict[str, float] = {}
    if rate is not None:
        m["approval_rate"] = rate
        if slo.target_approval_rate is not None:
            gap = abs(rate - slo.target_approval_rate)
            m["approval_rate_gap"] = gap
            m["approval_gap_beyond_tolerance"] = max(0.0, gap - slo.approval_rate_tolerance)
    for key, floor, name in (("precision", slo.min_precision, "precision"),
                             ("recall", slo.min_recall, "recall")):
        if cur.get(key) is not None:
            m[f"{name}_at_threshold"] = cur[key]
            m[f"{name}_floor_gap"] = max(0.0, floor - cur[key]) if floor is not None else 0.0
    if cur.get("ece") is not None:
        m["calibration_error"] = cur["ece"]
    if cur.get("positive_rate") is not None and base.get("positive_rate") is not None:
        m["prevalence_change"] = cur["positive_rate"] - base["positive_rate"]
    if cur.get("roc_auc") is not None and base.get("roc_auc") is not None:
        m["threshold_auc_drop"] = base["roc_auc"] - cur["roc_auc"]
    data = {"available": True, "threshold": threshold, "window": cur, "baseline": base,
            "approval_rate": rate, "baseline_approval_rate": base_rate,
            "target_approval_rate": slo.target_approval_rate,
            "approval_rate_tolerance": slo.approval_rate_tolerance,
            "min_precision": slo.min_precision, "min_recall": slo.min_recall}
    return data, m


@collector("threshold-metrics", params=ThresholdEvidenceParams, metrics=THRESHOLD_METRICS)
def collect_threshold_part(ctx: CollectContext, params: ThresholdEvidenceParams) -> EvidencePart:
    """Approval rate vs target, precision/recall at the threshold, calibration, AUC stability."""
    prof = ctx.profile
    view = log_view(prof, ctx.data)
    if view is None or prof.target is None or not prof.prediction.score:
        return EvidencePart.unavailable(
            "threshold evidence needs data.timestamp, target and prediction.score",
            "no threshold evidence (profile lacks labels or scores)")
    info = serving_version_info(prof, ctx.model_store)
    threshold = version_threshold(prof, info)
    frames = {"window": ok_rows(prof, view.window), "before": ok_rows(prof, view.before),
              "labelled_window": ok_rows(prof, view.labelled_window),
              "labelled_before": ok_rows(prof, view.labelled_before)}
    data, metrics = threshold_metrics(prof, frames, threshold, params)
    data["serving_version"] = info.version if info else None
    rate = metrics.get("approval_rate")
    summary = (f"threshold {threshold:g}: approval rate "
               + (f"{rate:.1%}" if rate is not None else "n/a")
               + (f" (target {prof.slo.target_approval_rate:.0%})"
                  if prof.slo.target_approval_rate is not None else "")
               + (f", ECE {metrics['calibration_error']:.3f}" if "calibration_error" in metrics
                  else "")
               + (f", prevalence {metrics['prevalence_change']:+.3f}"
                  if "prevalence_change" in metrics else ""))
    return EvidencePart(data=data, metrics=metrics, summary=summary)
