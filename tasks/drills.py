"""Drill tasks: build a fresh sandbox, inject the fault, score and record the result."""

from __future__ import annotations

import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Any

from prefect import task

from playbooks.drills import Expectation, score_drill
from playbooks.engine.runtime import Runtime
from playbooks.ledger import DrillStore
from playbooks.sandbox import InjectedFault, Sandbox, bootstrap_sandbox, inject_fault, make_fault
from tasks.common import TASK_DEFAULTS

__all__ = ["prepare_drill_sandbox", "record_drill"]


@task(name="prepare-drill-sandbox", **TASK_DEFAULTS)
def prepare_drill_sandbox(root: Path, fault: str, seed: int, rows_per_day: int,
                          history_days: int) -> tuple[Sandbox, InjectedFault]:
    shutil.rmtree(root, ignore_errors=True)  # every drill starts from a known-good system
    sandbox = bootstrap_sandbox(root, seed=seed, rows_per_day=rows_per_day,
                                history_days=history_days)
    return sandbox, inject_fault(sandbox, make_fault(fault), seed=seed + 4)


@task(name="record-drill", **TASK_DEFAULTS)
def record_drill(rt: Runtime, exp: Expectation, result: dict[str, Any], seed: int,
                 injected: InjectedFault) -> dict[str, Any]:
    children = [rt.ledger.get(cid).to_contract() for cid in result.get("child_ids", [])]
    scored = score_drill(exp, result, seed=seed, injected_at=injected.injected_at,
                         children=children)
    DrillStore(rt.ledger).record(scored)
    return asdict(scored)
