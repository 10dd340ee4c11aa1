"""Approvals: which changes wait for a person, the pinned plan, and who may decide.

``approval_needed`` is the policy (pure): the spec's remediation and the model profile decide
together. An approval request pins the plan by its content hash; a decision applies exactly
that plan. ``decide`` is the one entry point for every channel (CLI, Slack, Prefect UI): it
records the decision, accepted or refused, on the incident, and never applies anything itself
(``playbooks.engine.runner.resume_approved`` does, under the model's lease).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from playbooks.engine.runtime import Runtime
from playbooks.engine.transitions import Event
from playbooks.errors import MlpbError
from playbooks.i18n import msg
from playbooks.models.incident import (
    ApprovalDecision,
    ApprovalRequest,
    Channel,
    Incident,
    IncidentStatus,
)
from playbooks.models.profile import ModelProfile
from playbooks.models.spec import PlaybookSpec, RemediationSpec
from playbooks.notify import Notification
from playbooks.policy import approval_refusal, policy_for

__all__ = ["DecisionRefused", "Outcome", "allowed_approvers", "approval_needed", "decide",
           "is_approver", "new_request", "plan_hash", "render_plan"]

_RISK = ("low", "medium", "high")


def approval_needed(entry: RemediationSpec, profile: ModelProfile, *,
                    changes_model: bool = True) -> str | None:
    """Why applying ``entry`` to this model needs an approval, or None (pure).

    Rules, first match wins: the spec marks the remediation ``requires_approval``; its risk is
    at or above the profile's ``approvals.required_at_risk`` (default high); on a
    ``criticality: high`` model a change to the model itself is judged one level stricter."""
    if entry.requires_approval:
        return f"the playbook marks '{entry.id}' as needing approval"
    floor = _RISK.index(profile.approvals.required_at_risk)
    stricter = profile.criticality == "high" and changes_model
    if stricter:
        floor = max(floor - 1, 0)
    if _RISK.index(entry.risk) >= floor:
        where = (f"a criticality: high model (approvals from risk {_RISK[floor]} up)" if stricter
                 else f"this model (approvals from risk {_RISK[floor]} up)")
        return f"'{entry.id}' is a {entry.risk}-risk change to {where}"
    return None


def plan_hash(entry: RemediationSpec, plan: dict[str, Any]) -> str:
    """Content hash of what would change: remediation, parameters and the computed plan."""
    body = {"remediation": entry.id, "action": entry.action, "params": entry.params,
            "plan": plan}
    canonical = json.dumps(body, sort_keys=True, default=str, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def allowed_approvers(profile: ModelProfile) -> list[str]:
    return list(profile.owners.approvers)


def is_approver(profile: ModelProfile, who: str) -> bool:
    return any(who in profile.owners.members(entry) for entry in profile.owners.approvers)


def new_request(spec: PlaybookSpec, profile: ModelProfile, entry: RemediationSpec,
                plan: dict[str, Any], *, why: str, evidence: list[str], remaining: list[str],
                escalate_to: str | None, now: datetime) -> ApprovalRequest:
    return ApprovalRequest(
        remediation_id=entry.id, action=entry.action, risk=entry.risk, plan=plan,
        plan_hash=plan_hash(entry, plan), summary=str(plan.get("summary", "")),
        rollback=entry.rollback, evidence=evidence[:8], why=why,
        approvers=allowed_approvers(profile), remaining=remaining, escalate_to=escalate_to,
        requested_at=now,
        due_at=now + spec.approval.timeout)


def render_plan(inc: Incident, req: ApprovalRequest) -> str:
    """The plan as markdown: what will change, how it is undone, why, and the evidence."""
    lines = [f"### Approve `{req.remediation_id}` on `{inc.model}`? ({inc.id})", "",
             f"**What will change:** {req.summary or req.action}", "",
             f"**Rollback:** {req.rollback}", "",
             f"**Risk:** {req.risk} — {req.why}", "",
             f"**Plan hash:** `{req.plan_hash}` (an approval applies exactly this plan)", "",
             f"**Approvers:** {', '.join(req.approvers) or 'none configured (owners.approvers)'}",
             f" · **decide by** {req.due_at:%Y-%m-%d %H:%M} UTC, else it escalates"]
    if inc.root_cause is not None:
        lines += ["", f"**Root cause:** {inc.root_cause.hypothesis_id} — "
                  f"{inc.root_cause.summary}"]
    if req.evidence:
        lines += ["", "**Evidence:**", *(f"- {e}" for e in req.evidence)]
    return "\n".join(lines)


class DecisionRefused(MlpbError):
    """A decision that was not accepted (recorded on the incident when it exists)."""

    exit_code = 4


Outcome = Literal["approved", "rejected"]


@dataclass(frozen=True)
class Decided:
    incident: Incident
    outcome: Outcome


def decide(rt: Runtime, incident_id: str, decision: Literal["approve", "reject"], *,
           approver: str, channel: Channel, reason: str = "", profile: ModelProfile,
           plan_hash: str | None = None) -> Decided:
    """Record ``approver``'s decision on the incident's pending approval.

    Refused (recorded as refused, DecisionRefused raised, nothing applied): the incident is
    not waiting for approval, the approver is not allowed (a drill's own approval is the
    'drill' channel, only on drill incidents), a rejection without a reason, or a decision
    given for another plan than the pinned one (``plan_hash``, e.g. a Slack button pressed on
    an older message)."""
    inc = rt.ledger.get(incident_id)
    req = inc.approval
    now = rt.now()
    refusal = _refusal(inc, decision, approver, channel, reason, profile, plan_hash,
                       rt.settings.home)
    record = ApprovalDecision(decision=decision, approver=approver, channel=channel,
                              reason=reason, at=now, accepted=refusal is None,
                              refusal=refusal or "")
    if refusal is not None:
        update = ({"approval": req.model_copy(update={"decisions": [*req.decisions, record]})}
                  if req is not None else {})
        rt.record(inc, Event.DECISION_REFUSED,
                  f"{decision} by {approver} via {channel} refused: {refusal}",
                  data=record.model_dump(mode="json"), **update)
        raise DecisionRefused(f"{incident_id}: {decision} by {approver} refused: {refusal}",
                              hint=_hint(inc, profile))
    assert req is not None
    decided = req.model_copy(update={
        "decisions": [*req.decisions, record],
        "state": "approved" if decision == "approve" else "rejected"})
    data = record.model_dump(mode="json") | {"plan_hash": req.plan_hash}
    said = f" ({reason})" if reason else ""
    if decision == "approve":
        inc = rt.record(inc, Event.APPROVED, f"'{req.remediation_id}' approved by {approver} "
                        f"via {channel}{said}", data=data, approval=decided)
    else:
        owner = profile.owners.model
        inc = rt.record(inc, Event.REJECTED, f"'{req.remediation_id}' rejected by {approver} "
                        f"via {channel}{said}; the incident goes to {owner}",
                        data=data | {"to": owner}, approval=decided, escalated_to=owner)
    title = (msg("{remediation} approved by {who}", remediation=req.remediation_id, who=approver)
             if decision == "approve" else
             msg("{remediation} rejected by {who}", remediation=req.remediation_id, who=approver))
    rt.notify(Notification("approval_decision", inc, title, [
        msg("via {channel}{said}", channel=channel, said=said),
        msg("plan {plan}…", plan=req.plan_hash[:19])]))
    return Decided(inc, "approved" if decision == "approve" else "rejected")


def _refusal(inc: Incident, decision: str, approver: str, channel: Channel, reason: str,
             profile: ModelProfile, pinned: str | None, home: Path) -> str | None:
    req = inc.approval
    if inc.status is not IncidentStatus.AWAITING_APPROVAL or req is None or (
            req.state != "pending"):
        state = req.state if req is not None else "none requested"
        return (f"the incident is {inc.status.value}, not awaiting approval (approval: "
                f"{state})")
    if not approver.strip():
        return "no approver named"
    if channel == "drill":
        if not inc.drill:
            return "the 'drill' channel approves drill incidents only"
    elif not is_approver(profile, approver):
        allowed = ", ".join(profile.owners.approvers) or "nobody (owners.approvers is empty)"
        return f"{approver} is not an approver of {profile.name} (allowed: {allowed})"
    elif why := approval_refusal(policy_for(home), approver, risk=req.risk,  # policy.yaml
                                 criticality=profile.criticality, model=profile.name):
        return why
    if decision == "reject" and not reason.strip():
        return "a rejection needs a reason"
    if pinned is not None and pinned != req.plan_hash:
        return (f"the decision was for plan {pinned[:19]}…, but the pinned plan is now "
                f"{req.plan_hash[:19]}… (the plan changed: review it again)")
    return None


def _hint(inc: Incident, profile: ModelProfile) -> str:
    if inc.status is not IncidentStatus.AWAITING_APPROVAL:
        return f"`mlpb incidents show {inc.id}` shows where it stands"
    approvers = ", ".join(profile.owners.approvers) or "(none: add owners.approvers)"
    return f"approvers of {profile.name}: {approvers}; decide with --as NAME"
