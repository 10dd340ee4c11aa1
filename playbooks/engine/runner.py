"""Phase 5, the remediation runner: menu order, gates, journal before change, apply, verify,
revert on failure, then resolve, try the next option or escalate.

How each step runs is the caller's (``Steps``): the Prefect flow makes them tasks inside a
Prefect transaction whose ``on_rollback`` hook reverts; ``DirectSteps`` calls them in-process.
Either way every status change is an event through ``record_event``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from playbooks.config import load_settings
from playbooks.engine.approvals import approval_needed, new_request, plan_hash
from playbooks.engine.decide import Decision
from playbooks.engine.diagnosis import load_evidence
from playbooks.engine.gates import dirty_data_reason, loop_guard_reason, needs_clean_data
from playbooks.engine.lifecycle import Inputs, close, load_inputs_for
from playbooks.engine.monitor import start_monitoring
from playbooks.engine.revert import Undo, revert_change
from playbooks.engine.runtime import Runtime
from playbooks.engine.transitions import Event
from playbooks.engine.verify import evaluate_criteria
from playbooks.errors import MlpbError
from playbooks.i18n import msg
from playbooks.ledger.leases import LeaseBusy
from playbooks.models.evidence import EvidencePackage
from playbooks.models.incident import (
    ApprovalRequest,
    Incident,
    IncidentStatus,
    RemediationRecord,
    Verification,
    utcnow,
)
from playbooks.models.spec import RemediationSpec
from playbooks.notify import Notification
from playbooks.notify.words import criterion_line
from playbooks.remediations.base import RemediationContext

__all__ = [
    "DirectSteps",
    "Guard",
    "Steps",
    "apply_step",
    "plan_step",
    "remediation_context",
    "resume_approved",
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
    """Try each remediation of the decision in order until one verifies; else escalate.
    A change that needs an approval stops here: the incident waits in ``awaiting_approval``
    and ``resume_approved`` carries on once a person decides."""
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
    return _run_menu(rt, inputs, inc, evidence, steps, decision.remediations,
                     decision.escalate_to)


def resume_approved(rt: Runtime, incident_id: str,
                    make_steps: Callable[[Runtime, Inputs, RemediationContext], Steps]
                    = DirectSteps) -> Incident:
    """Carry out an approved change: re-plan on fresh inputs, apply the pinned plan if it is
    unchanged (else void the approval and ask again), then pre-check, monitoring or the rest
    of the menu exactly as an unattended run would. A no-op unless the incident holds an
    approval in state 'approved' (so any number of callers may try)."""
    inc = rt.ledger.get(incident_id)
    req = inc.approval
    if inc.status is not IncidentStatus.REMEDIATING or req is None or req.state != "approved":
        return inc
    inputs = load_inputs_for(inc)
    evidence = load_evidence(rt, inc.id)
    if evidence is None:
        raise MlpbError(f"incident {inc.id}: its evidence package is missing from "
                        f"{rt.settings.home}/evidence", hint="re-run the playbook to collect it")
    steps = make_steps(rt, inputs, remediation_context(rt, inputs, inc, evidence))
    try:
        inc = _run_menu(rt, inputs, inc, evidence, steps, [req.remediation_id, *req.remaining],
                        req.escalate_to)
    except _NotNow as busy:  # another caller got there first, or the model is busy
        return busy.incident
    inc, _ = close(rt, inputs, inc, evidence)
    return inc


class _NotNow(Exception):
    """Not this caller's turn to carry out the approved change: another process took it, or
    holds the model's lease (a later controller pass tries again)."""

    def __init__(self, incident: Incident) -> None:
        super().__init__(incident.id)
        self.incident = incident


def _run_menu(rt: Runtime, inputs: Inputs, inc: Incident, evidence: EvidencePackage,
              steps: Steps, menu: list[str], escalate_to: str | None) -> Incident:
    spec, profile = inputs.spec, inputs.profile
    owner = escalate_to or getattr(profile.owners, spec.escalation.default_owner)
    for i, rid in enumerate(menu):
        inc, rec = _try_one(rt, inputs, inc, evidence, steps, spec.remediation(rid),
                            remaining=menu[i + 1:], escalate_to=escalate_to)
        if inc.status is IncidentStatus.AWAITING_APPROVAL:
            return inc
        if rec.applied and not rec.reverted:
            watch = spec.monitoring_for(rid)
            if watch is not None and not escalate_to and rec.change is not None:
                assert rec.journal_seq is not None
                return start_monitoring(rt, inc, watch, remediation_id=rid, action=rec.action,
                                        seq=rec.journal_seq, change=rec.change)
            if escalate_to:  # contained; the cause still needs its owner
                return rt.record(inc, Event.ESCALATED,
                    f"'{rid}' contained the incident; escalating the cause",
                    data={"to": escalate_to}, escalated_to=escalate_to)
            return rt.record(inc, Event.RESOLVED,
                                f"'{rid}' kept: every acceptance criterion holds")
        if inc.dry_run and not rec.error:
            return rt.record(inc, Event.RECOMMENDED,
                                f"dry run: '{rid}' would be applied")
    if inc.dry_run:
        return rt.record(inc, Event.RECOMMENDED, "dry run: no remediation applies")
    return rt.record(inc, Event.ESCALATED, "no remediation verified; escalating",
                        data={"to": owner}, escalated_to=owner)


def _ask_approval(rt: Runtime, inputs: Inputs, inc: Incident, evidence: EvidencePackage,
                  entry: RemediationSpec, plan: dict[str, Any], *, why: str,
                  remaining: list[str], escalate_to: str | None, voided: str = "") -> Incident:
    req = new_request(inputs.spec, inputs.profile, entry, plan, why=why,
                      evidence=[f"{k}: {v}" for k, v in evidence.summaries.items()],
                      remaining=remaining,
                      escalate_to=escalate_to, now=rt.now())
    lead = f"{voided}; " if voided else ""
    inc = rt.record(inc, Event.APPROVAL_VOID if voided else Event.APPROVAL_REQUESTED,
                    f"{lead}'{entry.id}' waits for approval: {why}",
                    data={"plan_hash": req.plan_hash, "approvers": req.approvers,
                          "due_at": req.due_at.isoformat()}, approval=req)
    rt.notify(Notification("approval_needed", inc, msg("approval needed: {remediation}",
                                                       remediation=entry.id), [
        req.summary, msg("why: {why}", why=why), msg("rollback: {rollback}",
                                                     rollback=entry.rollback),
        msg("approvers: {who}", who=", ".join(req.approvers))
        if req.approvers else msg("approvers: none configured (owners.approvers)"),
        msg("decide by {when}: `mlpb approve {id} --as NAME` or "
            "`mlpb reject {id} --as NAME --reason TEXT`", when=req.due_at, id=inc.id)],
        data={"plan_hash": req.plan_hash, "approval": True}))
    return inc


def _try_one(rt: Runtime, inputs: Inputs, inc: Incident, evidence: EvidencePackage,
             steps: Steps, entry: RemediationSpec, *, remaining: list[str],
             escalate_to: str | None) -> tuple[Incident, RemediationRecord]:
    try:
        plan = steps.plan(entry)
    except MlpbError as exc:
        rec = RemediationRecord(id=entry.id, action=entry.action, error=exc.message)
        return inc.model_copy(update={"remediations": [*inc.remediations, rec]}), rec
    rec = RemediationRecord(id=entry.id, action=entry.action, plan=plan, dry_run=inc.dry_run)
    summary = str(plan.get("summary", ""))
    approved = inc.approval if (inc.approval is not None and inc.approval.state == "approved"
                                and inc.approval.remediation_id == entry.id) else None
    if approved is None:
        rt.notify(Notification("remediation_plan", inc, msg("remediation plan: {remediation}",
                                                            remediation=entry.id), [
            summary, msg("risk {risk}, effort {effort}", risk=entry.risk, effort=entry.effort),
            msg("rollback: {rollback}", rollback=entry.rollback)]))
    if inc.dry_run:
        inc = rt.record(inc, Event.DRY_RUN, f"would apply '{entry.id}': {summary}")
        return inc.model_copy(update={"remediations": [*inc.remediations, rec]}), rec
    why = approval_needed(entry, inputs.profile)
    if why is not None:
        if approved is None:
            inc = _ask_approval(rt, inputs, inc, evidence, entry, plan, why=why,
                                remaining=remaining, escalate_to=escalate_to)
            return inc, rec
        if plan_hash(entry, plan) != approved.plan_hash:  # fresh evidence moved the plan
            void = approved.model_copy(update={"state": "void"})
            inc = inc.model_copy(update={"approval": void})
            inc = _ask_approval(rt, inputs, inc, evidence, entry, plan, why=why,
                                remaining=remaining, escalate_to=escalate_to,
                                voided=f"the plan approved by {_who(approved)} is void: "
                                "fresh evidence changed it")
            return inc, rec
        plan = approved.plan
    try:
        with rt.ledger.leases.hold(inc.model, f"{entry.id} for {inc.id}"):
            if approved is not None:
                inc = rt.ledger.get(inc.id)  # re-read under the lease: applied only once
                if inc.approval is None or inc.approval.state != "approved":
                    raise _NotNow(inc)
                inc = rt.ledger.save(inc.model_copy(update={
                    "approval": inc.approval.model_copy(update={"state": "applying"})}))
            inc, rec, verification = _apply_verify(rt, inputs, inc, steps, entry, rec, plan)
    except LeaseBusy as exc:
        if approved is not None:  # stays approved: the next controller pass applies it
            raise _NotNow(inc) from None
        rec.error = exc.message
        return inc.model_copy(update={"remediations": [*inc.remediations, rec]}), rec
    if approved is not None and inc.approval is not None:
        inc = inc.model_copy(update={"approval": inc.approval.model_copy(
            update={"state": "applied"})})
    if verification is not None:
        rt.notify(Notification(
            "verification", inc,
            msg("verification passed") if verification.passed else msg("verification FAILED"),
            [criterion_line(c) for c in verification.criteria]))
    return inc.model_copy(update={"remediations": [*inc.remediations, rec]}), rec


def _who(req: ApprovalRequest) -> str:
    d = req.accepted
    return d.approver if d is not None else "an approver"


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
