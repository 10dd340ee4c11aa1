"""The evidence package: immutable facts collected once per incident."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["DataWindowRef", "EvidencePackage"]


class DataWindowRef(BaseModel):
    """A data window by reference: which files, which time span, and a content hash."""

    model_config = ConfigDict(frozen=True)

    name: str
    files: list[str]
    rows: int
    start: datetime | None = None
    end: datetime | None = None
    sha256: str = Field(description="Hash of the files' bytes (names, sizes and content).")


class EvidencePackage(BaseModel):
    model_config = ConfigDict(frozen=True)

    incident_id: str
    collected_at: datetime
    windows: dict[str, DataWindowRef] = Field(default_factory=dict)
    feature_drift: list[dict[str, Any]] = Field(default_factory=list)
    drift_onset: datetime | None = Field(
        None, description="Start of the first day from which drift persists (estimated).")
    metrics: dict[str, float] = Field(default_factory=dict, description="Headline numbers.")
    model: dict[str, Any] = Field(default_factory=dict, description="Version, run id, tags.")
    labels: dict[str, Any] = Field(default_factory=dict, description="Labelled performance.")
    environment: dict[str, str] = Field(default_factory=dict, description="Versions, host.")
    alert: dict[str, Any] = Field(default_factory=dict)
    parts: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Collector name -> its data (beyond the fields above).")
    summaries: dict[str, str] = Field(default_factory=dict, description="Collector -> one line.")
