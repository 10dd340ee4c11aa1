"""Categorical drift: PSI and Jensen-Shannon distance over category shares.

Categories are compared as strings, so an upstream switch from ``1`` to ``"1"`` is not drift;
integral floats print as integers because a missing value turns an int column into floats.
Shares are of non-missing rows; categories never seen in the reference share one bucket
(for Jensen-Shannon this equals keeping them apart, since the reference puts 0 on each).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from playbooks.stats.numeric import psi

__all__ = [
    "CategoricalComparison",
    "CategoricalProfile",
    "compare_categorical",
    "fit_categorical",
    "js_distance",
]

_MAX_UNSEEN_LISTED = 20
_TOP_SHIFTS = 5


@dataclass(frozen=True, eq=False)
class CategoricalProfile:
    column: str
    n_rows: int
    n_valid: int
    categories: tuple[str, ...]  # most frequent first
    shares: NDArray[np.float64]  # share of non-missing reference rows, aligned to categories

    @property
    def frequencies(self) -> dict[str, float]:
        return dict(zip(self.categories, self.shares.tolist(), strict=True))


@dataclass(frozen=True)
class CategoricalComparison:
    psi: float
    js: float
    n_rows: int
    n_valid: int
    unseen_categories: list[str]
    unseen_share: float
    top_category_shift: list[tuple[str, float, float]]


def _label(value: object) -> str:
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _counts(series: pd.Series) -> pd.Series:
    """Non-missing rows per category label, most frequent first (labels are strings)."""
    counts = series.value_counts(dropna=True, sort=False)
    counts = counts[counts > 0]  # a Categorical dtype lists unused categories too
    labels = pd.Index([_label(v) for v in counts.index], dtype=object)
    out = pd.Series(counts.to_numpy(dtype=np.int64), index=labels)
    if not labels.is_unique:
        out = out.groupby(level=0, sort=False).sum()
    return out.sort_values(ascending=False, kind="stable")


def fit_categorical(frame: pd.DataFrame, column: str) -> CategoricalProfile:
    counts = _counts(frame[column])
    n_valid = int(counts.sum())
    shares = counts.to_numpy(dtype=np.float64) / max(n_valid, 1)
    return CategoricalProfile(column, len(frame), n_valid, tuple(counts.index), shares)


def js_distance(p: NDArray[np.float64], q: NDArray[np.float64]) -> float:
    """Jensen-Shannon distance in base 2 (0 = same shares, 1 = disjoint)."""
    m = (p + q) / 2

    def kl(a: NDArray[np.float64]) -> float:
        nz = a > 0
        return float(np.sum(a[nz] * np.log2(a[nz] / m[nz])))

    return float(np.sqrt(max((kl(p) + kl(q)) / 2, 0.0)))


def compare_categorical(profile: CategoricalProfile, frame: pd.DataFrame) -> CategoricalComparison:
    counts = _counts(frame[profile.column])
    n_valid = int(counts.sum())
    cur = counts / max(n_valid, 1)
    ref_index = pd.Index(profile.categories, dtype=object)
    seen = cur.reindex(ref_index, fill_value=0.0).to_numpy(dtype=np.float64)
    unseen = cur[~cur.index.isin(ref_index)]
    unseen_share = float(unseen.sum())
    expected = np.append(profile.shares, 0.0)
    actual = np.append(seen, unseen_share)

    ref_all = np.concatenate([profile.shares, np.zeros(len(unseen))])
    cur_all = np.concatenate([seen, unseen.to_numpy(dtype=np.float64)])
    names = [*profile.categories, *unseen.index]
    order = np.argsort(-np.abs(cur_all - ref_all), kind="stable")[:_TOP_SHIFTS]
    shifts = [(str(names[i]), float(ref_all[i]), float(cur_all[i])) for i in order
              if cur_all[i] != ref_all[i]]
    return CategoricalComparison(
        psi=float(psi(expected, actual)), js=js_distance(expected, actual),
        n_rows=len(frame), n_valid=n_valid,
        unseen_categories=[str(c) for c in unseen.index[:_MAX_UNSEEN_LISTED]],
        unseen_share=unseen_share, top_category_shift=shifts)
