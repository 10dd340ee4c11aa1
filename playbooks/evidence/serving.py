"""Serving evidence: latency and errors from the inference log, per version and per hour.

"Now" is the recent span (default 24 hours); the SLOs are the profile's
``slo.max_latency_p95_ms`` / ``slo.max_error_rate`` (without them: 1.5x the baseline p95 and
a 2% error rate). Two signatures are measured: a version effect (the serving version's
latency against the version before it) and a load effect (rank correlation of hourly median
latency with hourly volume, within the serving version - the median, because an hourly p95
from a handful of requests grows with the hour's volume by itself).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from pydantic import Field

from playbooks.engine.plugins import collector
from playbooks.evidence.base import CollectContext, EvidencePart
from playbooks.evidence.frames import (
    RecentParams,
    as_timestamp,
    log_view,
    newest_value,
    previous_version,
    serving_version_info,
)
from playbooks.models.profile import ModelProfile

__all__ = ["SERVING_METRICS", "ServingParams", "collect_serving_part", "latency_stats"]

SERVING_METRICS = {
    "latency_p95_ms": "p95 serving latency over the recent span",
    "latency_p95_slo_ratio": "latency_p95_ms / the p95 latency SLO (> 1 breaches it)",
    "error_rate": "share of recent requests that failed (status = the profile's error_value)",
    "error_rate_slo_ratio": "error_rate / the error-rate SLO (> 1 breaches it)",
    "latency_version_ratio": "serving version's p95 latency / the previous version's",
    "version_changed_in_window": "1 when the serving version first served inside the window",
    "latency_volume_corr": "Spearman correlation of hourly median latency with hourly volume",
    "volume_ratio": "recent requests per hour / the baseline's",
}


class ServingParams(RecentParams):
    min_hour_rows: int = Field(5, ge=1, description="Hours with fewer requests are skipped.")
    min_hours: int = Field(24, ge=6, description="Hours needed for the volume correlation.")
    default_error_slo: float = Field(0.02, gt=0, le=1, description="When the profile has none.")
    baseline_factor: float = Field(
        1.5, gt=1, description="Without a latency SLO, p95 above baseline x this breaches.")


def latency_stats(profile: ModelProfile, frame: pd.DataFrame) -> dict[str, float]:
    """Request count, p50/p95/p99 latency and error rate of ``frame``."""
    pred = profile.prediction
    out: dict[str, float] = {"rows": float(len(frame))}
    if frame.empty:
        return out
    if pred.latency and pred.latency in frame.columns:
        q = frame[pred.latency].astype(float).quantile([0.5, 0.95, 0.99])
        out |= {"p50_ms": float(q[0.5]), "p95_ms": float(q[0.95]), "p99_ms": float(q[0.99])}
    if pred.status and pred.status in frame.columns:
        out["error_rate"] = float((frame[pred.status] == pred.error_value).mean())
    return out


def _hourly(profile: ModelProfile, frame: pd.DataFrame, ts: str) -> pd.DataFrame:
    lat = profile.prediction.latency
    g = frame.groupby(frame[ts].dt.floor("h"))
    hours = pd.DataFrame({"volume": g.size()})
    if lat and lat in frame.columns:
        hours["median_ms"] = g[lat].median()
        hours["p95_ms"] = g[lat].quantile(0.95)
    return hours


def _corr(hours: pd.DataFrame, p: ServingParams) -> float | None:
    h = hours[hours["volume"] >= p.min_hour_rows]
    if "median_ms" not in h or len(h) < p.min_hours or h["volume"].nunique() < 3:
        return None
    c = h["volume"].corr(h["median_ms"], method="spearman")
    return None if pd.isna(c) else float(c)


@collector("serving-metrics", params=ServingParams, metrics=SERVING_METRICS)
def collect_serving_part(ctx: CollectContext, params: ServingParams) -> EvidencePart:
    """p50/p95/p99 latency and error rate per version and per hour, volume per hour, and the
    version and load signatures."""
    prof = ctx.profile
    view = log_view(prof, ctx.data)
    pred, slo = prof.prediction, prof.slo
    if view is None or not pred.latency or pred.latency not in view.log.columns:
        return EvidencePart.unavailable(
            "serving evidence needs data.timestamp and prediction.latency",
            "no serving evidence (no latency column)")
    ts, log, vcol = view.ts, view.log, pred.model_version
    recent = latency_stats(prof, view.recent(params.recent))
    base = latency_stats(prof, view.before)
    lat_slo = slo.max_latency_p95_ms or (base.get("p95_ms", 0.0) * params.baseline_factor or None)
    err_slo = slo.max_error_rate or params.default_error_slo
    metrics: dict[str, float] = {"latency_p95_ms": recent.get("p95_ms", float("nan"))}
    if lat_slo and "p95_ms" in recent:
        metrics["latency_p95_slo_ratio"] = recent["p95_ms"] / lat_slo
    if "error_rate" in recent:
        metrics["error_rate"] = recent["error_rate"]
        metrics["error_rate_slo_ratio"] = recent["error_rate"] / err_slo
    data: dict[str, Any] = {"available": True, "recent": recent, "baseline": base,
                            "latency_slo_ms": lat_slo, "error_rate_slo": err_slo}
    serving_rows = view.window
    if vcol and vcol in log.columns:
        info = serving_version_info(prof, ctx.model_store)
        serving = info.version if info else newest_value(log, ts, vcol)
        prev, first = previous_version(log, ts, vcol, serving)
        versions = {str(v): latency_stats(prof, part)
                    for v, part in log.groupby(log[vcol].astype(str))}
        data |= {"serving_version": serving, "previous_version": prev, "versions": versions,
                 "serving_first_seen": first.isoformat() if first else None}
        metrics["version_changed_in_window"] = float(
            prev is not None and first is not None and pd.Timestamp(first) >= view.window_start)
        mine, theirs = versions.get(serving, {}), versions.get(prev or "", {})
        if mine.get("p95_ms") and theirs.get("p95_ms"):
            metrics["latency_version_ratio"] = mine["p95_ms"] / theirs["p95_ms"]
        serving_rows = view.window[view.window[vcol].astype(str) == serving]
    hours = _hourly(prof, serving_rows, ts)
    if (c := _corr(hours, params)) is not None:
        metrics["latency_volume_corr"] = c
    base_hours = _hourly(prof, view.before, ts)
    recent_hours = _hourly(prof, view.recent(params.recent), ts)
    if len(base_hours) and len(recent_hours):
        metrics["volume_ratio"] = float(recent_hours["volume"].mean() / base_hours["volume"].mean())
    data["hourly"] = [{"hour": as_timestamp(h).isoformat(), **{k: float(v) for k, v in r.items()}}
                      for h, r in _hourly(prof, view.window, ts).iterrows()]
    summary = (f"recent p95 {metrics['latency_p95_ms']:.0f} ms"
               + (f" (SLO {lat_slo:.0f} ms)" if lat_slo else "")
               + (f", error rate {metrics['error_rate']:.1%}" if "error_rate" in metrics else ""))
    if not np.isfinite(metrics["latency_p95_ms"]):
        del metrics["latency_p95_ms"]
    return EvidencePart(data=data, metrics=metrics, summary=summary)
