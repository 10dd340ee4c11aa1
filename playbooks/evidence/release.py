"""Release evidence: which versions served when, and is the newest one worse than the one
before it?

Versions are read from the log's model-version column (first/last seen, traffic share).
Their quality is compared on the *same* rows - the labelled requests since the serving
version took over, re-scored by both versions from the registry - so a change in who applied
cannot pass for a model regression (comparing each version's own period would confound the
two). Without a registry there is no comparison. Latency per version comes from the log;
version tags (known_good, the incident that moved the alias) stand in for alias history,
which MLflow does not keep.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from pydantic import Field

from playbooks.engine.plugins import collector
from playbooks.evidence.base import CollectContext, EvidencePart
from playbooks.evidence.frames import (
    log_view,
    newest_value,
    ok_rows,
    previous_version,
    safe_auc,
    serving_version_info,
)
from playbooks.models.common import StrictParams
from playbooks.models.profile import ModelProfile

__all__ = ["RELEASE_METRICS", "ReleaseParams", "collect_release_part", "slice_aucs",
           "version_table"]

RELEASE_METRICS = {
    "recent_release": "1 when the serving version first served inside the current window",
    "release_auc_drop": "previous minus serving version's ROC AUC on the same labelled rows",
    "release_worst_slice_auc_drop": "largest such drop on any profile segment",
    "release_latency_ratio": "serving version's logged p95 latency / the previous version's",
    "release_traffic_share": "share of the current window served by the serving version",
    "release_labelled_rows": "labelled rows the versions were compared on",
}
_TAGS = ("known_good", "mlpb.incident_id", "mlpb.remediation", "threshold", "mlpb.sandbox")


class ReleaseParams(StrictParams):
    max_rows: int = Field(5000, ge=100, description="Cap on labelled rows re-scored per version.")
    min_slice_rows: int = Field(50, ge=10, description="Smallest segment value compared.")


def version_table(profile: ModelProfile, log: pd.DataFrame, ts: str,
                  window_start: pd.Timestamp) -> list[dict[str, Any]]:
    """Per version: first/last seen, rows, window share and logged latency percentiles."""
    vcol, lat = profile.prediction.model_version, profile.prediction.latency
    assert vcol is not None
    window_rows = max(int((log[ts] >= window_start).sum()), 1)
    rows = []
    for version, part in log.groupby(log[vcol].astype(str)):
        row: dict[str, Any] = {"version": version, "first_seen": part[ts].min().isoformat(),
                               "last_seen": part[ts].max().isoformat(), "rows": len(part),
                               "window_share": float((part[ts] >= window_start).sum())
                               / window_rows}
        if lat and lat in part.columns:
            ok = ok_rows(profile, part)[lat].astype(float)
            row |= {"latency_p50_ms": float(ok.quantile(0.5)),
                    "latency_p95_ms": float(ok.quantile(0.95))}
        rows.append(row)
    return sorted(rows, key=lambda r: r["first_seen"])


def slice_aucs(profile: ModelProfile, frame: pd.DataFrame, y: np.ndarray, scores: np.ndarray,
               min_rows: int) -> dict[str, float]:
    """ROC AUC per ``segment=value`` with at least ``min_rows`` rows and both classes."""
    out = {}
    for seg in profile.segments:
        if seg not in frame.columns:
            continue
        for value, idx in frame.groupby(seg, observed=True).indices.items():
            if len(idx) >= min_rows and (auc := safe_auc(y[idx], scores[idx])) is not None:
                out[f"{seg}={value}"] = auc
    return out


def _compare(ctx: CollectContext, rows: pd.DataFrame, serving: str, previous: str,
             p: ReleaseParams) -> dict[str, Any]:
    prof = ctx.profile
    assert prof.target is not None and prof.model is not None
    if len(rows) > p.max_rows:
        rows = rows.sample(p.max_rows, random_state=0)
    y = rows[prof.target].astype(int).to_numpy()
    feats, store = prof.features.all, ctx.model_store
    assert store is not None  # the caller compares only with a registry
    scores: dict[str, np.ndarray] = {
        v: np.asarray(store.load_model(prof.model.registry_name, v)
                      .predict_proba(rows[feats])[:, 1], dtype=np.float64)
        for v in (serving, previous)}
    aucs = {v: safe_auc(y, s) for v, s in scores.items()}
    slices = {v: slice_aucs(prof, rows, y, s, p.min_slice_rows) for v, s in scores.items()}
    deltas = {k: slices[previous][k] - slices[serving][k]
              for k in slices[serving] if k in slices[previous]}
    return {"method": "re-scored by both versions", "rows": len(rows), "roc_auc": aucs,
            "slices": slices, "slice_drops": deltas}


@collector("release-history", params=ReleaseParams, metrics=RELEASE_METRICS)
def collect_release_part(ctx: CollectContext, params: ReleaseParams) -> EvidencePart:
    """Versions seen serving and when; serving vs previous version on the same labelled rows
    (overall and per segment); per-version latency; version tags."""
    prof = ctx.profile
    view = log_view(prof, ctx.data)
    vcol = prof.prediction.model_version
    if view is None or not vcol or vcol not in view.log.columns:
        return EvidencePart.unavailable(
            "release evidence needs data.timestamp and prediction.model_version",
            "no release evidence (no model-version column)")
    log, ts = view.log, view.ts
    info = serving_version_info(prof, ctx.model_store)
    serving = info.version if info else newest_value(log, ts, vcol)
    previous, first_seen = previous_version(log, ts, vcol, serving)
    versions = version_table(prof, log, ts, view.window_start)
    recent = first_seen is not None and pd.Timestamp(first_seen) >= view.window_start
    by_version = {v["version"]: v for v in versions}
    metrics: dict[str, float] = {
        "recent_release": float(recent and previous is not None),
        "release_traffic_share": by_version.get(serving, {}).get("window_share", 0.0)}
    data: dict[str, Any] = {"available": True, "serving_version": serving,
                            "previous_version": previous, "serving_first_seen":
                            first_seen.isoformat() if first_seen else None,
                            "versions": versions}
    lat = (by_version.get(serving, {}).get("latency_p95_ms"),
           by_version.get(previous or "", {}).get("latency_p95_ms"))
    if lat[0] is not None and lat[1]:
        metrics["release_latency_ratio"] = lat[0] / lat[1]
    lab = ctx.data.labelled
    if ctx.model_store is None:
        data["comparison"] = {"method": "unavailable: the profile names no model registry"}
    elif previous and first_seen is not None and lab is not None and prof.target and len(lab):
        since = ok_rows(prof, lab[(lab[ts] >= pd.Timestamp(first_seen))
                                  & (lab[vcol].astype(str) == serving)])
        if len(since) and since[prof.target].nunique() == 2 and prof.model is not None:
            cmp = _compare(ctx, since, serving, previous, params)
            data["comparison"] = cmp
            aucs = cmp.get("roc_auc", {})
            if aucs.get(serving) is not None and aucs.get(previous) is not None:
                metrics["release_auc_drop"] = aucs[previous] - aucs[serving]
                metrics["release_labelled_rows"] = float(cmp["rows"])
            if cmp.get("slice_drops"):
                metrics["release_worst_slice_auc_drop"] = max(cmp["slice_drops"].values())
    if ctx.model_store is not None and prof.model is not None:
        data["tags"] = {v.version: {k: v.tags[k] for k in _TAGS if k in v.tags}
                        | {"aliases": list(v.aliases)}
                        for v in ctx.model_store.list_versions(prof.model.registry_name)}
    drop = metrics.get("release_auc_drop")
    summary = (f"serving v{serving}" + (f" since {first_seen:%Y-%m-%d %H:%M}" if first_seen else "")
               + (f", previously v{previous}" if previous else ", no earlier version in the log")
               + (f"; AUC {-drop:+.3f} vs v{previous} on the same rows"
                  if drop is not None else ""))
    return EvidencePart(data=data, metrics=metrics, summary=summary)
