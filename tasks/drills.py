"""Drill tasks: build a fresh sandbox, inject the fault, play monitoring out, score and record
the result."""

from __future__ import annotations

import shutil
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from prefect import task

from playbooks.drills import Expectation, score_drill
from playbooks.drills.live import approve_waiting, follow_monitoring
from playbooks.engine.runtime import Runtime
from playbooks.ledger import DrillStore
from playbooks.models.incident import utcnow
from playbooks.sandbox import InjectedFault, Sandbox, bootstrap_sandbox, inject_fault, make_fault
from tasks.common import TASK_DEFAULTS

__all__ = ["approve_drill_changes", "follow_drill_monitoring", "prepare_drill_sandbox",
           "record_drill"]


@task(name="prepare-drill-sandbox", **TASK_DEFAULTS)
def prepare_drill_sandbox(root: Path, fault: str, seed: int, rows_per_day: int,
                          history_days: int) -> tuple[Sandbox, InjectedFault]:
    shutil.rmtree(root, ignore_errors=True)  # every drill starts from a known-good system
    sandbox = bootstrap_sandbox(root, seed=seed, rows_per_day=rows_per_day,
                                history_days=history_days)
    return sandbox, inject_fault(sandbox, make_fault(fault), seed=seed + 4)


@task(name="approve-drill-changes", **TASK_DEFAULTS)
def approve_drill_changes(rt: Runtime, result: dict[str, Any]) -> list[str]:
    """A drill's change that waits for an approval is approved by the drill itself (channel
    'drill', allowed on drill incidents only) and carried out; returns their ids."""
    done = approve_waiting(str(rt.settings.home), [result["id"]], approver="game-day drill",
                           channel="drill")
    return [inc.id for inc in done]


@task(name="follow-drill-monitoring", **TASK_DEFAULTS)
def follow_drill_monitoring(rt: Runtime, sandbox: Sandbox, result: dict[str, Any]) -> int:
    """Advance the drill's sandbox day by day, with a controller pass for the drill's
    incidents each day, until they leave monitoring; returns the simulated days."""
    ids = [result["id"], *result.get("child_ids", [])]
    return len(follow_monitoring(str(rt.settings.home), sandbox.state_dir, ids))


@task(name="record-drill", **TASK_DEFAULTS)
def record_drill(rt: Runtime, exp: Expectation, result: dict[str, Any], seed: int,
                 injected: InjectedFault) -> dict[str, Any]:
    """Score the incidents as the ledger has them now (monitoring may have moved them on).
    Times are the engine's, i.e. the sandbox's: detection counts from the moment the fault
    was in place and the drill's alert fired."""
    entry = rt.ledger.get(result["id"]).to_contract()
    children = [rt.ledger.get(cid).to_contract() for cid in entry.get("child_ids", [])]
    scored = score_drill(exp, entry, seed=seed, injected_at=injected.end, children=children)
    # Engine time stands still while a run works (the sandbox's clock moves only by days), so
    # the drill's real duration is kept beside it.
    wall = (utcnow() - injected.injected_at).total_seconds()
    scored = replace(scored, detail={**scored.detail, "wall_seconds": round(wall, 1)})
    DrillStore(rt.ledger).record(scored)
    return asdict(scored)
