"""PlaybookSpec: what we do for one failure class. Loaded from YAML, validated fully at load
(check/remediation params are validated against their registered ``*Params`` models by
``playbooks.catalog.load_spec``)."""

from __future__ import annotations

import hashlib
import json
from datetime import date as Date
from typing import Annotated, Any, Literal

from pydantic import Field, SerializerFunctionWrapHandler, model_serializer, model_validator

from playbooks.models.common import Duration, SpecBase, StrictModel, parse_duration
from playbooks.models.incident import Severity
from playbooks.stats import DriftThresholds

__all__ = [
    "GROUP_METRIC_NAMES",
    "Acceptance",
    "AcceptanceCriterion",
    "ApprovalSettings",
    "ChangelogEntry",
    "Communication",
    "Comparison",
    "Escalation",
    "EscalationLevel",
    "HypothesisSpec",
    "MetricName",
    "MonitoringPlan",
    "Outcome",
    "PlaybookSpec",
    "RemediationSpec",
    "SeverityRule",
    "Taxonomy",
]

Comparison = Literal[">=", ">", "<=", "<", "=="]
_SEMVER = r"^\d+\.\d+\.\d+$"
_KEBAB = r"^[a-z0-9]+(-[a-z0-9]+)*$"

# Metric names are validated at load against the metrics registered plugins produce
# (`PluginTable.metrics()`), so a typo fails validation while new plugins add new metrics.
MetricName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
# Group-fairness metrics (playbooks.stats.fairness): measured per sensitive attribute of the
# profile, for the serving and the replaced version, so a criterion may compare the two.
GROUP_METRIC_NAMES = ("demographic_parity_difference", "demographic_parity_ratio",
                      "equalized_odds_difference")


def _compare(value: float, op: Comparison, target: float) -> bool:
    return {
        ">=": value >= target,
        ">": value > target,
        "<=": value <= target,
        "<": value < target,
        "==": value == target,
    }[op]


class Taxonomy(StrictModel):
    category: Literal["data", "model", "infrastructure", "release"] = Field(
        description="Where the failure originates."
    )
    failure_class: str = Field(description="Failure class within the category, e.g. 'drift'.")


class SeverityRule(StrictModel):
    severity: Severity = Field(description="Severity assigned when the condition holds.")
    metric: MetricName = Field(description="Evidence metric the rule looks at.")
    op: Comparison = Field(description="Comparison against value.")
    value: float = Field(description="Threshold.")

    def matches(self, metrics: dict[str, float]) -> bool:
        v = metrics.get(self.metric)
        return v is not None and _compare(v, self.op, self.value)


class Outcome(StrictModel):
    """What to do when a hypothesis is the root cause.

    ``remediate`` and/or ``escalate_to`` (contain, then hand to a human), or ``close_as``
    alone, or ``handover_to`` alone (triage: run the specialised playbook)."""

    remediate: list[str] = Field(
        default_factory=list, description="Remediation ids to try, in order."
    )
    escalate_to: Literal["model", "data", "oncall"] | None = Field(
        None, description="Owner (from the profile) to hand the incident to; with 'remediate' "
        "the incident is escalated after the (verified) containment."
    )
    close_as: Literal["false-alarm"] | None = Field(
        None, description="Close without any change (e.g. a false alarm)."
    )
    handover_to: str | None = Field(
        None, pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$",
        description="Catalog playbook to run as a child flow with this incident's evidence.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> Outcome:
        acts = bool(self.remediate) or self.escalate_to is not None
        alone = [self.close_as is not None, self.handover_to is not None]
        if sum(alone) + acts != 1:
            raise ValueError("set 'remediate' and/or 'escalate_to', or 'close_as' alone, "
                             "or 'handover_to' alone")
        return self


class HypothesisSpec(StrictModel):
    id: str = Field(pattern=_KEBAB, description="Hypothesis id (kebab-case), unique per spec.")
    title: str = Field(description="The hypothesis in one sentence.")
    check: str = Field(description="Registered check name that tests it.")
    params: dict[str, Any] = Field(
        default_factory=dict, description="Check parameters (validated by its Params model)."
    )
    on_supported: Outcome = Field(description="What to do when this is the root cause.")


class RemediationSpec(StrictModel):
    id: str = Field(pattern=_KEBAB, description="Remediation id (kebab-case), unique per spec.")
    action: str = Field(description="Registered remediation name.")
    params: dict[str, Any] = Field(default_factory=dict, description="Remediation parameters.")
    risk: Literal["low", "medium", "high"] = Field(description="Risk of applying it.")
    effort: Literal["low", "medium", "high"] = Field(description="Effort / cost of applying it.")
    requires_approval: bool = Field(
        False, description="Wait for a human approval before applying."
    )
    rollback: str = Field(description="How it is undone, in words (shown in plans/post-mortems).")


class AcceptanceCriterion(StrictModel):
    id: str = Field(pattern=_KEBAB, description="Criterion id (kebab-case).")
    metric: MetricName = Field(description="Metric measured on fresh data after the change.")
    op: Comparison = Field(description="Comparison against value.")
    value: float = Field(description="Target value.")
    description: str = Field("", description="Why this criterion matters.")
    applies_to: list[str] | None = Field(
        None, description="Remediation ids this criterion gates; default: all of them."
    )
    versus: Literal["previous"] | None = Field(
        None, description="Group metrics only. 'previous': judge the change against the "
        "version it replaced, on the same rows (serving minus replaced), e.g. metric "
        "demographic_parity_difference, versus previous, '<=' 0.02: the change may not widen "
        "the selection-rate gap by more than 2 points. None: the metric's own value.")
    attribute: str | None = Field(
        None, description="Group metrics only: the profile's sensitive attribute to judge; "
        "default: every one of them, each must hold (the one closest to failing decides).")

    @model_serializer(mode="wrap")
    def _omit_unused_group_fields(self, handler: SerializerFunctionWrapHandler) -> Any:
        # Absent unless used: a criterion without them keeps the spec hash it had before.
        data = handler(self)
        if isinstance(data, dict):
            for k in ("versus", "attribute"):
                if data.get(k) is None:
                    data.pop(k, None)
        return data

    @model_validator(mode="after")
    def _group_fields(self) -> AcceptanceCriterion:
        if (self.versus or self.attribute) and self.metric not in GROUP_METRIC_NAMES:
            raise ValueError(f"'versus' and 'attribute' are for group metrics "
                             f"({', '.join(GROUP_METRIC_NAMES)}), not '{self.metric}'")
        return self

    def holds(self, observed: float | None) -> bool:
        return observed is not None and _compare(observed, self.op, self.value)


class MonitoringPlan(StrictModel):
    """Closure gated on live traffic after a change (Argo-Rollouts-style analysis): each
    ``window`` of traffic served by the new version is measured against ``criteria``."""

    window: Duration = Field(
        parse_duration("1d"), description="One measurement = one window of live data "
                             "after the change.")
    count: int = Field(3, ge=1, description="Passing windows needed before closing.")
    failure_limit: int = Field(1, ge=1, description="Failing windows that revert the change "
                               "and escalate.")
    inconclusive_limit: int = Field(2, ge=0, description="Windows without enough data "
                                    "tolerated; one more escalates ('cannot verify').")
    min_rows: int = Field(500, ge=1, description="Fewer rows in a window: inconclusive.")
    criteria: list[AcceptanceCriterion] = Field(
        min_length=1, description="Measured on each live window (label-free metrics at once, "
        "labelled ones once the window's labels have arrived).")
    applies_to: list[str] | None = Field(
        None, description="Remediation ids that are monitored; default: all of them.")


class Acceptance(StrictModel):
    """Two stages: ``pre_check`` before the change is kept (holdout), ``monitoring`` after
    (live windows). A plain list in YAML is the pre-check alone."""

    pre_check: list[AcceptanceCriterion] = Field(
        default_factory=list, description="Measured on a holdout before the change is kept.")
    monitoring: MonitoringPlan | None = Field(
        None, description="Live windows that must pass before the incident resolves.")

    @model_validator(mode="before")
    @classmethod
    def _plain_list(cls, data: Any) -> Any:
        return {"pre_check": data} if isinstance(data, list) else data


class EscalationLevel(StrictModel):
    notify: str = Field(description="Whom to notify: a profile owner role (model, data, "
                        "oncall), a person, or 'group:NAME' from the profile's owners.groups.")
    after: Duration = Field(description="Notify when nobody has acknowledged this long after "
                            "the incident began to wait for a human.")


class Escalation(StrictModel):
    default_owner: Literal["model", "data", "oncall"] = Field(
        "oncall", description="Profile owner to escalate to when nothing else applies."
    )
    after: Duration = Field(
        parse_duration("1h"), description="Without 'levels': the owner is notified at once "
        "and oncall after this when nobody has acknowledged.")
    max_remediations: int = Field(
        2, ge=1, description="Loop guard: at most this many kept remediations per model per "
        "loop_window; beyond it the playbook escalates instead of changing the model again.")
    loop_window: Duration = Field(parse_duration("24h"), description="Window of the loop guard.")
    levels: list[EscalationLevel] = Field(
        default_factory=list, description="Escalation policy for an incident that waits for a "
        "human (escalated, unrouted): each level is notified in turn while nobody acknowledges; "
        "default: the owner it was escalated to, at once.")

    @model_validator(mode="after")
    def _ordered(self) -> Escalation:
        afters = [lv.after for lv in self.levels]
        if afters != sorted(afters):
            raise ValueError("escalation.levels must be in increasing 'after' order")
        return self


class ApprovalSettings(StrictModel):
    timeout: Duration = Field(
        parse_duration("4h"), description="An approval request without a decision this long "
        "escalates (the controller).")


class Communication(StrictModel):
    channel: str | None = Field(None, description="Notification channel (e.g. Slack channel).")
    channels: dict[Literal["SEV1", "SEV2", "SEV3", "SEV4", "default"], str] = Field(
        default_factory=dict, description="Slack channel by severity, e.g. {SEV1: '#ml-sev1', "
        "default: '#ml-incidents'}; a severity not listed uses 'default', else 'channel'. "
        "When an incident's severity is raised into another channel, its thread moves there.")
    status_every: Duration = Field(
        parse_duration("30m"), description="Status reminder cadence while waiting.")

    def channel_for(self, severity: str) -> str | None:
        """The channel for an incident of ``severity`` (e.g. 'SEV1'); None: the default."""
        by_sev = {str(k): v for k, v in self.channels.items()}
        return by_sev.get(severity) or by_sev.get("default") or self.channel


class ChangelogEntry(StrictModel):
    version: str = Field(pattern=_SEMVER, description="The spec version this entry describes.")
    date: Date = Field(description="When the version was written (YYYY-MM-DD).")
    author: str = Field(min_length=1, description="Who changed the spec: checked against the "
                        "policy's `edit` rules by `mlpb validate`.")
    changes: list[str] = Field(min_length=1, description="What changed, one line per change.")


class PlaybookSpec(StrictModel):
    """What we do. ``hash`` is the sha256 of the canonical JSON of the spec content, without
    the changelog: it identifies what runs, and a changelog entry describes a content change
    rather than being one (so writing the entry of a bump never changes the hash again)."""

    id: str = Field(pattern=_KEBAB, description="Playbook id used by `mlpb run ID`.")
    version: str = Field(pattern=_SEMVER, description="Semantic version of this playbook.")
    extends: str | None = Field(
        None, pattern=r"^[a-z0-9]+(-[a-z0-9]+)*@\d+(\.\d+\.\d+)?$",
        description="Team playbooks: the catalog spec this one changes, PLAYBOOK@MAJOR "
        "(e.g. data-drift@1) or PLAYBOOK@X.Y.Z; merged at load (README, 'Team playbooks').")
    base: SpecBase | None = Field(
        None, description="Set at load, never written: the extended spec that was merged.")
    title: str = Field(description="Human title.")
    description: str = Field("", description="When to use this playbook.")
    taxonomy: Taxonomy
    signals: list[str] = Field(default_factory=list, description="Observable signals that fire it.")
    evidence: list[str] = Field(
        min_length=1, description="Registered evidence collectors to run (concurrently)."
    )
    drift: DriftThresholds = Field(
        default_factory=DriftThresholds,
        description="Thresholds of the feature-drift evidence (PSI 0.1 warn / 0.2 act, ...).",
    )
    severity: list[SeverityRule] = Field(
        default_factory=list, description="First matching rule wins; SEV4 when none matches."
    )
    signatures: dict[str, float] | None = Field(
        None, description="Triage only: one 'this is a <playbook> problem' hypothesis per "
        "other catalog playbook is generated at load. Values are priors (playbook id -> the "
        "share of vague alerts that failure class causes; unlisted playbooks get 0.05): a "
        "class's posterior is its prior times the Bayes factor of its strongest check "
        "(playbooks/checks/strength.py). A new catalog playbook is a candidate without an "
        "edit here.")
    hypotheses: list[HypothesisSpec] = Field(min_length=3, description="Competing hypotheses.")
    remediations: list[RemediationSpec] = Field(default_factory=list, description="The menu.")
    acceptance: Acceptance = Field(
        default_factory=Acceptance,
        description="What must hold after a change: the pre-check on a holdout, then the live "
        "monitoring windows (a pre-check is required when the spec has remediations).",
    )
    escalation: Escalation = Field(default_factory=Escalation)
    approval: ApprovalSettings = Field(default_factory=ApprovalSettings)
    communication: Communication = Field(default_factory=Communication)
    changelog: list[ChangelogEntry] = Field(
        default_factory=list, description="One entry per version (version, date, author, "
        "changes). `mlpb validate` requires an entry for a new version and refuses a content "
        "change that keeps its version. Not part of `hash`.")

    @model_validator(mode="after")
    def _references(self) -> PlaybookSpec:
        for kind, items in (("hypotheses", self.hypotheses), ("remediations", self.remediations)):
            ids = [i.id for i in items]
            dupes = sorted({i for i in ids if ids.count(i) > 1})
            if dupes:
                raise ValueError(f"duplicate {kind} ids: {dupes}")
        known = {r.id for r in self.remediations}
        if self.remediations and not self.acceptance.pre_check:
            raise ValueError("a spec with remediations needs acceptance criteria: nothing may "
                             "close after a change without them")
        mon = self.acceptance.monitoring
        scoped = [(c.id, c.applies_to) for c in self.acceptance.pre_check]
        if mon is not None:
            scoped += [(c.id, c.applies_to) for c in mon.criteria]
            scoped.append(("monitoring", mon.applies_to))
        for cid, applies_to in scoped:
            stray = [r for r in applies_to or [] if r not in known]
            if stray:
                raise ValueError(f"acceptance '{cid}' applies_to unknown remediation(s) {stray}")
        for h in self.hypotheses:
            missing = [r for r in h.on_supported.remediate if r not in known]
            if missing:
                raise ValueError(
                    f"hypothesis '{h.id}' names remediation(s) {missing} not in 'remediations' "
                    f"(known: {sorted(known)})"
                )
        return self

    @property
    def hash(self) -> str:
        # Unset extends/base stay out: adding them kept every other spec's hash.
        unset = {k for k in ("extends", "base") if getattr(self, k) is None}
        content = self.model_dump(mode="json", exclude={"changelog", *unset})
        payload = json.dumps(content, sort_keys=True).encode()
        return hashlib.sha256(payload).hexdigest()[:16]

    def hypothesis(self, hid: str) -> HypothesisSpec:
        return next(h for h in self.hypotheses if h.id == hid)

    def remediation(self, rid: str) -> RemediationSpec:
        return next(r for r in self.remediations if r.id == rid)

    def criteria_for(self, rid: str) -> list[AcceptanceCriterion]:
        """The pre-check criteria gating remediation ``rid``."""
        return [c for c in self.acceptance.pre_check if c.applies_to is None
                or rid in c.applies_to]

    def monitoring_for(self, rid: str) -> MonitoringPlan | None:
        """The live monitoring plan for remediation ``rid`` (its criteria scoped to it), or
        None when the change is not monitored."""
        mon = self.acceptance.monitoring
        if mon is None or (mon.applies_to is not None and rid not in mon.applies_to):
            return None
        criteria = [c for c in mon.criteria if c.applies_to is None or rid in c.applies_to]
        return mon.model_copy(update={"criteria": criteria}) if criteria else None
