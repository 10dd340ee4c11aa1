"""pydantic models: what we watch (ModelProfile), what we do (PlaybookSpec), what happened
(Incident and its parts)."""

from playbooks.models import incident as _incident
from playbooks.models.common import Duration, parse_duration
from playbooks.models.evidence import DataWindowRef, EvidencePackage
from playbooks.models.incident import *  # noqa: F403  # the incident's parts, as its __all__ lists them
from playbooks.models.profile import ModelProfile
from playbooks.models.spec import PlaybookSpec

__all__ = [
    "DataWindowRef",
    "Duration",
    "EvidencePackage",
    "ModelProfile",
    "PlaybookSpec",
    "parse_duration",
    *_incident.__all__,
]
