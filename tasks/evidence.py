"""Phase 2 as Prefect tasks: the spec's collectors run concurrently; the package is assembled
and recorded by playbooks.engine.diagnosis."""

from __future__ import annotations

from prefect import task
from prefect.artifacts import create_table_artifact

from playbooks.engine import diagnosis
from playbooks.engine.lifecycle import Inputs
from playbooks.engine.runtime import Runtime
from playbooks.evidence.base import CollectContext, EvidencePart
from playbooks.models.evidence import EvidencePackage
from playbooks.models.incident import Incident
from tasks.common import TASK_DEFAULTS

__all__ = ["collect_evidence"]

_DRIFT_COLUMNS = ("feature", "kind", "status", "psi", "ks", "wasserstein_normed", "js")


@task(name="collect", task_run_name="collect-{name}", **TASK_DEFAULTS)
def run_collector(ctx: CollectContext, inputs: Inputs, name: str) -> EvidencePart:
    return inputs.plugins.get("collector", name).run_collector(ctx)


@task(name="record-evidence", **TASK_DEFAULTS)
def record_evidence(rt: Runtime, inc: Incident, pkg: EvidencePackage) -> Incident:
    if pkg.feature_drift:
        create_table_artifact(
            table=[{k: d.get(k) for k in _DRIFT_COLUMNS} for d in pkg.feature_drift],
            key=f"evidence-{inc.id.lower()}",
            description=f"Feature drift evidence for {inc.id}")
    return diagnosis.record_evidence(rt, inc, pkg)


def collect_evidence(rt: Runtime, inputs: Inputs,
                     inc: Incident) -> tuple[EvidencePackage, Incident]:
    """Submit every collector the spec names, wait for all, assemble and record the package."""
    diagnosis.use_serving_reference(rt, inputs)
    ctx = diagnosis.collect_context(rt, inputs, inc)
    futures = {name: run_collector.submit(ctx, inputs, name) for name in inputs.spec.evidence}
    pkg = diagnosis.assemble_package(inc, {name: f.result() for name, f in futures.items()})
    return pkg, record_evidence(rt, inc, pkg)
