"""The model registry behind a Protocol, with the MLflow implementation.

Remediations (roll back, promote a retrained model) only need a handful of registry verbs, so
they talk to :class:`ModelStore`; :class:`MlflowModelStore` implements it over MLflow's
client API. Every MLflow failure comes out as a :class:`ModelStoreError` subclass whose message
says what was wrong and what to do.

MLflow's model-logging API is "fluent": it reads the tracking URI from process-global state.
To keep several registries (and the caller's own MLflow use) apart, the global URIs are only
switched inside a lock for the duration of one log/load call and restored afterwards.

Loading a model never goes through ``mlflow.sklearn.load_model``: that follows the artifact's
own MLmodel file (pickle, or skops with the artifact's *own* trusted-type list), so write
access to the registry would be code execution here. We read the MLmodel file, refuse any
format but skops, and load with ``skops.io`` and our trusted list (the project's plus the
profile's ``model.trusted_types``).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

from playbooks.errors import MlpbError
from playbooks.modelstore.base import (
    INCIDENT_TAG,
    AliasChange,
    AliasConflict,
    ModelNotFound,
    ModelStoreError,
    ModelStoreUnavailable,
    ModelVersionInfo,
    UnsafeModel,
)

__all__ = ["SKOPS_TRUSTED", "MlflowModelStore"]

_T = TypeVar("_T")
# One lock for the process: MLflow's fluent URIs are process-global.
_FLUENT_LOCK = threading.RLock()
# Loggers that announce routine store set-up ("Creating initial MLflow database tables...").
_EXISTS = ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS")
_CHATTY_LOGGERS = ("mlflow.store.db.utils", "alembic.runtime.migration", "alembic")
# Besides the types skops trusts by default (scikit-learn, numpy, scipy), skops must trust
# these to load our pipelines back. A profile adds its own (model.trusted_types).
SKOPS_TRUSTED: tuple[str, ...] = ("numpy.dtype",)


class MlflowModelStore:
    """:class:`ModelStore` over an MLflow tracking store and model registry.

    Construction is cheap and does not touch the store; the first call opens it (and creates
    the tables of a new SQLite store) and raises :class:`ModelStoreUnavailable` if it cannot.
    """

    def __init__(
        self,
        tracking_uri: str,
        registry_uri: str | None = None,
        artifact_location: str | None = None,
        *,
        trusted_types: Sequence[str] = (),
    ) -> None:
        self.tracking_uri = tracking_uri
        # What skops may instantiate when loading (and logging, which loads back to check).
        self.trusted_types = [*SKOPS_TRUSTED, *(t for t in trusted_types if t not in SKOPS_TRUSTED)]
        self.registry_uri = registry_uri or tracking_uri
        # Root under which experiments created here keep artifacts. MLflow's own default is
        # ./mlruns of whatever the working directory happens to be, so for a SQLite file store
        # we default to an ``artifacts`` dir beside the database (as ``local`` lays it out).
        location = artifact_location or _artifacts_beside(tracking_uri)
        self.artifact_location = location.rstrip("/") if location else None
        self._client_obj: Any = None

    @classmethod
    def local(cls, state_dir: Path, *, trusted_types: Sequence[str] = ()) -> MlflowModelStore:
        """The embedded default: SQLite + local artifacts under ``<state_dir>/mlflow``.

        Paths are made absolute so the store works from any working directory.
        """
        root = Path(state_dir).expanduser().resolve() / "mlflow"
        artifacts = root / "artifacts"
        artifacts.mkdir(parents=True, exist_ok=True)
        return cls(f"sqlite:///{root / 'mlflow.db'}", artifact_location=artifacts.as_uri(),
                   trusted_types=trusted_types)

    def __repr__(self) -> str:
        return f"MlflowModelStore(tracking_uri={self.tracking_uri!r})"

    # -- reads -------------------------------------------------------------------------------

    def get_version(self, name: str, alias_or_version: str) -> ModelVersionInfo:
        """Resolve an alias ("champion") or a version number ("3")."""
        aliases = self._aliases(name)
        ref = str(alias_or_version).strip()
        if ref.isdigit():
            version = str(int(ref))
        elif ref in aliases:
            version = aliases[ref]
        else:
            raise ModelNotFound(
                f"registered model '{name}' has no alias '{ref}'",
                hint=self._inventory(name, aliases) + "; pass an existing alias or a version",
            )
        mv = self._call(
            lambda c: c.get_model_version(name, version), f"reading {name} v{version}",
            missing=lambda: ModelNotFound(
                f"registered model '{name}' has no version {version}",
                hint=self._inventory(name, aliases),
            ),
        )
        return _info(mv, aliases)

    def list_versions(self, name: str) -> list[ModelVersionInfo]:
        """All versions of ``name``, oldest first."""
        aliases = self._aliases(name)
        found = self._call(
            lambda c: c.search_model_versions(f"name = '{_quote(name)}'"),
            f"listing versions of {name}",
        )
        return sorted((_info(mv, aliases) for mv in found), key=lambda i: int(i.version))

    def version_exists(self, name: str, version: str) -> bool:
        try:
            self.get_version(name, str(version))
        except ModelNotFound:
            return False
        return True

    def load_model(self, name: str, alias_or_version: str) -> Any:
        """The model object (an sklearn estimator with ``predict_proba``), skops format only.

        Raises :class:`UnsafeModel` for another format or a type outside the trusted list.
        """
        info = self.get_version(name, alias_or_version)
        from mlflow.artifacts import download_artifacts

        def load(_: Any) -> Any:
            # The artifacts are copied to a scratch dir that goes away once the model is in memory.
            with tempfile.TemporaryDirectory(prefix="mlpb-model-") as tmp:
                local = download_artifacts(artifact_uri=f"models:/{name}/{info.version}",
                                           dst_path=tmp)
                return load_skops_model(Path(local), self.trusted_types, f"{name} v{info.version}")

        return self._call(load, f"loading {name} v{info.version} from {info.source}")

    # -- writes ------------------------------------------------------------------------------

    def register_model(
        self,
        name: str,
        model: Any,
        *,
        experiment: str,
        params: dict[str, Any],
        metrics: dict[str, float],
        tags: dict[str, str],
        description: str = "",
        signature_frame: Any = None,
    ) -> ModelVersionInfo:
        """Log ``model`` (sklearn) in a run of ``experiment`` and register it as a new version.

        The run gets ``params``, ``metrics`` and ``tags``; the new version gets ``tags`` and
        ``description``. Explicit pip requirements skip MLflow's slow dependency inference.
        ``signature_frame`` (model inputs, a few rows) gives the version an MLflow signature.
        """
        import mlflow
        import mlflow.sklearn

        str_tags = {str(k): str(v) for k, v in tags.items()}
        signature = _signature(model, signature_frame)

        def log(client: Any) -> tuple[Any, str]:
            experiment_id = self._experiment_id(client, experiment)
            nested = mlflow.active_run() is not None  # never hijack the caller's run
            with mlflow.start_run(experiment_id=experiment_id, nested=nested) as run:
                if params:
                    mlflow.log_params({k: str(v) for k, v in params.items()})
                if metrics:
                    mlflow.log_metrics({k: float(v) for k, v in metrics.items()})
                mlflow.set_tags(str_tags)
                logged = mlflow.sklearn.log_model(
                    model,
                    name="model",
                    pip_requirements=_pip_requirements(),
                    serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_SKOPS,
                    skops_trusted_types=self.trusted_types,
                    signature=signature,
                )
            return logged, run.info.run_id

        logged, run_id = self._call(log, f"logging a model for '{name}' in '{experiment}'")
        self._ensure_registered_model(name)

        def create_version(client: Any) -> str:
            mv = client.create_model_version(
                name,
                source=logged.model_uri,
                run_id=run_id,
                tags=str_tags,
                description=description or None,
                model_id=logged.model_id,
            )
            _link_logged_model(client, logged.model_id, name, str(mv.version))
            return str(mv.version)

        version = self._call(create_version, f"registering a new version of '{name}'")
        return self.get_version(name, version)

    def set_alias(
        self, name: str, alias: str, version: str, *, incident_id: str | None = None,
        previous_alias: str | None = None,
    ) -> AliasChange:
        """Point ``alias`` at ``version``; the returned change remembers the prior target.

        With ``previous_alias`` (e.g. ``previous``), that alias is moved to the version
        ``alias`` pointed at before (when there was one and it changes); revert restores it.
        """
        target = self.get_version(name, str(version))  # clear ModelNotFound before any change
        aliases = self._aliases(name)
        previous = aliases.get(alias)
        self._call(
            lambda c: c.set_registered_model_alias(name, alias, target.version),
            f"setting alias '{alias}' of '{name}' to v{target.version}",
        )
        if incident_id:
            self.tag_version(name, target.version, INCIDENT_TAG, incident_id)
        keep = previous_alias if previous not in (None, target.version) else None
        if keep and previous is not None:
            self._call(lambda c: c.set_registered_model_alias(name, keep, previous),
                       f"setting alias '{keep}' of '{name}' to v{previous}")
        return AliasChange(
            name=name,
            alias=alias,
            previous_version=previous,
            new_version=target.version,
            incident_id=incident_id,
            changed_at=datetime.now(UTC),
            previous_alias=keep,
            previous_alias_was=aliases.get(keep) if keep else None,
        )

    def restore_alias(self, name: str, alias: str, was: str | None, *, only_if: str) -> bool:
        """Put ``alias`` back on ``was`` (remove it when None), but only while it still points
        at ``only_if`` (what we set it to). Returns whether anything changed."""
        current = self._aliases(name).get(alias)
        if current != only_if or current == was:
            return False
        if was is None:
            self._call(lambda c: c.delete_registered_model_alias(name, alias),
                       f"removing alias '{alias}' of '{name}'")
        else:
            self._call(lambda c: c.set_registered_model_alias(name, alias, was),
                       f"restoring alias '{alias}' of '{name}' to v{was}")
        return True

    def revert_alias(self, change: AliasChange, *, force: bool = False) -> None:
        """Undo ``change``: alias back to its previous version, or removed if it had none.

        Idempotent. If the alias has since been moved to a third version by someone else,
        raises :class:`AliasConflict` instead of clobbering that change (``force`` overrides).
        """
        current = self._aliases(change.name).get(change.alias)
        if change.previous_alias and change.previous_version is not None:
            self.restore_alias(change.name, change.previous_alias, change.previous_alias_was,
                               only_if=change.previous_version)
        if current == change.previous_version:
            return
        if current not in (change.new_version, None) and not force:
            raise AliasConflict(
                f"alias '{change.alias}' of '{change.name}' now points at v{current}, not "
                f"v{change.new_version} as set at {change.changed_at.isoformat()}",
                hint="someone moved it since; check with the model owners, then revert with "
                "force=True if the rollback is still wanted",
            )
        if change.previous_version is None:
            self._call(
                lambda c: c.delete_registered_model_alias(change.name, change.alias),
                f"removing alias '{change.alias}' of '{change.name}'",
            )
        else:
            previous = change.previous_version
            self._call(
                lambda c: c.set_registered_model_alias(change.name, change.alias, previous),
                f"restoring alias '{change.alias}' of '{change.name}' to v{previous}",
            )

    def tag_version(self, name: str, version: str, key: str, value: str) -> None:
        self._call(
            lambda c: c.set_model_version_tag(name, str(version), key, str(value)),
            f"tagging {name} v{version}",
            missing=lambda: ModelNotFound(
                f"registered model '{name}' has no version {version}",
                hint=self._inventory(name, self._aliases(name)),
            ),
        )

    def delete_model(self, name: str) -> None:
        """Delete a registered model and all its versions (no-op if absent). Sandbox resets."""
        try:
            self._aliases(name)
        except ModelNotFound:
            return
        self._call(lambda c: c.delete_registered_model(name), f"deleting '{name}'")

    def log_incident_run(self, experiment: str, incident_id: str, *, tags: dict[str, str],
                         artifacts: dict[str, list[Path]]) -> str:
        """Log ``artifacts`` (artifact folder -> local files) to the incident's one run in
        ``experiment``, tagged with ``tags``; returns the run id. The run is found again by
        its incident tag, so logging twice (a re-close) updates it instead of adding one."""

        def log(client: Any) -> str:
            exp_id = self._experiment_id(client, experiment)
            found = client.search_runs(
                [exp_id], filter_string=f"tags.`{INCIDENT_TAG}` = '{_quote(incident_id)}'",
                max_results=1)
            run_id = str(found[0].info.run_id) if found else str(client.create_run(
                exp_id, tags={INCIDENT_TAG: incident_id}, run_name=incident_id).info.run_id)
            for key, value in tags.items():
                client.set_tag(run_id, key, str(value))
            for folder, paths in artifacts.items():
                for path in paths:
                    client.log_artifact(run_id, str(path), artifact_path=folder or None)
            client.set_terminated(run_id, "FINISHED")
            return run_id

        return self._call(log, f"logging incident {incident_id} in experiment '{experiment}'")

    # -- plumbing ----------------------------------------------------------------------------

    def _client(self) -> Any:
        if self._client_obj is None:
            from mlflow import MlflowClient

            with _quiet(_CHATTY_LOGGERS):
                client = MlflowClient(self.tracking_uri, registry_uri=self.registry_uri)
                # Opening the store is lazy in places; touch it now so a broken store fails here.
                client.search_registered_models(max_results=1)
            self._client_obj = client
        return self._client_obj

    def _call(
        self,
        fn: Callable[[Any], _T],
        doing: str,
        *,
        missing: Callable[[], ModelNotFound] | None = None,
    ) -> _T:
        """Run ``fn(client)`` and translate whatever MLflow raises into a ModelStoreError."""
        try:
            # Inside _fluent: some MLflow store code opens a default MlflowClient() internally
            # (e.g. resolving models:/ sources), which must land on this store, not ./mlflow.db.
            with self._fluent():
                return fn(self._client())
        except MlpbError:
            raise
        except Exception as exc:  # MLflow, SQLAlchemy, requests and OS errors all surface here
            raise self._translate(exc, doing, missing) from exc

    def _translate(
        self, exc: Exception, doing: str, missing: Callable[[], ModelNotFound] | None
    ) -> ModelStoreError:
        code = str(getattr(exc, "error_code", ""))
        if missing is not None and code == "RESOURCE_DOES_NOT_EXIST":
            return missing()
        if self._client_obj is None or _is_unavailable(exc, code):
            return ModelStoreUnavailable(
                f"MLflow store at '{self.tracking_uri}' is unavailable while {doing}: "
                f"{type(exc).__name__}: {_first_line(exc)}",
                hint="check the profile's model.tracking_uri (or the state dir), that the "
                "server is up and the database file is a readable MLflow store",
            )
        return ModelStoreError(
            f"MLflow failed while {doing}: {type(exc).__name__}: {_first_line(exc)}",
            hint=f"store: {self.tracking_uri}",
        )

    def _aliases(self, name: str) -> dict[str, str]:
        """alias -> version of a registered model; ModelNotFound if the model is unknown."""
        rm = self._call(
            lambda c: c.get_registered_model(name),
            f"reading registered model '{name}'",
            missing=lambda: ModelNotFound(
                f"no registered model '{name}' in {self.registry_uri}",
                hint=f"registered models: {self._model_names() or '(none)'}; check the "
                "profile's model.registry_name",
            ),
        )
        return {str(a): str(v) for a, v in (rm.aliases or {}).items()}

    def _model_names(self, limit: int = 20) -> str:
        try:
            with self._fluent():
                models = self._client().search_registered_models(max_results=limit)
        except Exception:  # only used to enrich an error message
            return "?"
        return ", ".join(sorted(m.name for m in models))

    def _inventory(self, name: str, aliases: dict[str, str]) -> str:
        try:
            with self._fluent():
                found = self._client().search_model_versions(f"name = '{_quote(name)}'")
            versions = ", ".join(sorted((str(v.version) for v in found), key=int)) or "(none)"
        except Exception:  # only used to enrich an error message
            versions = "?"
        alias_text = ", ".join(f"{a} -> v{v}" for a, v in sorted(aliases.items())) or "(none)"
        return f"'{name}' has aliases: {alias_text}; versions: {versions}"

    def _experiment_id(self, client: Any, experiment: str) -> str:
        exp = client.get_experiment_by_name(experiment)
        if exp is None:
            location = None
            if self.artifact_location:
                location = f"{self.artifact_location}/{_slug(experiment)}"
            try:
                return str(client.create_experiment(experiment, artifact_location=location))
            except Exception as exc:  # lost a creation race: someone else made it
                if str(getattr(exc, "error_code", "")) not in _EXISTS:
                    raise
                exp = client.get_experiment_by_name(experiment)
        if exp.lifecycle_stage == "deleted":
            client.restore_experiment(exp.experiment_id)
        return str(exp.experiment_id)

    def _ensure_registered_model(self, name: str) -> None:
        def create(client: Any) -> None:
            try:
                client.create_registered_model(name)
            except Exception as exc:
                if str(getattr(exc, "error_code", "")) not in _EXISTS:
                    raise

        self._call(create, f"creating registered model '{name}'")

    @contextmanager
    def _fluent(self) -> Iterator[None]:
        """Point MLflow's process-global URIs at this store for one call, then restore them."""
        import mlflow
        from mlflow.tracking._model_registry import utils as registry_utils
        from mlflow.tracking._tracking_service import utils as tracking_utils

        with _FLUENT_LOCK:
            saved_env = {key: os.environ.get(key) for key in _FLUENT_ENV}
            saved_tracking = getattr(tracking_utils, "_tracking_uri", None)
            saved_registry = getattr(registry_utils, "_registry_uri", None)
            os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
            try:
                mlflow.set_tracking_uri(self.tracking_uri)
                mlflow.set_registry_uri(self.registry_uri)
                yield
            finally:
                mlflow.set_tracking_uri(saved_tracking)  # type: ignore[arg-type]  # None = default
                registry_utils._registry_uri = saved_registry
                for key, value in saved_env.items():
                    if value is None:
                        os.environ.pop(key, None)
                    else:
                        os.environ[key] = value


# Environment MLflow's fluent API reads or that set_tracking_uri/set_registry_uri write.
_FLUENT_ENV = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR")


@contextmanager
def _quiet(names: tuple[str, ...]) -> Iterator[None]:
    """Raise chatty INFO loggers to WARNING for a moment (warnings still get through)."""
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(max(lg.level, logging.WARNING))
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def _is_unavailable(exc: Exception, code: str) -> bool:
    if code in ("TEMPORARILY_UNAVAILABLE", "ENDPOINT_NOT_FOUND", "REQUEST_LIMIT_EXCEEDED"):
        return True
    kinds = {t.__name__ for t in type(exc).__mro__}
    return bool(kinds & {"OperationalError", "DatabaseError", "ConnectionError", "OSError",
                         "UnsupportedModelRegistryStoreURIException", "Timeout"})


def _link_logged_model(client: Any, model_id: str | None, name: str, version: str) -> None:
    """What mlflow.register_model also does, so the UI lists the version on the logged model."""
    if not model_id:
        return
    tag = "mlflow.modelVersions"
    try:
        existing = client.get_logged_model(model_id).tags.get(tag)
        links = [*(json.loads(existing) if existing else []), {"name": name, "version": version}]
        client.set_logged_model_tags(model_id, {tag: json.dumps(links)})
    except Exception:  # a cosmetic link only; the version itself is registered
        logging.getLogger(__name__).debug("could not link %s to %s v%s", model_id, name, version)


def load_skops_model(model_dir: Path, trusted: Sequence[str], what: str) -> Any:
    """Load the sklearn model of an MLflow model directory with skops and ``trusted`` only.

    The MLmodel file is read as data (``yaml.safe_load``); its ``code`` paths are never put
    on ``sys.path`` and its own ``skops_trusted_types`` are ignored.
    """
    import skops.io
    import yaml

    mlmodel = model_dir / "MLmodel"
    try:
        conf = yaml.safe_load(mlmodel.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise UnsafeModel(f"{what}: cannot read its MLmodel file: {exc}",
                          hint="the artifact is not an MLflow model; re-register it") from exc
    flavor = (conf.get("flavors") or {}).get("sklearn") if isinstance(conf, dict) else None
    if not isinstance(flavor, dict):
        raise UnsafeModel(f"{what} has no sklearn flavour in its MLmodel file",
                          hint="log it with mlflow.sklearn.log_model(..., "
                          "serialization_format='skops')")
    fmt = str(flavor.get("serialization_format") or "pickle")  # MLflow's default when absent
    if fmt != "skops":
        raise UnsafeModel(
            f"{what} is stored as '{fmt}', which can run arbitrary code when loaded; ML "
            "Playbooks loads only the skops format",
            hint="re-log the model with mlflow.sklearn.log_model(model, ..., "
            "serialization_format='skops') and register that version (a retrain playbook "
            "run does this)")
    root = model_dir.resolve()
    file = (root / str(flavor.get("pickled_model") or "model.skops")).resolve()
    if not file.is_relative_to(root) or not file.is_file():
        raise UnsafeModel(f"{what}: its model file {flavor.get('pickled_model')!r} is not "
                          "inside the model's artifacts", hint="re-register the model")
    untrusted = sorted(set(skops.io.get_untrusted_types(file=file)) - set(trusted))
    if untrusted:
        raise UnsafeModel(
            f"{what} contains types outside the trusted list: {', '.join(untrusted)}",
            hint="if these are your own vetted classes, list them under model.trusted_types "
            "in the profile; anything listed there is code the loader will run")
    return skops.io.load(file, trusted=list(trusted))


def _signature(model: Any, frame: Any) -> Any:
    """An MLflow signature from a few input rows and the model's scores (None without rows)."""
    if frame is None or len(frame) == 0:
        return None
    from mlflow.models import infer_signature

    sample = frame.head(20)
    # Integer inputs as doubles: a missing value at serving time must still fit the schema.
    sample = sample.astype({c: "float64" for c in sample.select_dtypes("integer").columns})
    predict = getattr(model, "predict_proba", None) or model.predict
    try:
        return infer_signature(sample, predict(sample))
    except Exception as exc:  # a signature documents the model; its absence must not block
        logging.getLogger(__name__).warning("no signature for the model: %s: %s",
                                            type(exc).__name__, exc)
        return None


def _info(mv: Any, aliases: dict[str, str]) -> ModelVersionInfo:
    version = str(mv.version)
    return ModelVersionInfo(
        name=str(mv.name),
        version=version,
        run_id=mv.run_id or None,
        source=str(mv.source),
        aliases=sorted(a for a, v in aliases.items() if v == version),
        tags={str(k): str(v) for k, v in (mv.tags or {}).items()},
        created_at=datetime.fromtimestamp((mv.creation_timestamp or 0) / 1000, tz=UTC),
    )


def _artifacts_beside(tracking_uri: str) -> str | None:
    prefix = "sqlite:///"
    if not tracking_uri.startswith(prefix):
        return None
    db = Path(tracking_uri.removeprefix(prefix))
    return (db.parent / "artifacts").as_uri() if db.is_absolute() else None


def _pip_requirements() -> list[str]:
    pins = []
    for dist in ("scikit-learn", "skops", "numpy", "pandas"):
        try:
            pins.append(f"{dist}=={metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            pins.append(dist)
    return pins


def _quote(name: str) -> str:
    return name.replace("'", "\\'")


def _slug(name: str) -> str:
    slug = "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in name).strip("-")
    return slug or "default"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else repr(exc)
