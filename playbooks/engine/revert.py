"""Undo one journalled change: the only revert path, used by the Prefect ``on_rollback``
hook of a run that is alive and by crash recovery for a run that died.

With a Change (apply finished and journalled it) the remediation's ``revert`` restores the
prior state it recorded. Without one (apply died or failed half-way, the entry holds only
the intended plan) its ``recover`` inspects the world and undoes whatever part of the plan
got done. Either way the caller gets a one-line account of what was found and done, for the
incident's timeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playbooks.engine.plugins import PluginTable, default_plugins
from playbooks.ledger import Ledger
from playbooks.models.profile import ModelProfile
from playbooks.modelstore.base import ModelStore
from playbooks.remediations.base import Remediation, RevertContext

__all__ = ["Undo", "revert_change"]


@dataclass(frozen=True)
class Undo:
    """What reverting needs, as plain data: set before apply acts, so a change that dies
    half-way can still be found and undone. ``plan`` is the journalled intent (looked up by
    ``seq`` when not given)."""

    incident_id: str
    remediation_id: str
    action: str
    seq: int  # the remediation journal entry
    profile: ModelProfile
    state_dir: Path
    plan: dict[str, Any] | None = None


def revert_change(
    undo: Undo,
    change: dict[str, Any] | None,
    *,
    ledger: Ledger,
    store: ModelStore | None,
    plugins: PluginTable | None = None,
) -> str:
    """Undo the entry's change and close its journal entry as reverted.

    ``change`` set: the remediation's ``revert(change)``. ``change`` None: its
    ``recover(plan)`` from the journalled plan. Returns the account of what was found and
    done. Timeline and status are the caller's: a live run records REVERTED, crash recovery
    RECOVERED. An error (the registry is down...) leaves the entry open for a later try."""
    plugin = (plugins or default_plugins()).get("remediation", undo.action)
    ctx = RevertContext(undo.incident_id, undo.profile, store, undo.state_dir)
    plan = undo.plan if undo.plan is not None else _journalled_plan(ledger, undo)
    if change is not None:
        plugin.remediation().revert(ctx, change)
        summary = (plan or {}).get("summary")
        account = "the journalled change was reverted"
        account += f" (it was: {summary})" if summary else ""
    elif plan is None:
        account = "no plan was journalled: nothing to inspect or undo"
    else:
        account = "no change was journalled; " + _recover(plugin.remediation(), ctx, plan)
    ledger.journal_update(undo.seq, "reverted", closed=True)
    return account


def _journalled_plan(ledger: Ledger, undo: Undo) -> dict[str, Any] | None:
    entry = next((e for e in ledger.journal(incident_id=undo.incident_id) if e.seq == undo.seq),
                 None)
    return None if entry is None else entry.plan


def _recover(remediation: Remediation[Any], ctx: RevertContext, plan: dict[str, Any]) -> str:
    try:
        return remediation.recover(ctx, plan)
    except NotImplementedError:  # a plugin written before recover() existed
        return (f"{type(remediation).__name__} cannot tell what its apply did: check by hand "
                f"({plan.get('summary', 'see the journalled plan')})")
