"""Phase 2: collect the evidence package; the spec's collectors run concurrently."""

from __future__ import annotations

from prefect import task
from prefect.artifacts import create_table_artifact

from playbooks.engine.lifecycle import Inputs
from playbooks.engine.runtime import Runtime
from playbooks.evidence import collect_environment
from playbooks.evidence.base import CollectContext, EvidencePart
from playbooks.models.evidence import EvidencePackage
from playbooks.models.incident import Incident, utcnow
from playbooks.notify import Notification
from tasks.common import TASK_DEFAULTS

__all__ = ["collect_evidence"]


@task(name="collect", task_run_name="collect-{name}", **TASK_DEFAULTS)
def run_collector(ctx: CollectContext, inputs: Inputs, name: str) -> EvidencePart:
    plugin = inputs.plugins.get("collector", name)
    return plugin.impl(ctx, plugin.parse_params({}))  # type: ignore[no-any-return]


def collect_evidence(
    rt: Runtime, inputs: Inputs, inc: Incident
) -> tuple[EvidencePackage, Incident]:
    """Submit every collector the spec names, wait for all, assemble the package."""
    ctx = CollectContext(
        incident_id=inc.id,
        profile=inputs.profile,
        spec=inputs.spec,
        data=inputs.data,
        model_store=rt.model_store(inputs.profile),
        state_dir=rt.settings.home,
    )
    futures = {name: run_collector.submit(ctx, inputs, name) for name in inputs.spec.evidence}
    parts = {name: f.result() for name, f in futures.items()}
    fields: dict[str, object] = {}
    metrics: dict[str, float] = {}
    for part in parts.values():
        fields |= part.fields
        metrics |= part.metrics
    pkg = EvidencePackage.model_validate(
        {
            "incident_id": inc.id,
            "collected_at": utcnow(),
            **fields,
            "metrics": metrics,
            "environment": collect_environment(),
            "alert": dict(inc.trigger),
            "parts": {n: p.data for n, p in parts.items() if p.data},
            "summaries": {n: p.summary for n, p in parts.items() if p.summary},
        }
    )
    return pkg, record_evidence(rt, inc, pkg)


@task(name="record-evidence", **TASK_DEFAULTS)
def record_evidence(rt: Runtime, inc: Incident, pkg: EvidencePackage) -> Incident:
    inc.onset_at = pkg.drift_onset or inc.onset_at
    inc.model_version = pkg.model.get("version")
    if pkg.feature_drift:
        create_table_artifact(
            table=[
                {
                    k: d.get(k)
                    for k in ("feature", "kind", "status", "psi", "ks", "wasserstein_normed", "js")
                }
                for d in pkg.feature_drift
            ],
            key=f"evidence-{inc.id.lower()}",
            description=f"Feature drift evidence for {inc.id}",
        )
    lines = [f"{name}: {line}" for name, line in pkg.summaries.items()]
    drifted = sorted(
        (d for d in pkg.feature_drift if d["status"] == "drift"), key=lambda d: -(d.get("psi") or 0)
    )
    lines += [
        f"{d['feature']}: PSI {d['psi']:.2f}" for d in drifted[:5] if d.get("psi") is not None
    ]
    rt.ledger.add_event(
        inc.id,
        "evidence",
        "; ".join(pkg.summaries.values()) or "collected",
        {"metrics": pkg.metrics, "collectors": list(pkg.summaries)},
    )
    rt.notify(Notification("evidence", inc, "evidence collected", lines))
    return rt.ledger.save(inc)
