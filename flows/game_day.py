"""Game-day drill: inject a known fault into a fresh sandbox, raise the alert it would raise,
run the playbook exactly as an alert would, and score the response (DESIGN.md §3).

Served on a cron schedule by deployments/serve.py (``MLPB_GAMEDAY_CRON``, default weekly).
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.runtime import flow_run

from flows.engine import run_playbook
from playbooks.alerts.drill import drill_alert, drill_rules, pick_fault, score_drill
from playbooks.alerts.intake import AlertIntake
from playbooks.config import load_settings
from playbooks.ledger import AlertStore, DrillStore, Ledger
from playbooks.sandbox import FAULTS, bootstrap_sandbox, inject_fault, make_fault
from tasks.common import TASK_DEFAULTS

__all__ = ["game_day"]


@task(name="prepare-drill-sandbox", **TASK_DEFAULTS)
def prepare_sandbox(home: Path, fault: str, seed: int, rows_per_day: int, history_days: int,
                    days: int) -> tuple[Any, Any]:
    # A fresh sandbox each time: earlier drills' faults and retrained champions must not leak.
    sb = bootstrap_sandbox(home / "gameday", seed=seed, rows_per_day=rows_per_day,
                           history_days=history_days, force=True)
    return sb, inject_fault(sb, make_fault(fault), days=days, seed=seed + 4)


@task(name="raise-drill-alert", **TASK_DEFAULTS)
def raise_alert(ledger_url: str, home: Path, sandbox: Any, playbook: str, fault: str,
                drill_id: str, run_id: str) -> dict[str, Any]:
    """The receiver's intake, in process: routing, dedup key, incident opened (drill=True)."""
    intake = AlertIntake(AlertStore(Ledger(ledger_url)),
                         drill_rules(playbook, sandbox.profile_path), home=home)
    (result,) = intake.accept([drill_alert(sandbox.model_name, playbook, fault, drill_id)],
                              running_as=run_id)
    if result.incident_id is None:
        raise RuntimeError(f"drill alert was not accepted: {result.error}")
    return intake.run_parameters(result.incident_id)


@flow(name="game-day", flow_run_name="drill: {fault}")
def game_day(fault: str = "random", seed: int | None = None, playbook: str = "data-drift",
             rows_per_day: int = 400, history_days: int = 21, days: int = 7,
             home: str | None = None) -> dict[str, Any]:
    """Inject ``fault`` (or a seeded random one: covariate-drift, unit-change, none), run
    ``playbook`` through the alert path and record the drill's score in the ledger."""
    settings = load_settings(home).ensure()
    seed = seed if seed is not None else secrets.randbelow(10_000)
    kind = pick_fault(FAULTS.kinds(), fault, seed)
    drill_id = f"DRILL-{secrets.token_hex(4)}"
    sandbox, injected = prepare_sandbox(settings.home, kind, seed, rows_per_day, history_days,
                                        days)
    params = raise_alert(settings.ledger_url, settings.home, sandbox, playbook, kind, drill_id,
                         str(flow_run.get_id() or drill_id))
    incident = run_playbook(**params, home=str(settings.home), quiet=True)
    result = score_drill(drill_id=drill_id, incident=incident, playbook=playbook, fault=kind,
                         seed=seed, injected_at=injected.injected_at,
                         detail={"injected": injected.to_dict()})
    DrillStore(Ledger(settings.ledger_url)).record(result)
    return {**result.__dict__, "at": result.at.isoformat()}
