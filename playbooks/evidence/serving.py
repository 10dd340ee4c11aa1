"""Serving evidence: latency and errors from the inference log, per version and per hour.

"Now" is the recent span (default 24 hours); the SLOs are the profile's
``slo.max_latency_p95_ms`` / ``slo.max_error_rate``. Without them they are inferred from the
baseline and say so (1.5x the baseline p95; twice the baseline error rate, at least the rule-
of-three bound 3/n when the baseline had no errors); without a baseline they are not judged.
Two signatures are measured: a version effect (the serving version's
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
    "latency_slo_exceed_share": "share of recent requests slower than the p95 latency SLO",
    "recent_requests": "requests in the recent span",
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
    error_baseline_factor: float = Field(
        2.0, gt=1, description="Without an error-rate SLO: the baseline's rate x this.")
    min_baseline_requests: int = Field(
        100, ge=1, description="Baseline requests needed to infer an SLO from it.")
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


def _slos(prof: ModelProfile, base: dict[str, float], p: ServingParams
          ) -> tuple[float | None, str, float | None, str]:
    """(latency SLO ms, its source, error-rate SLO, its source): the profile's, else inferred
    from a baseline of enough requests, else None (not judged)."""
    slo, n = prof.slo, base.get("rows", 0.0)
    enough = n >= p.min_baseline_requests
    if slo.max_latency_p95_ms:
        lat, lat_src = slo.max_latency_p95_ms, "profile slo.max_latency_p95_ms"
    elif enough and base.get("p95_ms"):
        lat, lat_src = base["p95_ms"] * p.baseline_factor, (
            f"inferred: {p.baseline_factor:g}x the baseline p95; no slo.max_latency_p95_ms")
    else:
        lat, lat_src = None, "no latency SLO and no baseline to infer one: not judged"
    if slo.max_error_rate:
        return lat, lat_src, slo.max_error_rate, "profile slo.max_error_rate"
    if enough and "error_rate" in base:
        rate = max(base["error_rate"] * p.error_baseline_factor, 3.0 / n)
        return lat, lat_src, rate, (f"inferred: {p.error_baseline_factor:g}x the baseline "
                                    f"error rate {base['error_rate']:.2%}; no slo.max_error_rate")
    return lat, lat_src, None, "no error-rate SLO and no baseline to infer one: not judged"


@collector("serving-metrics", params=ServingParams, metrics=SERVING_METRICS)
def collect_serving_part(ctx: CollectContext, params: ServingParams) -> EvidencePart:
    """p50/p95/p99 latency and error rate per version and per hour, volume per hour, and the
    version and load signatures."""
    prof = ctx.profile
    view = log_view(prof, ctx.data)
    pred = prof.prediction
    if view is None or not pred.latency or pred.latency not in view.log.columns:
        return EvidencePart.unavailable(
            "serving evidence needs data.timestamp and prediction.latency",
            "no serving evidence (no latency column)")
    ts, log, vcol = view.ts, view.log, pred.model_version
    recent = latency_stats(prof, view.recent(params.recent))
    before = view.before
    if len(before) < params.min_baseline_requests:  # no history before the window: the
        before = view.log[view.log[view.ts] <= view.now - params.recent]  # window's own past
    base = latency_stats(prof, before)
    lat_slo, lat_src, err_slo, err_src = _slos(prof, base, params)
    metrics: dict[str, float] = {"latency_p95_ms": recent.get("p95_ms", float("nan")),
                                 "recent_requests": recent["rows"]}
    if lat_slo and "p95_ms" in recent:
        metrics["latency_p95_slo_ratio"] = recent["p95_ms"] / lat_slo
        lat = view.recent(params.recent)[pred.latency].astype(float)
        metrics["latency_slo_exceed_share"] = float((lat > lat_slo).mean()) if len(lat) else 0.0
    if "error_rate" in recent:
        metrics["error_rate"] = recent["error_rate"]
        if err_slo:
            metrics["error_rate_slo_ratio"] = recent["error_rate"] / err_slo
    data: dict[str, Any] = {"available": True, "recent": recent, "baseline": base,
                            "latency_slo_ms": lat_slo, "latency_slo_source": lat_src,
                            "error_rate_slo": err_slo, "error_rate_slo_source": err_src}
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
               + (f" (SLO {lat_slo:.0f} ms, {lat_src})" if lat_slo else f" ({lat_src})")
               + (f", error rate {metrics['error_rate']:.1%}" if "error_rate" in metrics else "")
               + (f" (SLO {err_slo:.2%}, {err_src})" if err_slo and "error_rate" in metrics
                  else f" ({err_src})" if "error_rate" in metrics else ""))
    if not np.isfinite(metrics["latency_p95_ms"]):
        del metrics["latency_p95_ms"]
    return EvidencePart(data=data, metrics=metrics, summary=summary)
