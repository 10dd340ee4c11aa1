"""MlflowModelStore against a real local MLflow store (SQLite + file artifacts)."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from playbooks.modelstore import (
    INCIDENT_TAG,
    POSTMORTEM_TAG,
    AliasChange,
    AliasConflict,
    MlflowModelStore,
    ModelNotFound,
    ModelStore,
    ModelStoreError,
    ModelStoreUnavailable,
    UnsafeModel,
    link_postmortem,
)
from playbooks.sandbox import model as credit_model
from playbooks.sandbox.simulator import (
    CATEGORICAL_FEATURES,
    FEATURES,
    NUMERIC_FEATURES,
    TARGET,
    simulate_applications,
)

pytestmark = pytest.mark.integration

NAME = "credit-test"
START = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return simulate_applications(2_000, START, START + timedelta(days=5), seed=1)


@pytest.fixture(scope="module")
def models(data: pd.DataFrame) -> list[Any]:
    return [
        credit_model.train(
            part, numeric=list(NUMERIC_FEATURES), categorical=list(CATEGORICAL_FEATURES),
            target=TARGET,
        )
        for part in (data.iloc[:1000], data.iloc[1000:])
    ]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, models: list[Any]) -> MlflowModelStore:
    """A registry holding NAME v1 and v2 (registered from an empty working directory)."""
    registry = MlflowModelStore.local(tmp_path_factory.mktemp("state"))
    for i, model in enumerate(models, start=1):
        registry.register_model(
            NAME,
            model,
            experiment="registry-test",
            params={"rows": 1000, "part": i},
            metrics={"roc_auc": 0.8 + i / 100},
            tags={"threshold": "0.5", "part": str(i)},
            description=f"part {i}",
        )
    return registry


def test_local_store_paths_are_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    registry = MlflowModelStore.local(Path("relative-state"))
    assert registry.tracking_uri == f"sqlite:///{tmp_path / 'relative-state/mlflow/mlflow.db'}"
    assert registry.tracking_uri.startswith("sqlite:////")
    assert registry.artifact_location == (tmp_path / "relative-state/mlflow/artifacts").as_uri()
    assert (tmp_path / "relative-state/mlflow/artifacts").is_dir()
    assert isinstance(registry, ModelStore)
    # Opened by URI alone (as from a profile), a SQLite store keeps artifacts beside the DB.
    by_uri = MlflowModelStore(registry.tracking_uri)
    assert by_uri.artifact_location == registry.artifact_location


def test_registered_versions_carry_run_tags_and_source(store: MlflowModelStore) -> None:
    versions = store.list_versions(NAME)
    assert [v.version for v in versions] == ["1", "2"]
    v2 = versions[1]
    assert v2.name == NAME and v2.run_id
    assert v2.source.startswith("models:/")
    assert v2.tags["threshold"] == "0.5" and v2.tags["part"] == "2"
    assert v2.created_at.tzinfo is not None
    assert abs(datetime.now(UTC) - v2.created_at) < timedelta(hours=1)
    assert store.version_exists(NAME, "2")
    assert not store.version_exists(NAME, "3")
    assert not store.version_exists("no-such-model", "1")


def test_artifacts_stay_inside_the_state_dir(store: MlflowModelStore) -> None:
    assert store.artifact_location is not None
    root = Path(store.artifact_location.removeprefix("file://"))
    assert list(root.rglob("MLmodel")), "model artifacts were not written under the state dir"


def test_loaded_model_predicts_like_the_registered_one(
    store: MlflowModelStore, models: list[Any], data: pd.DataFrame
) -> None:
    loaded = store.load_model(NAME, "2")
    np.testing.assert_allclose(
        credit_model.score(loaded, data, list(FEATURES)),
        credit_model.score(models[1], data, list(FEATURES)),
    )


def test_set_alias_records_the_previous_target_and_revert_restores_it(
    store: MlflowModelStore,
) -> None:
    first = store.set_alias(NAME, "champion", "1")
    assert first.previous_version is None and first.new_version == "1"
    assert store.get_version(NAME, "champion").version == "1"

    change = store.set_alias(NAME, "champion", "2", incident_id="INC-42")
    assert (change.previous_version, change.new_version) == ("1", "2")
    assert change.incident_id == "INC-42"
    promoted = store.get_version(NAME, "champion")
    assert promoted.version == "2" and "champion" in promoted.aliases
    assert promoted.tags[INCIDENT_TAG] == "INC-42"

    store.revert_alias(change)
    assert store.get_version(NAME, "champion").version == "1"
    store.revert_alias(change)  # idempotent
    assert store.get_version(NAME, "champion").version == "1"

    store.revert_alias(first)  # there was no champion before: the alias goes away
    with pytest.raises(ModelNotFound, match="no alias 'champion'"):
        store.get_version(NAME, "champion")
    store.revert_alias(first)  # still idempotent


def test_revert_refuses_to_clobber_a_later_move(store: MlflowModelStore) -> None:
    ours = store.set_alias(NAME, "candidate", "1")
    store.set_alias(NAME, "candidate", "2")  # someone else moves it afterwards
    with pytest.raises(AliasConflict, match="now points at v2"):
        store.revert_alias(ours)
    store.revert_alias(ours, force=True)
    with pytest.raises(ModelNotFound):
        store.get_version(NAME, "candidate")


def test_alias_change_round_trips_through_json(store: MlflowModelStore) -> None:
    change = store.set_alias(NAME, "shadow", "2", incident_id="INC-7")
    again = AliasChange.from_dict(json.loads(json.dumps(change.to_dict())))
    assert again == change
    store.revert_alias(again)
    assert not any("shadow" in v.aliases for v in store.list_versions(NAME))


def test_tag_version(store: MlflowModelStore) -> None:
    store.tag_version(NAME, "1", "mlpb.verified", "true")
    assert store.get_version(NAME, "1").tags["mlpb.verified"] == "true"
    with pytest.raises(ModelNotFound, match="no version 9"):
        store.tag_version(NAME, "9", "k", "v")


def test_unknown_model_alias_or_version_say_what_exists(store: MlflowModelStore) -> None:
    store.set_alias(NAME, "stable", "1")
    with pytest.raises(ModelNotFound) as unknown_model:
        store.get_version("no-such-model", "champion")
    assert "no registered model 'no-such-model'" in str(unknown_model.value)
    assert NAME in str(unknown_model.value)  # lists the models that do exist

    with pytest.raises(ModelNotFound) as unknown_alias:
        store.load_model(NAME, "no-such-alias")
    text = str(unknown_alias.value)
    assert "no alias 'no-such-alias'" in text
    assert "stable -> v1" in text and "versions: 1, 2" in text

    with pytest.raises(ModelNotFound, match="no version 99") as unknown_version:
        store.get_version(NAME, "99")
    assert "versions: 1, 2" in str(unknown_version.value)
    assert isinstance(unknown_version.value, ModelStoreError)


def test_fluent_mlflow_state_is_restored_and_cwd_untouched(
    store: MlflowModelStore,
    models: list[Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import mlflow

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:////somewhere/else.db")
    before = mlflow.get_tracking_uri()
    version = store.register_model(
        NAME, models[0], experiment="registry-test", params={}, metrics={}, tags={}
    )
    store.load_model(NAME, version.version)
    assert mlflow.get_tracking_uri() == before
    assert os.environ["MLFLOW_TRACKING_URI"] == "sqlite:////somewhere/else.db"
    assert "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR" not in os.environ
    assert list(tmp_path.iterdir()) == []  # no stray ./mlflow.db or ./mlruns


@pytest.mark.parametrize(
    "make_uri",
    [
        pytest.param(lambda d: f"sqlite:///{d / 'a-file' / 'mlflow.db'}", id="dir-is-a-file"),
        pytest.param(lambda d: f"sqlite:///{d / 'garbage.db'}", id="not-a-database"),
        pytest.param(lambda d: "bogus://registry", id="unsupported-scheme"),
    ],
)
def test_broken_store_is_unavailable(tmp_path: Path, make_uri: Any) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    (tmp_path / "garbage.db").write_bytes(b"definitely not sqlite " * 100)
    uri = make_uri(tmp_path)
    registry = MlflowModelStore(uri)  # construction is lazy and never fails
    with pytest.raises(ModelStoreUnavailable) as err:
        registry.get_version(NAME, "champion")
    assert uri in str(err.value)
    assert "tracking_uri" in str(err.value)  # the hint says what to check


# -- safe loading (issue 13, point 6): skops only, with our trusted-type list ---------------

class Doubler(BaseEstimator, TransformerMixin):  # type: ignore[misc]
    """A custom step: skops does not trust it unless the profile lists it."""

    def fit(self, x: Any, y: Any = None) -> Doubler:
        return self

    def transform(self, x: Any) -> Any:
        return np.asarray(x, dtype=float) * 2.0


DOUBLER = f"{__name__}.Doubler"


def _xy(data: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    return data[list(NUMERIC_FEATURES)].head(300), data[TARGET].head(300)


def test_a_pickle_format_version_is_refused(
    store: MlflowModelStore, data: pd.DataFrame, tmp_path: Path
) -> None:
    """A version logged by hand as pickle (write access to the registry) is never unpickled."""
    import mlflow
    import mlflow.sklearn
    from mlflow import MlflowClient

    x, y = _xy(data)
    experiment = MlflowClient(store.tracking_uri).create_experiment(
        "by-hand", artifact_location=tmp_path.as_uri())  # not ./mlruns of the cwd
    mlflow.set_tracking_uri(store.tracking_uri)
    try:
        with mlflow.start_run(experiment_id=experiment):
            logged = mlflow.sklearn.log_model(
                LogisticRegression(max_iter=2000).fit(x, y), name="model",
                serialization_format="pickle", pip_requirements=["scikit-learn"])
        mv = MlflowClient(store.tracking_uri).create_model_version(
            NAME, source=logged.model_uri, model_id=logged.model_id)
    finally:
        mlflow.set_tracking_uri(None)  # type: ignore[arg-type]
    with pytest.raises(UnsafeModel) as refused:
        store.load_model(NAME, str(mv.version))
    assert "stored as 'pickle'" in str(refused.value)
    assert "serialization_format='skops'" in str(refused.value)  # the hint says what to do


def test_an_untrusted_type_is_refused_unless_the_profile_trusts_it(
    tmp_path: Path, data: pd.DataFrame
) -> None:
    x, y = _xy(data)
    pipe = make_pipeline(Doubler(), LogisticRegression(max_iter=2000)).fit(x, y)
    trusting = MlflowModelStore.local(tmp_path, trusted_types=[DOUBLER])
    version = trusting.register_model("custom", pipe, experiment="custom", params={},
                                      metrics={}, tags={})
    plain = MlflowModelStore(trusting.tracking_uri)  # the project's list only
    with pytest.raises(UnsafeModel) as refused:
        plain.load_model("custom", version.version)
    assert DOUBLER in str(refused.value) and "model.trusted_types" in str(refused.value)
    loaded = trusting.load_model("custom", version.version)
    np.testing.assert_allclose(loaded.predict_proba(x), pipe.predict_proba(x))


def test_loading_ignores_the_artifacts_own_trusted_list(tmp_path: Path, data: pd.DataFrame) -> None:
    """The MLmodel file names its own skops_trusted_types; a crafted one must not widen ours."""
    x, y = _xy(data)
    pipe = make_pipeline(Doubler(), LogisticRegression(max_iter=2000)).fit(x, y)
    trusting = MlflowModelStore.local(tmp_path, trusted_types=[DOUBLER])
    version = trusting.register_model("custom", pipe, experiment="custom", params={},
                                      metrics={}, tags={})
    (mlmodel,) = tmp_path.rglob("MLmodel")
    assert DOUBLER in mlmodel.read_text()  # MLflow wrote it there
    with pytest.raises(UnsafeModel, match="outside the trusted list"):
        MlflowModelStore(trusting.tracking_uri).load_model("custom", version.version)


def test_profile_trusted_types_must_be_dotted_names() -> None:
    from pydantic import ValidationError

    from playbooks.models.profile import ModelRef

    assert ModelRef(registry_name="m", trusted_types=[DOUBLER]).trusted_types == [DOUBLER]
    with pytest.raises(ValidationError, match="dotted type names"):
        ModelRef(registry_name="m", trusted_types=["os.system; rm"])


# -- what a promotion leaves behind (issue 14: MLflow) -------------------------------------

def test_previous_alias_follows_a_promotion_and_revert_restores_it(
    store: MlflowModelStore,
) -> None:
    store.set_alias(NAME, "live", "1")
    change = store.set_alias(NAME, "live", "2", previous_alias="live-previous")
    assert store.get_version(NAME, "live-previous").version == "1"
    assert (change.previous_alias, change.previous_alias_was) == ("live-previous", None)
    assert AliasChange.from_dict(json.loads(json.dumps(change.to_dict()))) == change
    store.revert_alias(change)
    assert store.get_version(NAME, "live").version == "1"
    with pytest.raises(ModelNotFound, match="no alias 'live-previous'"):
        store.get_version(NAME, "live-previous")


def test_signature_is_logged_from_the_input_frame(
    store: MlflowModelStore, models: list[Any], data: pd.DataFrame
) -> None:
    from mlflow.models import get_model_info

    version = store.register_model(NAME, models[0], experiment="registry-test", params={},
                                   metrics={}, tags={}, signature_frame=data[list(FEATURES)])
    import mlflow

    mlflow.set_tracking_uri(store.tracking_uri)
    try:
        sig = get_model_info(f"models:/{NAME}/{version.version}").signature
    finally:
        mlflow.set_tracking_uri(None)  # type: ignore[arg-type]
    assert sig is not None
    assert [c.name for c in sig.inputs.inputs] == list(FEATURES)


def test_the_versions_an_incident_touched_link_to_its_postmortem(
    store: MlflowModelStore,
) -> None:
    store.set_alias(NAME, "pm-test", "2", incident_id="INC-pm")
    assert link_postmortem(store, NAME, "INC-pm", "/state/postmortems/INC-pm.md") == ["2"]
    assert store.get_version(NAME, "2").tags[POSTMORTEM_TAG] == "/state/postmortems/INC-pm.md"
    assert POSTMORTEM_TAG not in store.get_version(NAME, "1").tags
