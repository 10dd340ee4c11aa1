"""Why a remediation may not run now (pure): the clean-data guard and the loop guard."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from playbooks.engine.plugins import PluginTable
from playbooks.ledger import JournalEntry
from playbooks.models.common import format_duration
from playbooks.models.evidence import EvidencePackage
from playbooks.models.incident import Incident
from playbooks.models.spec import PlaybookSpec

__all__ = ["dirty_data_reason", "loop_guard_reason", "needs_clean_data"]


def needs_clean_data(spec: PlaybookSpec, plugins: PluginTable, remediations: Iterable[str]) -> bool:
    """Whether any chosen remediation learns from or acts on the current data."""
    return any(
        plugins.get("remediation", spec.remediation(r).action).requires_clean_data
        for r in remediations
    )


def dirty_data_reason(evidence: EvidencePackage) -> str | None:
    failed = evidence.metrics.get("quality_failed_checks", 0.0)
    if failed > 0:
        return (
            f"the current data failed {int(failed)} quality check(s): no remediation "
            "may learn from or act on it (fix the data first)"
        )
    return None


def loop_guard_reason(
    inc: Incident,
    spec: PlaybookSpec,
    journal: Iterable[JournalEntry],
    is_drill: Callable[[str], bool],
    now: datetime,
) -> str | None:
    """Why the loop guard forbids another change to this model now, or None.

    Drills run on a fresh sandbox each time, so they neither count nor are counted: a
    game day must not block production fixes, nor earlier drills a later one."""
    if inc.drill:
        return None
    esc = spec.escalation
    since = now - esc.loop_window
    kept = [
        e
        for e in journal
        if e.phase == "kept" and e.at >= since and e.incident_id != inc.id
        and not is_drill(e.incident_id)
    ]
    if len(kept) >= esc.max_remediations:
        return (
            f"loop guard: {len(kept)} remediation(s) already kept on {inc.model} in the last "
            f"{format_duration(esc.loop_window)}; escalating instead of changing it again"
        )
    return None
