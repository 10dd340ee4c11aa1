"""Feature drift of a current window against a reference: configuration, results, entry points.

Configuration (``DriftThresholds``) is kept apart from calculation (``numeric``,
``categorical``). ``fit_reference`` does the expensive reference work once; the resulting
``ReferenceProfile`` is small and picklable, so it can be cached and compared against many
windows with ``compute_drift``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from playbooks.stats.categorical import (
    CategoricalComparison,
    CategoricalProfile,
    compare_categorical,
    fit_categorical,
)
from playbooks.stats.errors import MissingColumnsError
from playbooks.stats.numeric import (
    SUMMARY_KEYS,
    NumericComparison,
    NumericProfile,
    compare_numeric,
    fit_numeric,
)
from playbooks.stats.thresholds import DriftThresholds

__all__ = [
    "DriftReport",
    "DriftStatus",
    "DriftThresholds",
    "FeatureDrift",
    "ReferenceProfile",
    "compute_drift",
    "drift_report",
    "fit_reference",
]

DriftStatus = Literal["ok", "warn", "drift", "insufficient_data", "constant", "all_missing"]


@dataclass(frozen=True, eq=False)
class ReferenceProfile:
    """All reference statistics, computed once by ``fit_reference``; picklable."""

    numeric: NumericProfile
    categorical: tuple[CategoricalProfile, ...]
    thresholds: DriftThresholds
    n_rows: int

    @property
    def numeric_columns(self) -> tuple[str, ...]:
        return self.numeric.columns

    @property
    def categorical_columns(self) -> tuple[str, ...]:
        return tuple(p.column for p in self.categorical)


@dataclass(frozen=True)
class FeatureDrift:
    """Drift of one feature. Metrics are None when the status says they cannot be trusted
    (no or too little data). ``n_*`` count rows including missing ones; shares and
    ``unseen_share`` are of non-missing rows."""

    feature: str
    kind: Literal["numeric", "categorical"]
    status: DriftStatus
    psi: float | None
    ks: float | None
    wasserstein_normed: float | None
    js: float | None
    n_reference: int
    n_current: int
    missing_reference: float
    missing_current: float
    reference_summary: dict[str, float] = field(default_factory=dict)
    current_summary: dict[str, float] = field(default_factory=dict)
    unseen_categories: list[str] = field(default_factory=list)
    unseen_share: float = 0.0
    top_category_shift: list[tuple[str, float, float]] = field(default_factory=list)

    def breached(self) -> bool:
        return self.status == "drift"


_FRAME_COLUMNS = ("feature", "kind", "status", "psi", "ks", "wasserstein_normed", "js",
                  "n_reference", "n_current", "missing_reference", "missing_current",
                  "unseen_share")


@dataclass(frozen=True)
class DriftReport:
    features: list[FeatureDrift]
    thresholds: DriftThresholds

    def drifted(self) -> list[FeatureDrift]:
        """Features with status 'drift', largest PSI first."""
        hits = [f for f in self.features if f.breached()]
        return sorted(hits, key=lambda f: -(f.psi if f.psi is not None else -math.inf))

    def to_frame(self) -> pd.DataFrame:
        rows = [{c: getattr(f, c) for c in _FRAME_COLUMNS} for f in self.features]
        return pd.DataFrame(rows, columns=list(_FRAME_COLUMNS))

    def max_psi(self) -> float:
        """Largest PSI among features with trustworthy metrics (0.0 if none)."""
        return max((f.psi for f in self.features if f.psi is not None), default=0.0)

    def by_feature(self) -> dict[str, FeatureDrift]:
        return {f.feature: f for f in self.features}


def _require(frame: pd.DataFrame, columns: Sequence[str], which: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise MissingColumnsError(which, missing, list(columns))


def fit_reference(reference: pd.DataFrame, numeric: Sequence[str], categorical: Sequence[str],
                  thresholds: DriftThresholds = DriftThresholds()) -> ReferenceProfile:  # noqa: B008 (frozen)
    """Precompute everything the comparison needs from ``reference``."""
    numeric, categorical = list(numeric), list(categorical)
    if overlap := sorted(set(numeric) & set(categorical)):
        raise ValueError(f"columns declared both numeric and categorical: {overlap}")
    _require(reference, [*numeric, *categorical], "reference")
    return ReferenceProfile(
        numeric=fit_numeric(reference, numeric, thresholds.bins),
        categorical=tuple(fit_categorical(reference, c) for c in categorical),
        thresholds=thresholds, n_rows=len(reference))


def _share_missing(n_rows: int, n_valid: int) -> float:
    return (n_rows - n_valid) / n_rows if n_rows else 0.0


def _data_status(n_cur_rows: int, n_ref: int, n_cur: int, t: DriftThresholds) -> DriftStatus | None:
    if n_cur_rows > 0 and n_cur == 0:
        return "all_missing"
    if min(n_ref, n_cur) < t.min_rows:
        return "insufficient_data"
    return None


def _ks_noise(n_ref: int, n_cur: int) -> float:
    return 1.36 * float(np.sqrt(1 / max(n_ref, 1) + 1 / max(n_cur, 1)))


def _opt(value: float) -> float | None:
    return None if not np.isfinite(value) else float(value)


def _numeric_features(ref: NumericProfile, cur: NumericComparison,
                      t: DriftThresholds) -> list[FeatureDrift]:
    out = []
    for i, name in enumerate(ref.columns):
        n_ref, n_cur = int(ref.n_valid[i]), int(cur.n_valid[i])
        psi, ks, wn = float(cur.psi[i]), float(cur.ks[i]), float(cur.wasserstein_normed[i])
        status = _data_status(cur.n_rows, n_ref, n_cur, t)
        if status is None:
            # KS counts only beyond its own sampling noise (95% critical value): a small
            # window's KS passes 0.1 by chance alone.
            ks_act = max(t.ks_act, _ks_noise(n_ref, n_cur))
            drifted = psi >= t.psi_act or (ks >= ks_act and wn >= t.wasserstein_act)
            if ref.grid[i, 0] == ref.grid[i, -1]:  # constant reference
                # Any sizeable share of other values is drift (PSI bins all collapse here).
                status = "drift" if drifted or ks >= t.ks_act else "constant"
            else:
                status = "drift" if drifted else "warn" if psi >= t.psi_warn else "ok"
        trusted = status not in ("insufficient_data", "all_missing")
        out.append(FeatureDrift(
            feature=name, kind="numeric", status=status,
            psi=_opt(psi) if trusted else None, ks=_opt(ks) if trusted else None,
            wasserstein_normed=_opt(wn) if trusted else None, js=None,
            n_reference=ref.n_rows, n_current=cur.n_rows,
            missing_reference=_share_missing(ref.n_rows, n_ref),
            missing_current=_share_missing(cur.n_rows, n_cur),
            reference_summary=_summary(ref.summary[i]), current_summary=_summary(cur.summary[i])))
    return out


def _summary(row: np.ndarray) -> dict[str, float]:
    return {} if np.isnan(row[0]) else dict(zip(SUMMARY_KEYS, row.tolist(), strict=True))


def _categorical_feature(ref: CategoricalProfile, cur: CategoricalComparison,
                         t: DriftThresholds) -> FeatureDrift:
    status = _data_status(cur.n_rows, ref.n_valid, cur.n_valid, t)
    if status is None:
        drifted = cur.psi >= t.psi_act or cur.js >= t.js_act
        status = "drift" if drifted else "warn" if cur.psi >= t.psi_warn else "ok"
    trusted = status not in ("insufficient_data", "all_missing")
    return FeatureDrift(
        feature=ref.column, kind="categorical", status=status,
        psi=cur.psi if trusted else None, ks=None, wasserstein_normed=None,
        js=cur.js if trusted else None, n_reference=ref.n_rows, n_current=cur.n_rows,
        missing_reference=_share_missing(ref.n_rows, ref.n_valid),
        missing_current=_share_missing(cur.n_rows, cur.n_valid),
        unseen_categories=cur.unseen_categories, unseen_share=cur.unseen_share,
        top_category_shift=cur.top_category_shift)


def compute_drift(reference: ReferenceProfile, current: pd.DataFrame,
                  thresholds: DriftThresholds | None = None) -> DriftReport:
    """Compare ``current`` with a fitted reference; ``thresholds`` default to the profile's."""
    t = thresholds or reference.thresholds
    if t.bins != reference.thresholds.bins:
        raise ValueError(f"bins is fixed when the reference is fitted (profile has "
                         f"{reference.thresholds.bins}, got {t.bins}); refit the reference")
    _require(current, [*reference.numeric_columns, *reference.categorical_columns], "current")
    features = _numeric_features(reference.numeric, compare_numeric(reference.numeric, current), t)
    features += [_categorical_feature(p, compare_categorical(p, current), t)
                 for p in reference.categorical]
    return DriftReport(features=features, thresholds=t)


def drift_report(reference: pd.DataFrame, current: pd.DataFrame, numeric: Sequence[str],
                 categorical: Sequence[str],
                 thresholds: DriftThresholds | None = None) -> DriftReport:
    """Fit the reference and compare in one call (fit once and reuse when comparing often)."""
    t = thresholds or DriftThresholds()
    return compute_drift(fit_reference(reference, numeric, categorical, t), current, t)
