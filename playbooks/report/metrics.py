"""MTTx over many incidents: by playbook, model, severity and month, production apart from
drills and dry runs (those never count in production figures)."""

from __future__ import annotations

import re
import statistics
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from playbooks.ledger.actions import ActionItem
from playbooks.ledger.drills import DrillResult
from playbooks.models.incident import Incident, IncidentStatus, TimelineEvent

__all__ = ["IncidentTimes", "build_report", "drill_summary", "incident_times", "summarize"]

_APPLIED = "applied"  # the timeline event of a change taking effect


@dataclass(frozen=True)
class IncidentTimes:
    id: str
    playbook: str
    model: str
    severity: str
    month: str
    outcome: str
    kind: str  # production | drill | dry run
    mttd_s: float | None
    mtta_s: float | None  # None: nobody acknowledged it (shown as n/a)
    mttr_s: float | None  # to the verified close: resolved incidents only
    ttrem_s: float | None  # detection → the first change applied
    completeness: int | None


def completeness_of(postmortem_path: str | None) -> int | None:
    """The score the post-mortem printed (its last section), None without one."""
    if not postmortem_path or not Path(postmortem_path).exists():
        return None
    m = re.search(r"^Score: (\d+)/100", Path(postmortem_path).read_text(encoding="utf-8"),
                  re.MULTILINE)
    return int(m.group(1)) if m else None


def incident_times(inc: Incident, timeline: Sequence[TimelineEvent]) -> IncidentTimes:
    applied = next((e.at for e in timeline if e.kind == _APPLIED), None)
    kind = "drill" if inc.drill else "dry run" if inc.dry_run else "production"
    return IncidentTimes(
        id=inc.id, playbook=inc.playbook, model=inc.model, severity=inc.severity.value,
        month=f"{inc.detected_at:%Y-%m}", outcome=inc.status.value, kind=kind,
        mttd_s=inc.mttd_seconds,
        mtta_s=inc.mtta_seconds,
        mttr_s=inc.mttr_seconds if inc.status == IncidentStatus.RESOLVED else None,
        ttrem_s=(applied - inc.detected_at).total_seconds() if applied else None,
        completeness=completeness_of(inc.postmortem_path))


def _mean(values: Iterable[float | None]) -> float | None:
    vs = [v for v in values if v is not None]
    return statistics.fmean(vs) if vs else None


def summarize(rows: Sequence[IncidentTimes]) -> dict[str, Any]:
    return {"incidents": len(rows),
            "mttd_s": _mean(r.mttd_s for r in rows), "mtta_s": _mean(r.mtta_s for r in rows),
            "mttr_s": _mean(r.mttr_s for r in rows),
            "time_to_remediation_s": _mean(r.ttrem_s for r in rows),
            "completeness": _mean(r.completeness for r in rows),
            "outcomes": dict(Counter(r.outcome for r in rows))}


def _grouped(rows: Sequence[IncidentTimes],
             key: Callable[[IncidentTimes], str]) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[IncidentTimes]] = {}
    for r in rows:
        groups.setdefault(key(r), []).append(r)
    return {k: summarize(v) for k, v in sorted(groups.items())}


def drill_summary(drills: Sequence[DrillResult]) -> dict[str, Any]:
    """Detection, top-1 root cause and time scores, overall, per month and per fault."""
    def score(rows: Sequence[DrillResult]) -> dict[str, Any]:
        n = len(rows)
        return {"drills": n,
                "detection_rate": sum(d.detected for d in rows) / n if n else None,
                "top1_rate": sum(d.correct_root_cause for d in rows) / n if n else None,
                "pass_rate": sum(d.passed for d in rows) / n if n else None,
                "time_to_detect_s": _mean(d.time_to_detect_s for d in rows),
                "time_to_resolve_s": _mean(d.time_to_resolve_s for d in rows)}

    by_month: dict[str, list[DrillResult]] = {}
    by_fault: dict[str, list[DrillResult]] = {}
    for d in drills:
        by_month.setdefault(f"{d.at:%Y-%m}", []).append(d)
        by_fault.setdefault(d.fault, []).append(d)
    return {"overall": score(drills),
            "by_month": {k: score(v) for k, v in sorted(by_month.items())},
            "by_fault": {k: score(v) for k, v in sorted(by_fault.items())},
            "failed": [{"fault": d.fault, "seed": d.seed, "incident_id": d.incident_id,
                        "outcome": d.outcome, "expected_outcome": d.expected_outcome,
                        "root_cause": d.root_cause,
                        "expected_root_cause": d.expected_root_cause}
                       for d in drills if not d.passed]}


def build_report(incidents: Sequence[tuple[Incident, Sequence[TimelineEvent]]],
                 drills: Sequence[DrillResult], actions: Sequence[ActionItem], *,
                 since: datetime, now: datetime) -> dict[str, Any]:
    """The whole report as JSON-able data (``mlpb report --json``)."""
    rows = [incident_times(i, tl) for i, tl in incidents if i.detected_at >= since]
    prod = [r for r in rows if r.kind == "production"]
    drill_rows = [d for d in drills if d.at >= since]
    open_actions = [a for a in actions if a.status == "open"]
    return {
        "since": since.isoformat(), "generated_at": now.isoformat(),
        "production": {"overall": summarize(prod),
                       "by_playbook": _grouped(prod, lambda r: r.playbook),
                       "by_model": _grouped(prod, lambda r: r.model),
                       "by_severity": _grouped(prod, lambda r: r.severity),
                       "by_month": _grouped(prod, lambda r: r.month)},
        "excluded": {"drill_incidents": sum(r.kind == "drill" for r in rows),
                     "dry_runs": sum(r.kind == "dry run" for r in rows)},
        "drills": drill_summary(drill_rows),
        "open_actions": [{"id": a.id, "incident_id": a.incident_id, "model": a.model,
                          "owner": a.owner, "due": a.due.isoformat(), "text": a.text,
                          "overdue": a.overdue(now), "drill": a.drill} for a in open_actions],
        "incidents": [asdict(r) for r in rows],
    }
