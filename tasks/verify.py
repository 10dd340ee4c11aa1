"""Verification: measure acceptance metrics on fresh data after a change."""

from __future__ import annotations

from typing import Any

from prefect import task

from playbooks.engine.lifecycle import Inputs
from playbooks.engine.verify import evaluate_criteria
from playbooks.models.incident import Verification
from playbooks.models.spec import RemediationSpec
from playbooks.remediations.base import RemediationContext
from tasks.common import TASK_DEFAULTS

__all__ = ["verify_remediation"]


@task(name="verify-remediation", task_run_name="verify-{entry.id}", **TASK_DEFAULTS)
def verify_remediation(ctx: RemediationContext, inputs: Inputs, entry: RemediationSpec,
                       change: dict[str, Any]) -> Verification:
    plugin = inputs.plugins.get("remediation", entry.action)
    metrics = plugin.impl().verify(ctx, plugin.parse_params(entry.params), change)
    return evaluate_criteria(inputs.spec.criteria_for(entry.id), metrics,
                             {"metrics": metrics, **change.get("windows", {})})
