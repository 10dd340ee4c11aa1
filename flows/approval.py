"""Approve a change from the Prefect UI: ``approve-remediation`` suspends its run with a typed
form (approve/reject, approver, reason) whose description is the pinned plan. Suspended, the
run holds no worker; submitting the form resumes it (Prefect re-runs the flow from the top,
and ``suspend_flow_run`` then returns the submitted input). The decision lands in the same
ledger transition as the CLI's and Slack's; an approved change is applied here, through the
same Prefect tasks as an unattended run.

tasks/approval.py offers the form: when a deployment's run ends waiting for approval, it
schedules an ``approve-remediation`` run for the incident (a suspended run in the UI)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from prefect import flow, get_run_logger
from prefect.flow_runs import suspend_flow_run
from prefect.input import RunInput
from pydantic import Field

from playbooks.engine.approvals import DecisionRefused, decide, render_plan
from playbooks.engine.runner import resume_approved
from playbooks.loader import load_profile
from playbooks.models.incident import IncidentStatus
from tasks.prefect_context import prefect_runtime
from tasks.remediate import PrefectSteps

__all__ = ["ApprovalForm", "approve_remediation"]


class ApprovalForm(RunInput):
    """The form a person fills in to decide on a pinned plan."""

    decision: Literal["approve", "reject"] = Field(
        description="Approve applies exactly the plan above; reject hands the incident to "
        "the model owner.")
    approver: str = Field(description="Your name as listed in the model profile's "
                          "owners.approvers (a person or a member of a listed group).")
    reason: str = Field("", description="Why (required to reject; recorded on the incident).")


@flow(name="approve-remediation", flow_run_name="approval: {incident_id}", log_prints=False,
      persist_result=True)
def approve_remediation(incident_id: str, home: str | None = None) -> dict[str, Any]:
    """Wait (suspended, no worker held) for a person's decision on the incident's pinned
    plan, record it, and carry out an approved change."""
    logger = get_run_logger()
    rt = prefect_runtime(home, quiet=True)
    inc = rt.ledger.get(incident_id)
    req = inc.approval
    if inc.status is not IncidentStatus.AWAITING_APPROVAL or req is None or (
            req.state != "pending"):
        logger.info("%s is %s: nothing to decide", inc.id, inc.status.value)
        return {"incident": inc.id, "status": inc.status.value, "decided": False}
    left = max(int((req.due_at - rt.now()).total_seconds()), 60)
    # The key is the pinned plan: a resumed run finds its own input, and a new plan (the old
    # approval void) asks with a fresh form.
    form = suspend_flow_run(
        wait_for_input=ApprovalForm.with_initial_data(description=render_plan(inc, req),
                                                      reason=""),
        timeout=left, key=req.plan_hash.removeprefix("sha256:")[:32])  # [a-z0-9-] only
    assert form is not None  # resumed with input (Prefect fails a run resumed without)
    profile = load_profile(Path(inc.profile_path or ""))
    try:
        decided = decide(rt, inc.id, form.decision, approver=form.approver.strip(),
                         channel="prefect-ui", reason=form.reason, profile=profile,
                         plan_hash=req.plan_hash)
    except DecisionRefused as exc:
        logger.warning("decision refused: %s", exc.message)
        return {"incident": inc.id, "status": rt.ledger.get(inc.id).status.value,
                "decided": False, "refused": exc.message}
    inc = decided.incident
    if decided.outcome == "approved":
        logger.info("%s approved by %s: applying plan %s", inc.id, form.approver,
                    req.plan_hash[:19])
        inc = resume_approved(rt, inc.id, PrefectSteps)
    rt.flush_notifications()
    logger.info("%s is now %s", inc.id, inc.status.value)
    return {"incident": inc.id, "status": inc.status.value, "decided": True,
            "outcome": decided.outcome}
