"""Game-day drill on a schedule: inject a known fault into a fresh sandbox, raise the alert it
would raise, run the playbook exactly as an alert would (the receiver's intake opens the
incident; the engine flow adopts it), play live monitoring out on the sandbox's simulated
clock (only the drill's incidents: production's wait on production's clock), and score the
response (DESIGN.md §3).

Served on a cron schedule by deployments/serve.py (``MLPB_GAMEDAY_CRON``, default weekly).
``flows/drill.py`` runs a drill without the alert path; both score with ``playbooks.drills``.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.runtime import flow_run

from flows.engine import run_playbook
from playbooks.alerts.drill import drill_alert, drill_rules, pick_fault
from playbooks.alerts.intake import AlertIntake
from playbooks.drills import expectation_for
from playbooks.drills.live import sandbox_time
from playbooks.engine.runtime import Runtime
from playbooks.ledger import AlertStore
from playbooks.sandbox import FAULTS
from tasks.common import TASK_DEFAULTS
from tasks.drills import follow_drill_monitoring, prepare_drill_sandbox, record_drill
from tasks.prefect_context import prefect_runtime

__all__ = ["game_day"]


@task(name="raise-drill-alert", **TASK_DEFAULTS)
def raise_alert(rt: Runtime, profile: Path, model: str, playbook: str, fault: str,
                drill_id: str, run_id: str) -> dict[str, Any]:
    """The receiver's intake, in process: routing, dedup key, incident opened (drill=True).
    Returns the parameters a dispatched deployment run would get."""
    intake = AlertIntake(AlertStore(rt.ledger), drill_rules(playbook, profile),
                         home=rt.settings.home)
    (result,) = intake.accept([drill_alert(model, playbook, fault, drill_id)],
                              running_as=run_id)  # this flow runs it: no dispatch loop may
    if result.incident_id is None:
        raise RuntimeError(f"the drill alert opened no incident: {result.error}")
    return intake.run_parameters(result.incident_id)


@flow(name="game-day", flow_run_name="game day: {fault}")
def game_day(fault: str = "random", seed: int | None = None, rows_per_day: int = 1200,
             history_days: int = 21, home: str | None = None) -> dict[str, Any]:
    """Inject ``fault`` (or a seeded random sandbox fault), alert, run, score; the score is
    recorded in the ledger's drill results (drills are excluded from production MTTx)."""
    rt = prefect_runtime(home, quiet=True)
    seed = seed if seed is not None else secrets.randbelow(10_000)
    kind = pick_fault(FAULTS.kinds(), fault, seed)
    exp = expectation_for(kind, FAULTS.get(kind).params)
    drill_id = f"DRILL-{secrets.token_hex(4)}"
    sandbox, injected = prepare_drill_sandbox(rt.settings.home / "gameday", kind, seed,
                                              rows_per_day, history_days)
    with sandbox_time(sandbox):  # the drill's simulated time, never the home's clock file
        params = raise_alert(rt, sandbox.profile_path, sandbox.model_name, exp.entry_playbook,
                             kind, drill_id, str(flow_run.get_id() or drill_id))
        result = run_playbook(**params, home=str(rt.settings.home), quiet=True)
    follow_drill_monitoring(rt, sandbox, result)
    return record_drill(rt, exp, result, seed, injected)
