"""Pure numpy/pandas statistics: feature drift (PSI, KS, normed Wasserstein, JS; re-exported
here), data quality (``stats.quality``), unit changes (``stats.units``), and JSON-able copies
of results (``stats.jsonable``).

Only the thresholds and errors load with the package; the drift engine (numpy, pandas) loads
on first use of one of its names, so importing a spec model does not import pandas."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from playbooks.stats.errors import MissingColumnsError, MixedTypeColumnError
from playbooks.stats.thresholds import DriftThresholds

if TYPE_CHECKING:
    from playbooks.stats.drift import (
        DriftReport,
        DriftStatus,
        FeatureDrift,
        ReferenceProfile,
        compute_drift,
        drift_report,
        fit_reference,
    )

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

_LAZY = frozenset({"DriftReport", "DriftStatus", "FeatureDrift", "ReferenceProfile",
                   "compute_drift", "drift_report", "fit_reference"})


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module("playbooks.stats.drift"), name)
    raise AttributeError(f"module 'playbooks.stats' has no attribute {name!r}")
