"""Pure numpy/pandas statistics: feature drift (PSI, KS, normed Wasserstein, JS; re-exported
here), data quality (``stats.quality``), unit changes (``stats.units``), and JSON-able copies
of results (``stats.jsonable``)."""

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
