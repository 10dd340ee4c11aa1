"""Drift of a window too large to hold at once, accumulated batch by batch.

Everything ``compare_numeric`` takes from a current column at the reference grid is a sum
over rows (counts at and below each grid point, per-interval sums, tail sums), so batches add
up to exactly what one pass over the whole window gives: PSI, KS-on-grid and W1-on-grid are
exact, and so is the categorical side (counts per label). Mean and std merge exactly (Chan's
pairwise update); the quantile summary (p1 ... p99) is read off the accumulated ECDF at the
reference grid, so it is exact to within one grid interval (~0.1% of the reference mass).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from playbooks.stats.categorical import (
    _MAX_UNSEEN_LISTED,
    _TOP_SHIFTS,
    CategoricalComparison,
    CategoricalProfile,
    _counts,
    js_distance,
)
from playbooks.stats.drift import (
    DriftReport,
    DriftThresholds,
    ReferenceProfile,
    _categorical_feature,
    _numeric_features,
)
from playbooks.stats.numeric import (
    _SUMMARY_LEVELS,
    SUMMARY_KEYS,
    NumericComparison,
    _bin_fractions,
    float_values,
    psi,
)

__all__ = ["DriftAccumulator"]

F64 = NDArray[np.float64]


class DriftAccumulator:
    """``add`` batches of the current window, then ``report``: the same DriftReport as
    ``compute_drift`` on the concatenated batches (see the module note for the summary)."""

    def __init__(self, reference: ReferenceProfile) -> None:
        self.reference = reference
        prof = reference.numeric
        c, levels = len(prof.columns), len(prof.levels)
        self.rows = 0
        self.n = np.zeros(c, dtype=np.int64)
        self.right = np.zeros((c, levels), dtype=np.int64)  # values <= g
        self.left = np.zeros((c, levels), dtype=np.int64)  # values < g
        self.between = np.zeros((c, levels - 1))  # sum of values in (g_k, g_k+1]
        self.below = np.zeros(c)  # sum of values <= g_0
        self.above = np.zeros(c)  # sum of values > g_last
        self.mean = np.zeros(c)
        self.m2 = np.zeros(c)
        self.lo = np.full(c, np.inf)
        self.hi = np.full(c, -np.inf)
        self.counts: list[pd.Series] = [pd.Series(dtype=np.int64) for _ in reference.categorical]

    def add(self, batch: pd.DataFrame) -> None:
        self.rows += len(batch)
        prof = self.reference.numeric
        for i, column in enumerate(prof.columns):
            if prof.n_valid[i] == 0:
                continue
            raw = float_values(batch, column)
            values: F64 = np.sort(raw[np.isfinite(raw)]).astype(np.float64)
            if len(values):
                self._add_numeric(i, values, prof.grid[i])
        for j, cat in enumerate(self.reference.categorical):
            self.counts[j] = self.counts[j].add(_counts(batch[cat.column]), fill_value=0)

    def _add_numeric(self, i: int, s: F64, grid: F64) -> None:
        g32 = grid.astype(np.float32).astype(np.float64)  # compare_numeric probes in float32
        right = np.searchsorted(s, g32, side="right")
        csum = np.concatenate([[0.0], np.cumsum(s)])
        self.right[i] += right
        self.left[i] += np.searchsorted(s, g32, side="left")
        self.between[i] += csum[right[1:]] - csum[right[:-1]]
        self.below[i] += csum[right[0]]
        self.above[i] += csum[-1] - csum[right[-1]]
        n_b, mean_b = len(s), float(csum[-1]) / len(s)
        m2_b = float(np.sum((s - mean_b) ** 2))
        n_a, total = int(self.n[i]), int(self.n[i]) + n_b
        delta = mean_b - self.mean[i]
        self.mean[i] += delta * n_b / total
        self.m2[i] += m2_b + delta * delta * n_a * n_b / total
        self.n[i] = total
        self.lo[i], self.hi[i] = min(self.lo[i], s[0]), max(self.hi[i], s[-1])

    def _numeric(self) -> NumericComparison:
        prof = self.reference.numeric
        c = len(prof.columns)
        grid = prof.grid
        n = np.maximum(self.n, 1)[:, None].astype(np.float64)
        cdf, cdf_left = self.right / n, self.left / n
        count = np.diff(self.right, axis=1)
        area = (np.diff(grid, axis=1) * self.right[:, :-1] + count * grid[:, 1:]
                - self.between) / n
        lower = (self.right[:, 0] * grid[:, 0] - self.below) / n[:, 0]
        upper = (self.above - (self.n - self.right[:, -1]) * grid[:, -1]) / n[:, 0]
        empty = self.n == 0
        for arr in (cdf, cdf_left, area):
            arr[empty] = np.nan
        summary = np.full((c, len(SUMMARY_KEYS)), np.nan)
        summary[:, 0] = self.mean
        summary[:, 1] = np.sqrt(self.m2 / n[:, 0])
        for i in range(c):
            if not empty[i]:  # quantiles from the accumulated ECDF at the reference grid
                summary[i, 2:] = np.interp(_SUMMARY_LEVELS, cdf[i], grid[i])
        summary[empty] = np.nan
        ks = np.maximum(np.abs(prof.cdf - cdf).max(axis=1),
                        np.abs(prof.cdf_left - cdf_left).max(axis=1))
        w1 = lower + upper + np.abs(prof.area - area).sum(axis=1)
        matches = (grid[:, 0] == grid[:, -1]) & (self.lo == grid[:, 0]) & (self.hi == grid[:, 0])
        return NumericComparison(
            psi=psi(prof.psi_fractions, _bin_fractions(cdf, prof.psi_edge_index)), ks=ks,
            wasserstein_normed=w1 / prof.scale, n_rows=self.rows, n_valid=self.n.copy(),
            summary=summary, matches_constant=matches)

    def _categorical(self, profile: CategoricalProfile, counts: pd.Series
                     ) -> CategoricalComparison:
        # compare_categorical's arithmetic, from accumulated counts instead of a frame.
        counts = counts.sort_values(ascending=False, kind="stable")
        n_valid = int(counts.sum())
        cur = counts / max(n_valid, 1)
        ref_index = pd.Index(profile.categories, dtype=object)
        seen = cur.reindex(ref_index, fill_value=0.0).to_numpy(dtype=np.float64)
        unseen = cur[~cur.index.isin(ref_index)]
        unseen_share = float(unseen.sum())
        expected, actual = np.append(profile.shares, 0.0), np.append(seen, unseen_share)
        ref_all = np.concatenate([profile.shares, np.zeros(len(unseen))])
        cur_all = np.concatenate([seen, unseen.to_numpy(dtype=np.float64)])
        names = [*profile.categories, *unseen.index]
        order = np.argsort(-np.abs(cur_all - ref_all), kind="stable")[:_TOP_SHIFTS]
        shifts = [(str(names[i]), float(ref_all[i]), float(cur_all[i])) for i in order
                  if cur_all[i] != ref_all[i]]
        return CategoricalComparison(
            psi=float(psi(expected, actual)), js=js_distance(expected, actual),
            n_rows=self.rows, n_valid=n_valid,
            unseen_categories=[str(c) for c in unseen.index[:_MAX_UNSEEN_LISTED]],
            unseen_share=unseen_share, top_category_shift=shifts)

    def report(self, thresholds: DriftThresholds | None = None) -> DriftReport:
        t = thresholds or self.reference.thresholds
        features = _numeric_features(self.reference.numeric, self._numeric(), t)
        features += [_categorical_feature(p, self._categorical(p, counts.astype(np.int64)), t)
                     for p, counts in zip(self.reference.categorical, self.counts, strict=True)]
        return DriftReport(features=features, thresholds=t)
