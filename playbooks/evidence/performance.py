"""Labelled performance of the serving version over time (concept-drift evidence).

Labels arrive late (the profile's ``data.labels.delay``), so the collector reports how much
of the window is labelled already next to how much could be, and scores only days with
enough labels. The baseline is the labelled history before the current window.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from pydantic import Field

from playbooks.engine.plugins import collector
from playbooks.evidence.base import CollectContext, EvidencePart
from playbooks.evidence.frames import (
    LogView,
    as_timestamp,
    log_view,
    previous_version,
    safe_auc,
    serving_version_info,
)
from playbooks.models.common import StrictParams
from playbooks.models.profile import ModelProfile

__all__ = ["PERFORMANCE_METRICS", "PerformanceParams", "collect_performance_part",
           "labelled_performance"]

PERFORMANCE_METRICS = {
    "performance_auc_drop": "baseline labelled ROC AUC minus the current window's (serving "
                            "version)",
    "performance_log_loss_increase": "current window's labelled log-loss minus the baseline's",
    "performance_positive_rate_change": "labelled positive rate, current window minus baseline",
    "label_coverage": "share of the current window's requests whose label has arrived",
    "label_coverage_expected": "share of the window older than the label delay (could be labelled)",
    "labelled_window_rows": "labelled requests of the serving version in the current window",
    "decayed_days": "consecutive most recent labelled days with AUC below baseline - tolerance",
    "version_changed_in_window": "1 when the serving version first served inside the window",
}


class PerformanceParams(StrictParams):
    min_day_rows: int = Field(100, ge=10, description="Labelled rows needed to score one day.")
    decay_tolerance: float = Field(
        0.05, gt=0, lt=1, description="A day whose AUC is this far below baseline is decayed.")


def _stats(frame: pd.DataFrame, target: str, score: str) -> dict[str, Any]:
    if frame.empty:
        return {"rows": 0}
    y = frame[target].astype(int).to_numpy()
    s = frame[score].astype(float).to_numpy()
    keep = np.isfinite(s)
    y, s = y[keep], s[keep]
    out: dict[str, Any] = {"rows": len(y),
                           "positive_rate": float(y.mean()) if len(y) else None,
                           "mean_score": float(s.mean()) if len(s) else None,
                           "roc_auc": safe_auc(y, s)}
    if len(y):
        from sklearn.metrics import log_loss  # ~0.7 s to import: only when scoring

        out["log_loss"] = float(log_loss(y, np.clip(s, 1e-6, 1 - 1e-6), labels=[0, 1]))
    return out


def _daily(view: LogView, labelled: pd.DataFrame, target: str, score: str,
           p: PerformanceParams) -> list[dict[str, Any]]:
    logged = view.log.groupby(view.log[view.ts].dt.floor("D")).size()
    days = labelled.groupby(labelled[view.ts].dt.floor("D"))
    rows = []
    for day, n in logged.items():
        part = days.get_group(day) if day in days.groups else labelled.iloc[0:0]
        st = _stats(part, target, score) if len(part) >= p.min_day_rows else {"rows": len(part)}
        rows.append({"day": as_timestamp(day).isoformat(), "logged": int(n),
                     "labelled": len(part), "coverage": len(part) / max(int(n), 1), **st})
    return rows


def _onset(daily: list[dict[str, Any]], base_auc: float | None,
           p: PerformanceParams) -> tuple[str | None, int]:
    """First day of the final run of decayed days (persisting to the newest scored day)."""
    if base_auc is None:
        return None, 0
    scored = [d for d in daily if d.get("roc_auc") is not None]
    onset, run = None, 0
    for d in scored:
        if d["roc_auc"] < base_auc - p.decay_tolerance:
            onset, run = onset or d["day"], run + 1
        else:
            onset, run = None, 0
    return onset, run


def labelled_performance(profile: ModelProfile, view: LogView, serving: str | None,
                         p: PerformanceParams) -> tuple[dict[str, Any], dict[str, float]]:
    target, score = profile.target, profile.prediction.score
    assert target is not None and score is not None
    vcol = profile.prediction.model_version
    window = view.labelled_window
    if serving and vcol and vcol in window.columns and (window[vcol].astype(str) == serving).any():
        window = window[window[vcol].astype(str) == serving]  # what the serving version did
    base, cur = _stats(view.labelled_before, target, score), _stats(window, target, score)
    labelled_all = pd.concat([view.labelled_before, window])
    daily = _daily(view, labelled_all, target, score, p)
    onset, run = _onset(daily, base.get("roc_auc"), p)
    delay = profile.data.labels.delay if profile.data.labels else pd.Timedelta(0)
    expected = float((view.window[view.ts] <= view.now - delay).mean())
    coverage = len(view.labelled_window) / max(len(view.window), 1)
    metrics = {"label_coverage": coverage, "label_coverage_expected": expected,
               "labelled_window_rows": float(cur["rows"]), "decayed_days": float(run)}
    if serving and vcol and vcol in view.log.columns:  # a release inside the window is suspect
        prev, first = previous_version(view.log, view.ts, vcol, serving)
        metrics["version_changed_in_window"] = float(
            prev is not None and first is not None and pd.Timestamp(first) >= view.window_start)
    if base.get("roc_auc") is not None and cur.get("roc_auc") is not None:
        metrics["performance_auc_drop"] = base["roc_auc"] - cur["roc_auc"]
    if "log_loss" in base and "log_loss" in cur:
        metrics["performance_log_loss_increase"] = cur["log_loss"] - base["log_loss"]
    if base.get("positive_rate") is not None and cur.get("positive_rate") is not None:
        metrics["performance_positive_rate_change"] = cur["positive_rate"] - base["positive_rate"]
    data = {"available": True, "serving_version": serving, "baseline": base, "window": cur,
            "daily": daily, "decay_onset": onset, "label_delay_hours": delay.total_seconds() / 3600,
            "window_start": view.window_start.isoformat()}
    return data, metrics


@collector("labelled-performance", params=PerformanceParams, metrics=PERFORMANCE_METRICS)
def collect_performance_part(ctx: CollectContext, params: PerformanceParams) -> EvidencePart:
    """Labelled AUC, log-loss and positive rate per day for the serving version, the baseline
    before the window, label coverage given the delay, and the onset of the decay."""
    prof = ctx.profile
    view = log_view(prof, ctx.data)
    if (view is None or prof.target is None or not prof.prediction.score
            or ctx.data.labelled is None):
        return EvidencePart.unavailable(
            "labelled performance needs data.timestamp, data.labels, target and prediction.score",
            "no labelled performance (profile lacks labels or scores)")
    info = serving_version_info(prof, ctx.model_store)
    data, metrics = labelled_performance(prof, view, info.version if info else None, params)
    fields: dict[str, Any] = {}
    if data["decay_onset"]:  # only when found: never erase another collector's onset
        fields["drift_onset"] = pd.Timestamp(data["decay_onset"]).to_pydatetime()
    drop = metrics.get("performance_auc_drop")
    summary = (f"labelled AUC {data['window'].get('roc_auc') or float('nan'):.3f} vs baseline "
               f"{data['baseline'].get('roc_auc') or float('nan'):.3f}"
               + (f" (drop {drop:+.3f})" if drop is not None else "")
               + f"; label coverage {metrics['label_coverage']:.0%}")
    return EvidencePart(data=data, metrics=metrics, summary=summary, fields=fields)
