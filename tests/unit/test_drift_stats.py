"""Drift statistics engine: verdicts, metric values against scipy, edge cases, errors."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError
from scipy.spatial.distance import jensenshannon
from scipy.stats import ks_2samp, wasserstein_distance

from playbooks.errors import DataError
from playbooks.stats import (
    DriftReport,
    DriftThresholds,
    MissingColumnsError,
    MixedTypeColumnError,
    compute_drift,
    drift_report,
    fit_reference,
)
from playbooks.stats import numeric as numeric_mod

N = 20_000
NUMERIC = ["age", "income", "score", "visits"]
CATEGORICAL = ["channel"]
CHANNELS = ["web", "app", "store"]


def _frame(seed: int, n: int = N) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "age": rng.normal(40, 10, n),
        "income": rng.lognormal(10, 0.5, n),
        "score": rng.uniform(0, 1, n),
        "visits": rng.poisson(3, n),
        "channel": rng.choice(CHANNELS, n, p=[0.5, 0.3, 0.2]),
    })


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return _frame(1)


def _report(reference: pd.DataFrame, current: pd.DataFrame) -> DriftReport:
    return drift_report(reference, current, NUMERIC, CATEGORICAL)


def test_same_distribution_is_ok_everywhere(reference: pd.DataFrame) -> None:
    report = _report(reference, _frame(2))
    assert [f.status for f in report.features] == ["ok"] * 5
    assert report.max_psi() < 0.01
    assert report.drifted() == []
    for f in report.features:
        assert f.psi is not None and f.psi < 0.1
    age = report.by_feature()["age"]
    assert age.reference_summary["mean"] == pytest.approx(40, abs=0.3)
    assert age.reference_summary["std"] == pytest.approx(10, abs=0.3)
    assert age.current_summary["p50"] == pytest.approx(40, abs=0.5)
    assert list(age.reference_summary) == ["mean", "std", "p1", "p5", "p25", "p50", "p75",
                                           "p95", "p99"]


def test_one_std_mean_shift_flags_only_that_column(reference: pd.DataFrame) -> None:
    current = _frame(3)
    current["age"] += 10
    report = _report(reference, current)
    by = report.by_feature()
    assert by["age"].status == "drift"
    assert by["age"].psi is not None and by["age"].psi > 0.5
    assert by["age"].wasserstein_normed == pytest.approx(1.0, abs=0.05)
    assert {f.feature for f in report.drifted()} == {"age"}
    assert all(by[c].status == "ok" for c in ["income", "score", "visits", "channel"])


def test_unit_change_gives_huge_psi_and_scaled_quantiles(reference: pd.DataFrame) -> None:
    current = _frame(4)
    current["income"] *= 1000
    f = _report(reference, current).by_feature()["income"]
    assert f.status == "drift"
    assert f.psi is not None and f.psi > 5
    assert f.ks == pytest.approx(1.0)
    ratio = f.current_summary["p50"] / f.reference_summary["p50"]
    assert ratio == pytest.approx(1000, rel=0.05)


def test_drifted_sorted_by_psi_and_frame_has_one_row_per_feature(
        reference: pd.DataFrame) -> None:
    current = _frame(5)
    current["age"] += 10
    current["income"] *= 1000
    report = _report(reference, current)
    assert [f.feature for f in report.drifted()] == ["income", "age"]
    frame = report.to_frame()
    assert list(frame["feature"]) == NUMERIC + CATEGORICAL
    assert frame.loc[frame.feature == "income", "psi"].item() == report.max_psi()


def test_new_category_is_listed_with_its_share(reference: pd.DataFrame) -> None:
    current = _frame(6)
    rng = np.random.default_rng(0)
    current.loc[rng.random(N) < 0.15, "channel"] = "kiosk"
    current.loc[:9, "channel"] = "partner"  # 10 rows: rarer unseen category, listed second
    f = _report(reference, current).by_feature()["channel"]
    assert f.status == "drift"
    assert f.unseen_categories == ["kiosk", "partner"]
    expected_share = (current["channel"].isin(["kiosk", "partner"])).mean()
    assert f.unseen_share == pytest.approx(expected_share)
    shifts = {c: (ref, cur) for c, ref, cur in f.top_category_shift}
    assert shifts["kiosk"][0] == 0.0
    assert shifts["kiosk"][1] == pytest.approx(f.unseen_share - 10 / N)


def test_category_frequency_change_is_drift_with_scipy_js(reference: pd.DataFrame) -> None:
    rng = np.random.default_rng(7)
    current = _frame(7)
    current["channel"] = rng.choice(CHANNELS, N, p=[0.2, 0.3, 0.5])
    f = _report(reference, current).by_feature()["channel"]
    assert f.status == "drift"
    assert f.unseen_categories == [] and f.unseen_share == 0.0
    ref_p = reference["channel"].value_counts(normalize=True).reindex(CHANNELS).to_numpy()
    cur_p = current["channel"].value_counts(normalize=True).reindex(CHANNELS).to_numpy()
    assert f.js == pytest.approx(jensenshannon(ref_p, cur_p, base=2), rel=1e-9)
    assert f.psi == pytest.approx(float(np.sum((cur_p - ref_p) * np.log(cur_p / ref_p))))
    top = f.top_category_shift[0]
    assert top[0] in {"web", "store"} and abs(top[2] - top[1]) > 0.25


def test_categories_compare_as_strings() -> None:
    ref = pd.DataFrame({"k": np.tile([1, 2, 3], 100)})
    cur = pd.DataFrame({"k": np.tile([1.0, 2.0, 3.0, np.nan], 75)})  # ints upcast by the NaN
    f = drift_report(ref, cur, [], ["k"]).features[0]
    assert f.unseen_categories == [] and f.status == "ok"
    assert f.missing_current == pytest.approx(0.25)


def test_psi_matches_a_direct_computation_on_reference_deciles(reference: pd.DataFrame) -> None:
    current = _frame(8)
    current["score"] = current["score"] ** 1.5
    f = _report(reference, current).by_feature()["score"]
    x, y = reference["score"].to_numpy(), current["score"].to_numpy()
    edges = np.quantile(x, np.arange(1, 10) / 10)
    ref_p = np.bincount(np.searchsorted(edges, x), minlength=10) / len(x)
    cur_p = np.bincount(np.searchsorted(edges, y), minlength=10) / len(y)
    expected = np.sum((cur_p - ref_p) * np.log(cur_p / ref_p))
    assert f.psi == pytest.approx(expected, rel=0.02)


@pytest.mark.parametrize("column", ["age", "income", "visits"])
def test_ks_and_wasserstein_approximations_match_scipy(reference: pd.DataFrame,
                                                       column: str) -> None:
    current = _frame(9)
    current[column] = current[column] * 1.2 + reference[column].std() * 0.3
    f = _report(reference, current).by_feature()[column]
    x, y = reference[column].to_numpy(float), current[column].to_numpy(float)
    ks = ks_2samp(x, y).statistic
    w = wasserstein_distance(x, y) / x.std()
    assert ks > 0.1 and w > 0.3  # clearly shifted, so the check is meaningful
    assert f.ks is not None and abs(f.ks - ks) < 0.01
    assert f.wasserstein_normed == pytest.approx(w, rel=0.05)


def test_missing_values_are_excluded_and_reported(reference: pd.DataFrame) -> None:
    current = _frame(10)
    current.loc[current.index[: N // 4], "age"] = np.nan
    current.loc[current.index[:5], "score"] = np.inf  # not finite: counted as missing
    by = _report(reference, current).by_feature()
    assert by["age"].status == "ok"
    assert by["age"].missing_current == pytest.approx(0.25)
    assert by["age"].n_current == N
    assert by["score"].missing_current == pytest.approx(5 / N)
    assert by["age"].missing_reference == 0.0


def test_all_missing_current(reference: pd.DataFrame) -> None:
    current = _frame(11)
    current["age"] = np.nan
    current["channel"] = None
    by = _report(reference, current).by_feature()
    for name in ("age", "channel"):
        f = by[name]
        assert f.status == "all_missing"
        assert f.missing_current == 1.0
        assert f.psi is None and f.ks is None and f.js is None
    assert by["age"].current_summary == {}
    assert by["income"].status == "ok"


def test_constant_column() -> None:
    ref = pd.DataFrame({"flag": np.full(1000, 3.0), "x": np.arange(1000.0)})
    same = drift_report(ref, ref.copy(), ["flag", "x"], []).by_feature()
    assert same["flag"].status == "constant"
    assert same["x"].status == "ok"
    assert same["flag"].ks == 0.0 and same["flag"].wasserstein_normed == 0.0
    moved = ref.copy()
    moved.loc[:299, "flag"] = 2.0  # 30% below the constant: PSI bins cannot see this side
    f = drift_report(ref, moved, ["flag", "x"], []).by_feature()["flag"]
    assert f.status == "drift"
    assert f.ks == pytest.approx(0.3)


def test_insufficient_rows(reference: pd.DataFrame) -> None:
    report = _report(reference, _frame(12, n=50))
    assert {f.status for f in report.features} == {"insufficient_data"}
    assert all(f.psi is None for f in report.features)
    assert report.max_psi() == 0.0
    small = DriftThresholds(min_rows=20)
    lenient = drift_report(reference, _frame(12, n=50), NUMERIC, CATEGORICAL, small)
    assert {f.status for f in lenient.features} <= {"ok", "warn", "drift"}
    assert all(f.psi is not None for f in lenient.features)


def test_missing_column_error_names_columns(reference: pd.DataFrame) -> None:
    current = _frame(13).drop(columns=["income", "channel"])
    with pytest.raises(MissingColumnsError) as err:
        _report(reference, current)
    msg = str(err.value)
    assert "current" in msg and "'income'" in msg and "'channel'" in msg and "expected" in msg
    assert isinstance(err.value, KeyError) and isinstance(err.value, DataError)
    assert err.value.missing == ["income", "channel"]


def test_mixed_type_numeric_column_is_a_clear_error(reference: pd.DataFrame) -> None:
    current = _frame(14)
    current["age"] = current["age"].astype(object)
    current.loc[7, "age"] = "forty"
    with pytest.raises(MixedTypeColumnError, match=r"'age'.*1 value\(s\).*'forty'") as err:
        _report(reference, current)
    assert isinstance(err.value, ValueError)
    good = _frame(14)
    good["age"] = good["age"].astype(object)  # numbers in an object column are fine
    assert _report(reference, good).by_feature()["age"].status == "ok"


def test_integer_bool_and_nullable_columns() -> None:
    rng = np.random.default_rng(15)
    ref = pd.DataFrame({"i": rng.integers(0, 5, 2000), "b": rng.random(2000) < 0.3,
                        "n": pd.array(rng.integers(0, 9, 2000), dtype="Int64")})
    cur = ref.copy()
    cur.loc[:199, "n"] = pd.NA
    by = drift_report(ref, cur, ["i", "b", "n"], []).by_feature()
    assert [by[c].status for c in "ibn"] == ["ok", "ok", "ok"]
    assert by["i"].psi == 0.0 and by["i"].ks == 0.0
    assert by["n"].missing_current == pytest.approx(0.1)


def test_profile_pickles_and_threaded_path_matches(reference: pd.DataFrame,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    current = _frame(16)
    current["score"] += 0.2
    profile = fit_reference(reference, NUMERIC, CATEGORICAL)
    serial = compute_drift(profile, current).to_frame()
    restored = pickle.loads(pickle.dumps(profile))
    monkeypatch.setattr(numeric_mod, "_PARALLEL_MIN_CELLS", 0)
    threaded = compute_drift(restored, current).to_frame()
    pd.testing.assert_frame_equal(serial, threaded)
    assert len(profile.numeric.bin_edges("age")) == 9
    assert profile.numeric.bin_fractions("age").sum() == pytest.approx(1.0)


def test_thresholds_are_validated_and_bins_fixed_at_fit(reference: pd.DataFrame) -> None:
    with pytest.raises(ValidationError, match="psi_warn"):
        DriftThresholds(psi_warn=0.3, psi_act=0.2)
    with pytest.raises(ValidationError):
        DriftThresholds(bins=1)
    t = DriftThresholds()
    with pytest.raises(ValidationError):
        t.psi_act = 0.5  # type: ignore[misc]  # frozen: the test is that this fails
    profile = fit_reference(reference, NUMERIC, CATEGORICAL)
    with pytest.raises(ValueError, match="bins"):
        compute_drift(profile, _frame(17), DriftThresholds(bins=20))
    stricter = compute_drift(profile, _frame(17), DriftThresholds(psi_warn=1e-6, psi_act=1e-5))
    assert stricter.thresholds.psi_act == 1e-5
    assert len(stricter.drifted()) >= 3  # sampling noise alone exceeds a tiny PSI threshold


def test_discrete_column_bins_are_deduplicated() -> None:
    ref = pd.DataFrame({"d": np.repeat([0.0, 1.0, 2.0], [700, 200, 100])})
    cur = pd.DataFrame({"d": np.repeat([0.0, 1.0, 2.0], [400, 300, 300])})
    profile = fit_reference(ref, ["d"], [])
    assert list(profile.numeric.bin_edges("d")) == [0.0, 1.0]  # deciles are all 0 or 1
    assert profile.numeric.bin_fractions("d") == pytest.approx([0.7, 0.2, 0.1])
    f = compute_drift(profile, cur).features[0]
    expected = 0.3 * np.log(0.4 / 0.7) * -1 + 0.1 * np.log(0.3 / 0.2) + 0.2 * np.log(0.3 / 0.1)
    assert f.psi == pytest.approx(expected, rel=1e-6)
    assert f.ks == pytest.approx(ks_2samp(ref["d"], cur["d"]).statistic)
    assert f.wasserstein_normed == pytest.approx(
        wasserstein_distance(ref["d"], cur["d"]) / ref["d"].std(ddof=0), rel=1e-6)
