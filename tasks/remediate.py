"""Phase 5 as Prefect tasks: plan, apply inside a Prefect transaction (its ``on_rollback``
hook reverts), verify. The policy is playbooks.engine.runner's."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from prefect import task
from prefect.transactions import Transaction, get_transaction, transaction

from playbooks.engine.decide import Decision
from playbooks.engine.lifecycle import Inputs
from playbooks.engine.revert import Undo
from playbooks.engine.runner import (
    Guard,
    apply_step,
    plan_step,
    remediation_context,
    revert_step,
    run_remediations,
    verify_step,
)
from playbooks.engine.runtime import Runtime
from playbooks.models.evidence import EvidencePackage
from playbooks.models.incident import Incident, IncidentStatus, Verification
from playbooks.models.spec import RemediationSpec
from playbooks.remediations.base import NotApplicable, RemediationContext
from tasks.approval import offer_approval_form
from tasks.common import TASK_DEFAULTS

__all__ = ["PrefectSteps", "remediate"]


@dataclass(frozen=True)
class Inapplicable:
    """A plan that does not apply (NotApplicable) as the task's result: an expected outcome,
    so the task completes instead of failing with an ERROR traceback in the Prefect logs."""

    message: str
    hint: str | None


@task(name="plan-remediation", task_run_name="plan-{entry.id}", **TASK_DEFAULTS)
def plan_remediation(inputs: Inputs, ctx: RemediationContext,
                     entry: RemediationSpec) -> dict[str, Any] | Inapplicable:
    try:
        return plan_step(inputs, ctx, entry)
    except NotApplicable as exc:
        return Inapplicable(exc.message, exc.hint)


@task(name="apply-remediation", task_run_name="apply-{entry.id}", **TASK_DEFAULTS)
def apply_remediation(rt: Runtime, inputs: Inputs, ctx: RemediationContext,
                      entry: RemediationSpec, plan: dict[str, Any], undo: Undo) -> dict[str, Any]:
    txn = get_transaction()
    assert txn is not None, "apply-remediation runs inside a transaction"
    txn.set("undo", undo)  # before acting: the hook must find it even if apply dies half-way
    change = apply_step(rt, inputs, ctx, entry, plan, undo)
    txn.set("change", change)
    return change


@apply_remediation.on_rollback
def revert_remediation(txn: Transaction) -> None:
    revert_step(txn.get("undo"), txn.get("change", None))


@task(name="verify-remediation", task_run_name="verify-{entry.id}", **TASK_DEFAULTS)
def verify_remediation(inputs: Inputs, ctx: RemediationContext, entry: RemediationSpec,
                       change: dict[str, Any]) -> Verification:
    return verify_step(inputs, ctx, entry, change)


@dataclass
class PrefectSteps:
    rt: Runtime
    inputs: Inputs
    ctx: RemediationContext

    def plan(self, entry: RemediationSpec) -> dict[str, Any]:
        planned = plan_remediation(self.inputs, self.ctx, entry)
        if isinstance(planned, Inapplicable):  # the runner's policy sees the same exception
            raise NotApplicable(planned.message, hint=planned.hint)
        return planned

    def apply(self, entry: RemediationSpec, plan: dict[str, Any], undo: Undo) -> dict[str, Any]:
        return apply_remediation(self.rt, self.inputs, self.ctx, entry, plan, undo)

    def verify(self, entry: RemediationSpec, change: dict[str, Any]) -> Verification:
        return verify_remediation(self.inputs, self.ctx, entry, change)

    @contextmanager
    def guarded(self) -> Iterator[Guard]:
        with transaction() as txn:
            yield txn


def remediate(rt: Runtime, inputs: Inputs, inc: Incident, evidence: EvidencePackage,
              decision: Decision) -> Incident:
    steps = PrefectSteps(rt, inputs, remediation_context(rt, inputs, inc, evidence))
    inc = run_remediations(rt, inputs, inc, evidence, decision, steps)
    if inc.status is IncidentStatus.AWAITING_APPROVAL:  # served: a form in the Prefect UI too
        offer_approval_form(inc.id, str(rt.settings.home))
    return inc
