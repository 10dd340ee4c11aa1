"""Incident and the results recorded on it (the JSON contract of DESIGN.md §5)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from playbooks.models.common import SpecBase

__all__ = [
    "ApprovalDecision",
    "ApprovalRequest",
    "Channel",
    "CriterionResult",
    "EscalationState",
    "Finding",
    "HypothesisResult",
    "Incident",
    "IncidentStatus",
    "Monitoring",
    "Page",
    "RemediationRecord",
    "RootCause",
    "Severity",
    "TimelineEvent",
    "Verdict",
    "Verification",
    "WindowResult",
    "utcnow",
]


def utcnow() -> datetime:
    return datetime.now(UTC)


class Severity(StrEnum):
    SEV1 = "SEV1"
    SEV2 = "SEV2"
    SEV3 = "SEV3"
    SEV4 = "SEV4"

    def raised(self) -> Severity:
        """One level more severe (SEV1 stays SEV1)."""
        order = list(Severity)
        return order[max(order.index(self) - 1, 0)]


class Verdict(StrEnum):
    SUPPORTED = "supported"
    REFUTED = "refuted"
    INCONCLUSIVE = "inconclusive"


class IncidentStatus(StrEnum):
    OPEN = "open"
    NEEDS_TRIAGE = "needs_triage"  # an alert nothing could route: a human picks the playbook
    INVESTIGATING = "investigating"
    REMEDIATING = "remediating"
    MONITORING = "monitoring"  # a change passed its pre-check; live windows decide closure
    AWAITING_APPROVAL = "awaiting_approval"  # a planned change waits for a person's decision
    RESOLVED = "resolved"  # a change was applied and every acceptance criterion held
    FALSE_ALARM = "false_alarm"  # closed without change
    DIAGNOSED = "diagnosed"  # dry run or no model: root cause and recommendation, no change
    ESCALATED = "escalated"  # handed to a human owner
    HANDED_OVER = "handed_over"  # triage: a specialised playbook's incident took over

    @property
    def is_open(self) -> bool:
        return self in (self.OPEN, self.NEEDS_TRIAGE, self.INVESTIGATING, self.REMEDIATING,
                        self.MONITORING, self.AWAITING_APPROVAL)


class Finding(BaseModel):
    """One machine-readable fact a check relied on."""

    model_config = ConfigDict(extra="allow")

    kind: str = Field(description="e.g. feature_drift, missing_values, unseen_category")
    feature: str | None = None
    statistic: str | None = None
    value: float | None = None
    threshold: float | None = None
    breached: bool = False
    detail: dict[str, Any] = Field(default_factory=dict)


class HypothesisResult(BaseModel):
    id: str
    check: str
    verdict: Verdict
    confidence: float = Field(ge=0, le=1)
    summary: str
    findings: list[Finding] = Field(default_factory=list)


class RootCause(BaseModel):
    hypothesis_id: str
    confidence: float
    summary: str


class RemediationRecord(BaseModel):
    id: str
    action: str
    applied: bool = False
    reverted: bool = False
    dry_run: bool = False
    plan: dict[str, Any] = Field(default_factory=dict)
    change: dict[str, Any] | None = None
    error: str | None = None
    journal_seq: int | None = Field(None, description="Remediation journal entry of a kept change.")


class CriterionResult(BaseModel):
    id: str
    metric: str
    op: str
    target: float
    observed: float | None = Field(
        description="The value judged; for a group metric, the confidence bound nearest to "
        "passing (profile fairness.confidence).")
    passed: bool
    estimate: float | None = Field(
        None, description="The point estimate, where `observed` is a confidence bound.")


class Verification(BaseModel):
    passed: bool
    criteria: list[CriterionResult] = Field(default_factory=list)
    window: dict[str, Any] = Field(default_factory=dict)


class WindowResult(BaseModel):
    """One live window measured after a change."""

    index: int = Field(ge=0, description="0 = the first window after the change.")
    start: datetime
    end: datetime
    rows: int
    metrics: dict[str, float] = Field(default_factory=dict)
    criteria: list[CriterionResult] = Field(default_factory=list)
    verdict: Literal["pass", "fail", "inconclusive"]
    reason: str = ""
    measured_at: datetime


class Monitoring(BaseModel):
    """The change under live watch and every window measured so far (the plan is copied
    from the spec when monitoring starts, so a later spec edit cannot move the goalposts)."""

    remediation_id: str
    action: str
    journal_seq: int
    change: dict[str, Any]
    version: str | None = Field(None, description="Model version serving since the change.")
    started_at: datetime = Field(description="When the change was applied: window 0 starts.")
    window: timedelta
    count: int
    failure_limit: int
    inconclusive_limit: int
    min_rows: int
    criteria: list[dict[str, Any]] = Field(description="Acceptance criteria (spec model).")
    windows: list[WindowResult] = Field(default_factory=list)

    def tally(self, verdict: str) -> int:
        return sum(w.verdict == verdict for w in self.windows)


Channel = Literal["cli", "slack", "prefect-ui", "drill", "api"]


class ApprovalDecision(BaseModel):
    """One person's answer to an approval request (kept even when refused)."""

    decision: Literal["approve", "reject"]
    approver: str
    channel: Channel
    reason: str = ""
    at: datetime
    accepted: bool = Field(description="False: refused (not an approver, stale plan, ...).")
    refusal: str = ""


class ApprovalRequest(BaseModel):
    """A planned change pinned by its content hash: an approval applies exactly this plan."""

    remediation_id: str
    action: str
    risk: str
    plan: dict[str, Any]
    plan_hash: str
    summary: str = ""
    rollback: str = ""
    evidence: list[str] = Field(default_factory=list, description="Evidence summary lines.")
    why: str = Field(description="The policy rule that asked for the approval.")
    approvers: list[str] = Field(default_factory=list)
    remaining: list[str] = Field(default_factory=list,
                                 description="Menu entries to try if this one fails.")
    escalate_to: str | None = Field(None, description="Owner to call in after containment.")
    requested_at: datetime
    due_at: datetime = Field(description="No decision by then: the controller escalates.")
    state: Literal["pending", "approved", "applying", "applied", "rejected", "expired",
                   "void"] = "pending"
    decisions: list[ApprovalDecision] = Field(default_factory=list)

    @property
    def accepted(self) -> ApprovalDecision | None:
        return next((d for d in reversed(self.decisions) if d.accepted), None)


class Page(BaseModel):
    level: int
    target: str
    at: datetime


class EscalationState(BaseModel):
    """The escalation clock of one wait for a human: started when the incident began to
    wait, stopped by an acknowledgement."""

    started_at: datetime
    pages: list[Page] = Field(default_factory=list)
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None


class TimelineEvent(BaseModel):
    at: datetime = Field(default_factory=utcnow)
    kind: str
    message: str
    data: dict[str, Any] = Field(default_factory=dict)


class Incident(BaseModel):
    id: str
    playbook: str
    playbook_version: str
    playbook_hash: str
    playbook_base: SpecBase | None = Field(None, description="A team playbook: the catalog "
                                           "spec it extends (id, version, hash) as it ran.")
    model: str
    model_version: str | None = None
    severity: Severity = Severity.SEV4
    status: IncidentStatus = IncidentStatus.OPEN
    owner: str = "unassigned"
    escalated_to: str | None = None
    dry_run: bool = False
    drill: bool = False
    trigger: dict[str, Any] = Field(default_factory=dict)
    dedup_key: str
    profile_path: str | None = Field(None, description="The model profile the run used.")
    spec_path: str | None = Field(None, description="The spec file the run used, when it "
                                  "was not a catalog playbook.")
    root_cause: RootCause | None = None
    hypotheses: list[HypothesisResult] = Field(default_factory=list)
    remediations: list[RemediationRecord] = Field(default_factory=list)
    verification: Verification | None = None
    monitoring: Monitoring | None = None
    approval: ApprovalRequest | None = None
    escalation: EscalationState | None = None
    acknowledged_at: datetime | None = Field(None, description="First acknowledgement (MTTA).")
    acknowledged_by: str | None = None
    postmortem_path: str | None = None
    parent_id: str | None = Field(None, description="Triage incident that handed over to this one.")
    child_ids: list[str] = Field(default_factory=list, description="Incidents handed over to.")
    timeline: list[TimelineEvent] = Field(default_factory=list)
    onset_at: datetime | None = Field(None, description="When the fault began (from evidence).")
    detected_at: datetime = Field(default_factory=utcnow, description="Incident opened.")
    resolved_at: datetime | None = None
    updated_at: datetime = Field(default_factory=utcnow)

    @property
    def mttd_seconds(self) -> float | None:
        if self.onset_at is None:
            return None
        return max((self.detected_at - self.onset_at).total_seconds(), 0.0)

    @property
    def mtta_seconds(self) -> float | None:
        if self.acknowledged_at is None:
            return None
        return max((self.acknowledged_at - self.detected_at).total_seconds(), 0.0)

    @property
    def mttr_seconds(self) -> float | None:
        if self.resolved_at is None:
            return None
        return (self.resolved_at - self.detected_at).total_seconds()

    def to_contract(self) -> dict[str, Any]:
        """The JSON printed by ``mlpb run --json``."""
        data = self.model_dump(mode="json")
        data["mttd_seconds"] = self.mttd_seconds
        data["mtta_seconds"] = self.mtta_seconds
        data["mttr_seconds"] = self.mttr_seconds
        return data
