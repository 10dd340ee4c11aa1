"""Undo one journalled change: the only revert path, used by the Prefect ``on_rollback``
hook of a run that is alive and by crash recovery for a run that died."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playbooks.engine.plugins import PluginTable, default_plugins
from playbooks.ledger import Ledger
from playbooks.models.profile import ModelProfile
from playbooks.modelstore.base import ModelStore
from playbooks.remediations.base import RevertContext

__all__ = ["Undo", "revert_change"]


@dataclass(frozen=True)
class Undo:
    """What reverting needs, as plain data: set before apply acts, so a change that dies
    half-way can still be found and undone."""

    incident_id: str
    remediation_id: str
    action: str
    seq: int  # the remediation journal entry
    profile: ModelProfile
    state_dir: Path


def revert_change(
    undo: Undo,
    change: dict[str, Any] | None,
    *,
    ledger: Ledger,
    store: ModelStore | None,
    plugins: PluginTable | None = None,
) -> bool:
    """Revert ``change`` (when one was recorded) and close its journal entry as reverted.

    Returns whether the remediation's own revert ran. Timeline and status are the caller's:
    a live run records REVERTED, crash recovery RECOVERED."""
    reverted = False
    if change is not None:
        plugin = (plugins or default_plugins()).get("remediation", undo.action)
        ctx = RevertContext(undo.incident_id, undo.profile, store, undo.state_dir)
        plugin.remediation().revert(ctx, change)
        reverted = True
    ledger.journal_update(undo.seq, "reverted", closed=True)
    return reverted
