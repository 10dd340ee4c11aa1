"""Phase 1 (open) and phase 6 (close)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import task
from prefect.artifacts import create_markdown_artifact

from playbooks.engine.lifecycle import Inputs, load_inputs, new_incident, recover_unfinished
from playbooks.engine.postmortem import render_postmortem
from playbooks.engine.runtime import Runtime
from playbooks.errors import MlpbError
from playbooks.models.evidence import EvidencePackage
from playbooks.models.incident import Incident, IncidentStatus, utcnow
from playbooks.notify import Notification
from tasks.common import TASK_DEFAULTS

__all__ = ["close_incident", "fail_incident", "load_playbook_inputs", "open_incident",
           "record_handover"]


@task(name="load-inputs", **TASK_DEFAULTS)
def load_playbook_inputs(playbook: str, profile: str) -> Inputs:
    return load_inputs(playbook, profile)


@task(name="open-incident", **TASK_DEFAULTS)
def open_incident(rt: Runtime, inputs: Inputs, trigger: dict[str, Any], dry_run: bool,
                  drill: bool, dedup_key: str | None) -> Incident:
    recover_unfinished(rt, inputs.profile)
    queued = rt.ledger.find_open(dedup_key) if dedup_key else None
    if queued is not None:
        # The receiver opened this incident and queued this run for it: claim it once.
        claimed = rt.ledger.claim(queued.id) if queued.status is IncidentStatus.OPEN else None
        if claimed is None:
            raise MlpbError(f"incident {queued.id} ({dedup_key}) is already being handled by "
                            "another run", hint="wait for that run, or `mlpb incidents show "
                            f"{queued.id}`")
        inc = claimed
    else:
        inc = new_incident(inputs.spec, inputs.profile, trigger=trigger, dry_run=dry_run,
                           drill=drill, dedup_key=dedup_key)
        inc.parent_id = trigger.get("parent_id")
        inc, created = rt.ledger.open_incident(inc)
        if not created:
            raise MlpbError(f"incident {inc.id} ({inc.dedup_key}) is already being handled by "
                            "another run", hint=f"`mlpb incidents show {inc.id}`")
    rt.notify(Notification("opened", inc, f"{inputs.spec.title} suspected on {inc.model}",
                           [f"trigger: {trigger.get('source', 'manual')}",
                            f"owner: {inc.owner}"]))
    return inc


@task(name="close-incident", **TASK_DEFAULTS)
def close_incident(rt: Runtime, inputs: Inputs, inc: Incident,
                   evidence: EvidencePackage | None) -> Incident:
    """Write the post-mortem (file + Prefect artifact), persist, notify the final status."""
    if inc.status in (IncidentStatus.RESOLVED, IncidentStatus.FALSE_ALARM):
        inc.resolved_at = utcnow()
    rt.ledger.add_event(inc.id, "closed", f"incident {inc.status.value}")
    inc.timeline = rt.ledger.events(inc.id)
    path = Path(rt.settings.postmortem_dir) / f"{inc.id}.md"
    inc.postmortem_path = str(path)
    text = render_postmortem(inc, inputs.spec, evidence)
    path.write_text(text, encoding="utf-8")
    create_markdown_artifact(markdown=text, key=f"postmortem-{inc.id.lower()}",
                             description=f"Post-mortem of {inc.id}")
    inc = rt.ledger.save(inc)
    kind = {IncidentStatus.RESOLVED: "resolved", IncidentStatus.FALSE_ALARM: "false_alarm",
            IncidentStatus.ESCALATED: "escalated"}.get(inc.status, "diagnosed")
    rc = inc.root_cause
    rt.notify(Notification(kind, inc, f"incident {inc.status.value}",  # type: ignore[arg-type]
                           [f"root cause: {rc.hypothesis_id} — {rc.summary}" if rc else
                            "root cause: not established",
                            *([f"escalated to: {inc.escalated_to}"] if inc.escalated_to else []),
                            f"post-mortem: {path}"]))
    return inc


@task(name="fail-incident", **TASK_DEFAULTS)
def fail_incident(rt: Runtime, inputs: Inputs, inc: Incident, exc: BaseException) -> Incident:
    """The run broke after the incident opened: record why and hand it to a human."""
    inc = rt.ledger.get(inc.id)  # the last state that was saved
    inc.status, inc.escalated_to = IncidentStatus.ESCALATED, inputs.profile.owners.oncall
    rt.ledger.add_event(inc.id, "error", f"playbook run failed: {type(exc).__name__}: {exc}")
    inc = rt.ledger.save(inc)
    rt.notify(Notification("escalated", inc, "playbook run failed; escalated",
                           [f"{type(exc).__name__}: {exc}", f"owner: {inc.escalated_to}"]))
    return inc


@task(name="record-handover", **TASK_DEFAULTS)
def record_handover(rt: Runtime, inc: Incident, child: dict[str, Any]) -> Incident:
    """Triage handed over: the child incident owns the response from here."""
    inc.status = IncidentStatus.HANDED_OVER
    inc.child_ids = [*inc.child_ids, child["id"]]
    rt.ledger.add_event(inc.id, "handover",
                        f"handed over to {child['playbook']} ({child['id']}): {child['status']}",
                        {"child_id": child["id"], "child_status": child["status"]})
    return rt.ledger.save(inc)
