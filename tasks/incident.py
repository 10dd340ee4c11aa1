"""Phase 1 (open) and the close: thin task wrappers over playbooks.engine.lifecycle."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.artifacts import create_markdown_artifact

from playbooks.engine import lifecycle
from playbooks.engine.decide import Decision
from playbooks.engine.lifecycle import Inputs
from playbooks.engine.runtime import Runtime
from playbooks.models.evidence import EvidencePackage
from playbooks.models.incident import Incident
from playbooks.notify import Notification
from tasks.charts import publish_charts
from tasks.common import TASK_DEFAULTS

__all__ = ["close_incident", "conclude_incident", "fail_incident", "load_playbook_inputs",
           "open_incident", "record_handover"]


@task(name="load-inputs", **TASK_DEFAULTS)
def load_playbook_inputs(playbook: str, profile: str) -> Inputs:
    return lifecycle.load_inputs(playbook, profile)


@task(name="open-incident", **TASK_DEFAULTS)
def open_incident(rt: Runtime, inputs: Inputs, trigger: dict[str, Any], dry_run: bool,
                  drill: bool, dedup_key: str | None) -> Incident:
    return lifecycle.open_or_claim(rt, inputs, trigger, dry_run=dry_run, drill=drill,
                                   dedup_key=dedup_key)


@task(name="conclude", **TASK_DEFAULTS)
def conclude_incident(rt: Runtime, inc: Incident, decision: Decision) -> Incident:
    return lifecycle.conclude(rt, inc, decision)


@task(name="close-incident", **TASK_DEFAULTS)
def close_incident(rt: Runtime, inputs: Inputs, inc: Incident,
                   evidence: EvidencePackage | None) -> Incident:
    """Write the post-mortem (file + Prefect artifact), record the close, notify (the MLflow
    links and evidence run: lifecycle.close)."""
    inc, text = lifecycle.close(rt, inputs, inc, evidence)
    if text:  # "" while the incident still waits (monitoring): the controller closes it
        create_markdown_artifact(markdown=text, key=f"postmortem-{inc.id.lower()}",
                                 description=f"Post-mortem of {inc.id}")
        publish_charts(rt, inc)  # artifact with the charts inline + the Slack thread
    return inc


@task(name="fail-incident", **TASK_DEFAULTS)
def fail_incident(rt: Runtime, inputs: Inputs, inc: Incident, exc: BaseException) -> Incident:
    """The run broke after the incident opened: record why and hand it to a human."""
    inc = lifecycle.fail(rt, inc, exc, inputs.profile.owners.oncall)
    rt.notify(Notification("escalated", inc, "playbook run failed; escalated",
                           [f"{type(exc).__name__}: {exc}", f"owner: {inc.escalated_to}"]))
    return inc


@task(name="record-handover", **TASK_DEFAULTS)
def record_handover(rt: Runtime, inc: Incident, child: dict[str, Any]) -> Incident:
    return lifecycle.hand_over(rt, inc, child)
