"""The small shared statistics helpers: exact two-sample KS, unit-change detection, JSON copies."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.stats import ks_2samp

from playbooks.stats.jsonable import to_jsonable
from playbooks.stats.numeric import ks_statistic
from playbooks.stats.units import nearest_unit_factor, unit_scale


def test_ks_statistic() -> None:
    a = np.arange(100.0)
    assert ks_statistic(a, a) == 0.0 and ks_statistic(a, a + 1000) == 1.0
    assert ks_statistic(a, np.array([])) == 1.0


def test_ks_statistic_matches_scipy_and_drops_non_finite() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=500), rng.normal(0.3, 1.2, size=700)
    assert ks_statistic(a, b) == pytest.approx(ks_2samp(a, b).statistic)
    assert ks_statistic(np.append(a, [np.nan, np.inf]), b) == ks_statistic(a, b)


def test_unit_scale_finds_a_rescaled_distribution() -> None:
    ref = [10.0, 20.0, 30.0, 40.0, 50.0]
    scale = unit_scale(ref, [r / 1000 for r in ref], min_factor=2.0, tolerance=0.1)
    assert scale is not None
    assert scale.ratio == pytest.approx(0.001) and scale.spread == pytest.approx(0.0)
    assert scale.nearest_factor == pytest.approx(0.001) and scale.factor_distance < 1e-9


@pytest.mark.parametrize(("current", "why"), [
    ([11.0, 21.0, 31.0, 41.0, 51.0], "too small a factor"),
    ([100.0, 400.0, 300.0, 400.0, 500.0], "shape not preserved"),
    ([0.0, 0.0, -30.0, 40.0, 50.0], "too few usable ratios"),
])
def test_unit_scale_rejects(current: list[float], why: str) -> None:
    assert unit_scale([10.0, 20.0, 30.0, 40.0, 50.0], current, min_factor=2.0,
                      tolerance=0.1) is None, why


def test_unit_scale_skips_zero_and_non_finite_reference_quantiles() -> None:
    scale = unit_scale([0.0, math.nan, 30.0, 40.0, 50.0], [0.0, 5.0, 300.0, 400.0, 500.0],
                       min_factor=2.0, tolerance=0.1)
    assert scale is not None and scale.ratios == pytest.approx([10.0, 10.0, 10.0])


def test_nearest_unit_factor_includes_inverses() -> None:
    assert nearest_unit_factor(2.6) == pytest.approx((2.54, 2.6 / 2.54 - 1))
    assert nearest_unit_factor(1 / 12.2)[0] == pytest.approx(1 / 12)


def test_to_jsonable_makes_numpy_and_nan_json_safe() -> None:
    raw = {1: np.int64(3), "f": np.float32(0.5), "nan": math.nan, "inf": np.float64(np.inf),
           "t": (1, np.int32(2)), "s": {"a"}, "nested": [{"x": np.float64(1.5)}], "txt": "ok"}
    out = to_jsonable(raw)
    assert out == {"1": 3, "f": 0.5, "nan": None, "inf": None, "t": [1, 2], "s": ["a"],
                   "nested": [{"x": 1.5}], "txt": "ok"}
    assert type(out["1"]) is int and type(out["f"]) is float
    json.dumps(out, allow_nan=False)
