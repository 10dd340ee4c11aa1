"""Advancing the sandbox: more days of production traffic served by the champion of the
moment, labels arriving a delay later, persisting faults going on, the engine clock moving."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from playbooks.clock import clock_for
from playbooks.modelstore import MlflowModelStore
from playbooks.sandbox import (
    Sandbox,
    SandboxError,
    advance_sandbox,
    bootstrap_sandbox,
    inject_fault,
    load_sandbox,
    make_fault,
    ongoing_faults,
)
from playbooks.sandbox.bootstrap import train_scorecard
from playbooks.sandbox.faults.base import pending_labels
from playbooks.sandbox.faults.model import register_version

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 15, 10, 0, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.fixture(scope="module")
def empty_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated, empty MLflow SQLite file (migrating takes seconds; tests copy it)."""
    state = tmp_path_factory.mktemp("template")
    assert not MlflowModelStore.local(state).version_exists("none", "1")
    return state / "mlflow" / "mlflow.db"


@pytest.fixture
def new_sandbox(tmp_path_factory: pytest.TempPathFactory,
                empty_store: Path) -> Callable[[], Sandbox]:
    def make() -> Sandbox:
        state = tmp_path_factory.mktemp("state")
        (state / "mlflow").mkdir()
        shutil.copyfile(empty_store, state / "mlflow" / "mlflow.db")
        return bootstrap_sandbox(state, seed=5, rows_per_day=300, history_days=14,
                                 reference_rows=3_000, now=NOW)

    return make


def _read(directory: Path) -> pd.DataFrame:
    files = sorted(directory.glob("date=*/*.parquet"))
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)


def _after(frame: pd.DataFrame, when: datetime) -> pd.DataFrame:
    return frame.loc[frame["ts"] >= pd.Timestamp(when)].reset_index(drop=True)


def test_bootstrap_sets_the_engine_clock_to_the_sandbox_now(
        new_sandbox: Callable[[], Sandbox]) -> None:
    box = new_sandbox()
    assert clock_for(box.state_dir).now() == NOW
    pending = pending_labels(box)
    assert len(pending) and (pending["label_ts"] > pd.Timestamp(NOW)).all()
    log = _read(box.inference_dir)
    assert set(pending["request_id"]) == set(log.loc[log["ts"] + DAY > pd.Timestamp(NOW),
                                                     "request_id"])


def test_advance_serves_new_days_and_delivers_labels(new_sandbox: Callable[[], Sandbox]) -> None:
    box = new_sandbox()
    before = _read(box.inference_dir)
    seen: list[str] = []
    days = advance_sandbox(box.state_dir, 2, progress=lambda d: seen.append(d.describe()))

    assert [d.end for d in days] == [NOW + DAY, NOW + 2 * DAY] and len(seen) == 2
    assert "300 requests served by v1" in seen[0]
    moved = load_sandbox(box.state_dir)
    assert moved.now == NOW + 2 * DAY and moved.settings()["advanced_days"] == 2
    assert clock_for(box.state_dir).now() == NOW + 2 * DAY

    log = _read(box.inference_dir)
    assert list(log.columns) == list(before.columns) and log["request_id"].is_unique
    pd.testing.assert_frame_equal(log.loc[log["ts"] < pd.Timestamp(NOW)].reset_index(drop=True),
                                  before)
    new = _after(log, NOW)
    assert len(new) == 600 and new["ts"].max() < pd.Timestamp(NOW + 2 * DAY)
    assert set(new["model_version"]) == {"1"}
    assert ((new["score"] >= 0.5) == (new["decision"] == "decline")).all()
    for part in box.inference_dir.glob("date=*"):  # merged into the right day partitions
        frame = pd.read_parquet(part / "part-0.parquet")
        assert (frame["ts"].dt.strftime("date=%Y-%m-%d") == part.name).all()

    # Every request's label arrives exactly one delay after it, the old ones' included.
    labels = _read(box.labels_dir)
    assert labels["request_id"].is_unique
    joined = log.merge(labels, on="request_id", how="left")
    arrived = joined["label_ts"].notna()
    assert (arrived == (joined["ts"] + DAY <= pd.Timestamp(moved.now))).all()
    assert arrived[joined["ts"] < pd.Timestamp(NOW)].all()  # yesterday's labels came in
    assert arrived[joined["ts"] >= pd.Timestamp(NOW)].sum() > 250
    assert (pending_labels(moved)["label_ts"] > pd.Timestamp(moved.now)).all()


def test_advance_is_deterministic_however_the_days_are_split(
        new_sandbox: Callable[[], Sandbox]) -> None:
    one, two = new_sandbox(), new_sandbox()
    advance_sandbox(one.state_dir, 2)
    advance_sandbox(two.state_dir, 1)
    advance_sandbox(two.state_dir, 1)
    pd.testing.assert_frame_equal(_read(one.inference_dir), _read(two.inference_dir))
    pd.testing.assert_frame_equal(_read(one.labels_dir), _read(two.labels_dir))
    other = new_sandbox()
    advance_sandbox(other.state_dir, 1, seed=99)
    assert not _after(_read(other.inference_dir), NOW)["age"].equals(
        _after(_read(one.inference_dir), NOW).iloc[:300]["age"])


def test_traffic_is_served_by_the_champion_of_the_moment(
        new_sandbox: Callable[[], Sandbox]) -> None:
    box = new_sandbox()
    advance_sandbox(box.state_dir, 1)
    model = train_scorecard(pd.read_parquet(box.reference_path), seed=1)
    v2 = register_version(box, model, role="test", tags={"threshold": "0.3"},
                          description="a recalibrated champion", alias="champion")
    advance_sandbox(box.state_dir, 1)
    log = _read(box.inference_dir)
    day1 = log.loc[(log["ts"] >= pd.Timestamp(NOW)) & (log["ts"] < pd.Timestamp(NOW + DAY))]
    day2 = _after(log, NOW + DAY)
    assert set(day1["model_version"]) == {"1"} and set(day2["model_version"]) == {v2}
    assert ((day2["score"] >= 0.3) == (day2["decision"] == "decline")).all()


def test_a_population_shift_persists_and_a_bad_batch_does_not(
        new_sandbox: Callable[[], Sandbox]) -> None:
    drifted = new_sandbox()
    healthy_age = _read(drifted.inference_dir)["age"].mean()
    inject_fault(drifted, make_fault("covariate-drift"), days=3, seed=2)
    inject_fault(drifted, make_fault("null-spike"), days=1, seed=2)
    assert [r.kind for r, _ in ongoing_faults(drifted)] == ["covariate-drift"]
    days = advance_sandbox(drifted.state_dir, 1)
    assert days[0].faults == ["covariate-drift"]
    new = _after(_read(drifted.inference_dir), NOW)
    assert new["age"].mean() < healthy_age - 6  # still the shifted population
    assert not new[["credit_score", "employment_years"]].isna().any().any()  # batch was one-off
    labels = _read(drifted.labels_dir)  # the shifted applicants' own outcomes arrive
    assert set(labels.loc[labels["label_ts"] > pd.Timestamp(NOW), "request_id"]) <= set(
        _read(drifted.inference_dir)["request_id"])

    inject_fault(drifted, make_fault("none"), days=1, seed=3)  # heals: nothing goes on
    assert ongoing_faults(drifted) == []
    advance_sandbox(drifted.state_dir, 1)
    assert abs(_after(_read(drifted.inference_dir), NOW + DAY)["age"].mean() - healthy_age) < 3


def test_shift_keeps_moving_grows_with_each_day(new_sandbox: Callable[[], Sandbox]) -> None:
    box = new_sandbox()
    inject_fault(box, make_fault("shift-keeps-moving"), days=3, seed=2)
    injected_age = _after(_read(box.inference_dir), NOW - 3 * DAY)["age"].mean()
    advance_sandbox(box.state_dir, 2)
    log = _read(box.inference_dir)
    day1 = log.loc[(log["ts"] >= pd.Timestamp(NOW)) & (log["ts"] < pd.Timestamp(NOW + DAY))]
    day2 = _after(log, NOW + DAY)
    assert injected_age - 4 > day1["age"].mean() > day2["age"].mean()


def test_release_degrades_live_only_for_a_version_released_after_it(
        new_sandbox: Callable[[], Sandbox]) -> None:
    box = new_sandbox()
    inject_fault(box, make_fault("release-degrades-live"), days=3, seed=2)
    income = _read(box.inference_dir)["annual_income"].median()
    advance_sandbox(box.state_dir, 1)  # v1 still serves: its serving build is fine
    assert _after(_read(box.inference_dir), NOW)["annual_income"].median() > income / 3
    model = train_scorecard(pd.read_parquet(box.reference_path), seed=1)
    register_version(box, model, role="test", tags={}, description="v2", alias="champion")
    advance_sandbox(box.state_dir, 1)
    live = _after(_read(box.inference_dir), NOW + DAY)
    np.testing.assert_array_less(live["annual_income"], 1_000.0)  # served in thousands


def test_a_heavy_release_stays_slow_while_it_serves(new_sandbox: Callable[[], Sandbox]) -> None:
    box = new_sandbox()
    heavy = inject_fault(box, make_fault("heavy-release"), days=2, seed=2).model_version
    advance_sandbox(box.state_dir, 1)
    day1 = _after(_read(box.inference_dir), NOW)
    assert set(day1["model_version"]) == {heavy} and day1["latency_ms"].median() > 100
    MlflowModelStore(box.tracking_uri).set_alias(box.model_name, "champion", "1")  # rollback
    advance_sandbox(box.state_dir, 1)
    day2 = _after(_read(box.inference_dir), NOW + DAY)
    assert set(day2["model_version"]) == {"1"} and day2["latency_ms"].median() < 45
    assert len(MlflowModelStore(box.tracking_uri).list_versions(box.model_name)) == 2


def test_errors_say_what_to_do(tmp_path: Path, new_sandbox: Callable[[], Sandbox]) -> None:
    with pytest.raises(SandboxError, match="no sandbox") as missing:
        advance_sandbox(tmp_path / "nothing", 1)
    assert "mlpb sandbox init" in (missing.value.hint or "")
    box = new_sandbox()
    with pytest.raises(SandboxError, match="1 <= days"):
        advance_sandbox(box.state_dir, 0)
