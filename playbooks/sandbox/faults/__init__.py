"""Fault injection for drills: rewrite the tail of the sandbox's inference log.

A fault is an injector ``fn(params, window, ctx) -> DataFrame`` registered with
``@fault(name, params=XParams)`` (``playbooks.engine.plugins``), where ``XParams`` is a
:class:`FaultParams` model. The injector turns the last ``days`` of traffic into faulty
traffic: ``window`` holds the logged rows being replaced (request id, ts, features as logged);
it returns rows with the same columns, and a ``defaulted`` column when it made up new
applicants or changed outcomes (their labels are then rewritten too) - without it the labels
stay as they are, because the fault did not change who applied, only what was logged. An
injector may also change the model store first (a release fault promotes a version). The
params' hooks cover the rest: ``after_scoring`` rewrites what the log records for the scored
rows (latency, status), ``post_write`` edits the rewritten day partitions (a renamed column).

The shared machinery then scores the rows with the *current* champion from MLflow (so a unit
change reaches the model as it would in production), rewrites the affected inference and label
partitions and appends a record to ``faults.jsonl``.

:data:`FAULTS` is built once from this package's modules (one per fault family: ``data``,
``model``; a new module registers by existing) and never mutated. To add faults elsewhere,
use ``FAULTS.extend([module])`` - duplicate names are rejected either way.
"""

from __future__ import annotations

import json
import pkgutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from types import ModuleType
from typing import Any

import pandas as pd

from playbooks.engine.plugins import Plugin, PluginTable
from playbooks.errors import UnknownNameError
from playbooks.sandbox.bootstrap import (
    CHAMPION_ALIAS,
    Sandbox,
    SandboxError,
    partition_days,
    read_partitions,
    score_traffic,
    sub_seed,
)
from playbooks.sandbox.faults.base import (
    FaultContext,
    FaultParams,
    InjectedFault,
    check_output,
    decide_with_version_threshold,
    replace_partitions,
    rewrite_labels,
)
from playbooks.sandbox.faults.data import CovariateDrift, NoFault, UnitChange
from playbooks.sandbox.simulator import FEATURES, ID, TARGET, TIMESTAMP

__all__ = [
    "FAULTS",
    "CovariateDrift",
    "FaultContext",
    "FaultParams",
    "FaultTable",
    "InjectedFault",
    "NoFault",
    "UnitChange",
    "inject_fault",
    "make_fault",
]


@dataclass(frozen=True)
class FaultTable:
    """The faults of a :class:`PluginTable`, looked up the way drills need them. Only a view:
    registration and the duplicate check are the plugin table's."""

    plugins: PluginTable

    def __post_init__(self) -> None:
        owners: dict[type[Any], str] = {}
        for kind in self.kinds():
            params = self.plugins.get("fault", kind).params
            if not issubclass(params, FaultParams):
                raise TypeError(f"fault '{kind}': {params.__name__} must subclass FaultParams")
            if params in owners:  # inject_fault finds a fault by its params' class
                raise ValueError(f"faults '{owners[params]}' and '{kind}' share the params "
                                 f"{params.__name__}; give each its own")
            owners[params] = kind

    @classmethod
    def from_modules(cls, modules: Iterable[str | ModuleType]) -> FaultTable:
        return cls(PluginTable.from_modules(modules))

    def extend(self, modules: Iterable[str | ModuleType]) -> FaultTable:
        """A new table with these faults plus those marked in ``modules``."""
        return FaultTable(self.plugins.extend(modules))

    def kinds(self) -> list[str]:
        return self.plugins.names("fault")

    def get(self, kind: str) -> Plugin[FaultParams]:
        if kind not in self.kinds():
            raise UnknownNameError(
                f"unknown fault kind '{kind}'", hint=f"known kinds: {', '.join(self.kinds())}"
            )
        return self.plugins.get("fault", kind)

    def parse(self, fault: FaultParams | Mapping[str, Any]) -> FaultParams:
        """Validate a fault given as params model or as a mapping with a ``kind`` key."""
        return self.resolve(fault)[1]

    def resolve(self, fault: FaultParams | Mapping[str, Any]) -> tuple[str, FaultParams]:
        """The name of ``fault`` and its validated params."""
        if isinstance(fault, FaultParams):
            kind = next((k for k in self.kinds() if self.get(k).params is type(fault)), None)
            if kind is None:
                raise UnknownNameError(f"{type(fault).__name__} is not the params of a known "
                                       "fault", hint=f"known kinds: {', '.join(self.kinds())}")
            return kind, fault
        raw = dict(fault)
        kind = str(raw.pop("kind", ""))
        return kind, self.get(kind).parse_params(raw)


def _family_modules() -> list[str]:
    return [f"{__name__}.{m.name}" for m in pkgutil.iter_modules(__path__)]


# Built once, from the injectors marked in this package's modules; read-only afterwards.
FAULTS = FaultTable.from_modules(_family_modules())


def make_fault(kind: str, **params: Any) -> FaultParams:
    """The validated fault ``kind`` with ``params``, e.g. ``make_fault("unit-change")``."""
    return FAULTS.parse({**params, "kind": kind})


def inject_fault(
    sandbox: Sandbox,
    fault: FaultParams | Mapping[str, Any],
    *,
    days: int = 7,
    seed: int = 11,
    table: FaultTable | None = None,
) -> InjectedFault:
    """Replace the last ``days`` of the sandbox's traffic with faulty traffic."""
    faults = table or FAULTS
    kind, params = faults.resolve(fault)
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
    store = sandbox.model_store()
    serving = store.get_version(sandbox.model_name, CHAMPION_ALIAS).version
    ctx = FaultContext(sandbox=sandbox, kind=kind, start=onset, end=end, rows=rows, seed=seed,
                       serving_version=serving)

    faulty: pd.DataFrame = faults.get(kind).impl(params, window, ctx)
    check_output(faulty, ctx)

    champion = store.get_version(sandbox.model_name, CHAMPION_ALIAS)  # a release promotes one
    model = store.load_model(sandbox.model_name, champion.version)
    scored = score_traffic(faulty, model, champion.version, seed=sub_seed(seed, 99))
    scored = params.after_scoring(decide_with_version_threshold(scored, champion.tags), ctx)
    replace_partitions(
        sandbox.inference_dir, affected, pd.concat([before, scored], ignore_index=True), TIMESTAMP
    )

    labels_rewritten = TARGET in faulty.columns
    if labels_rewritten:
        rewrite_labels(sandbox, faulty, onset)
    params.post_write(ctx, affected)

    record = InjectedFault(
        kind=kind,
        params={"kind": kind, **params.model_dump(mode="json")},
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
