"""Phase 5: plan, journal, apply inside a Prefect transaction, verify, revert on failure."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.transactions import Transaction, get_transaction, transaction

from playbooks.engine.decide import Decision
from playbooks.engine.lifecycle import Inputs
from playbooks.engine.runtime import Runtime
from playbooks.errors import MlpbError
from playbooks.models.common import format_duration
from playbooks.models.evidence import EvidencePackage
from playbooks.models.incident import (
    Incident,
    IncidentStatus,
    RemediationRecord,
    Verification,
    utcnow,
)
from playbooks.models.spec import RemediationSpec
from playbooks.notify import Notification
from playbooks.remediations.base import RemediationContext, RevertContext
from tasks.common import TASK_DEFAULTS
from tasks.verify import verify_remediation

__all__ = ["remediate"]


def _context(rt: Runtime, inputs: Inputs, inc: Incident, ev: EvidencePackage) -> RemediationContext:
    return RemediationContext(
        incident_id=inc.id,
        profile=inputs.profile,
        model_store=rt.model_store(inputs.profile),
        state_dir=rt.settings.home,
        evidence=ev,
        data=inputs.data,
    )


@task(name="plan-remediation", task_run_name="plan-{entry.id}", **TASK_DEFAULTS)
def plan_remediation(
    ctx: RemediationContext, inputs: Inputs, entry: RemediationSpec
) -> dict[str, Any]:
    plugin = inputs.plugins.get("remediation", entry.action)
    return plugin.impl().plan(ctx, plugin.parse_params(entry.params))  # type: ignore[no-any-return]


@task(name="apply-remediation", task_run_name="apply-{entry.id}", **TASK_DEFAULTS)
def apply_remediation(
    rt: Runtime,
    ctx: RemediationContext,
    inputs: Inputs,
    entry: RemediationSpec,
    plan: dict[str, Any],
    seq: int,
) -> dict[str, Any]:
    plugin = inputs.plugins.get("remediation", entry.action)
    txn = get_transaction()
    assert txn is not None
    # Plain, copyable data (Prefect deep-copies stored values), set before acting so the
    # rollback hook finds the journal entry even if apply dies half-way.
    txn.set(
        "undo",
        {
            "home": str(rt.settings.home),
            "profile": ctx.profile,
            "plugin": plugin,
            "incident_id": ctx.incident_id,
            "remediation_id": entry.id,
            "seq": seq,
        },
    )
    change: dict[str, Any] = plugin.impl().apply(ctx, plugin.parse_params(entry.params), plan)
    rt.ledger.journal_update(seq, "applied", change)
    txn.set("change", change)
    return change


@apply_remediation.on_rollback
def revert_remediation(txn: Transaction) -> None:
    undo, change = txn.get("undo"), txn.get("change", None)
    rt = Runtime.from_env(undo["home"], quiet=True)
    if change is not None:
        ctx = RevertContext(
            undo["incident_id"],
            undo["profile"],
            rt.model_store(undo["profile"]),
            rt.settings.home,
        )
        undo["plugin"].impl().revert(ctx, change)
    rt.ledger.journal_update(undo["seq"], "reverted", closed=True)
    rt.ledger.add_event(
        undo["incident_id"],
        "reverted",
        f"remediation '{undo['remediation_id']}' reverted",
        {"change": change},
    )


def _try_one(
    rt: Runtime, inputs: Inputs, inc: Incident, ctx: RemediationContext, entry: RemediationSpec
) -> tuple[RemediationRecord, Verification | None]:
    try:
        plan = plan_remediation(ctx, inputs, entry)
    except MlpbError as exc:
        return RemediationRecord(id=entry.id, action=entry.action, error=exc.message), None
    rec = RemediationRecord(id=entry.id, action=entry.action, plan=plan, dry_run=inc.dry_run)
    rt.notify(
        Notification(
            "remediation_plan",
            inc,
            f"remediation plan: {entry.id}",
            [
                plan.get("summary", ""),
                f"risk {entry.risk}, effort {entry.effort}",
                f"rollback: {entry.rollback}",
            ],
        )
    )
    if inc.dry_run:
        rt.ledger.add_event(inc.id, "dry_run", f"would apply '{entry.id}': {plan.get('summary')}")
        return rec, None
    if entry.requires_approval:
        rec.error = "requires approval; not applied automatically"
        rt.notify(
            Notification(
                "approval_needed", inc, f"approval needed for {entry.id}", [plan.get("summary", "")]
            )
        )
        return rec, None
    seq = rt.ledger.journal_intent(inc.id, inc.model, entry.id, entry.action, plan)
    rt.ledger.add_event(inc.id, "remediation", f"applying '{entry.id}': {plan.get('summary', '')}")
    verification: Verification | None = None
    try:
        with transaction() as txn:
            rec.change = apply_remediation(rt, ctx, inputs, entry, plan, seq)
            rec.applied = True
            rt.ledger.add_event(inc.id, "applied", f"'{entry.id}' applied", {"change": rec.change})
            verification = verify_remediation(ctx, inputs, entry, rec.change)
            failed = [c.id for c in verification.criteria if not c.passed]
            rt.ledger.add_event(
                inc.id,
                "verification",
                "all acceptance criteria hold"
                if verification.passed
                else f"acceptance criteria failed: {', '.join(failed)}",
                {"criteria": [c.model_dump() for c in verification.criteria]},
            )
            if not verification.passed:
                txn.rollback()
                rec.reverted = True
            else:
                rt.ledger.journal_update(seq, "kept", closed=True)
    except Exception as exc:  # the transaction already reverted; record and move on
        rec.reverted, rec.error = rec.applied, f"{type(exc).__name__}: {exc}"
        if not rec.applied:
            rt.ledger.journal_update(seq, "failed", closed=True)
    return rec, verification


def _loop_guard(rt: Runtime, inputs: Inputs, inc: Incident) -> str | None:
    """Why the loop guard forbids another change to this model now, or None.

    Drills run on a fresh sandbox each time, so they neither count nor are counted: a
    game day must not block production fixes, nor earlier drills a later one."""
    if inc.drill:
        return None
    esc = inputs.spec.escalation
    since = utcnow() - esc.loop_window
    kept = [
        e
        for e in rt.ledger.journal(model=inc.model)
        if e.phase == "kept"
        and e.at >= since
        and e.incident_id != inc.id
        and not rt.ledger.get(e.incident_id).drill
    ]
    if len(kept) >= esc.max_remediations:
        return (
            f"loop guard: {len(kept)} remediation(s) already kept on {inc.model} in the last "
            f"{format_duration(esc.loop_window)}; escalating instead of changing it again"
        )
    return None


def _dirty_data(evidence: EvidencePackage) -> str | None:
    failed = evidence.metrics.get("quality_failed_checks", 0.0)
    if failed > 0:
        return (
            f"the current data failed {int(failed)} quality check(s): no remediation "
            "may learn from or act on it (fix the data first)"
        )
    return None


def _escalate(rt: Runtime, inc: Incident, owner: str, why: str) -> Incident:
    inc.status, inc.escalated_to = IncidentStatus.ESCALATED, owner
    rt.ledger.add_event(inc.id, "escalated", why, {"to": owner})
    return rt.ledger.save(inc)


def remediate(
    rt: Runtime, inputs: Inputs, inc: Incident, evidence: EvidencePackage, decision: Decision
) -> Incident:
    """Try each remediation of the decision in order until one verifies; else escalate."""
    default_owner = getattr(inputs.profile.owners, inputs.spec.escalation.default_owner)
    if not inputs.profile.can_remediate and not inc.dry_run:
        inc.status = IncidentStatus.DIAGNOSED
        inc.remediations = [
            RemediationRecord(
                id=r,
                action=inputs.spec.remediation(r).action,
                error="recommended only: the profile names no MLflow model",
            )
            for r in decision.remediations
        ]
        return rt.ledger.save(inc)
    blocked = _dirty_data(evidence) if _needs_clean_data(inputs, decision) else None
    blocked = blocked or (None if inc.dry_run else _loop_guard(rt, inputs, inc))
    if blocked:
        inc.remediations = [
            RemediationRecord(
                id=r, action=inputs.spec.remediation(r).action, dry_run=inc.dry_run, error=blocked
            )
            for r in decision.remediations
        ]
        if inc.dry_run:
            inc.status = IncidentStatus.DIAGNOSED
            return rt.ledger.save(inc)
        return _escalate(rt, inc, decision.escalate_to or default_owner, blocked)
    inc.status = IncidentStatus.REMEDIATING
    inc = rt.ledger.save(inc)
    ctx = _context(rt, inputs, inc, evidence)
    for rid in decision.remediations:
        rec, verification = _try_one(rt, inputs, inc, ctx, inputs.spec.remediation(rid))
        inc.remediations.append(rec)
        if verification is not None:
            inc.verification = verification
            rt.notify(
                Notification(
                    "verification",
                    inc,
                    f"verification {'passed' if verification.passed else 'FAILED'}",
                    [
                        f"{c.id}: {c.metric} "
                        f"{c.observed if c.observed is None else round(c.observed, 4)} "
                        f"{c.op} {c.target} → {'pass' if c.passed else 'FAIL'}"
                        for c in verification.criteria
                    ],
                )
            )
        if rec.applied and not rec.reverted:
            if decision.escalate_to:  # contained; the cause still needs its owner
                return _escalate(
                    rt,
                    inc,
                    decision.escalate_to,
                    f"'{rid}' contained the incident; escalating the cause",
                )
            inc.status = IncidentStatus.RESOLVED
            return rt.ledger.save(inc)
        if inc.dry_run and not rec.error:
            inc.status = IncidentStatus.DIAGNOSED
            return rt.ledger.save(inc)
    if inc.dry_run:
        inc.status = IncidentStatus.DIAGNOSED
        return rt.ledger.save(inc)
    return _escalate(
        rt, inc, decision.escalate_to or default_owner, "no remediation verified; escalating"
    )


def _needs_clean_data(inputs: Inputs, decision: Decision) -> bool:
    return any(
        getattr(
            inputs.plugins.get("remediation", inputs.spec.remediation(r).action).impl,
            "requires_clean_data",
            False,
        )
        for r in decision.remediations
    )
