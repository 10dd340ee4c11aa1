"""Fault injection for drills: rewrite the tail of the sandbox's inference log.

A fault is a typed pydantic params model (``kind`` is its name) plus an injector function
``fn(fault, window, ctx) -> DataFrame`` that turns the last ``days`` of traffic into faulty
traffic. A params model may also define ``post_write(ctx, days)``, called after the affected
day partitions were rewritten, for what rows cannot express (a renamed column, say);
``before_scoring(ctx)``, called before the window is scored (model faults register and
promote a version there), and ``after_scoring(scored, ctx) -> DataFrame``, which rewrites
what the log records for the scored rows (latency, status, scores as served). ``window``
holds the logged rows being replaced (request id, ts, features as logged); the injector
returns rows with the same columns, and a ``defaulted`` column when it made up
new applicants (their labels are then rewritten too) - without it the labels stay as they are,
because the fault did not change who applied, only what was logged.

The shared machinery then scores the rows with the *current* champion from MLflow (so a unit
change reaches the model as it would in production), rewrites the affected inference and label
partitions and appends a record to ``faults.jsonl``.

Injectors are marked with :func:`fault_injector`; :data:`FAULTS` is built once from this
module and never mutated. To add faults elsewhere, build your own registry with
``FAULTS.extended(other_module)`` - duplicates are rejected either way.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar, Literal, TypeVar

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

from playbooks.errors import UnknownNameError
from playbooks.sandbox.bootstrap import (
    CHAMPION_ALIAS,
    LABEL_DELAY,
    THRESHOLD,
    Sandbox,
    SandboxError,
    labels_for,
    partition_days,
    partition_path,
    read_partitions,
    score_traffic,
    sub_seed,
    write_partitions,
)
from playbooks.sandbox.simulator import (
    FEATURES,
    ID,
    NUMERIC_FEATURES,
    TARGET,
    TIMESTAMP,
    PopulationShift,
    simulate_applications,
)

__all__ = [
    "FAULTS",
    "CovariateDrift",
    "FaultContext",
    "FaultInjector",
    "FaultRegistry",
    "InjectedFault",
    "NoFault",
    "UnitChange",
    "fault_injector",
    "inject_fault",
    "make_fault",
]

_MARK = "__mlpb_fault__"
F = TypeVar("F", bound=Callable[..., pd.DataFrame])


class _FaultParams(BaseModel):
    """Base of every fault's params. The ClassVars say what a drill expects: the playbook
    that owns the failure, the hypothesis id that must come out top-1, and whether the
    alert such a fault raises names that playbook (else it goes through triage)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    playbook: ClassVar[str] = "data-drift"
    root_cause: ClassVar[str] = "population-shift"
    alert_names_playbook: ClassVar[bool] = True


class NoFault(_FaultParams):
    """Healthy traffic: replaces the window with a fresh normal population (a drill control)."""

    kind: Literal["none"] = "none"
    root_cause: ClassVar[str] = "no-material-drift"


class CovariateDrift(_FaultParams):
    """The applicant population shifts (younger, more indebted renters, new region mix)."""

    kind: Literal["covariate-drift"] = "covariate-drift"
    strength: float = Field(
        default=1.0, gt=0.0, le=3.0, description="1.0 = clearly material drift."
    )
    features: list[str] | None = Field(
        default=None, description="Shift only these features (see SHIFTABLE_FEATURES); None = all."
    )


class UnitChange(_FaultParams):
    """Upstream changes a column's unit (income sent in thousands); nothing else changes.

    The rescaled column is logged as float, so an integer feature changes type too - as it
    would when an upstream system changes its unit.
    """

    kind: Literal["unit-change"] = "unit-change"
    root_cause: ClassVar[str] = "upstream-unit-change"
    feature: str = Field(
        default="annual_income", description="Numeric feature whose unit changes."
    )
    factor: float = Field(
        default=0.001, gt=0.0, description="Logged value = true value x factor."
    )

    @field_validator("feature")
    @classmethod
    def _numeric(cls, v: str) -> str:
        if v not in NUMERIC_FEATURES:
            raise ValueError(f"'{v}' is not a numeric feature; choose from {NUMERIC_FEATURES}")
        return v


@dataclass(frozen=True)
class FaultContext:
    """What an injector may use besides the window itself."""

    sandbox: Sandbox
    start: datetime  # onset of the fault
    end: datetime  # the sandbox's "now"
    rows: int  # how many requests the window should hold
    seed: int


Injector = Callable[[Any, pd.DataFrame, FaultContext], pd.DataFrame]


@dataclass(frozen=True)
class FaultInjector:
    kind: str
    params: type[BaseModel]
    inject: Injector
    doc: str


@dataclass(frozen=True)
class InjectedFault:
    """What :func:`inject_fault` did; also the line appended to ``faults.jsonl``."""

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


def fault_injector(params: type[BaseModel]) -> Callable[[F], F]:
    """Mark ``fn(fault, window, ctx) -> DataFrame`` as the injector for ``params``' kind."""
    kind = params.model_fields["kind"].default
    if not isinstance(kind, str) or not kind:
        raise TypeError(f"{params.__name__} needs a string default for its 'kind' field")

    def mark(fn: F) -> F:
        setattr(fn, _MARK, FaultInjector(kind, params, fn, (fn.__doc__ or "").strip()))
        return fn

    return mark


class FaultRegistry:
    """An immutable kind -> injector map; duplicate kinds are an error."""

    def __init__(self, injectors: Iterable[FaultInjector]) -> None:
        table: dict[str, FaultInjector] = {}
        for inj in injectors:
            if inj.kind in table and table[inj.kind].inject is not inj.inject:
                raise ValueError(
                    f"duplicate fault kind '{inj.kind}': {_where(table[inj.kind].inject)} and "
                    f"{_where(inj.inject)}; rename one of them"
                )
            table[inj.kind] = inj
        self._table = table

    @classmethod
    def from_modules(cls, modules: Iterable[ModuleType]) -> FaultRegistry:
        return cls(_marked(modules))

    def extended(self, *modules: ModuleType) -> FaultRegistry:
        """A new registry with this one's injectors plus those marked in ``modules``."""
        return FaultRegistry([*self._table.values(), *_marked(modules)])

    def kinds(self) -> list[str]:
        return sorted(self._table)

    def get(self, kind: str) -> FaultInjector:
        try:
            return self._table[kind]
        except KeyError:
            raise UnknownNameError(
                f"unknown fault kind '{kind}'", hint=f"known kinds: {', '.join(self.kinds())}"
            ) from None

    def parse(self, fault: BaseModel | Mapping[str, Any]) -> BaseModel:
        """Validate a fault given as params model or as a mapping with a ``kind`` key."""
        return self.resolve(fault)[1]

    def resolve(self, fault: BaseModel | Mapping[str, Any]) -> tuple[FaultInjector, BaseModel]:
        """The injector for ``fault`` and its validated params."""
        raw = fault.model_dump() if isinstance(fault, BaseModel) else dict(fault)
        injector = self.get(str(raw.get("kind", "")))
        return injector, injector.params.model_validate(raw)


def make_fault(kind: str, **params: Any) -> BaseModel:
    """The validated fault ``kind`` with ``params``, e.g. ``make_fault("unit-change")``."""
    return FAULTS.parse({**params, "kind": kind})


def inject_fault(
    sandbox: Sandbox,
    fault: BaseModel | Mapping[str, Any],
    *,
    days: int = 7,
    seed: int = 11,
    registry: FaultRegistry | None = None,
) -> InjectedFault:
    """Replace the last ``days`` of the sandbox's traffic with faulty traffic."""
    faults = registry or FAULTS
    injector, params = faults.resolve(fault)
    settings = sandbox.settings()
    if not 1 <= days <= int(settings["history_days"]):
        raise SandboxError(
            f"cannot inject a fault over {days} days into a {settings['history_days']}-day log",
            hint=f"use 1 <= days <= {settings['history_days']}",
        )
    end = sandbox.now
    onset = end - timedelta(days=days)
    affected = [d for d in partition_days(sandbox.inference_dir) if d >= onset.date()]
    logged = read_partitions(sandbox.inference_dir, affected)
    if logged.empty:
        raise SandboxError(
            f"the sandbox at {sandbox.root} has no inference log after {onset.isoformat()}",
            hint="rebuild it with bootstrap_sandbox(..., force=True)",
        )
    in_window = logged[TIMESTAMP] >= pd.Timestamp(onset)
    before = logged.loc[~in_window]
    window = logged.loc[in_window, [ID, TIMESTAMP, *FEATURES]].reset_index(drop=True)
    rows = len(window) or int(settings["rows_per_day"]) * days
    ctx = FaultContext(sandbox=sandbox, start=onset, end=end, rows=rows, seed=seed)

    faulty = injector.inject(params, window, ctx)
    _check_output(injector.kind, faulty, ctx)
    before_scoring = getattr(params, "before_scoring", None)
    if callable(before_scoring):  # model faults: register / promote a version first
        before_scoring(ctx)

    store = sandbox.model_store()
    champion = store.get_version(sandbox.model_name, CHAMPION_ALIAS)
    model = store.load_model(sandbox.model_name, champion.version)
    scored = score_traffic(faulty, model, champion.version, seed=sub_seed(seed, 99))
    scored = _decide_with_version_threshold(scored, champion.tags)
    after_scoring = getattr(params, "after_scoring", None)
    if callable(after_scoring):  # serving faults: what the log records (latency, status...)
        scored = after_scoring(scored, ctx)
    _replace_partitions(
        sandbox.inference_dir, affected, pd.concat([before, scored], ignore_index=True), TIMESTAMP
    )

    labels_rewritten = TARGET in faulty.columns
    if labels_rewritten:
        _rewrite_labels(sandbox, faulty, onset)
    post_write = getattr(params, "post_write", None)
    if callable(post_write):  # faults the row contract cannot express (renamed columns, ...)
        post_write(ctx, affected)

    record = InjectedFault(
        kind=injector.kind,
        params=params.model_dump(mode="json"),
        onset=onset,
        end=end,
        rows=len(faulty),
        labels_rewritten=labels_rewritten,
        model_version=champion.version,
        seed=seed,
    )
    with sandbox.faults_path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(record.to_dict()) + "\n")
    return record


# -- the built-in faults ---------------------------------------------------------------------


@fault_injector(NoFault)
def inject_no_fault(fault: NoFault, window: pd.DataFrame, ctx: FaultContext) -> pd.DataFrame:
    """Fresh applicants from the normal population."""
    return _fresh(ctx, None)


@fault_injector(CovariateDrift)
def inject_covariate_drift(
    fault: CovariateDrift, window: pd.DataFrame, ctx: FaultContext
) -> pd.DataFrame:
    """Fresh applicants from a shifted population; the default process is unchanged."""
    return _fresh(ctx, PopulationShift(strength=fault.strength, features=fault.features))


@fault_injector(UnitChange)
def inject_unit_change(fault: UnitChange, window: pd.DataFrame, ctx: FaultContext) -> pd.DataFrame:
    """The same applicants, with one column logged (and served) in another unit."""
    out = window.copy()
    out[fault.feature] = out[fault.feature].astype(float) * fault.factor
    return out




# -- helpers ---------------------------------------------------------------------------------


def _fresh(ctx: FaultContext, shift: PopulationShift | None) -> pd.DataFrame:
    prefix = f"f{ctx.seed}-{ctx.start:%Y%m%d%H}"
    return simulate_applications(
        ctx.rows, ctx.start, ctx.end, seed=sub_seed(ctx.seed, 7), shift=shift, id_prefix=prefix
    )


def _decide_with_version_threshold(scored: pd.DataFrame, tags: Mapping[str, str]) -> pd.DataFrame:
    # The decision threshold lives with the serving version (tag ``threshold``, set by the
    # recalibrate-threshold remediation); score_traffic's default applies without the tag.
    try:
        threshold = float(tags.get("threshold", THRESHOLD))
    except ValueError:
        threshold = THRESHOLD
    if threshold == THRESHOLD or scored.empty:
        return scored
    decision = np.where(scored["score"].to_numpy() >= threshold, "decline", "approve")
    return scored.assign(decision=decision)


def _rewrite_labels(sandbox: Sandbox, traffic: pd.DataFrame, onset: datetime) -> None:
    # Labels of requests from onset on arrive from onset + delay on; only those are replaced.
    cutoff = pd.Timestamp(onset + LABEL_DELAY)
    affected = [d for d in partition_days(sandbox.labels_dir) if d >= cutoff.date()]
    old = read_partitions(sandbox.labels_dir, affected)
    keep = old.loc[old["label_ts"] < cutoff] if len(old) else old
    new = labels_for(traffic, sandbox.now)
    _replace_partitions(
        sandbox.labels_dir, affected, pd.concat([keep, new], ignore_index=True), "label_ts"
    )


def _replace_partitions(
    directory: Path, affected: list[date], frame: pd.DataFrame, time_column: str
) -> None:
    """Rewrite ``affected`` day partitions with ``frame``; days it no longer covers go away."""
    written = set(write_partitions(directory, frame, time_column))
    for day in set(affected) - written:
        partition_path(directory, day).unlink(missing_ok=True)


def _check_output(kind: str, frame: pd.DataFrame, ctx: FaultContext) -> None:
    missing = [c for c in [ID, TIMESTAMP, *FEATURES] if c not in frame.columns]
    if missing:
        raise SandboxError(f"fault injector '{kind}' returned no {missing} columns")
    ts = frame[TIMESTAMP]
    if len(frame) and (ts.min() < pd.Timestamp(ctx.start) or ts.max() >= pd.Timestamp(ctx.end)):
        raise SandboxError(
            f"fault injector '{kind}' returned requests outside "
            f"[{ctx.start.isoformat()}, {ctx.end.isoformat()})"
        )


def _marked(modules: Iterable[ModuleType]) -> list[FaultInjector]:
    return [getattr(v, _MARK) for m in modules for v in vars(m).values() if hasattr(v, _MARK)]


def _where(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


def _fault_modules() -> list[ModuleType]:
    """This module plus every ``playbooks.sandbox.faults_*`` module (one per fault family),
    so a new family registers by existing; their imports of this module are satisfied
    because everything they use is defined above."""
    import importlib
    import pkgutil

    package = importlib.import_module("playbooks.sandbox")
    names = sorted(m.name for m in pkgutil.iter_modules(package.__path__)
                   if m.name.startswith("faults_"))
    return [sys.modules[__name__],
            *(importlib.import_module(f"playbooks.sandbox.{n}") for n in names)]


# Built once, from the injectors marked in the fault modules; read-only afterwards.
FAULTS: FaultRegistry = FaultRegistry.from_modules(_fault_modules())
