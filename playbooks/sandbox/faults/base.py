"""What every fault shares: the params base, the context an injector gets, the record of an
injection, and the helpers injectors and the injection machinery build on.

Nothing here imports a fault family (``data``, ``model``); they import this module.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import numpy as np
import pandas as pd
from pydantic import AfterValidator, BaseModel, ConfigDict

from playbooks.sandbox.bootstrap import (
    LABEL_DELAY,
    THRESHOLD,
    Sandbox,
    SandboxError,
    labels_for,
    partition_days,
    partition_path,
    read_partitions,
    sub_seed,
    write_parquet,
    write_partitions,
)
from playbooks.sandbox.simulator import (
    CATEGORICAL_FEATURES,
    FEATURES,
    ID,
    NUMERIC_FEATURES,
    TARGET,
    TIMESTAMP,
    PopulationShift,
    simulate_applications,
)

__all__ = [
    "LIVE_OUTCOMES",
    "CategoricalFeature",
    "FaultContext",
    "FaultParams",
    "Feature",
    "InjectedFault",
    "Injector",
    "LiveOutcome",
    "NumericFeature",
    "check_output",
    "decide_with_version_threshold",
    "fresh_applicants",
    "pending_labels",
    "picked",
    "reference",
    "replace_partitions",
    "rewrite_inference",
    "rewrite_labels",
    "write_pending_labels",
]

# How live monitoring of a fix ends: verified (count windows passed -> resolved) or reverted
# (a window failed -> the change is undone and the incident escalated).
LiveOutcome = Literal["verified", "reverted"]
LIVE_OUTCOMES: tuple[LiveOutcome, ...] = ("verified", "reverted")


class FaultParams(BaseModel):
    """Base of every fault's params. A fault's name is the one its injector is registered
    under (``@fault(name, params=...)``); the params hold only what can vary.

    The class keywords say what a drill expects: ``playbook`` (owns the failure),
    ``root_cause`` (the hypothesis id that must come out top-1), ``alert_names_playbook``
    (the alert such a fault raises names that playbook; else it enters through triage) and
    ``live_outcome`` (how live monitoring of the fix must end: ``"reverted"`` for a fault whose
    first fix passes the pre-check but fails live; None: as the owning spec prescribes) and
    ``precheck_outcome`` (``"reverted"``: the fix must fail its pre-check, be undone and the
    incident escalated, e.g. a retrain that harms one group), e.g.
    ``class NullSpike(FaultParams, playbook="data-quality", root_cause="null-spike")``.
    Two more say how the fault behaves when the sandbox advances (``advance_sandbox``):
    ``persists`` (it goes on in new traffic: a population shift does, a one-off bad batch
    does not) and ``heals`` (injecting it ends every fault injected before it).
    A family base sets what its faults share.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    playbook: ClassVar[str]
    root_cause: ClassVar[str]
    alert_names_playbook: ClassVar[bool] = True
    live_outcome: ClassVar[LiveOutcome | None] = None
    precheck_outcome: ClassVar[Literal["reverted"] | None] = None
    persists: ClassVar[bool] = False
    heals: ClassVar[bool] = False

    def __init_subclass__(
        cls,
        *,
        playbook: str | None = None,
        root_cause: str | None = None,
        alert_names_playbook: bool | None = None,
        live_outcome: LiveOutcome | None = None,
        precheck_outcome: Literal["reverted"] | None = None,
        persists: bool | None = None,
        heals: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init_subclass__(**kwargs)
        if playbook is not None:
            cls.playbook = playbook
        if root_cause is not None:
            cls.root_cause = root_cause
        if alert_names_playbook is not None:
            cls.alert_names_playbook = alert_names_playbook
        if live_outcome is not None:
            cls.live_outcome = live_outcome
        if precheck_outcome is not None:
            cls.precheck_outcome = precheck_outcome
        if persists is not None:
            cls.persists = persists
        if heals is not None:
            cls.heals = heals

    def continued(self, days: float) -> FaultParams:
        """The fault ``days`` after its injection ended, for a fault that ``persists`` (the
        span being simulated ends ``days`` after it). Default: unchanged; a fault that keeps
        worsening returns itself grown."""
        return self

    # Hooks of the injection, for what the rewritten rows cannot express; no-ops by default.
    def after_scoring(self, scored: pd.DataFrame, ctx: FaultContext) -> pd.DataFrame:
        """What the log records for the scored rows (latency, status, ...)."""
        return scored

    def post_write(self, ctx: FaultContext, days: list[date]) -> None:
        """Edit the rewritten day partitions (a renamed column, a stale pipeline version)."""


@dataclass(frozen=True)
class FaultContext:
    """What an injector may use besides the window itself. The injector runs once when the
    fault is injected and, for a fault that ``persists``, again on every span of traffic
    ``advance_sandbox`` simulates afterwards (then ``ongoing`` is the injection's record)."""

    sandbox: Sandbox
    kind: str  # the fault's registered name (also salts its random choices)
    start: datetime  # onset of the fault (of the simulated span, when ongoing)
    end: datetime  # the sandbox's "now" (the end of the simulated span, when ongoing)
    rows: int  # how many requests the window should hold
    seed: int
    serving_version: str | None = None  # the champion that serves this traffic
    ongoing: InjectedFault | None = None  # set while a persisting fault goes on


# fn(params, window, ctx) -> the rows that replace the window (see the package docstring)
Injector = Callable[[Any, pd.DataFrame, FaultContext], pd.DataFrame]


@dataclass(frozen=True)
class InjectedFault:
    """What ``inject_fault`` did; also the line appended to ``faults.jsonl``."""

    kind: str
    params: dict[str, Any]
    onset: datetime
    end: datetime
    rows: int
    labels_rewritten: bool
    model_version: str
    seed: int
    injected_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "params": self.params,
            "onset": self.onset.isoformat(),
            "end": self.end.isoformat(),
            "rows": self.rows,
            "labels_rewritten": self.labels_rewritten,
            "model_version": self.model_version,
            "seed": self.seed,
            "injected_at": self.injected_at.isoformat(),
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> InjectedFault:
        """A ``faults.jsonl`` line read back."""
        return cls(kind=str(raw["kind"]), params=dict(raw["params"]),
                   onset=datetime.fromisoformat(raw["onset"]),
                   end=datetime.fromisoformat(raw["end"]), rows=int(raw["rows"]),
                   labels_rewritten=bool(raw["labels_rewritten"]),
                   model_version=str(raw["model_version"]), seed=int(raw["seed"]),
                   injected_at=datetime.fromisoformat(raw["injected_at"]))


# -- params field types ----------------------------------------------------------------------


def _one_of(choices: list[str], what: str) -> AfterValidator:
    def check(v: str) -> str:
        if v not in choices:
            raise ValueError(f"'{v}' is not {what}; choose from {choices}")
        return v

    return AfterValidator(check)


Feature = Annotated[str, _one_of(FEATURES, "a feature")]
NumericFeature = Annotated[str, _one_of(NUMERIC_FEATURES, "a numeric feature")]
CategoricalFeature = Annotated[str, _one_of(CATEGORICAL_FEATURES, "categorical")]


# -- helpers for injectors -------------------------------------------------------------------


def fresh_applicants(
    ctx: FaultContext, *, stream: int, tag: str, n: int | None = None,
    shift: PopulationShift | None = None,
) -> pd.DataFrame:
    """``n`` (default: ``ctx.rows``) new applicants over the fault window, seeded from the
    drill seed and ``stream``; ``tag`` keeps their request ids apart from other windows'."""
    return simulate_applications(
        ctx.rows if n is None else n, ctx.start, ctx.end, seed=sub_seed(ctx.seed, stream),
        shift=shift, id_prefix=f"{tag}{ctx.seed}-{ctx.start:%Y%m%d%H}",
    )


def picked(ids: pd.Series, share: float, salt: str) -> np.ndarray:
    """Deterministic ~``share`` of rows, chosen by a hash of their request id, so an injector
    and its ``post_write`` agree without sharing state."""
    h = pd.util.hash_pandas_object(ids.astype(str) + salt, index=False).to_numpy()
    return np.asarray((h % 10_000) < round(share * 10_000))


def reference(sandbox: Sandbox) -> pd.DataFrame:
    """The champion's training window."""
    return pd.read_parquet(sandbox.reference_path)


def rewrite_inference(
    ctx: FaultContext,
    days: list[date],
    edit: Callable[[pd.DataFrame, np.ndarray], pd.DataFrame | None],
) -> None:
    """For ``post_write``: ``edit(frame, after_onset)`` each written inference partition that
    holds rows from the onset on; it returns the frame to write back, or None to keep it."""
    onset = pd.Timestamp(ctx.start)
    for day in days:
        path = partition_path(ctx.sandbox.inference_dir, day)
        if not path.is_file():
            continue
        frame = pd.read_parquet(path)
        after = (frame[TIMESTAMP] >= onset).to_numpy()
        if after.any() and (edited := edit(frame, after)) is not None:
            write_parquet(edited, path)


# -- helpers of the injection itself -----------------------------------------------------------


def check_output(frame: pd.DataFrame, ctx: FaultContext) -> None:
    """An injector's rows keep the row contract and stay inside the fault window."""
    missing = [c for c in [ID, TIMESTAMP, *FEATURES] if c not in frame.columns]
    if missing:
        raise SandboxError(f"fault injector '{ctx.kind}' returned no {missing} columns")
    ts = frame[TIMESTAMP]
    if len(frame) and (ts.min() < pd.Timestamp(ctx.start) or ts.max() >= pd.Timestamp(ctx.end)):
        raise SandboxError(
            f"fault injector '{ctx.kind}' returned requests outside "
            f"[{ctx.start.isoformat()}, {ctx.end.isoformat()})"
        )


def decide_with_version_threshold(scored: pd.DataFrame, tags: Mapping[str, str]) -> pd.DataFrame:
    """The decision threshold lives with the serving version (tag ``threshold``, set by the
    recalibrate-threshold remediation); score_traffic's default applies without the tag."""
    try:
        threshold = float(tags.get("threshold", THRESHOLD))
    except ValueError:
        threshold = THRESHOLD
    if threshold == THRESHOLD or scored.empty:
        return scored
    decision = np.where(scored["score"].to_numpy() >= threshold, "decline", "approve")
    return scored.assign(decision=decision)


def rewrite_labels(sandbox: Sandbox, traffic: pd.DataFrame, onset: datetime) -> None:
    """Labels of requests from onset on arrive from onset + delay on; only those are replaced
    (the ones not due yet become the sandbox's pending labels)."""
    cutoff = pd.Timestamp(onset + LABEL_DELAY)
    affected = [d for d in partition_days(sandbox.labels_dir) if d >= cutoff.date()]
    old = read_partitions(sandbox.labels_dir, affected)
    keep = old.loc[old["label_ts"] < cutoff] if len(old) else old
    new = labels_for(traffic, sandbox.now)
    replace_partitions(
        sandbox.labels_dir, affected, pd.concat([keep, new], ignore_index=True), "label_ts"
    )
    pending = pending_labels(sandbox)
    write_pending_labels(sandbox, pd.concat(
        [pending.loc[pending["label_ts"] < cutoff], labels_for(traffic, None)],
        ignore_index=True))


def pending_labels(sandbox: Sandbox) -> pd.DataFrame:
    """Labels of logged requests that have not arrived by the sandbox's now (they arrive as
    ``advance_sandbox`` moves it past their ``label_ts``); empty for a sandbox built before
    they were kept."""
    path = sandbox.pending_labels_path
    if not path.is_file():
        return pd.DataFrame({ID: pd.Series(dtype=str), TARGET: pd.Series(dtype="int64"),
                             "label_ts": pd.Series(dtype="datetime64[us, UTC]")})
    return pd.read_parquet(path)


def write_pending_labels(sandbox: Sandbox, labels: pd.DataFrame,
                         now: datetime | None = None) -> None:
    """Keep the labels not due by ``now`` (default: the sandbox's now)."""
    due_later = labels.loc[labels["label_ts"] > pd.Timestamp(now or sandbox.now)]
    write_parquet(due_later.sort_values("label_ts", kind="stable"), sandbox.pending_labels_path)


def replace_partitions(
    directory: Path, affected: list[date], frame: pd.DataFrame, time_column: str
) -> None:
    """Rewrite ``affected`` day partitions with ``frame``; days it no longer covers go away."""
    written = set(write_partitions(directory, frame, time_column))
    for day in set(affected) - written:
        partition_path(directory, day).unlink(missing_ok=True)
