"""A game-day drill: inject a known fault into a fresh sandbox, trigger the playbook the way
its alert would (the owning playbook, or triage for vague alerts), play live monitoring out
on the sandbox's clock, score the response."""

from __future__ import annotations

import secrets
from typing import Any

from prefect import flow

from flows.engine import run_playbook
from playbooks.drills import expectation_for
from playbooks.drills.live import sandbox_time
from playbooks.sandbox import FAULTS
from tasks.drills import (
    approve_drill_changes,
    follow_drill_monitoring,
    prepare_drill_sandbox,
    record_drill,
)
from tasks.prefect_context import prefect_runtime

__all__ = ["run_drill"]


@flow(name="drill", flow_run_name="drill: {fault} (seed {seed})")
def run_drill(fault: str, seed: int = 1, home: str | None = None, rows_per_day: int = 1200,
              history_days: int = 21, quiet: bool = True) -> dict[str, Any]:
    """Run one drill and return its score (also recorded in the ledger, marked as a drill)."""
    rt = prefect_runtime(home, quiet=quiet)
    exp = expectation_for(fault, FAULTS.get(fault).params)
    root = rt.settings.home / "drills" / f"{fault}-seed{seed}"
    sandbox, injected = prepare_drill_sandbox(root, fault, seed, rows_per_day, history_days)
    with sandbox_time(sandbox):  # the engine runs on the drill's simulated time
        result = run_playbook(
            playbook=exp.entry_playbook, profile=str(sandbox.profile_path),
            home=str(rt.settings.home), trigger={"source": "drill", "fault": fault, "seed": seed},
            drill=True, quiet=quiet, dedup_key=f"drill:{fault}:{seed}:{secrets.token_hex(3)}")
        approve_drill_changes(rt, result)  # a game day runs unattended: recorded as 'drill'
    follow_drill_monitoring(rt, sandbox, result)
    return record_drill(rt, exp, result, seed, injected)
