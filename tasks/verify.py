"""Verification: measure acceptance metrics on fresh data after a change."""

from __future__ import annotations

from typing import Any

from prefect import task

from playbooks.engine.lifecycle import Inputs
from playbooks.engine.verify import evaluate_criteria, measure
from playbooks.models.incident import Verification
from playbooks.remediations.base import RemediationContext
from tasks.common import TASK_DEFAULTS

__all__ = ["verify_remediation"]


@task(name="verify-remediation", **TASK_DEFAULTS)
def verify_remediation(ctx: RemediationContext, inputs: Inputs, action: str,
                       change: dict[str, Any]) -> Verification:
    prof = ctx.profile
    assert prof.model is not None
    plugin = inputs.registry.get("remediation", action)
    train, holdout = plugin.impl().verification_data(ctx, change)
    serving = ctx.registry.load_model(prof.model.registry_name, prof.model.alias)
    previous = (ctx.registry.load_model(prof.model.registry_name, change["previous_version"])
                if change.get("previous_version") else None)
    metrics = measure(prof, holdout, serving=serving, previous=previous, reference=train,
                      thresholds=inputs.spec.drift)
    window = {"holdout_rows": len(holdout), **change["windows"], "metrics": metrics}
    return evaluate_criteria(inputs.spec.acceptance, metrics, window)
