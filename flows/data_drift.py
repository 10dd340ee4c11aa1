"""The data-drift playbook as its own flow (typed parameters render a form in the UI)."""

from __future__ import annotations

from typing import Any

from prefect import flow

from flows.engine import run_playbook

__all__ = ["data_drift"]


@flow(name="data-drift")
def data_drift(profile: str, dry_run: bool = False) -> dict[str, Any]:
    """Input data drift: population shift vs upstream unit change vs false alarm."""
    return run_playbook(playbook="data-drift", profile=profile, dry_run=dry_run)
