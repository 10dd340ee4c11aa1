"""Model registry adapter: a small Protocol playbooks use, and its MLflow implementation."""

from playbooks.registry.mlflow_registry import (
    INCIDENT_TAG,
    AliasChange,
    AliasConflict,
    MlflowModelRegistry,
    ModelNotFound,
    ModelRegistry,
    ModelVersionInfo,
    RegistryError,
    RegistryUnavailable,
)

__all__ = [
    "INCIDENT_TAG",
    "AliasChange",
    "AliasConflict",
    "MlflowModelRegistry",
    "ModelNotFound",
    "ModelRegistry",
    "ModelVersionInfo",
    "RegistryError",
    "RegistryUnavailable",
]
