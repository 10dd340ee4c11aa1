"""The loan-application simulator and the sandbox's training entrypoint."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from playbooks.sandbox import model as credit_model
from playbooks.sandbox.bootstrap import train_scorecard
from playbooks.sandbox.simulator import (
    FEATURES,
    ID,
    TARGET,
    TIMESTAMP,
    PopulationShift,
    simulate_applications,
)

START = datetime(2026, 1, 1, 6, 30, tzinfo=UTC)
END = START + timedelta(days=14)


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return simulate_applications(12_000, START, END, seed=1)


@pytest.fixture(scope="module")
def shifted() -> pd.DataFrame:
    return simulate_applications(12_000, START, END, seed=2, shift=PopulationShift(strength=1.0))


def _psi(ref: pd.Series, cur: pd.Series, bins: int = 10) -> float:
    """Population stability index with reference-quantile bins (levels for categoricals)."""
    if ref.dtype.kind in "iuf":
        edges = np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1)))
        edges[0], edges[-1] = -np.inf, np.inf
        p = np.histogram(ref, edges)[0] / len(ref)
        q = np.histogram(cur, edges)[0] / len(cur)
    else:
        levels = sorted(set(ref) | set(cur))
        p = np.asarray(ref.value_counts(normalize=True).reindex(levels, fill_value=0), float)
        q = np.asarray(cur.value_counts(normalize=True).reindex(levels, fill_value=0), float)
    p, q = p + 1e-4, q + 1e-4
    return float(np.sum((q - p) * np.log(q / p)))


def test_same_seed_same_frame_other_seed_other_frame() -> None:
    a = simulate_applications(500, START, END, seed=3)
    b = simulate_applications(500, START, END, seed=3)
    c = simulate_applications(500, START, END, seed=4)
    pd.testing.assert_frame_equal(a, b)
    assert not a[FEATURES].equals(c[FEATURES])


def test_columns_types_and_ranges(reference: pd.DataFrame) -> None:
    assert list(reference.columns) == [ID, TIMESTAMP, *FEATURES, TARGET]
    assert reference[ID].is_unique
    assert reference[ID].iloc[0] == "s1-0000000"
    ts = reference[TIMESTAMP]
    assert str(ts.dt.tz) == "UTC"
    assert ts.is_monotonic_increasing
    assert ts.min() >= pd.Timestamp(START) and ts.max() < pd.Timestamp(END)
    assert reference["credit_score"].between(300, 850).all()
    assert reference["age"].between(18, 80).all()
    assert (reference["annual_income"] > 0).all()
    assert reference["debt_to_income"].between(0, 0.95).all()
    assert set(reference["loan_term_months"]) <= {12, 24, 36, 48, 60}
    assert set(reference[TARGET]) == {0, 1}
    assert not reference[FEATURES].isna().any().any()
    assert set(reference["home_ownership"]) == {"mortgage", "own", "rent", "other"}


def test_traffic_follows_a_daily_cycle(reference: pd.DataFrame) -> None:
    by_hour = reference[TIMESTAMP].dt.hour.value_counts()
    assert by_hour.loc[[13, 14, 15]].mean() > 1.8 * by_hour.loc[[1, 2, 3]].mean()


def test_base_default_rate_is_realistic(reference: pd.DataFrame) -> None:
    assert 0.10 <= reference[TARGET].mean() <= 0.20


def test_id_prefix_keeps_windows_apart() -> None:
    a = simulate_applications(10, START, END, seed=1, id_prefix="ref")
    assert a[ID].str.startswith("ref-").all()


def test_naive_or_reversed_timestamps_are_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        simulate_applications(10, START.replace(tzinfo=None), END, seed=1)
    with pytest.raises(ValueError, match="must be after"):
        simulate_applications(10, END, START, seed=1)


def test_shift_moves_the_population_materially(
    reference: pd.DataFrame, shifted: pd.DataFrame
) -> None:
    assert shifted["age"].mean() < reference["age"].mean() - 8
    assert shifted["debt_to_income"].median() > reference["debt_to_income"].median() + 0.04
    assert shifted["credit_score"].median() < reference["credit_score"].median() - 10
    assert (shifted["home_ownership"] == "rent").mean() > (
        reference["home_ownership"] == "rent"
    ).mean() + 0.2
    assert (shifted["region"] == "central").mean() > 2 * (reference["region"] == "central").mean()
    psi = {f: _psi(reference[f], shifted[f]) for f in FEATURES}
    material = sorted(f for f, v in psi.items() if v > 0.2)
    assert len(material) >= 4, psi
    assert {"age", "region", "home_ownership"} <= set(material)


def test_zero_strength_is_the_reference_population(reference: pd.DataFrame) -> None:
    same = simulate_applications(12_000, START, END, seed=1, shift=PopulationShift(strength=0))
    pd.testing.assert_frame_equal(same, reference)


def test_shift_can_be_limited_to_some_features(reference: pd.DataFrame) -> None:
    only_age = simulate_applications(
        12_000, START, END, seed=5, shift=PopulationShift(features=["age"])
    )
    assert _psi(reference["age"], only_age["age"]) > 0.2
    for untouched in ("region", "home_ownership", "loan_purpose", "debt_to_income"):
        assert _psi(reference[untouched], only_age[untouched]) < 0.05, untouched


def test_shift_rejects_unknown_or_concept_changing_features() -> None:
    with pytest.raises(ValidationError, match="cannot shift"):
        PopulationShift(features=["credit_score"])
    with pytest.raises(ValidationError):
        PopulationShift(strength=-1)


def test_retraining_on_shifted_data_beats_the_reference_champion(
    reference: pd.DataFrame, shifted: pd.DataFrame
) -> None:
    holdout = simulate_applications(8_000, START, END, seed=3, shift=PopulationShift())
    champion = train_scorecard(reference)
    retrained = train_scorecard(shifted)
    on_ref = credit_model.evaluate(
        champion, simulate_applications(8_000, START, END, seed=6), features=FEATURES, target=TARGET
    )
    old = credit_model.evaluate(champion, holdout, features=FEATURES, target=TARGET)
    new = credit_model.evaluate(retrained, holdout, features=FEATURES, target=TARGET)
    assert on_ref["roc_auc"] > old["roc_auc"] + 0.03  # the champion degrades under the shift
    assert new["roc_auc"] > old["roc_auc"] + 0.005
    assert new["log_loss"] < old["log_loss"] - 0.01
    assert new["brier"] < old["brier"]


def test_evaluate_reports_decision_metrics(reference: pd.DataFrame) -> None:
    model = train_scorecard(reference.iloc[:4000], seed=1)
    metrics = credit_model.evaluate(model, reference.iloc[4000:6000], features=FEATURES,
                                    target=TARGET, threshold=0.5)
    assert set(metrics) >= {"roc_auc", "precision", "recall", "approval_rate", "brier", "log_loss"}
    assert 0.75 < metrics["roc_auc"] < 0.95
    scores = credit_model.score(model, reference.iloc[4000:6000], list(FEATURES))
    assert metrics["approval_rate"] == pytest.approx(float((scores < 0.5).mean()))
    assert 0 < metrics["brier"] < 0.2


def test_model_tolerates_missing_values_and_unseen_categories(reference: pd.DataFrame) -> None:
    model = train_scorecard(reference.iloc[:3000])
    dirty = reference.iloc[:5].copy()
    dirty.loc[dirty.index[0], "annual_income"] = np.nan
    dirty.loc[dirty.index[1], "region"] = "atlantis"
    dirty.loc[dirty.index[2], "home_ownership"] = None
    scores = credit_model.score(model, dirty, list(FEATURES))
    assert np.isfinite(scores).all() and ((scores > 0) & (scores < 1)).all()


def test_training_needs_both_classes(reference: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="both classes"):
        train_scorecard(reference.loc[reference[TARGET] == 0].iloc[:200])
    with pytest.raises(ValueError, match="lacks columns"):
        train_scorecard(reference.drop(columns=["region"]))
