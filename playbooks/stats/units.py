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

__all__ = ["UNIT_FACTORS", "UnitScale", "nearest_unit_factor", "unit_scale"]

# Factors an upstream unit or scale change typically introduces (and their inverses):
# x10^k, cm/inch, kg/lb, m/ft, percent vs fraction.
UNIT_FACTORS = (10.0, 100.0, 1000.0, 1e6, 2.54, 2.20462, 3.28084, 1.60934, 12.0, 60.0)
_MIN_RATIOS = 3  # fewer usable quantile pairs say nothing about the shape


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
