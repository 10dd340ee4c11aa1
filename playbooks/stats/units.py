"""Unit-change detection: is one distribution another rescaled by a unit factor?

A unit or scale change (cents for dollars, grams for kilograms) multiplies every quantile by
the same factor, so the quantile ratios agree with each other; a population shift moves them
by different amounts. The data-drift checks and the data-quality collector both ask this.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["UNIT_FACTORS", "UNIT_QUANTILES", "UnitScale", "nearest_unit_factor", "unit_change",
           "unit_scale"]

# The one grid both the drift checks and the data-quality collector compare (so a x100 change
# gets one estimate, the median of these ratios, wherever it is reported).
UNIT_QUANTILES = (0.25, 0.5, 0.75)

# Factors an upstream unit or scale change typically introduces (and their inverses):
# x10^k, cm/inch, kg/lb, m/ft, percent vs fraction.
UNIT_FACTORS = (10.0, 100.0, 1000.0, 1e6, 2.54, 2.20462, 3.28084, 1.60934, 12.0, 60.0)
_MIN_RATIOS = len(UNIT_QUANTILES)  # fewer usable quantile pairs say nothing about the shape


@dataclass(frozen=True)
class UnitScale:
    """How ``current`` relates to ``reference`` when it looks rescaled."""

    ratio: float  # median of the per-quantile ratios current / reference
    ratios: list[float]  # the usable per-quantile ratios, in quantile order
    spread: float  # (max - min) / median of the ratios: 0 when the shape is preserved
    nearest_factor: float  # the known unit factor (or its inverse) nearest to ``ratio``
    factor_distance: float  # relative distance of ``ratio`` to that factor


def nearest_unit_factor(ratio: float) -> tuple[float, float]:
    """(known factor or its inverse nearest to ``ratio``, relative distance to it)."""
    candidates = [f for base in UNIT_FACTORS for f in (base, 1 / base)]
    best = min(candidates, key=lambda f: abs(math.log(ratio / f)))
    return best, abs(ratio / best - 1)


def unit_scale(reference: Sequence[float], current: Sequence[float], *, min_factor: float,
               tolerance: float) -> UnitScale | None:
    """A ``UnitScale`` when the aligned quantiles ``current`` are ``reference`` rescaled by at
    least ``min_factor`` (either way) with a ratio spread of at most ``tolerance``, else None.
    Pairs with a zero, non-finite or sign-flipping reference quantile are skipped."""
    ratios = [c / r for r, c in zip(reference, current, strict=True)
              if r and np.isfinite(r) and np.isfinite(c) and c / r > 0]
    if len(ratios) < _MIN_RATIOS:
        return None
    median = float(np.median(ratios))
    spread = (max(ratios) - min(ratios)) / median
    if max(median, 1 / median) < min_factor or spread > tolerance:
        return None
    factor, distance = nearest_unit_factor(median)
    return UnitScale(median, ratios, spread, factor, distance)


_MIN_VALUES = 20  # fewer values cannot tell a rescale from noise


def unit_change(reference: np.ndarray, current: np.ndarray, *, min_factor: float
                ) -> UnitScale | None:
    """The one unit-change estimator on raw values: ``current`` is ``reference`` rescaled when
    the ratio of medians is at least ``min_factor`` (either way) and ``current / ratio`` is
    distributed like ``reference`` - two-sample KS within its 95% critical value, so sampling
    noise of a small window never passes for a changed shape, nor hides a rescale. ``spread``
    holds that KS distance."""
    ref = np.asarray(reference, dtype=float)
    cur = np.asarray(current, dtype=float)
    ref, cur = ref[np.isfinite(ref)], cur[np.isfinite(cur)]
    if len(ref) < _MIN_VALUES or len(cur) < _MIN_VALUES:
        return None
    m_ref, m_cur = float(np.median(ref)), float(np.median(cur))
    if m_ref == 0 or m_cur / m_ref <= 0:
        return None
    ratio = m_cur / m_ref
    if max(ratio, 1 / ratio) < min_factor:
        return None
    a, b = np.sort(ref), np.sort(cur / ratio)
    grid = np.concatenate([a, b])
    ks = float(np.max(np.abs(np.searchsorted(a, grid, side="right") / len(a)
                             - np.searchsorted(b, grid, side="right") / len(b))))
    if ks > 1.36 * math.sqrt(1 / len(a) + 1 / len(b)):
        return None
    qs = np.quantile(ref, UNIT_QUANTILES), np.quantile(cur, UNIT_QUANTILES)
    ratios = [float(c / r) for r, c in zip(*qs, strict=True) if r]
    factor, distance = nearest_unit_factor(ratio)
    return UnitScale(ratio, ratios, ks, factor, distance)
