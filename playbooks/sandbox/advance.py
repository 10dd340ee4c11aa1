"""Move the sandbox forward in time: simulate more days of production traffic after its "now".

Each simulated day is served by whichever version ``champion`` points at when the sandbox
advances (its version in the ``model_version`` column, decisions at that version's threshold
tag), its labels arrive one delay later (with those of earlier requests that fall due), and
faults that persist go on in it (``FaultParams.persists``; the injector runs again on the new
traffic with ``ctx.ongoing`` set, so a worsening fault can grow). After each day the day's
partitions are merged into the log, the marker's ``now`` moves and the engine clock of the
state dir with it, so a controller pass (``mlpb tick``) sees the new day.

Deterministic: the same sandbox, seed and champion give the same traffic, however the days
are split over calls (each day's random stream is keyed by its start).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from playbooks.clock import set_clock
from playbooks.modelstore.base import ModelVersionInfo
from playbooks.sandbox.bootstrap import (
    CHAMPION_ALIAS,
    Sandbox,
    SandboxError,
    labels_for,
    load_sandbox,
    partition_path,
    score_traffic,
    sub_seed,
    write_parquet,
    write_text_atomic,
)
from playbooks.sandbox.faults import FAULTS, FaultParams, InjectedFault
from playbooks.sandbox.faults.base import (
    FaultContext,
    check_output,
    decide_with_version_threshold,
    pending_labels,
    write_pending_labels,
)
from playbooks.sandbox.simulator import FEATURES, ID, TARGET, TIMESTAMP, simulate_applications

__all__ = ["AdvancedDay", "advance_sandbox", "ongoing_faults"]

DAY = timedelta(days=1)
MAX_DAYS = 60  # one call; a longer run is a loop of calls


@dataclass(frozen=True)
class AdvancedDay:
    """One simulated day: what was served, by which version, and what arrived."""

    start: datetime
    end: datetime  # the sandbox's (and the engine clock's) new now
    requests: int
    model_version: str
    labels_arrived: int
    faults: list[str] = field(default_factory=list)  # persisting faults that went on

    def describe(self) -> str:
        going = f"; ongoing: {', '.join(self.faults)}" if self.faults else ""
        return (f"{self.start:%Y-%m-%d %H:%M} → {self.end:%Y-%m-%d %H:%M} UTC: "
                f"{self.requests} requests served by v{self.model_version}, "
                f"{self.labels_arrived} labels arrived{going}")


def ongoing_faults(sandbox: Sandbox) -> list[tuple[InjectedFault, FaultParams]]:
    """Faults from ``faults.jsonl`` that go on in new traffic: those that persist, injected
    after the last fault that heals (``none``)."""
    if not sandbox.faults_path.is_file():
        return []
    found: list[tuple[InjectedFault, FaultParams]] = []
    for line in sandbox.faults_path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        record = InjectedFault.from_dict(json.loads(line))
        params = FAULTS.parse(record.params)
        if params.heals:
            found = []
        elif params.persists:
            found.append((record, params))
    return found


def advance_sandbox(
    state_dir: Path,
    days: int,
    *,
    seed: int | None = None,
    progress: Callable[[AdvancedDay], None] | None = None,
) -> list[AdvancedDay]:
    """Simulate ``days`` more days of traffic after the sandbox's now (``seed`` default: the
    sandbox's); returns one record per day, also passed to ``progress`` as each is done."""
    if not 1 <= days <= MAX_DAYS:
        raise SandboxError(f"cannot advance the sandbox by {days} days",
                           hint=f"use 1 <= days <= {MAX_DAYS}")
    box = load_sandbox(state_dir)
    settings = box.settings()
    base = int(settings["seed"] if seed is None else seed)
    rows = int(settings["rows_per_day"])
    store = box.model_store()
    champion = store.get_version(box.model_name, CHAMPION_ALIAS)
    model = store.load_model(box.model_name, champion.version)
    ongoing = ongoing_faults(box)
    done: list[AdvancedDay] = []
    for _ in range(days):
        start, end = box.now, box.now + DAY
        day_seed = sub_seed(sub_seed(base, 5), int(start.timestamp()) // 3600)
        traffic = simulate_applications(rows, start, end, seed=day_seed,
                                        id_prefix=f"live-{start:%Y%m%d%H}")
        served, truth, going = _continue_faults(box, traffic, ongoing, champion, day_seed)
        scored = score_traffic(served, model, champion.version, seed=sub_seed(day_seed, 99))
        scored = decide_with_version_threshold(scored, champion.tags)
        for params, ctx in going:
            scored = params.after_scoring(scored, ctx)
        written = _merge_partitions(box.inference_dir, scored, TIMESTAMP)
        for params, ctx in going:
            params.post_write(ctx, written)
        arrived = _deliver_labels(box, truth, end)
        # The marker last: a day that died half-way is simulated again, identically.
        box = _move_now(box, end)
        set_clock(Path(state_dir), end)
        day = AdvancedDay(start, end, len(scored), champion.version, arrived,
                          [ctx.kind for _, ctx in going])
        done.append(day)
        if progress is not None:
            progress(day)
    return done


def _continue_faults(
    box: Sandbox, traffic: pd.DataFrame, ongoing: list[tuple[InjectedFault, FaultParams]],
    champion: ModelVersionInfo, day_seed: int,
) -> tuple[pd.DataFrame, pd.DataFrame, list[tuple[FaultParams, FaultContext]]]:
    """The day's served rows and their outcomes after every ongoing fault had its say."""
    served = traffic[[ID, TIMESTAMP, *FEATURES]]
    truth = traffic[[ID, TIMESTAMP, TARGET]]
    going: list[tuple[FaultParams, FaultContext]] = []
    start = box.now
    for n, (record, params) in enumerate(ongoing):
        now_params = params.continued((start + DAY - record.end) / DAY)
        ctx = FaultContext(sandbox=box, kind=record.kind, start=start, end=start + DAY,
                           rows=len(served), seed=sub_seed(day_seed, 1000 + n),
                           serving_version=champion.version, ongoing=record)
        out = FAULTS.get(record.kind).impl(now_params, served.reset_index(drop=True), ctx)
        check_output(out, ctx)
        if TARGET in out.columns:  # new applicants or new outcomes
            truth = out[[ID, TIMESTAMP, TARGET]]
        else:  # the same applicants, logged differently: their outcomes stand
            truth = out[[ID, TIMESTAMP]].merge(truth[[ID, TARGET]].drop_duplicates(ID),
                                               on=ID, how="inner")
        served = out[[ID, TIMESTAMP, *FEATURES]]
        going.append((now_params, ctx))
    return served.reset_index(drop=True), truth.reset_index(drop=True), going


def _merge_partitions(directory: Path, frame: pd.DataFrame, time_column: str) -> list[Any]:
    """Add ``frame``'s rows to the day partitions they fall in (a row already there, by
    request id, is replaced: re-running a day that crashed half-way does not duplicate it)."""
    written = []
    for day, part in frame.groupby(frame[time_column].dt.date, sort=True):
        path = partition_path(directory, day)
        if path.is_file():
            old = pd.read_parquet(path)
            part = pd.concat([old.loc[~old[ID].isin(part[ID])], part], ignore_index=True)
        write_parquet(part.sort_values(time_column, kind="stable"), path)
        written.append(day)
    return written


def _deliver_labels(box: Sandbox, truth: pd.DataFrame, now: datetime) -> int:
    """Labels due by ``now`` land in their arrival-day partitions; the rest wait."""
    waiting = pd.concat([pending_labels(box), labels_for(truth, None)], ignore_index=True)
    due = waiting.loc[waiting["label_ts"] <= pd.Timestamp(now)]
    if len(due):
        _merge_partitions(box.labels_dir, due, "label_ts")
    write_pending_labels(box, waiting, now)
    return len(due)


def _move_now(box: Sandbox, now: datetime) -> Sandbox:
    settings = box.settings()
    settings["now"] = now.isoformat()
    settings["advanced_days"] = int(settings.get("advanced_days", 0)) + 1
    write_text_atomic(box.marker_path, json.dumps(settings, indent=2) + "\n")
    return load_sandbox(box.state_dir)
