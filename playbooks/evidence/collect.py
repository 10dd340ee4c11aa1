"""Evidence collectors (pure functions over loaded data and the registry)."""

from __future__ import annotations

import dataclasses
import platform
import socket
from datetime import datetime
from importlib import metadata
from typing import Any

from playbooks.data.io import DataWindows
from playbooks.engine.plugins import collector
from playbooks.evidence.base import CollectContext, EvidencePart, NoParams
from playbooks.evidence.frames import as_timestamp
from playbooks.models.profile import ModelProfile
from playbooks.modelstore.base import ModelStore
from playbooks.stats import DriftThresholds, compute_drift, fit_reference
from playbooks.stats.jsonable import to_jsonable

__all__ = [
    "collect_data_windows_part",
    "collect_environment",
    "collect_feature_drift",
    "collect_feature_drift_part",
    "collect_label_metrics",
    "collect_label_metrics_part",
    "collect_model_version",
    "collect_model_version_part",
    "estimate_onset",
]


def collect_feature_drift(
    profile: ModelProfile, data: DataWindows, thresholds: DriftThresholds
) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """Per-feature drift of the current window against the reference, and headline metrics."""
    ref = fit_reference(
        data.reference, profile.features.numeric, profile.features.categorical, thresholds
    )
    if data.stream is not None:  # a window over the memory budget: streamed, still exact
        report = data.stream.drift(ref, thresholds)
    else:
        report = compute_drift(ref, data.current, thresholds)
    rows = [to_jsonable(dataclasses.asdict(f)) for f in report.features]
    drifted = report.drifted()
    metrics = {
        "max_psi": float(report.max_psi()),
        "drifted_features": float(len(drifted)),
        "drifted_feature_share": len(drifted) / max(len(report.features), 1),
        "psi_act": thresholds.psi_act,
        "current_rows": float(report.features[0].n_current if report.features
                              else len(data.current)),
        "reference_rows": float(len(data.reference)),
    }
    return rows, metrics


def estimate_onset(
    profile: ModelProfile, data: DataWindows, thresholds: DriftThresholds
) -> datetime | None:
    """Start of the first day from which drift persists to the end of the log (for MTTD)."""
    ts = profile.data.timestamp
    if not ts or data.log.empty:
        return None
    ref = fit_reference(
        data.reference, profile.features.numeric, profile.features.categorical, thresholds
    )
    days = data.log[ts].dt.floor("D")
    onset: datetime | None = None
    for day, idx in sorted(data.log.groupby(days).indices.items()):
        if len(idx) < thresholds.min_rows:
            continue  # a partial day (e.g. the log's last hour) says nothing either way
        drifted = bool(compute_drift(ref, data.log.iloc[idx], thresholds).drifted())
        # A clean day resets the onset: drift must persist to the end of the log.
        onset = (onset or as_timestamp(day).to_pydatetime()) if drifted else None
    return onset


def collect_model_version(profile: ModelProfile, store: ModelStore | None) -> dict[str, Any]:
    if profile.model is None or store is None:
        return {"available": False, "reason": "the profile names no MLflow model"}
    info = store.get_version(profile.model.registry_name, profile.model.alias)
    return {
        "available": True,
        "name": info.name,
        "alias": profile.model.alias,
        "version": info.version,
        "run_id": info.run_id,
        "source": info.source,
        "tags": dict(info.tags),
        "threshold": profile.model.threshold,
    }


def collect_label_metrics(profile: ModelProfile, data: DataWindows) -> dict[str, Any]:
    """Labelled performance of the logged scores: the current window against the labelled
    history before it (same serving path, so the drop is what users felt)."""
    score = profile.prediction.score
    if data.labelled is None or profile.target is None or not score or score not in data.labelled:
        return {"available": False, "reason": "no labels or score column in the profile"}
    ts, lab, target = profile.data.timestamp, data.labelled, profile.target
    before = lab.iloc[0:0]
    if ts and not data.current.empty:
        start = data.current[ts].min()
        before, lab = lab[lab[ts] < start], lab[lab[ts] >= start]
    if lab[target].nunique() < 2:
        return {"available": False, "reason": "too few labelled rows in the current window"}
    from sklearn.metrics import roc_auc_score  # sklearn only when labels are scored

    y, s = lab[target].astype(int), lab[score].astype(float)
    out: dict[str, Any] = {
        "available": True,
        "rows": len(lab),
        "roc_auc": float(roc_auc_score(y, s)),
        "positive_rate": float(y.mean()),
        "mean_score": float(s.mean()),
    }
    if len(before) >= 100 and before[target].nunique() == 2:
        base = float(roc_auc_score(before[target].astype(int), before[score].astype(float)))
        out |= {
            "baseline_roc_auc": base,
            "baseline_rows": len(before),
            "labelled_auc_drop": base - out["roc_auc"],
        }
    return out


def collect_environment() -> dict[str, str]:
    env = {"python": platform.python_version(), "host": socket.gethostname()}
    for pkg in ("ml-playbooks", "prefect", "mlflow", "scikit-learn", "pandas"):
        try:
            env[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            continue
    return env


# -- registered collectors (thin adapters over the functions above) -------------------------


@collector("data-windows", params=NoParams)
def collect_data_windows_part(ctx: CollectContext, params: NoParams) -> EvidencePart:
    """Which files and time spans the incident looked at, with content hashes."""
    refs = dict(ctx.data.refs)
    return EvidencePart(
        fields={"windows": refs}, summary=", ".join(f"{k}: {v.rows} rows" for k, v in refs.items())
    )


@collector(
    "feature-drift",
    params=NoParams,
    metrics={
        "max_psi": "largest per-feature PSI of the current window against the reference",
        "drifted_features": "number of features whose drift status is 'drift'",
        "drifted_feature_share": "share of features whose drift status is 'drift'",
    },
)
def collect_feature_drift_part(ctx: CollectContext, params: NoParams) -> EvidencePart:
    """Per-feature drift (PSI, KS, Wasserstein, JS) and the estimated onset."""
    rows, metrics = collect_feature_drift(ctx.profile, ctx.data, ctx.spec.drift)
    onset = estimate_onset(ctx.profile, ctx.data, ctx.spec.drift)
    n = int(metrics["drifted_features"])
    return EvidencePart(
        metrics=metrics,
        fields={"feature_drift": rows, "drift_onset": onset},
        summary=f"{n} of {len(rows)} features drifted (max PSI {metrics['max_psi']:.2f})",
    )


@collector("model-version", params=NoParams)
def collect_model_version_part(ctx: CollectContext, params: NoParams) -> EvidencePart:
    """The serving version behind the profile's alias: run id, source, tags."""
    info = collect_model_version(ctx.profile, ctx.model_store)
    return EvidencePart(
        fields={"model": info},
        summary=f"serving v{info['version']}" if info.get("available") else "",
    )


@collector(
    "label-metrics",
    params=NoParams,
    metrics={
        "labelled_auc_drop": "serving model's labelled ROC AUC before the window minus inside it",
    },
)
def collect_label_metrics_part(ctx: CollectContext, params: NoParams) -> EvidencePart:
    """Labelled performance of the logged scores, now and before the current window."""
    info = collect_label_metrics(ctx.profile, ctx.data)
    metrics = {k: float(info[k]) for k in ("labelled_auc_drop",) if k in info}
    return EvidencePart(fields={"labels": info}, metrics=metrics)
