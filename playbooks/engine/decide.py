"""From hypothesis results to a decision (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from playbooks.models.incident import HypothesisResult, RootCause, Severity, Verdict
from playbooks.models.profile import ModelProfile
from playbooks.models.spec import PlaybookSpec

__all__ = ["Decision", "assess_severity", "decide", "rank"]

_VERDICT_ORDER = {Verdict.SUPPORTED: 0, Verdict.INCONCLUSIVE: 1, Verdict.REFUTED: 2}


def rank(results: list[HypothesisResult], spec: PlaybookSpec) -> list[HypothesisResult]:
    """Supported first, by confidence; spec order breaks ties (more specific hypotheses are
    listed first in catalog specs)."""
    order = {h.id: i for i, h in enumerate(spec.hypotheses)}
    return sorted(results, key=lambda r: (_VERDICT_ORDER[r.verdict], -r.confidence, order[r.id]))


@dataclass(frozen=True)
class Decision:
    action: Literal["remediate", "escalate", "close", "handover"]
    root_cause: RootCause | None
    remediations: list[str]
    escalate_to: str | None  # with 'remediate': escalate after containment
    reason: str
    handover_to: str | None = None


def decide(results: list[HypothesisResult], spec: PlaybookSpec, profile: ModelProfile,
           *, min_confidence: float = 0.5) -> Decision:
    ranked = rank(results, spec)
    top = ranked[0] if ranked else None
    owners = profile.owners
    if top is None or top.verdict is not Verdict.SUPPORTED or top.confidence < min_confidence:
        who = getattr(owners, spec.escalation.default_owner)
        return Decision("escalate", None, [], who,
                        "no hypothesis is supported with enough confidence: a human must look")
    root = RootCause(hypothesis_id=top.id, confidence=top.confidence, summary=top.summary)
    out = spec.hypothesis(top.id).on_supported
    if out.close_as:
        return Decision("close", root, [], None, f"closing as {out.close_as}: {top.summary}")
    if out.handover_to:
        return Decision("handover", root, [], None,
                        f"handing over to the '{out.handover_to}' playbook: {top.summary}",
                        handover_to=out.handover_to)
    who = getattr(owners, out.escalate_to) if out.escalate_to else None
    if not out.remediate:
        return Decision("escalate", root, [], who,
                        f"root cause needs the {out.escalate_to} owner ({who}); no automatic fix")
    reason = top.summary + (f"; contain, then escalate to {who}" if who else "")
    return Decision("remediate", root, list(out.remediate), who, reason)


def assess_severity(spec: PlaybookSpec, profile: ModelProfile,
                    metrics: dict[str, float]) -> Severity:
    """First matching rule, else SEV4; high-criticality models are raised one level."""
    sev = next((r.severity for r in spec.severity if r.matches(metrics)), Severity.SEV4)
    return sev.raised() if profile.criticality == "high" and sev is not Severity.SEV4 else sev
