"""What every check returns, and typed views over the evidence checks read."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from playbooks.checks.strength import Specificity
from playbooks.models.evidence import EvidencePackage
from playbooks.models.incident import Finding, Verdict

__all__ = ["CheckResult", "FeatureDriftView", "drift_view", "moved_features"]


@dataclass(frozen=True)
class CheckResult:
    verdict: Verdict
    confidence: float
    summary: str
    findings: list[Finding] = field(default_factory=list)
    # How narrowly a supported result pins the cause (playbooks.checks.strength): triage's
    # tie-break between failure classes whose evidence is equally decisive.
    specificity: Specificity = Specificity.SYMPTOM

    def __post_init__(self) -> None:
        if not 0.0 <= self.confidence <= 1.0:
            raise ValueError(f"confidence must be in [0, 1], got {self.confidence}")
        # One finding per (kind, feature, statistic): two checks' views of one fact merge.
        seen: set[tuple[str, str | None, str | None]] = set()
        unique = []
        for f in self.findings:
            key = (f.kind, f.feature, f.statistic)
            if key not in seen:
                seen.add(key)
                unique.append(f)
        object.__setattr__(self, "findings", unique)


@dataclass(frozen=True)
class FeatureDriftView:
    """One feature's drift statistics as recorded in the evidence package."""

    feature: str
    kind: str
    status: str
    psi: float | None
    ks: float | None
    wasserstein_normed: float | None
    js: float | None
    reference_summary: dict[str, float]
    current_summary: dict[str, float]
    unseen_categories: list[str]
    unseen_share: float
    missing_current: float
    raw: dict[str, Any]

    @property
    def drifted(self) -> bool:
        return self.status == "drift"


def drift_view(evidence: EvidencePackage) -> list[FeatureDriftView]:
    return [
        FeatureDriftView(
            feature=d["feature"], kind=d["kind"], status=d["status"], psi=d.get("psi"),
            ks=d.get("ks"), wasserstein_normed=d.get("wasserstein_normed"), js=d.get("js"),
            reference_summary=d.get("reference_summary") or {},
            current_summary=d.get("current_summary") or {},
            unseen_categories=list(d.get("unseen_categories") or []),
            unseen_share=float(d.get("unseen_share") or 0.0),
            missing_current=float(d.get("missing_current") or 0.0), raw=d)
        for d in evidence.feature_drift
    ]


def moved_features(evidence: EvidencePackage) -> float | None:
    """Features whose PSI crosses the action threshold: how many inputs materially moved
    (drift statuses also fire on KS, which small windows cross by noise). Falls back to the
    ``drifted_features`` metric; None when drift was not measured."""
    if evidence.feature_drift:
        act = evidence.metrics.get("psi_act", 0.2)
        return float(sum((d.get("psi") or 0.0) >= act for d in evidence.feature_drift))
    return evidence.metrics.get("drifted_features")
