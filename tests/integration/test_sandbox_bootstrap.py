"""The credit-risk sandbox end to end: bootstrap into a real MLflow store, then inject faults."""

from __future__ import annotations

import json
import shutil
import time
import types
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from playbooks.engine.plugins import fault
from playbooks.errors import UnknownNameError
from playbooks.models.profile import ModelProfile
from playbooks.modelstore import MlflowModelStore
from playbooks.sandbox import (
    FAULTS,
    CovariateDrift,
    FaultParams,
    NoFault,
    Sandbox,
    SandboxError,
    UnitChange,
    bootstrap_sandbox,
    inject_fault,
    load_sandbox,
    make_fault,
)
from playbooks.sandbox.faults import FaultContext
from playbooks.sandbox.simulator import CATEGORICAL_FEATURES, FEATURES, NUMERIC_FEATURES

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 15, 10, 0, tzinfo=UTC)
INFERENCE_COLUMNS = ["request_id", "ts", *FEATURES, "score", "decision", "latency_ms",
                     "model_version", "feature_pipeline_version", "status", "area"]


@pytest.fixture(scope="module")
def empty_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated, empty MLflow SQLite file. Creating one runs every MLflow migration (seconds),
    so each test's state dir starts from a copy instead."""
    state = tmp_path_factory.mktemp("template")
    assert not MlflowModelStore.local(state).version_exists("none", "1")  # opens the store
    return state / "mlflow" / "mlflow.db"


@pytest.fixture
def new_state_dir(
    tmp_path_factory: pytest.TempPathFactory, empty_store: Path
) -> Callable[[], Path]:
    def make() -> Path:
        state = tmp_path_factory.mktemp("state")
        (state / "mlflow").mkdir()
        shutil.copyfile(empty_store, state / "mlflow" / "mlflow.db")
        return state

    return make


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, empty_store: Path) -> tuple[Sandbox, list[str]]:
    state = tmp_path_factory.mktemp("built")
    (state / "mlflow").mkdir()
    shutil.copyfile(empty_store, state / "mlflow" / "mlflow.db")
    messages: list[str] = []
    return _small(state, seed=7, progress=messages.append), messages


@pytest.fixture
def fresh(new_state_dir: Callable[[], Path]) -> Sandbox:
    """A sandbox of its own, for tests that change it."""
    return _small(new_state_dir())


def _small(
    state: Path,
    *,
    seed: int = 7,
    force: bool = False,
    progress: Callable[[str], None] | None = None,
) -> Sandbox:
    """A small sandbox (2,000 requests over 10 days) on a fixed timeline."""
    return bootstrap_sandbox(
        state, seed=seed, rows_per_day=200, history_days=10, reference_rows=3_000, now=NOW,
        force=force, progress=progress,
    )


def _read(directory: Path) -> pd.DataFrame:
    files = sorted(directory.glob("date=*/*.parquet"))
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)


# -- bootstrap -------------------------------------------------------------------------------


def test_layout_and_progress(built: tuple[Sandbox, list[str]]) -> None:
    box, messages = built
    assert box.root == box.state_dir / "sandbox" / "credit-risk"
    assert box.now == NOW and box.model_name == "credit-risk"
    assert box.reference_path.is_file() and box.profile_path.is_file()
    assert any("reference data" in m for m in messages)
    assert any("registering credit-risk v1 as champion" in m for m in messages)
    assert load_sandbox(box.state_dir) == box


def test_profile_is_a_valid_model_profile(built: tuple[Sandbox, list[str]]) -> None:
    box, _ = built
    raw = yaml.safe_load(box.profile_path.read_text())
    assert raw["name"] == "credit-risk" and raw["criticality"] == "high"
    assert raw["owners"] == {"model": "ml-credit-team", "data": "data-platform",
                             "oncall": "ml-oncall", "approvers": ["alice", "group:ml-leads"],
                             "groups": {"ml-leads": ["bob", "carol"]},
                             "slack_ids": {"alice": "U01ALICE", "bob": "U01BOB",
                                           "carol": "U01CAROL"}}
    assert raw["data"]["reference"] == {"path": "reference/reference.parquet"}
    assert raw["data"]["current"] == {"path": "inference/date=*/*.parquet", "window": "7d"}
    assert raw["data"]["labels"] == {"path": "labels/date=*/*.parquet", "column": "defaulted",
                                     "delay": "1d"}
    assert raw["features"] == {"numeric": NUMERIC_FEATURES, "categorical": CATEGORICAL_FEATURES}
    assert raw["prediction"] == {"score": "score", "decision": "decision",
                                 "positive_decision": "decline", "latency": "latency_ms",
                                 "model_version": "model_version", "status": "status",
                                 "error_value": "error"}
    assert raw["data"]["feature_version"] == "feature_pipeline_version"
    assert raw["model"]["fallback_alias"] == "fallback"
    assert raw["model"]["tracking_uri"] == box.tracking_uri
    assert raw["model"]["tracking_uri"].startswith("sqlite:////")
    assert raw["training"] == {"entrypoint": "playbooks.sandbox.model:train", "lookback": "14d"}
    assert raw["segments"] == ["region"]
    assert raw["fairness"] == {"sensitive_attributes": ["area"], "min_group_rows": 100}
    assert raw["slo"] == {"min_roc_auc": 0.70, "max_latency_p95_ms": 120, "max_error_rate": 0.02,
                          "target_approval_rate": 0.93, "approval_rate_tolerance": 0.05,
                          "max_staleness": "1d"}

    profile = ModelProfile.model_validate({**raw, "base_dir": box.profile_path.parent})
    assert profile.resolve(profile.data.reference.path) == box.reference_path
    assert list(box.root.glob(profile.data.current.path))


def test_champion_is_v1_with_metrics_and_tags(built: tuple[Sandbox, list[str]]) -> None:
    box, _ = built
    store = box.model_store()
    assert store.tracking_uri == box.tracking_uri
    champion = store.get_version("credit-risk", "champion")
    assert champion.version == "1" and champion.aliases == ["champion"]
    assert champion.tags["threshold"] == "0.5"
    assert "/" in champion.tags["training_window"]
    metrics = box.settings()["holdout_metrics"]
    assert 0.75 < metrics["roc_auc"] < 0.95


def test_reference_window_precedes_the_inference_history(built: tuple[Sandbox, list[str]]) -> None:
    box, _ = built
    reference = pd.read_parquet(box.reference_path)
    assert len(reference) == 3_000
    assert {"request_id", "ts", "defaulted", *FEATURES} <= set(reference.columns)
    history_start = NOW - timedelta(days=10)
    assert reference["ts"].max() < pd.Timestamp(history_start)
    assert reference["ts"].min() >= pd.Timestamp(history_start - timedelta(days=30))


def test_inference_log_partitions(built: tuple[Sandbox, list[str]]) -> None:
    box, _ = built
    parts = sorted(p.name for p in box.inference_dir.glob("date=*"))
    assert parts[0] == "date=2026-03-05" and parts[-1] == "date=2026-03-15"
    assert all((box.inference_dir / p / "part-0.parquet").is_file() for p in parts)
    log = _read(box.inference_dir)
    assert list(log.columns) == INFERENCE_COLUMNS
    assert len(log) == 200 * 10 and log["request_id"].is_unique
    assert log["ts"].min() >= pd.Timestamp(NOW - timedelta(days=10))
    assert log["ts"].max() < pd.Timestamp(NOW)
    for part in box.inference_dir.glob("date=*"):  # each row sits in its day's partition
        frame = pd.read_parquet(part / "part-0.parquet")
        assert (frame["ts"].dt.strftime("date=%Y-%m-%d") == part.name).all()
    assert set(log["model_version"]) == {"1"}
    assert ((log["score"] >= 0.5) == (log["decision"] == "decline")).all()
    assert log["score"].between(0, 1).all()
    assert 15 < log["latency_ms"].median() < 45 and log["latency_ms"].quantile(0.95) < 120


def test_labels_arrive_a_day_late_and_only_up_to_now(built: tuple[Sandbox, list[str]]) -> None:
    box, _ = built
    log = _read(box.inference_dir)
    labels = _read(box.labels_dir)
    assert list(labels.columns) == ["request_id", "defaulted", "label_ts"]
    assert labels["label_ts"].max() <= pd.Timestamp(NOW)
    joined = log.merge(labels, on="request_id", how="left")
    arrived = joined["label_ts"].notna()
    assert (joined.loc[arrived, "label_ts"] - joined.loc[arrived, "ts"] == timedelta(days=1)).all()
    due = joined["ts"] + timedelta(days=1) <= pd.Timestamp(NOW)
    assert (arrived == due).all()
    assert 0.10 < labels["defaulted"].mean() < 0.22
    for part in box.labels_dir.glob("date=*"):  # partitioned by arrival day
        frame = pd.read_parquet(part / "part-0.parquet")
        assert (frame["label_ts"].dt.strftime("date=%Y-%m-%d") == part.name).all()


def test_bootstrap_is_idempotent(built: tuple[Sandbox, list[str]]) -> None:
    box, _ = built
    marker = box.marker_path.read_text()
    mtime = box.reference_path.stat().st_mtime_ns
    messages: list[str] = []
    started = time.monotonic()
    again = _small(box.state_dir, seed=7, progress=messages.append)
    assert again == box
    assert time.monotonic() - started < 5
    assert messages == [f"reusing the sandbox at {box.root}"]
    assert box.marker_path.read_text() == marker
    assert box.reference_path.stat().st_mtime_ns == mtime
    # Without `now` the recorded one is reused, so later runs see the same timeline.
    later = bootstrap_sandbox(box.state_dir, seed=7, rows_per_day=200, history_days=10,
                              reference_rows=3_000)
    assert later.now == NOW


def test_other_settings_need_force(new_state_dir: Callable[[], Path]) -> None:
    state = new_state_dir()
    first = _small(state, seed=7)
    with pytest.raises(SandboxError, match="force=True"):
        _small(state, seed=8)
    rebuilt = _small(state, seed=8, force=True)
    assert rebuilt.settings()["seed"] == 8
    champion = first.model_store().get_version("credit-risk", "champion")
    assert champion.version == "1"
    assert [v.version for v in first.model_store().list_versions("credit-risk")] == ["1"]


def test_half_built_sandbox_is_rebuilt(new_state_dir: Callable[[], Path]) -> None:
    state = new_state_dir()
    box = _small(state, seed=7)
    box.marker_path.unlink()  # as if the first bootstrap crashed before finishing
    again = _small(state, seed=7)
    assert again.marker_path.is_file()
    assert again.model_store().get_version("credit-risk", "champion").version == "1"


# -- faults ----------------------------------------------------------------------------------


def test_covariate_drift_rewrites_the_tail_with_a_shifted_population(fresh: Sandbox) -> None:
    old_log, old_labels = _read(fresh.inference_dir), _read(fresh.labels_dir)
    result = inject_fault(fresh, CovariateDrift(strength=1.0), days=4, seed=3)
    onset = pd.Timestamp(NOW - timedelta(days=4))
    assert result.onset == NOW - timedelta(days=4) and result.kind == "covariate-drift"
    assert result.labels_rewritten

    log, labels = _read(fresh.inference_dir), _read(fresh.labels_dir)
    assert list(log.columns) == INFERENCE_COLUMNS
    pd.testing.assert_frame_equal(
        log.loc[log["ts"] < onset].reset_index(drop=True),
        old_log.loc[old_log["ts"] < onset].reset_index(drop=True),
    )
    before, after = old_log.loc[old_log["ts"] >= onset], log.loc[log["ts"] >= onset]
    assert after["ts"].max() < pd.Timestamp(NOW)
    assert abs(len(after) - len(before)) <= 1
    assert not set(after["request_id"]) & set(old_log["request_id"])
    assert after["age"].mean() < before["age"].mean() - 6
    assert (after["home_ownership"] == "rent").mean() > (before["home_ownership"] == "rent").mean()
    assert after["score"].mean() > before["score"].mean()
    assert set(after["model_version"]) == {"1"}

    cutoff = onset + timedelta(days=1)
    pd.testing.assert_frame_equal(
        labels.loc[labels["label_ts"] < cutoff].reset_index(drop=True),
        old_labels.loc[old_labels["label_ts"] < cutoff].reset_index(drop=True),
    )
    joined = log.merge(labels, on="request_id", how="left")
    arrived = joined["label_ts"].notna()
    assert (arrived == (joined["ts"] + timedelta(days=1) <= pd.Timestamp(NOW))).all()
    assert set(labels["request_id"]) <= set(log["request_id"])

    records = [json.loads(line) for line in fresh.faults_path.read_text().splitlines()]
    assert len(records) == 1
    assert records[0]["kind"] == "covariate-drift"
    assert records[0]["params"] == {"kind": "covariate-drift", "strength": 1.0, "features": None}
    assert datetime.fromisoformat(records[0]["onset"]) == NOW - timedelta(days=4)
    assert "injected_at" in records[0]


def test_unit_change_only_rescales_one_column(fresh: Sandbox) -> None:
    old_log, old_labels = _read(fresh.inference_dir), _read(fresh.labels_dir)
    result = inject_fault(fresh, UnitChange(), days=3)
    assert not result.labels_rewritten
    log = _read(fresh.inference_dir)
    pd.testing.assert_frame_equal(_read(fresh.labels_dir), old_labels)

    onset = pd.Timestamp(NOW - timedelta(days=3))
    assert log["request_id"].tolist() == old_log["request_id"].tolist()
    tail, old_tail = log["ts"] >= onset, old_log["ts"] >= onset
    assert tail.sum() > 0
    np.testing.assert_allclose(
        log.loc[tail, "annual_income"], old_log.loc[old_tail, "annual_income"] * 0.001
    )
    others = [c for c in FEATURES if c != "annual_income"] + ["ts"]
    pd.testing.assert_frame_equal(log.loc[tail, others], old_log.loc[old_tail, others])
    pd.testing.assert_frame_equal(log.loc[~tail], old_log.loc[~old_tail])
    assert not np.allclose(log.loc[tail, "score"], old_log.loc[old_tail, "score"])

    line = json.loads(fresh.faults_path.read_text().splitlines()[-1])
    assert line["kind"] == "unit-change"
    assert line["params"] == {"kind": "unit-change", "feature": "annual_income", "factor": 0.001}


def test_faults_accept_mappings_and_no_fault_heals(fresh: Sandbox) -> None:
    inject_fault(fresh, {"kind": "covariate-drift", "strength": 2.0}, days=2)
    drifted = _read(fresh.inference_dir)
    inject_fault(fresh, NoFault(), days=2)
    healed = _read(fresh.inference_dir)
    tail = pd.Timestamp(NOW - timedelta(days=2))
    assert healed.loc[healed["ts"] >= tail, "age"].mean() > drifted.loc[
        drifted["ts"] >= tail, "age"
    ].mean() + 10
    assert len(fresh.faults_path.read_text().splitlines()) == 2
    with pytest.raises(UnknownNameError, match="unknown fault kind 'gremlins'"):
        inject_fault(fresh, {"kind": "gremlins"})
    with pytest.raises(SandboxError, match="1 <= days <= 10"):
        inject_fault(fresh, NoFault(), days=11)


def test_fault_table_rejects_duplicates_and_grows_by_extension() -> None:
    # Fault families (modules of playbooks.sandbox.faults) add kinds; the built-in three are
    # always there.
    assert {"covariate-drift", "none", "unit-change"} <= set(FAULTS.kinds())
    assert make_fault("unit-change", factor=0.01) == UnitChange(factor=0.01)
    assert make_fault("none") == NoFault()
    with pytest.raises(UnknownNameError, match=r"known kinds: .*covariate-drift.*unit-change"):
        make_fault("gremlins")
    with pytest.raises(ValueError, match="is not a numeric feature"):
        FAULTS.parse({"kind": "unit-change", "feature": "region"})

    class Blackout(FaultParams, playbook="data-freshness", root_cause="stale-feed"):
        """Nothing arrives at all."""

    grown = FAULTS.extend([_module_with_fault("blackout", Blackout)])
    assert grown.kinds() == sorted(["blackout", *FAULTS.kinds()])
    assert "blackout" not in FAULTS.kinds()  # untouched
    assert grown.resolve(Blackout()) == ("blackout", Blackout())
    assert grown.resolve({"kind": "blackout"}) == ("blackout", Blackout())

    with pytest.raises(ValueError, match="duplicate fault name 'unit-change'"):
        FAULTS.extend([_module_with_fault("unit-change", UnitChange)])
    # inject_fault finds a fault by its params' class, so two faults cannot share one.
    with pytest.raises(ValueError, match="'unit-change' and 'unit-change-again' share the params"):
        FAULTS.extend([_module_with_fault("unit-change-again", UnitChange)])


def _module_with_fault(name: str, params: type[FaultParams]) -> types.ModuleType:
    """A module made at run time (as a plugin package's would be) holding one injector,
    registered as fault ``name``, that empties the window."""

    @fault(name, params=params)
    def inject(params: FaultParams, window: pd.DataFrame, ctx: FaultContext) -> pd.DataFrame:
        return window.iloc[0:0]

    module = types.ModuleType(f"faults_{name}")
    module.inject = inject  # type: ignore[attr-defined]  # a module object has no declared members
    return module
