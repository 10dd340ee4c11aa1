"""Phase 2 as Prefect tasks: the spec's collectors run concurrently; the package is assembled
and recorded by playbooks.engine.diagnosis."""

from __future__ import annotations

import math
from typing import Any

from prefect import task
from prefect.artifacts import create_table_artifact

from playbooks.engine import diagnosis
from playbooks.engine.lifecycle import Inputs
from playbooks.engine.runtime import Runtime
from playbooks.evidence.base import CollectContext, EvidencePart
from playbooks.models.evidence import EvidencePackage
from playbooks.models.incident import Incident
from playbooks.stats.drift import DriftThresholds
from tasks.common import TASK_DEFAULTS

__all__ = ["collect_evidence", "drift_table"]

_STATISTICS = ("psi", "ks", "wasserstein_normed", "js")


def _sig4(value: Any) -> Any:
    """4 significant digits: a table people read, not 0.30000000000000004."""
    if isinstance(value, float) and math.isfinite(value):
        return float(f"{value:.4g}")
    return value


def drift_table(rows: list[dict[str, Any]], thresholds: DriftThresholds) -> list[dict[str, Any]]:
    """The evidence artifact's rows: drifted first, the PSI threshold beside the PSI."""
    table = [{"feature": d.get("feature"), "kind": d.get("kind"),
              "drifted": d.get("status") == "drift", "status": d.get("status"),
              **{k: _sig4(d.get(k)) for k in _STATISTICS[:1]},
              "psi_threshold": thresholds.psi_act,
              **{k: _sig4(d.get(k)) for k in _STATISTICS[1:]}} for d in rows]
    return sorted(table, key=lambda r: (not r["drifted"], -(r["psi"] or 0.0)))


@task(name="collect", task_run_name="collect-{name}", **TASK_DEFAULTS)
def run_collector(ctx: CollectContext, inputs: Inputs, name: str) -> EvidencePart:
    return inputs.plugins.get("collector", name).run_collector(ctx)


@task(name="record-evidence", **TASK_DEFAULTS)
def record_evidence(rt: Runtime, inc: Incident, pkg: EvidencePackage,
                    thresholds: DriftThresholds) -> Incident:
    if pkg.feature_drift:
        create_table_artifact(
            table=drift_table(pkg.feature_drift, thresholds),
            key=f"evidence-{inc.id.lower()}",
            description=f"Feature drift evidence for {inc.id} (drifted: status 'drift' by the "
            f"spec's thresholds; PSI acts at {thresholds.psi_act})")
    return diagnosis.record_evidence(rt, inc, pkg)


def collect_evidence(rt: Runtime, inputs: Inputs,
                     inc: Incident) -> tuple[EvidencePackage, Incident]:
    """Submit every collector the spec names, wait for all, assemble and record the package."""
    diagnosis.use_serving_reference(rt, inputs)
    ctx = diagnosis.collect_context(rt, inputs, inc)
    futures = {name: run_collector.submit(ctx, inputs, name) for name in inputs.spec.evidence}
    pkg = diagnosis.assemble_package(inc, {name: f.result() for name, f in futures.items()})
    return pkg, record_evidence(rt, inc, pkg, inputs.spec.drift)
