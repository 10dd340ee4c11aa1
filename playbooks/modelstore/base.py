"""The model store Protocol playbooks talk to, and the records it returns (no MLflow here).

Remediations (roll back, promote a retrained model, tag a threshold) only need a handful of
registry verbs, so they depend on :class:`ModelStore`; ``mlflow_store.MlflowModelStore`` is
the implementation. Every failure is a :class:`ModelStoreError` subclass whose message says
what was wrong and what to do.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from playbooks.errors import MlpbError

__all__ = [
    "INCIDENT_TAG",
    "POSTMORTEM_TAG",
    "PREVIOUS_ALIAS",
    "REFERENCE_TAG",
    "AliasChange",
    "AliasConflict",
    "ModelNotFound",
    "ModelStore",
    "ModelStoreError",
    "ModelStoreUnavailable",
    "ModelVersionInfo",
    "UnsafeModel",
    "link_postmortem",
]

INCIDENT_TAG = "mlpb.incident_id"
# The data a version learned from, "<start ISO>/<end ISO>" (end exclusive): drift evidence
# compares against it while that version serves (playbooks/engine/reference.py).
REFERENCE_TAG = "mlpb.reference_window"
# On versions an incident changed: where its post-mortem is (MLflow UI -> the write-up).
POSTMORTEM_TAG = "mlpb.postmortem"
# The alias a promotion leaves on the version it replaced (one step back, for people and tools).
PREVIOUS_ALIAS = "previous"


class ModelStoreError(MlpbError):
    """Something went wrong talking to the model registry."""


class ModelStoreUnavailable(ModelStoreError):
    """The tracking/registry store cannot be reached or is broken."""


class ModelNotFound(ModelStoreError):
    """No such registered model, alias or version."""


class AliasConflict(ModelStoreError):
    """An alias moved since we changed it; reverting would clobber someone else's change."""


class UnsafeModel(ModelStoreError):
    """A model artifact we refuse to load: not skops, or types outside the trusted list."""


@dataclass(frozen=True)
class ModelVersionInfo:
    """One registered model version, detached from MLflow's entity classes."""

    name: str
    version: str
    run_id: str | None
    source: str
    aliases: list[str]
    tags: dict[str, str]
    created_at: datetime


@dataclass(frozen=True)
class AliasChange:
    """What ``set_alias`` did, with enough state to undo it (kept in the remediation journal)."""

    name: str
    alias: str
    previous_version: str | None
    new_version: str
    incident_id: str | None
    changed_at: datetime
    # set_alias(previous_alias=...): that alias now names the replaced version; it was here.
    previous_alias: str | None = None
    previous_alias_was: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        data = asdict(self)
        data["changed_at"] = self.changed_at.isoformat()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AliasChange:
        changed_at = data["changed_at"]
        return cls(
            name=str(data["name"]),
            alias=str(data["alias"]),
            previous_version=None if data.get("previous_version") is None
            else str(data["previous_version"]),
            new_version=str(data["new_version"]),
            incident_id=data.get("incident_id"),
            changed_at=changed_at if isinstance(changed_at, datetime)
            else datetime.fromisoformat(str(changed_at)),
            previous_alias=data.get("previous_alias"),
            previous_alias_was=None if data.get("previous_alias_was") is None
            else str(data["previous_alias_was"]),
        )


@runtime_checkable
class ModelStore(Protocol):
    """The registry verbs playbooks use. Versions are strings ("3"); aliases are names."""

    def get_version(self, name: str, alias_or_version: str) -> ModelVersionInfo: ...

    def load_model(self, name: str, alias_or_version: str) -> Any: ...

    def register_model(
        self,
        name: str,
        model: Any,
        *,
        experiment: str,
        params: dict[str, Any],
        metrics: dict[str, float],
        tags: dict[str, str],
        description: str = "",
        signature_frame: Any = None,
    ) -> ModelVersionInfo: ...

    def set_alias(
        self, name: str, alias: str, version: str, *, incident_id: str | None = None,
        previous_alias: str | None = None,
    ) -> AliasChange: ...

    def revert_alias(self, change: AliasChange) -> None: ...

    def restore_alias(self, name: str, alias: str, was: str | None, *, only_if: str) -> bool: ...

    def tag_version(self, name: str, version: str, key: str, value: str) -> None: ...

    def list_versions(self, name: str) -> list[ModelVersionInfo]: ...

    def version_exists(self, name: str, version: str) -> bool: ...

    def log_incident_run(self, experiment: str, incident_id: str, *, tags: dict[str, str],
                         artifacts: dict[str, list[Path]]) -> str: ...


def link_postmortem(store: ModelStore, name: str, incident_id: str, path: str) -> list[str]:
    """Tag every version the incident touched (tagged with its id) with its post-mortem's
    path; returns those versions."""
    mine = [v.version for v in store.list_versions(name) if v.tags.get(INCIDENT_TAG) == incident_id]
    for version in mine:
        store.tag_version(name, version, POSTMORTEM_TAG, path)
    return mine
