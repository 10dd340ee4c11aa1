"""Incident lifecycle helpers shared by the flow's tasks (no Prefect here)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from playbooks.data.io import DataWindows, load_windows
from playbooks.engine.plugins import PluginTable, default_plugins
from playbooks.engine.runtime import Runtime
from playbooks.loader import load_profile, load_spec, resolve_spec_path
from playbooks.models.incident import Incident, IncidentStatus, TimelineEvent, utcnow
from playbooks.models.profile import ModelProfile
from playbooks.models.spec import PlaybookSpec
from playbooks.remediations.base import RevertContext

__all__ = ["Inputs", "load_inputs", "new_incident", "recover_unfinished"]


@dataclass
class Inputs:
    spec: PlaybookSpec
    profile: ModelProfile
    data: DataWindows
    plugins: PluginTable


def load_inputs(playbook: str, profile_path: str | Path) -> Inputs:
    """Validate everything a run needs before an incident exists (bad input opens nothing)."""
    plugins = default_plugins()
    spec = load_spec(resolve_spec_path(playbook), plugins)
    profile = load_profile(Path(profile_path))
    # A data-quality playbook must open on a broken feed (a missing column is its finding).
    lenient = spec.taxonomy.failure_class == "quality"
    return Inputs(spec, profile, load_windows(profile, lenient=lenient), plugins)


def new_incident_id() -> str:
    return f"INC-{utcnow():%Y%m%d}-{secrets.token_hex(3)}"


def new_incident(spec: PlaybookSpec, profile: ModelProfile, *, trigger: dict[str, Any],
                 dry_run: bool, drill: bool, dedup_key: str | None) -> Incident:
    key = dedup_key or f"{trigger.get('source', 'manual')}:{spec.id}:{profile.name}" + (
        ":dry-run" if dry_run else "")
    return Incident(
        id=new_incident_id(), playbook=spec.id, playbook_version=spec.version,
        playbook_hash=spec.hash, model=profile.name, owner=profile.owners.oncall,
        dry_run=dry_run, drill=drill, trigger=trigger, dedup_key=key,
        status=IncidentStatus.INVESTIGATING,
        timeline=[TimelineEvent(kind="opened", message=f"{spec.title} playbook started "
                                f"({trigger.get('source', 'manual')})", data={"trigger": trigger})],
    )


def recover_unfinished(rt: Runtime, profile: ModelProfile, *,
                       older_than: timedelta | None = timedelta(minutes=15)) -> list[str]:
    """Revert remediations a dead run left half-done (journal entries never closed).

    Returns the incident ids that were recovered."""
    store = rt.model_store(profile)
    recovered = []
    for entry in rt.ledger.journal(model=profile.name, unfinished=True):
        if older_than is not None and utcnow() - entry.at < older_than:
            continue  # may still be running
        if entry.change is not None and store is not None:
            plugin = default_plugins().get("remediation", entry.action)
            ctx = RevertContext(entry.incident_id, profile, store, rt.settings.home)
            plugin.impl().revert(ctx, entry.change)
        rt.ledger.journal_update(entry.seq, "reverted", closed=True)
        inc = rt.ledger.get(entry.incident_id)
        inc.status, inc.escalated_to = IncidentStatus.ESCALATED, profile.owners.oncall
        rt.ledger.save(inc)
        rt.ledger.add_event(inc.id, "recovered",
                            f"run died during '{entry.remediation_id}' ({entry.phase}); "
                            "change reverted and incident escalated")
        recovered.append(inc.id)
    return recovered
