"""Bootstrap bounds of group metrics (playbooks.stats.group_bounds): they bracket fairlearn's
value, the paired change of identical decisions is exactly zero, a change that harms no group
fails a 5-point criterion about as often as the confidence allows, and a real widening is
caught."""

from __future__ import annotations

import numpy as np
import pytest
from fairlearn.metrics import (
    demographic_parity_difference,
    demographic_parity_ratio,
    equalized_odds_difference,
)

from playbooks.stats.group_bounds import group_metric_bounds


def _window(rng: np.random.Generator, n: int, rates: dict[str, float]
            ) -> tuple[np.ndarray, np.ndarray]:
    groups = rng.choice(list(rates), n)
    p = np.vectorize(rates.get)(groups)
    return groups, (rng.random(n) < p).astype(int)


def test_bounds_bracket_fairlearns_value_and_narrow_with_rows() -> None:
    rng = np.random.default_rng(0)
    widths = []
    for n in (400, 40_000):
        g, d = _window(rng, n, {"rural": 0.30, "urban": 0.20})
        y = rng.integers(0, 2, n)
        b = group_metric_bounds(g, d, None, y, confidence=0.95)
        for name, fn in (("demographic_parity_difference", demographic_parity_difference),
                         ("demographic_parity_ratio", demographic_parity_ratio),
                         ("equalized_odds_difference", equalized_odds_difference)):
            value = fn(y, d, sensitive_features=g)
            low, high = b[name]
            assert low <= value <= high, (name, n, low, value, high)
        widths.append(b["demographic_parity_difference"][1]
                      - b["demographic_parity_difference"][0])
    assert widths[1] < widths[0] / 5  # ~1/sqrt(100) of the width at 100x the rows


def test_the_change_of_identical_decisions_is_exactly_zero() -> None:
    g, d = _window(np.random.default_rng(1), 500, {"a": 0.4, "b": 0.1})
    b = group_metric_bounds(g, d, d.copy(), None, confidence=0.95)
    assert b["demographic_parity_difference_change"] == (0.0, 0.0)
    assert b["demographic_parity_ratio_change"] == (0.0, 0.0)


def test_the_same_rows_give_the_same_bounds() -> None:
    g, d = _window(np.random.default_rng(2), 300, {"a": 0.3, "b": 0.2})
    assert group_metric_bounds(g, d, None, None, confidence=0.9) == \
        group_metric_bounds(g, d, None, None, confidence=0.9)


def _widening_low_bound(rng: np.random.Generator, n: int, harm: float) -> float:
    """A day of traffic: two versions decided independently per row; the new one declines
    rural applicants ``harm`` more often."""
    groups = rng.choice(["rural", "urban"], n, p=[0.45, 0.55])
    base = np.where(groups == "rural", 0.25, 0.20)
    old = (rng.random(n) < base).astype(int)
    new = (rng.random(n) < base + np.where(groups == "rural", harm, 0.0)).astype(int)
    low, _ = group_metric_bounds(groups, new, old, None,
                                 confidence=0.95)["demographic_parity_difference_change"]
    return low


@pytest.mark.parametrize("n", [400, 4000])
def test_a_change_that_harms_no_group_rarely_fails_a_five_point_criterion(n: int) -> None:
    rng = np.random.default_rng(3)
    fails = sum(_widening_low_bound(rng, n, harm=0.05) > 0.05 for _ in range(200))
    # The true widening is exactly at the limit: at most ~5% fail (one-sided 95%).
    assert fails <= 200 * 0.08, fails


def test_a_real_widening_is_caught() -> None:
    rng = np.random.default_rng(4)
    assert all(_widening_low_bound(rng, 4000, harm=0.12) > 0.05 for _ in range(20))
