"""Build the credit-risk sandbox: reference data, a registered champion, an inference log with
delayed labels, and the model profile that points at all of it.

Layout under ``<state_dir>/sandbox/credit-risk/``::

    sandbox.json                          marker: settings + the anchored "now" (written last)
    profile.yaml                          the ModelProfile (paths relative to this file)
    reference/reference.parquet           the champion's training window
    inference/date=YYYY-MM-DD/part-0.parquet
    labels/date=YYYY-MM-DD/part-0.parquet partitioned by label arrival (label_ts)
    pending/labels.parquet                outcomes not known yet (label_ts after "now")
    faults.jsonl                          one line per injected fault (see faults/)

The champion lives in the local MLflow store of the state dir (``MlflowModelStore.local``).
The engine's clock (``<state_dir>/clock``, playbooks.clock) is set to the sandbox's "now", so
in a state dir with a sandbox the engine runs on the sandbox's time; ``advance_sandbox``
moves both together.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from playbooks.clock import CLOCK_FILE, set_clock
from playbooks.errors import MlpbError
from playbooks.modelstore import MlflowModelStore, ModelNotFound
from playbooks.sandbox import model as credit_model
from playbooks.sandbox.simulator import (
    AREA,
    CATEGORICAL_FEATURES,
    FEATURES,
    ID,
    NUMERIC_FEATURES,
    TARGET,
    TIMESTAMP,
    area_of,
    simulate_applications,
)

__all__ = [
    "CHAMPION_ALIAS",
    "LABEL_DELAY",
    "MODEL_NAME",
    "THRESHOLD",
    "Sandbox",
    "SandboxError",
    "bootstrap_sandbox",
    "load_sandbox",
    "score_traffic",
    "sub_seed",
    "train_scorecard",
    "write_text_atomic",
]

MODEL_NAME: Final = "credit-risk"
CHAMPION_ALIAS: Final = "champion"
FEATURE_PIPELINE_VERSION: Final = "fp-1.4.2"
THRESHOLD: Final = 0.5
LABEL_DELAY: Final = timedelta(days=1)
REFERENCE_DAYS: Final = 30
EXPERIMENT: Final = "credit-risk"
_MARKER = "sandbox.json"
_MARKER_FORMAT = 1


class SandboxError(MlpbError):
    """The sandbox is missing, incomplete or was built with other settings."""


@dataclass(frozen=True)
class Sandbox:
    """Where a bootstrapped sandbox lives. ``now`` is the end of its simulated timeline."""

    root: Path
    reference_path: Path
    inference_dir: Path
    labels_dir: Path
    profile_path: Path
    model_name: str
    tracking_uri: str
    now: datetime

    @property
    def state_dir(self) -> Path:
        return self.root.parents[1]

    @property
    def marker_path(self) -> Path:
        return self.root / _MARKER

    @property
    def faults_path(self) -> Path:
        return self.root / "faults.jsonl"

    @property
    def pending_labels_path(self) -> Path:
        """Labels of logged requests that arrive after ``now`` (kept out of the profile's
        ``labels/`` glob until they are due)."""
        return self.root / "pending" / "labels.parquet"

    def settings(self) -> dict[str, Any]:
        """The marker's content: seed, rows_per_day, history_days, reference_rows, now, ..."""
        return dict(json.loads(self.marker_path.read_text(encoding="utf-8")))

    def model_store(self) -> MlflowModelStore:
        return MlflowModelStore.local(self.state_dir)


def sandbox_root(state_dir: Path) -> Path:
    return Path(state_dir).expanduser().resolve() / "sandbox" / MODEL_NAME


def bootstrap_sandbox(
    state_dir: Path,
    *,
    seed: int = 7,
    rows_per_day: int = 1500,
    history_days: int = 28,
    force: bool = False,
    progress: Callable[[str], None] | None = None,
    reference_rows: int = 20_000,
    now: datetime | None = None,
) -> Sandbox:
    """Create the sandbox under ``state_dir`` (or reuse the one already there).

    Idempotent: a complete sandbox built with the same settings is returned as is (faults
    injected into it stay). Other settings are an error unless ``force``, which deletes the
    sandbox and the ``credit-risk`` registered model and rebuilds both. ``now`` (default: the
    current hour, UTC) is where the inference log ends; it is recorded so re-runs agree, and
    the engine clock of ``state_dir`` is set to it (``playbooks.clock.set_clock``).
    """
    if rows_per_day < 1 or history_days < 2 or reference_rows < 100:
        raise SandboxError(
            f"sandbox too small: rows_per_day={rows_per_day}, history_days={history_days}, "
            f"reference_rows={reference_rows}",
            hint="use rows_per_day >= 1, history_days >= 2 and reference_rows >= 100",
        )
    say = progress or (lambda _msg: None)
    root = sandbox_root(state_dir)
    wanted = {
        "seed": seed,
        "rows_per_day": rows_per_day,
        "history_days": history_days,
        "reference_rows": reference_rows,
    }
    store = MlflowModelStore.local(Path(state_dir))
    if not force and (existing := _reusable(root, wanted, now, store)) is not None:
        say(f"reusing the sandbox at {root}")
        if not (Path(state_dir) / CLOCK_FILE).exists():
            set_clock(Path(state_dir), existing.now)  # a sandbox built before the clock
        return existing
    if root.exists():
        say(f"removing the old sandbox at {root}")
        shutil.rmtree(root)
    say(f"opening the MLflow store at {store.tracking_uri}")
    store.delete_model(MODEL_NAME)  # a rebuilt sandbox starts again at v1

    anchor = _utc_hour(now or datetime.now(UTC))
    history_start = anchor - timedelta(days=history_days)
    reference_start = history_start - timedelta(days=REFERENCE_DAYS)
    box = _layout(root, store.tracking_uri, anchor)

    say(f"simulating {REFERENCE_DAYS} days of reference data ({reference_rows} applications)")
    reference = simulate_applications(
        reference_rows, reference_start, history_start, seed=sub_seed(seed, 1), id_prefix="ref"
    )
    holdout = simulate_applications(
        max(reference_rows // 4, 100),
        reference_start,
        history_start,
        seed=sub_seed(seed, 2),
        id_prefix="holdout",
    )
    write_parquet(reference, box.reference_path)

    say("training the champion (logistic-regression scorecard)")
    champion = train_scorecard(reference, seed=seed)
    metrics = credit_model.evaluate(
        champion, holdout, features=list(FEATURES), target=TARGET, threshold=THRESHOLD
    )
    auc = metrics["roc_auc"]
    say(f"registering {MODEL_NAME} v1 as {CHAMPION_ALIAS} (holdout ROC AUC {auc:.3f})")
    window = f"{reference_start.isoformat()}/{history_start.isoformat()}"
    version = store.register_model(
        MODEL_NAME,
        champion,
        experiment=EXPERIMENT,
        params={"classifier": "logistic_regression", "rows": len(reference), "seed": seed},
        metrics=metrics,
        tags={"threshold": str(THRESHOLD), "training_window": window, "mlpb.sandbox": "true"},
        description="Sandbox champion trained on the reference window.",
    )
    store.set_alias(MODEL_NAME, CHAMPION_ALIAS, version.version)

    say(f"simulating {history_days} days of production traffic ({rows_per_day}/day) and labels")
    traffic = simulate_applications(
        rows_per_day * history_days, history_start, anchor, seed=sub_seed(seed, 3), id_prefix="req"
    )
    scored = score_traffic(traffic, champion, version.version, seed=sub_seed(seed, 4))
    write_partitions(box.inference_dir, scored, TIMESTAMP)
    write_partitions(box.labels_dir, labels_for(traffic, anchor), "label_ts")
    later = labels_for(traffic, None)
    write_parquet(later.loc[later["label_ts"] > pd.Timestamp(anchor)], box.pending_labels_path)

    say("writing the model profile")
    box.profile_path.write_text(profile_yaml(store.tracking_uri), encoding="utf-8")
    marker = {
        **wanted,
        "format": _MARKER_FORMAT,
        "now": anchor.isoformat(),
        "model_name": MODEL_NAME,
        "tracking_uri": store.tracking_uri,
        "champion_version": version.version,
        "holdout_metrics": metrics,
        "created_at": datetime.now(UTC).isoformat(),
    }
    write_text_atomic(box.marker_path, json.dumps(marker, indent=2) + "\n")
    set_clock(Path(state_dir), anchor)
    say(f"sandbox ready at {root}; engine clock set to {anchor:%Y-%m-%d %H:%M} UTC")
    return box


def load_sandbox(state_dir: Path) -> Sandbox:
    """The sandbox already bootstrapped under ``state_dir``."""
    root = sandbox_root(state_dir)
    marker = root / _MARKER
    if not marker.is_file():
        raise SandboxError(
            f"no sandbox under {root}",
            hint="bootstrap it first: `mlpb sandbox init` (or bootstrap_sandbox)",
        )
    settings = json.loads(marker.read_text(encoding="utf-8"))
    return _layout(root, settings["tracking_uri"], datetime.fromisoformat(settings["now"]))


def train_scorecard(
    frame: pd.DataFrame,
    *,
    seed: int = 0,
    numeric: Sequence[str] = NUMERIC_FEATURES,
    categorical: Sequence[str] = CATEGORICAL_FEATURES,
) -> Pipeline:
    """The sandbox's scorecard (``playbooks.sandbox.model.train``) on simulated applications:
    every feature by default, ``numeric`` / ``categorical`` for a smaller one."""
    return credit_model.train(
        frame, numeric=list(numeric), categorical=list(categorical), target=TARGET, seed=seed
    )


def score_traffic(
    traffic: pd.DataFrame, model: Any, model_version: str, *, seed: int
) -> pd.DataFrame:
    """Inference-log rows for ``traffic``: id, ts, features, score, decision, latency, version."""
    rng = np.random.default_rng(seed)
    n = len(traffic)
    out = traffic[[ID, TIMESTAMP, *FEATURES]].copy()
    score = credit_model.score(model, out, list(FEATURES)) if n else np.empty(0)
    out["score"] = score.round(6)
    out["decision"] = np.where(score >= THRESHOLD, "decline", "approve")
    # Serving latency: log-normal around ~28 ms with a thin slow tail (GC pauses, cold caches).
    latency = rng.lognormal(np.log(28.0), 0.3, n) + (rng.random(n) < 0.01) * rng.uniform(40, 150, n)
    out["latency_ms"] = latency.round(1)
    out["model_version"] = str(model_version)
    out["feature_pipeline_version"] = FEATURE_PIPELINE_VERSION
    out["status"] = "ok"  # serving outcome: ok | error (timeouts, 5xx)
    out[AREA] = area_of(out["region"])  # logged with the request; not a model feature
    return out.reset_index(drop=True)


def labels_for(traffic: pd.DataFrame, now: datetime | None) -> pd.DataFrame:
    """Labels of ``traffic`` that have arrived by ``now`` (each lands LABEL_DELAY after ts);
    all of them, due or not, for ``now=None``."""
    labels = pd.DataFrame(
        {
            ID: traffic[ID].to_numpy(),
            TARGET: traffic[TARGET].astype(np.int64).to_numpy(),
            "label_ts": traffic[TIMESTAMP] + LABEL_DELAY,
        }
    )
    if now is None:
        return labels
    return labels.loc[labels["label_ts"] <= pd.Timestamp(now)].reset_index(drop=True)


def profile_yaml(tracking_uri: str) -> str:
    """The sandbox ModelProfile; data paths are relative to the profile file."""
    return f"""\
# Generated by playbooks.sandbox.bootstrap; safe to edit, rebuilt by a forced bootstrap.
name: {MODEL_NAME}
description: >-
  Credit-risk classifier (sandbox): probability that a loan applicant defaults; applications
  scoring >= {THRESHOLD} are declined. Simulated applicants, real MLflow model.
criticality: high
owners:
  model: ml-credit-team
  data: data-platform
  oncall: ml-oncall
  approvers: [alice, "group:ml-leads"]   # who may approve a change (criticality high: medium+)
  groups: {{ml-leads: [bob, carol]}}
  slack_ids: {{alice: U01ALICE, bob: U01BOB, carol: U01CAROL}}
data:
  timestamp: {TIMESTAMP}
  id: {ID}
  reference: {{path: reference/reference.parquet}}
  current: {{path: "inference/date=*/*.parquet", window: 7d}}
  labels: {{path: "labels/date=*/*.parquet", column: {TARGET}, delay: 1d}}
  feature_version: feature_pipeline_version
features:
  numeric: {json.dumps(list(NUMERIC_FEATURES))}
  categorical: {json.dumps(list(CATEGORICAL_FEATURES))}
target: {TARGET}
prediction:
  score: score
  decision: decision
  positive_decision: decline
  latency: latency_ms
  model_version: model_version
  status: status
  error_value: error
model:
  registry_name: {MODEL_NAME}
  alias: {CHAMPION_ALIAS}
  tracking_uri: {json.dumps(tracking_uri)}
  threshold: {THRESHOLD}
  fallback_alias: fallback
training:
  entrypoint: "playbooks.sandbox.model:train"
  lookback: 14d
segments: [region]
fairness:                 # a change may not move rural and urban decline rates apart
  sensitive_attributes: [{AREA}]
  min_group_rows: 100
slo:
  min_roc_auc: 0.70
  max_latency_p95_ms: 120
  max_error_rate: 0.02
  target_approval_rate: 0.93
  approval_rate_tolerance: 0.05
  max_staleness: 1d
"""


# -- partitioned parquet ---------------------------------------------------------------------


def partition_path(directory: Path, day: date) -> Path:
    return directory / f"date={day.isoformat()}" / "part-0.parquet"


def partition_days(directory: Path) -> list[date]:
    days = []
    for child in directory.glob("date=*"):
        try:
            days.append(date.fromisoformat(child.name.removeprefix("date=")))
        except ValueError:
            continue
    return sorted(days)


def read_partitions(directory: Path, days: Iterable[date]) -> pd.DataFrame:
    frames = [pd.read_parquet(p) for d in days if (p := partition_path(directory, d)).is_file()]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def write_partitions(directory: Path, frame: pd.DataFrame, time_column: str) -> list[date]:
    """Write ``frame`` split by the UTC date of ``time_column``; replaces those partitions."""
    days = frame[time_column].dt.date
    written = []
    for day, part in frame.groupby(days, sort=True):
        write_parquet(part.sort_values(time_column, kind="stable"), partition_path(directory, day))
        written.append(day)
    return written


def write_parquet(frame: pd.DataFrame, path: Path) -> None:
    """Write via a temporary file and rename, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    frame.reset_index(drop=True).to_parquet(tmp, index=False)
    os.replace(tmp, path)


# -- helpers ---------------------------------------------------------------------------------


def _layout(root: Path, tracking_uri: str, now: datetime) -> Sandbox:
    return Sandbox(
        root=root,
        reference_path=root / "reference" / "reference.parquet",
        inference_dir=root / "inference",
        labels_dir=root / "labels",
        profile_path=root / "profile.yaml",
        model_name=MODEL_NAME,
        tracking_uri=tracking_uri,
        now=now,
    )


def _reusable(
    root: Path, wanted: dict[str, int], now: datetime | None, store: MlflowModelStore
) -> Sandbox | None:
    marker = root / _MARKER
    if not marker.is_file():
        return None  # absent or half-built (the marker is written last): rebuild
    settings = json.loads(marker.read_text(encoding="utf-8"))
    built = {k: settings.get(k) for k in wanted}
    recorded_now = datetime.fromisoformat(settings["now"])
    if built != wanted or (now is not None and _utc_hour(now) != recorded_now):
        raise SandboxError(
            f"the sandbox at {root} was built with {built}, now={recorded_now.isoformat()}; "
            f"asked for {wanted}" + (f", now={_utc_hour(now).isoformat()}" if now else ""),
            hint="pass force=True (mlpb demo --force) to rebuild it with the new settings",
        )
    box = _layout(root, settings["tracking_uri"], recorded_now)
    complete = box.reference_path.is_file() and box.profile_path.is_file()
    if not complete:
        return None  # files went missing: rebuild
    try:
        store.get_version(MODEL_NAME, CHAMPION_ALIAS)
    except ModelNotFound:
        return None  # the MLflow store was reset under us: rebuild
    return box


def sub_seed(seed: int, stream: int) -> int:
    """Independent, deterministic sub-seeds per purpose (reference, holdout, traffic, ...)."""
    return int(np.random.SeedSequence([seed, stream]).generate_state(1)[0])


def _utc_hour(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise SandboxError(f"'now' must be timezone-aware, got {value!r}", hint="use UTC")
    return value.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
