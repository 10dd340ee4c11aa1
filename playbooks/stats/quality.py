"""Data-quality statistics of a window against its reference (pure pandas/numpy).

``fit_baseline`` computes the reference side once; ``column_values`` and ``unseen_shares`` the
current side, vectorized across columns. No thresholds here: which statistic is a failure is
the data-quality collector's call (``playbooks.evidence.quality_issues``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from pandas.api import types as ptypes
from pandas.api.extensions import ExtensionDtype

from playbooks.stats.categorical import fit_categorical
from playbooks.stats.units import UNIT_QUANTILES

__all__ = [
    "SCALE_QUANTILES",
    "Baseline",
    "ColumnValues",
    "column_values",
    "dtype_kind",
    "duplicate_share",
    "fit_baseline",
    "unseen_shares",
    "value_kind",
]

SCALE_QUANTILES = UNIT_QUANTILES  # compared for unit-looking rescales (one estimator)
_SAMPLE = 5000  # reference values kept per numeric column for rename matching


@dataclass(frozen=True)
class Baseline:
    """Reference statistics, computed once."""

    numeric: list[str]
    categorical: list[str]
    lo: dict[str, float]  # plausible range per numeric column
    hi: dict[str, float]
    quantiles: dict[str, list[float]]  # per numeric column, at SCALE_QUANTILES
    null_rate: dict[str, float]
    categories: dict[str, set[str]]
    samples: dict[str, NDArray[np.float64]]  # sorted reference values for rename matching
    kinds: dict[str, str]  # "number" or "text", per feature
    duplicate_share: float
    duplicate_key: list[str]
    columns: set[str]


@dataclass(frozen=True)
class ColumnValues:
    """The current window's feature values against a baseline."""

    features: list[str]  # features present in the frame, numeric first
    numeric: list[str]  # numeric features whose values were checked
    null_rate: pd.Series  # per feature in ``features``
    numbers: pd.DataFrame  # the ``numeric`` columns as numbers (text -> NaN)
    valid: pd.Series  # non-missing numbers per checked numeric feature
    out_of_range: pd.Series  # share of those outside the baseline's plausible range
    scale_quantiles: pd.DataFrame | None  # at SCALE_QUANTILES; None without rows

    def outside(self, base: Baseline, column: str) -> pd.Series:
        """The values of ``column`` outside the plausible range (examples for a finding)."""
        v = self.numbers[column]
        return v[v.lt(base.lo[column]) | v.gt(base.hi[column])]


def value_kind(dtype: np.dtype[Any] | ExtensionDtype) -> str:
    """"number" or "text" for a loaded column's dtype."""
    return "number" if ptypes.is_numeric_dtype(dtype) or ptypes.is_bool_dtype(dtype) else "text"


def dtype_kind(name: str) -> str:
    """"number" or "text" for a dtype as a raw file's schema names it."""
    return "number" if name.startswith(("int", "uint", "float", "bool", "Int", "Float")) else "text"


def duplicate_share(frame: pd.DataFrame, key: list[str]) -> float:
    """Share of rows repeating an earlier row's ``key`` (0 without rows or key)."""
    if frame.empty or not key:
        return 0.0
    return float(frame.duplicated(subset=key, keep="first").mean())


def fit_baseline(reference: pd.DataFrame, numeric: Sequence[str], categorical: Sequence[str],
                 duplicate_key: list[str], *, range_quantiles: tuple[float, float],
                 range_iqr_margin: float) -> Baseline:
    """Reference statistics; the plausible range is [q_lo - m*IQR, q_hi + m*IQR]."""
    num, cat = list(numeric), list(categorical)
    ref = reference[num].astype(float)
    q = ref.quantile([range_quantiles[0], 0.25, 0.75, range_quantiles[1]])
    iqr = (q.iloc[2] - q.iloc[1]).to_numpy()
    spread = np.maximum(iqr, (q.iloc[3] - q.iloc[0]).to_numpy() / 10)  # discrete columns
    lo = q.iloc[0].to_numpy() - range_iqr_margin * spread
    hi = q.iloc[3].to_numpy() + range_iqr_margin * spread
    scale_q = ref.quantile(list(SCALE_QUANTILES))
    rng = np.random.default_rng(0)
    samples = {}
    for c in num:
        v = ref[c].dropna().to_numpy(dtype=np.float64)
        samples[c] = np.sort(rng.choice(v, _SAMPLE, replace=False) if len(v) > _SAMPLE else v)
    nulls = reference[[*num, *cat]].isna().mean()
    return Baseline(
        numeric=num, categorical=cat,
        lo=dict(zip(num, lo.tolist(), strict=True)), hi=dict(zip(num, hi.tolist(), strict=True)),
        quantiles={c: scale_q[c].tolist() for c in num},
        null_rate={str(c): float(r) for c, r in nulls.items()},
        categories={c: set(fit_categorical(reference, c).categories) for c in cat},
        samples=samples, kinds={c: value_kind(reference[c].dtype) for c in [*num, *cat]},
        duplicate_share=duplicate_share(reference, duplicate_key), duplicate_key=duplicate_key,
        columns=set(map(str, reference.columns)))


def column_values(base: Baseline, frame: pd.DataFrame, skip: set[str]) -> ColumnValues:
    """Null rates of the features in ``frame``; range and scale statistics of its numeric
    features except ``skip`` (columns the schema says are missing)."""
    feats = [c for c in [*base.numeric, *base.categorical] if c in frame.columns]
    nulls = frame[feats].isna().mean() if len(frame) else pd.Series(0.0, index=feats)
    num = [c for c in base.numeric if c in frame.columns and c not in skip]
    block = frame[num].apply(pd.to_numeric, errors="coerce") if num else pd.DataFrame()
    valid = block.notna().sum()
    lo, hi = pd.Series(base.lo)[num], pd.Series(base.hi)[num]
    outside = ((block.lt(lo) | block.gt(hi)) & block.notna()).sum() / valid.clip(lower=1)
    scale_q = block.quantile(list(SCALE_QUANTILES)) if len(block) else None
    return ColumnValues(feats, num, nulls, block, valid, outside, scale_q)


def unseen_shares(base: Baseline, frame: pd.DataFrame, column: str) -> tuple[dict[str, float], int]:
    """(share of non-missing rows per category the reference never had, non-missing rows)."""
    prof = fit_categorical(frame, column)
    known = base.categories[column]
    return {k: s for k, s in prof.frequencies.items() if k not in known}, prof.n_valid
