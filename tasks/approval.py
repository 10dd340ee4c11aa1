"""Offer the Prefect UI's approval form for an incident that waits for approval (see
flows/approval.py, which serves it)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, cast

from prefect.context import FlowRunContext

from tasks.prefect_context import prefect_runtime

if TYPE_CHECKING:
    from prefect.client.schemas.objects import FlowRun

__all__ = ["APPROVAL_DEPLOYMENT", "offer_approval_form"]

APPROVAL_DEPLOYMENT = "approve-remediation/approve-remediation"
log = logging.getLogger(__name__)


def offer_approval_form(incident_id: str, home: str | None) -> str | None:
    """Schedule an ``approve-remediation`` run for the incident when this run came from a
    deployment (so a served stack is there to pick it up); returns its id. Never raises:
    the CLI and Slack can always decide instead."""
    ctx = FlowRunContext.get()
    if ctx is None or ctx.flow_run is None or ctx.flow_run.deployment_id is None:
        return None
    try:
        from prefect.deployments import run_deployment

        req = prefect_runtime(home, quiet=True).ledger.get(incident_id).approval
        plan = req.plan_hash if req is not None else ""
        run = cast("FlowRun", run_deployment(APPROVAL_DEPLOYMENT, timeout=0, as_subflow=False,
                             parameters={"incident_id": incident_id, "home": home},
                             idempotency_key=f"approval:{incident_id}:{plan}"))
        return str(run.id)
    except Exception as exc:  # e.g. the deployment is not registered
        log.warning("no Prefect approval form for %s (%s: %s); decide with `mlpb approve` "
                    "or Slack", incident_id, type(exc).__name__, exc)
        return None
