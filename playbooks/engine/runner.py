"""Phase 5, the remediation runner: menu order, gates, journal before change, apply, verify,
revert on failure, then resolve, try the next option or escalate.

How each step runs is the caller's (``Steps``): the Prefect flow makes them tasks inside a
Prefect transaction whose ``on_rollback`` hook reverts; ``DirectSteps`` calls them in-process.
Either way every status change is an event through ``record_event``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from playbooks.config import load_settings
from playbooks.engine.decide import Decision
from playbooks.engine.gates import dirty_data_reason, loop_guard_reason, needs_clean_data
from playbooks.engine.lifecycle import Inputs
from playbooks.engine.monitor import start_monitoring
from playbooks.engine.revert import Undo, revert_change
from playbooks.engine.runtime import Runtime
from playbooks.engine.transitions import Event
from playbooks.engine.verify import evaluate_criteria
from playbooks.errors import MlpbError
from playbooks.ledger.leases import LeaseBusy
from playbooks.models.evidence import EvidencePackage
from playbooks.models.incident import Incident, RemediationRecord, Verification, utcnow
from playbooks.models.spec import RemediationSpec
from playbooks.notify import Notification
from playbooks.remediations.base import RemediationContext

__all__ = [
    "DirectSteps",
    "Guard",
    "Steps",
    "apply_step",
    "plan_step",
    "remediation_context",
    "revert_step",
    "run_remediations",
    "verify_step",
]


class Guard(Protocol):
    """The scope of one applied change; ``rollback()`` undoes it (so does an exception)."""

    def rollback(self) -> object: ...  # Prefect's Transaction returns a bool


class Steps(Protocol):
    def plan(self, entry: RemediationSpec) -> dict[str, Any]: ...

    def apply(self, entry: RemediationSpec, plan: dict[str, Any], undo: Undo) -> dict[str, Any]:
        ...

    def verify(self, entry: RemediationSpec, change: dict[str, Any]) -> Verification: ...

    def guarded(self) -> AbstractContextManager[Guard]: ...


def remediation_context(
    rt: Runtime, inputs: Inputs, inc: Incident, evidence: EvidencePackage
) -> RemediationContext:
    return RemediationContext(
        incident_id=inc.id,
        profile=inputs.profile,
        model_store=rt.model_store(inputs.profile),
        state_dir=rt.settings.home,
        evidence=evidence,
        data=inputs.data,
    )


# The step bodies, shared by the Prefect tasks and DirectSteps.
def plan_step(inputs: Inputs, ctx: RemediationContext, entry: RemediationSpec) -> dict[str, Any]:
    plugin = inputs.plugins.get("remediation", entry.action)
    return plugin.remediation().plan(ctx, plugin.parse_params(entry.params))


def apply_step(
    rt: Runtime, inputs: Inputs, ctx: RemediationContext, entry: RemediationSpec,
    plan: dict[str, Any], undo: Undo,
) -> dict[str, Any]:
    plugin = inputs.plugins.get("remediation", entry.action)
    change = plugin.remediation().apply(ctx, plugin.parse_params(entry.params), plan)
    rt.ledger.journal_update(undo.seq, "applied", change)
    return change


def verify_step(
    inputs: Inputs, ctx: RemediationContext, entry: RemediationSpec, change: dict[str, Any]
) -> Verification:
    plugin = inputs.plugins.get("remediation", entry.action)
    metrics = plugin.remediation().verify(ctx, plugin.parse_params(entry.params), change)
    window = {"metrics": metrics, **change.get("windows", {})}
    return evaluate_criteria(inputs.spec.criteria_for(entry.id), metrics, window)


def revert_step(undo: Undo, change: dict[str, Any] | None) -> None:
    """Undo a change of a live run and put it on the incident's timeline (a fresh Runtime:
    Prefect may call this from its rollback hook with only plain data at hand)."""
    rt = Runtime(load_settings(undo.state_dir).ensure())  # ledger + store: no notifier needed
    revert_change(undo, change, ledger=rt.ledger, store=rt.model_store(undo.profile))
    inc = rt.ledger.get(undo.incident_id)
    rt.record(inc, Event.REVERTED, f"remediation '{undo.remediation_id}' reverted",
                 data={"change": change})


@dataclass
class DirectSteps:
    """Steps run in-process (no Prefect): the guard reverts on rollback or on an error."""

    rt: Runtime
    inputs: Inputs
    ctx: RemediationContext
    _open: list[tuple[Undo, dict[str, Any] | None]] = field(default_factory=list)

    def plan(self, entry: RemediationSpec) -> dict[str, Any]:
        return plan_step(self.inputs, self.ctx, entry)

    def apply(self, entry: RemediationSpec, plan: dict[str, Any], undo: Undo) -> dict[str, Any]:
        self._open.append((undo, None))
        change = apply_step(self.rt, self.inputs, self.ctx, entry, plan, undo)
        self._open[-1] = (undo, change)
        return change

    def verify(self, entry: RemediationSpec, change: dict[str, Any]) -> Verification:
        return verify_step(self.inputs, self.ctx, entry, change)

    @contextmanager
    def guarded(self) -> Iterator[Guard]:
        guard = _DirectGuard(self)
        try:
            yield guard
        except BaseException:
            guard.rollback()
            raise

    def _rollback(self) -> None:
        while self._open:
            undo, change = self._open.pop()
            revert_step(undo, change)


@dataclass
class _DirectGuard:
    steps: DirectSteps

    def rollback(self) -> None:
        self.steps._rollback()


def _records(inputs: Inputs, decision: Decision, error: str, dry_run: bool = False
             ) -> list[RemediationRecord]:
    return [RemediationRecord(id=r, action=inputs.spec.remediation(r).action, dry_run=dry_run,
                              error=error) for r in decision.remediations]


def run_remediations(
    rt: Runtime, inputs: Inputs, inc: Incident, evidence: EvidencePackage, decision: Decision,
    steps: Steps,
) -> Incident:
    """Try each remediation of the decision in order until one verifies; else escalate."""
    spec, profile = inputs.spec, inputs.profile
    owner = decision.escalate_to or getattr(profile.owners, spec.escalation.default_owner)
    if not profile.can_remediate and not inc.dry_run:
        why = "recommended only: the profile names no MLflow model"
        return rt.record(inc, Event.RECOMMENDED, why,
                            remediations=_records(inputs, decision, why))
    blocked = (dirty_data_reason(evidence)
               if needs_clean_data(spec, inputs.plugins, decision.remediations) else None)
    if not blocked and not inc.dry_run:
        blocked = loop_guard_reason(inc, spec, rt.ledger.journal(model=inc.model),
                                    lambda iid: rt.ledger.get(iid).drill, utcnow())
    if blocked:
        recs = _records(inputs, decision, blocked, inc.dry_run)
        if inc.dry_run:
            return rt.record(inc, Event.RECOMMENDED, blocked, remediations=recs)
        return rt.record(inc, Event.ESCALATED, blocked, data={"to": owner},
                            remediations=recs, escalated_to=owner)
    inc = rt.record(inc, Event.PLANNING,
                       f"remediation menu: {', '.join(decision.remediations)}")
    for rid in decision.remediations:
        inc, rec = _try_one(rt, inputs, inc, steps, spec.remediation(rid))
        if rec.applied and not rec.reverted:
            watch = spec.monitoring_for(rid)
            if watch is not None and not decision.escalate_to and rec.change is not None:
                assert rec.journal_seq is not None
                return start_monitoring(rt, inc, watch, remediation_id=rid, action=rec.action,
                                        seq=rec.journal_seq, change=rec.change)
            if decision.escalate_to:  # contained; the cause still needs its owner
                return rt.record(inc, Event.ESCALATED,
                    f"'{rid}' contained the incident; escalating the cause",
                    data={"to": decision.escalate_to}, escalated_to=decision.escalate_to)
            return rt.record(inc, Event.RESOLVED,
                                f"'{rid}' kept: every acceptance criterion holds")
        if inc.dry_run and not rec.error:
            return rt.record(inc, Event.RECOMMENDED,
                                f"dry run: '{rid}' would be applied")
    if inc.dry_run:
        return rt.record(inc, Event.RECOMMENDED, "dry run: no remediation applies")
    return rt.record(inc, Event.ESCALATED, "no remediation verified; escalating",
                        data={"to": owner}, escalated_to=owner)


def _try_one(rt: Runtime, inputs: Inputs, inc: Incident, steps: Steps, entry: RemediationSpec
             ) -> tuple[Incident, RemediationRecord]:
    try:
        plan = steps.plan(entry)
    except MlpbError as exc:
        rec = RemediationRecord(id=entry.id, action=entry.action, error=exc.message)
        return inc.model_copy(update={"remediations": [*inc.remediations, rec]}), rec
    rec = RemediationRecord(id=entry.id, action=entry.action, plan=plan, dry_run=inc.dry_run)
    summary = str(plan.get("summary", ""))
    rt.notify(Notification("remediation_plan", inc, f"remediation plan: {entry.id}", [
        summary, f"risk {entry.risk}, effort {entry.effort}", f"rollback: {entry.rollback}"]))
    if inc.dry_run:
        inc = rt.record(inc, Event.DRY_RUN, f"would apply '{entry.id}': {summary}")
        return inc.model_copy(update={"remediations": [*inc.remediations, rec]}), rec
    if entry.requires_approval:
        rec.error = "requires approval; not applied automatically"
        rt.notify(Notification("approval_needed", inc, f"approval needed for {entry.id}",
                               [summary]))
        return inc.model_copy(update={"remediations": [*inc.remediations, rec]}), rec
    try:
        with rt.ledger.leases.hold(inc.model, f"{entry.id} for {inc.id}"):
            inc, rec, verification = _apply_verify(rt, inputs, inc, steps, entry, rec, plan)
    except LeaseBusy as exc:
        rec.error = exc.message
        return inc.model_copy(update={"remediations": [*inc.remediations, rec]}), rec
    if verification is not None:
        rt.notify(Notification(
            "verification", inc, f"verification {'passed' if verification.passed else 'FAILED'}",
            [f"{c.id}: {c.metric} {c.observed if c.observed is None else round(c.observed, 4)} "
             f"{c.op} {c.target} → {'pass' if c.passed else 'FAIL'}"
             for c in verification.criteria]))
    return inc.model_copy(update={"remediations": [*inc.remediations, rec]}), rec


def _apply_verify(rt: Runtime, inputs: Inputs, inc: Incident, steps: Steps,
                  entry: RemediationSpec, rec: RemediationRecord, plan: dict[str, Any]
                  ) -> tuple[Incident, RemediationRecord, Verification | None]:
    """Journal, apply, pre-check, keep or revert: under the model's lease."""
    seq = rt.ledger.journal_intent(inc.id, inc.model, entry.id, entry.action, plan)
    undo = Undo(inc.id, entry.id, entry.action, seq, inputs.profile, rt.settings.home)
    inc = rt.record(inc, Event.REMEDIATION, f"applying '{entry.id}': {plan.get('summary', '')!s}")
    verification: Verification | None = None
    try:
        with steps.guarded() as guard:
            rec.change = steps.apply(entry, plan, undo)
            rec.applied = True
            inc = rt.record(inc, Event.APPLIED, f"'{entry.id}' applied",
                               data={"change": rec.change})
            verification = steps.verify(entry, rec.change)
            failed = [c.id for c in verification.criteria if not c.passed]
            inc = rt.record(inc, Event.VERIFICATION,
                "all acceptance criteria hold" if verification.passed
                else f"acceptance criteria failed: {', '.join(failed)}",
                data={"criteria": [c.model_dump() for c in verification.criteria]},
                verification=verification)
            if not verification.passed:
                guard.rollback()
                rec.reverted = True
            else:
                rt.ledger.journal_update(seq, "kept", closed=True)
    except Exception as exc:  # the guard already reverted; record and move on
        rec.reverted, rec.error = rec.applied, f"{type(exc).__name__}: {exc}"
        if not rec.applied:
            rt.ledger.journal_update(seq, "failed", closed=True)
    if rec.applied and not rec.reverted and rec.change is not None:
        rec.journal_seq = seq
    return inc, rec, verification
