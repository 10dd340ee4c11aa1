"""The incident controller as a Prefect flow: ``advance-incidents`` moves every waiting
incident forward (measure a due window, resolve, revert, escalate) and flushes the outbox.
Deployed on a schedule; idempotent, so overlapping runs are safe."""

from __future__ import annotations

from typing import Any

from prefect import flow, task

from playbooks.engine import escalation, monitor
from tasks.common import TASK_DEFAULTS
from tasks.prefect_context import prefect_runtime

__all__ = ["advance_incidents"]


@task(name="advance-incident", task_run_name="advance-{incident_id}", **TASK_DEFAULTS)
def advance_one(home: str | None, incident_id: str) -> list[dict[str, str]]:
    rt = prefect_runtime(home, quiet=True)
    return [vars(s) for s in monitor.advance_safely(rt, incident_id)]


@task(name="advance-people", task_run_name="people-{incident_id}", **TASK_DEFAULTS)
def advance_people(home: str | None, incident_id: str) -> list[dict[str, str]]:
    rt = prefect_runtime(home, quiet=True)
    return [vars(s) for s in escalation.advance_people_safely(rt, incident_id)]


@flow(name="advance-incidents", log_prints=False)
def advance_incidents(home: str | None = None) -> list[dict[str, Any]]:
    """One controller pass: every incident waiting in monitoring, then the people side
    (expired approvals, approved changes to carry out, escalation levels to page)."""
    rt = prefect_runtime(home, quiet=True)
    steps: list[dict[str, Any]] = []
    for inc_id in monitor.waiting_incidents(rt):
        steps += advance_one(home, inc_id)
    for inc_id in escalation.people_incidents(rt):
        steps += advance_people(home, inc_id)
    monitor.finish_pass(rt)  # reminders for what waits, then the outbox
    return steps
