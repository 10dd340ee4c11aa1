"""`mlpb profile init` infers features only: outputs, labels, ids and timestamps are never
features (by option or by name), every exclusion is said, a column only in the reference is
kept with a warning; globs and partitioned directories are accepted."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from playbooks.errors import DataError
from playbooks.loader import load_profile
from playbooks.profile_init import infer_profile, not_an_input, write_profile


def _frame(n: int, rng: np.random.Generator, *, label: bool) -> pd.DataFrame:
    df = pd.DataFrame({
        "request_id": [f"r{i}" for i in range(n)],
        "event_time": pd.date_range("2026-01-01", periods=n, freq="h").astype(str),
        "income": rng.normal(50, 10, n).round(2),
        "age": rng.integers(18, 80, n),
        "region": rng.choice(["n", "s", "e"], n),
        "y_pred": rng.integers(0, 2, n),
        "risk_score": rng.random(n).round(4),
    })
    if label:
        df["defaulted"] = rng.integers(0, 2, n)
    return df


@pytest.mark.parametrize(("column", "what"), [
    ("y_pred", "prediction"), ("prediction", "prediction"), ("risk_score", "score"),
    ("proba", "score"), ("decision", "decision"), ("label", "label"), ("y_true", "label"),
    ("request_id", "id"), ("created_at", "timestamp"), ("latency_ms", "serving field"),
])
def test_output_label_and_key_names_are_not_inputs(column: str, what: str) -> None:
    assert not_an_input(column) == what


@pytest.mark.parametrize("column", ["income", "age", "region", "scoreboard_rank", "idle_days"])
def test_feature_names_stay_features(column: str) -> None:
    assert not_an_input(column) is None


def test_init_excludes_outputs_and_reference_only_columns_and_says_so(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    _frame(300, rng, label=True).to_csv(tmp_path / "train.csv", index=False)
    _frame(200, rng, label=False).to_csv(tmp_path / "live.csv", index=False)
    out = tmp_path / "p.yaml"
    prof, notes = infer_profile("m", tmp_path / "train.csv", tmp_path / "live.csv", output=out,
                                timestamp="event_time", id_column="request_id")
    feats = prof["features"]
    assert feats == {"numeric": ["income", "age", "defaulted"], "categorical": ["region"]}
    said = "\n".join(notes)
    assert "'y_pred'" in said and "'risk_score'" in said  # by name, each said
    # a column the current data lacks is kept (data-quality reports it) but never silently
    assert "['defaulted'] are only in the reference" in said and "--target" in said
    write_profile(prof, out)
    assert load_profile(out).features.all == ["income", "age", "defaulted", "region"]


def test_a_target_missing_from_the_current_data_is_a_warning(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    _frame(300, rng, label=True).to_csv(tmp_path / "train.csv", index=False)
    _frame(200, rng, label=False).to_csv(tmp_path / "live.csv", index=False)
    prof, notes = infer_profile("m", tmp_path / "train.csv", tmp_path / "live.csv",
                                output=tmp_path / "p.yaml", target="defaulted",
                                prediction="risk_score")
    assert "defaulted" not in prof["features"]["numeric"]
    assert any("--target 'defaulted' is not in the current data" in n for n in notes)


def test_explicit_features_win_and_unknown_ones_are_an_error(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    _frame(300, rng, label=True).to_csv(tmp_path / "train.csv", index=False)
    _frame(200, rng, label=True).to_csv(tmp_path / "live.csv", index=False)
    prof, _ = infer_profile("m", tmp_path / "train.csv", tmp_path / "live.csv",
                            output=tmp_path / "p.yaml", features=["income", "risk_score"])
    assert prof["features"] == {"numeric": ["income", "risk_score"], "categorical": []}
    with pytest.raises(DataError, match="not in the reference"):
        infer_profile("m", tmp_path / "train.csv", tmp_path / "live.csv",
                      output=tmp_path / "p.yaml", features=["nope"])


def test_globs_and_partitioned_directories_are_accepted(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    _frame(300, rng, label=False).to_csv(tmp_path / "train.csv", index=False)
    for day in ("2026-01-01", "2026-01-02"):
        part = tmp_path / "log" / f"date={day}"
        part.mkdir(parents=True)
        _frame(50, rng, label=False).to_parquet(part / "part-0.parquet")
    out = tmp_path / "profiles" / "p.yaml"
    prof, _ = infer_profile("m", tmp_path / "train.csv", tmp_path / "log", output=out)
    assert prof["data"]["current"]["path"] == "../log/**/*.parquet"
    prof2, _ = infer_profile("m", tmp_path / "train.csv",
                             tmp_path / "log" / "date=*" / "*.parquet", output=out)
    assert prof2["data"]["current"]["path"] == "../log/date=*/*.parquet"
    write_profile(prof, out)
    assert load_profile(out).features.numeric == ["income", "age"]
    with pytest.raises(DataError, match="no file"):
        infer_profile("m", tmp_path / "train.csv", tmp_path / "nothing-*.csv", output=out)
