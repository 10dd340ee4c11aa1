"""Phase 2: collect the evidence package; collectors run concurrently."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import task
from prefect.artifacts import create_table_artifact

from playbooks.engine.lifecycle import Inputs
from playbooks.engine.runtime import Runtime
from playbooks.evidence import (
    collect_environment,
    collect_feature_drift,
    collect_label_metrics,
    collect_model_version,
    estimate_onset,
)
from playbooks.models.evidence import EvidencePackage
from playbooks.models.incident import Incident, utcnow
from playbooks.notify import Notification
from tasks.common import TASK_DEFAULTS

__all__ = ["collect_evidence"]


@task(name="collect-feature-drift", **TASK_DEFAULTS)
def collect_feature_drift_task(inputs: Inputs) -> tuple[list[dict[str, Any]], dict[str, float]]:
    return collect_feature_drift(inputs.profile, inputs.data, inputs.spec.drift)


@task(name="collect-drift-onset", **TASK_DEFAULTS)
def collect_onset_task(inputs: Inputs) -> datetime | None:
    return estimate_onset(inputs.profile, inputs.data, inputs.spec.drift)


@task(name="collect-model-version", **TASK_DEFAULTS)
def collect_model_version_task(rt: Runtime, inputs: Inputs) -> dict[str, Any]:
    return collect_model_version(inputs.profile, rt.model_registry(inputs.profile))


@task(name="collect-label-metrics", **TASK_DEFAULTS)
def collect_label_metrics_task(inputs: Inputs) -> dict[str, Any]:
    return collect_label_metrics(inputs.profile, inputs.data)


def collect_evidence(rt: Runtime, inputs: Inputs, inc: Incident) -> tuple[EvidencePackage, Incident]:
    """Submit every collector the spec asks for, wait for all, assemble the package."""
    wanted = set(inputs.spec.evidence)
    drift = collect_feature_drift_task.submit(inputs) if "feature-drift" in wanted else None
    onset = collect_onset_task.submit(inputs) if "feature-drift" in wanted else None
    model = collect_model_version_task.submit(rt, inputs) if "model-version" in wanted else None
    labels = collect_label_metrics_task.submit(inputs) if "label-metrics" in wanted else None
    rows, metrics = drift.result() if drift else ([], {})
    onset_at = onset.result() if onset else None
    label_metrics = labels.result() if labels else {}
    if "labelled_auc_drop" in label_metrics:
        metrics = {**metrics, "labelled_auc_drop": label_metrics["labelled_auc_drop"]}
    pkg = EvidencePackage(
        incident_id=inc.id, collected_at=utcnow(),
        windows=dict(inputs.data.refs) if "data-windows" in wanted else {},
        feature_drift=rows, drift_onset=onset_at, metrics=metrics,
        model=model.result() if model else {}, labels=label_metrics,
        environment=collect_environment(), alert=dict(inc.trigger))
    return pkg, _record(rt, inc, pkg, onset_at)


@task(name="record-evidence", **TASK_DEFAULTS)
def _record(rt: Runtime, inc: Incident, pkg: EvidencePackage, onset: datetime | None) -> Incident:
    inc.onset_at = onset
    inc.model_version = pkg.model.get("version")
    drifted = sorted((d for d in pkg.feature_drift if d["status"] == "drift"),
                     key=lambda d: -(d.get("psi") or 0))
    create_table_artifact(
        table=[{k: d.get(k) for k in ("feature", "kind", "status", "psi", "ks",
                                      "wasserstein_normed", "js")} for d in pkg.feature_drift],
        key=f"evidence-{inc.id.lower()}", description=f"Feature drift evidence for {inc.id}")
    summary = (f"{len(drifted)} of {len(pkg.feature_drift)} features drifted (max PSI "
               f"{pkg.metrics.get('max_psi', 0):.2f})")
    rt.ledger.add_event(inc.id, "evidence", summary, {"metrics": pkg.metrics,
                                                      "windows": list(pkg.windows)})
    rt.notify(Notification("evidence", inc, "evidence collected",
                           [summary, *(f"{d['feature']}: PSI {d['psi']:.2f}" for d in drifted[:5])]))
    return rt.ledger.save(inc)
