"""The charts of one incident: what applies to its evidence and lifecycle, as PNG files in
one directory (the post-mortem links them, Slack and Prefect get the same files)."""

from __future__ import annotations

from pathlib import Path

from playbooks.archive.samples import Samples
from playbooks.charts.base import Chart
from playbooks.charts.drift import (
    distribution_chart,
    drift_statistic_chart,
    score_chart,
    top_drifted,
)
from playbooks.charts.monitoring import windows_chart
from playbooks.charts.serving import serving_chart
from playbooks.models.evidence import EvidencePackage
from playbooks.models.incident import Incident

__all__ = ["SERVING_COLLECTORS", "incident_charts"]

# Evidence whose incidents are about serving: their charts include the latency/error series.
SERVING_COLLECTORS = ("serving-metrics", "release-history")


def incident_charts(inc: Incident, evidence: EvidencePackage | None, samples: Samples | None,
                    out_dir: Path, *, slo_p95_ms: float | None = None,
                    slo_error_rate: float | None = None) -> list[Chart]:
    """Every chart the incident has data for, written into ``out_dir`` (stable names, so a
    re-render replaces rather than accumulates)."""
    charts: list[Chart | None] = []
    drift = evidence.feature_drift if evidence else []
    if evidence and drift:
        threshold = float(evidence.metrics.get("psi_act", 0.2))
        charts.append(drift_statistic_chart(drift, threshold, out_dir / "drift-statistics.png"))
    frames = samples.frames if samples else {}
    ref, cur = frames.get("reference"), frames.get("current")
    if samples and ref is not None and cur is not None:
        if drift:
            charts.append(distribution_chart(ref, cur, top_drifted(drift),
                                             out_dir / "distributions.png"))
        score, base = samples.role("score"), frames.get("baseline")
        if score and base is not None and score in base and score in cur:
            thr = samples.roles.get("threshold")
            charts.append(score_chart(base[score], cur[score], out_dir / "scores.png",
                                      threshold=float(thr) if thr is not None else None,
                                      labels=("before the window", "current window")))
        ts = samples.role("timestamp")
        serving = evidence is not None and any(c in evidence.summaries or c in evidence.parts
                                               for c in SERVING_COLLECTORS)
        if serving and ts:
            charts.append(serving_chart(
                cur, out_dir / "serving.png", timestamp=ts, latency=samples.role("latency"),
                status=samples.role("status"),
                error_value=samples.role("error_value") or "error",
                p95_slo_ms=slo_p95_ms, error_slo=slo_error_rate))
    if inc.monitoring is not None:
        before = dict(evidence.metrics) if evidence else {}
        if evidence and evidence.labels.get("roc_auc") is not None:
            before["roc_auc"] = float(evidence.labels["roc_auc"])
        charts.append(windows_chart(inc.monitoring, out_dir / "monitoring.png",
                                    verification=inc.verification, before=before))
    return [c for c in charts if c is not None]
