"""The engine flow: the six phases of DESIGN.md §3. It only sequences tasks.

What the Prefect UI shows of a run: its name is the incident id and playbook once the incident
is open; its final state's message and an ``outcome:<status>`` tag say how it ended; the
decision and root cause are in its logs. A run a deployment started takes a catalog id and a
profile name only (flows/params.py); direct calls (CLI, drills, tests) may pass any path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow
from prefect.context import FlowRunContext
from prefect.runtime import flow_run
from prefect.states import Completed

from flows.params import deployment_inputs
from flows.runners import task_runner_from_env
from playbooks.config import harden_env
from tasks.diagnose import diagnose
from tasks.evidence import collect_evidence
from tasks.incident import (
    close_incident,
    conclude_incident,
    fail_incident,
    load_playbook_inputs,
    open_incident,
    record_handover,
)
from tasks.policy import check_deployment_policy
from tasks.prefect_context import label_flow_run, log_decision, outcome, prefect_runtime
from tasks.remediate import remediate

__all__ = ["run_playbook"]

harden_env()  # a worker's flow-run process: MLflow never unpickles an artifact


def _initial_name() -> str:
    """Until the incident opens: the playbook and the profile's model name."""
    params = flow_run.parameters
    path = Path(str(params.get("profile", "?")))
    model = path.parent.name if path.name == "profile.yaml" else path.stem
    return f"{params.get('playbook', '?')}: {model}"


def _from_deployment() -> bool:
    ctx = FlowRunContext.get()
    return bool(ctx and ctx.flow_run and ctx.flow_run.deployment_id
                and ctx.flow_run.parent_task_run_id is None)


@flow(name="run-playbook", flow_run_name=_initial_name, log_prints=False,
      task_runner=task_runner_from_env())  # MLPB_TASK_RUNNER=dask: collectors on Dask
def run_playbook(playbook: str, profile: str, dry_run: bool = False,
                 trigger: dict[str, Any] | None = None, drill: bool = False,
                 dedup_key: str | None = None, home: str | None = None,
                 quiet: bool = False) -> dict[str, Any]:
    """Run one playbook against one model profile; returns the Incident contract JSON."""
    from_deployment = _from_deployment()
    if from_deployment:  # anyone with Prefect access: a catalog id and a profile name only
        playbook, profile = deployment_inputs(playbook, profile, dry_run, home)
    rt = prefect_runtime(home, quiet=quiet)
    rt.flush_notifications()  # deliver what an earlier Slack outage queued; never raises
    inputs = load_playbook_inputs(playbook, profile)  # validation: nothing opened on bad input
    if from_deployment:  # the run policy, as "prefect-ui" unless the receiver queued it
        check_deployment_policy(rt, inputs, dry_run, trigger, dedup_key)
    inc = open_incident(rt, inputs, trigger or {"source": "manual"}, dry_run, drill, dedup_key)
    label_flow_run(name=f"{inc.id} · {inputs.spec.id}", tags=[inc.id, inputs.spec.id])
    try:
        evidence, inc = collect_evidence(rt, inputs, inc)
        inc, decision = diagnose(rt, inputs, inc, evidence)
        log_decision(inc, decision)
        if decision.action == "handover":
            assert decision.handover_to is not None
            child = run_playbook(
                playbook=decision.handover_to, profile=profile, dry_run=dry_run,
                trigger={"source": "triage", "parent_id": inc.id, "alert": trigger or {},
                         "evidence": {"metrics": evidence.metrics,
                                      "summaries": evidence.summaries}},
                drill=drill, dedup_key=f"{inc.dedup_key}>{decision.handover_to}", home=home,
                quiet=quiet)
            inc = record_handover(rt, inc, child)
        elif decision.action == "remediate":
            inc = remediate(rt, inputs, inc, evidence, decision)
        else:  # close as a false alarm, or escalate
            inc = conclude_incident(rt, inc, decision)
    except Exception as exc:
        fail_incident(rt, inputs, inc, exc)  # never leave an incident half-written
        label_flow_run(tags=["outcome:failed"])
        raise
    inc = close_incident(rt, inputs, inc, evidence)
    word, message = outcome(inc)
    label_flow_run(tags=[f"outcome:{word}"])
    # A returned State becomes the run's final state; callers still get its data (the dict).
    return Completed(message=message, data=inc.to_contract())  # type: ignore[return-value]
