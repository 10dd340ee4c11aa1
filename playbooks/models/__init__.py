"""pydantic models: what we watch (ModelProfile), what we do (PlaybookSpec), what happened
(Incident and its parts)."""

from playbooks.models.common import Duration, parse_duration
from playbooks.models.evidence import DataWindowRef, EvidencePackage
from playbooks.models.incident import (
    CriterionResult,
    Finding,
    HypothesisResult,
    Incident,
    IncidentStatus,
    RemediationRecord,
    RootCause,
    Severity,
    TimelineEvent,
    Verdict,
    Verification,
)
from playbooks.models.profile import ModelProfile
from playbooks.models.spec import PlaybookSpec

__all__ = [
    "CriterionResult",
    "DataWindowRef",
    "Duration",
    "EvidencePackage",
    "Finding",
    "HypothesisResult",
    "Incident",
    "IncidentStatus",
    "ModelProfile",
    "PlaybookSpec",
    "RemediationRecord",
    "RootCause",
    "Severity",
    "TimelineEvent",
    "Verdict",
    "Verification",
    "parse_duration",
]
