"""The model store: a small Protocol playbooks use, and its MLflow implementation (which
imports mlflow only when first used, so importing this package stays fast)."""

from playbooks.modelstore.base import (
    INCIDENT_TAG,
    POSTMORTEM_TAG,
    PREVIOUS_ALIAS,
    REFERENCE_TAG,
    AliasChange,
    AliasConflict,
    ModelNotFound,
    ModelStore,
    ModelStoreError,
    ModelStoreUnavailable,
    ModelVersionInfo,
    UnsafeModel,
    link_postmortem,
)
from playbooks.modelstore.mlflow_store import MlflowModelStore

__all__ = [
    "INCIDENT_TAG",
    "POSTMORTEM_TAG",
    "PREVIOUS_ALIAS",
    "REFERENCE_TAG",
    "AliasChange",
    "AliasConflict",
    "MlflowModelStore",
    "ModelNotFound",
    "ModelStore",
    "ModelStoreError",
    "ModelStoreUnavailable",
    "ModelVersionInfo",
    "UnsafeModel",
    "link_postmortem",
]
