"""What evidence collectors receive and return."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playbooks.data.io import DataWindows
from playbooks.models.common import StrictParams
from playbooks.models.profile import ModelProfile
from playbooks.models.spec import PlaybookSpec
from playbooks.modelstore.base import ModelStore

__all__ = ["CollectContext", "EvidencePart", "NoParams"]


class NoParams(StrictParams):
    """For collectors that take no parameters."""


@dataclass
class CollectContext:
    incident_id: str
    profile: ModelProfile
    spec: PlaybookSpec
    data: DataWindows
    model_store: ModelStore | None  # None when the profile names no model
    state_dir: Path


@dataclass(frozen=True)
class EvidencePart:
    """One collector's contribution. ``data`` lands in ``EvidencePackage.parts[name]``,
    ``metrics`` are merged into the package's headline metrics (severity rules and checks
    read them), ``fields`` set the package's typed top-level fields (feature_drift, model...).
    """

    data: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    summary: str = ""
    fields: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def unavailable(cls, reason: str, summary: str) -> EvidencePart:
        """The part of a collector the profile gives nothing to measure (checks see why)."""
        return cls(data={"available": False, "reason": reason}, summary=summary)
