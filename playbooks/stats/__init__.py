"""Vectorized drift statistics (pure numpy/pandas): PSI, KS, normed Wasserstein, JS."""

from __future__ import annotations

from playbooks.stats.drift import (
    DriftReport,
    DriftStatus,
    DriftThresholds,
    FeatureDrift,
    ReferenceProfile,
    compute_drift,
    drift_report,
    fit_reference,
)
from playbooks.stats.errors import MissingColumnsError, MixedTypeColumnError

__all__ = [
    "DriftReport",
    "DriftStatus",
    "DriftThresholds",
    "FeatureDrift",
    "MissingColumnsError",
    "MixedTypeColumnError",
    "ReferenceProfile",
    "compute_drift",
    "drift_report",
    "fit_reference",
]
