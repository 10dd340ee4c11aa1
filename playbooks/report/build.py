"""Read what the report needs from the ledger and the state dir, in one place (the CLI and
the weekly flow both call :func:`collect_report`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from playbooks.ledger import ActionStore, DrillStore, Ledger
from playbooks.ledger.outbox import Outbox
from playbooks.models.common import parse_duration
from playbooks.report.html import IncidentPage, fmt_duration, render_html
from playbooks.report.metrics import build_report

__all__ = ["ReportData", "collect_report", "parse_since", "summary_lines"]

_MAX_INCIDENTS = 2000  # a report over more should be a query in the warehouse


@dataclass(frozen=True)
class ReportData:
    report: dict[str, Any]
    pages: list[IncidentPage]

    def html(self) -> str:
        return render_html(self.report, self.pages)


def parse_since(text: str) -> timedelta:
    """``90d``, ``12w``, ``36h`` (the duration syntax of specs)."""
    return parse_duration(text)


def _links(outbox: Outbox, incident_id: str) -> dict[str, str]:
    thread = outbox.thread(incident_id)
    return dict(thread.links) if thread is not None else {}


def collect_report(ledger: Ledger, *, since: timedelta, now: datetime) -> ReportData:
    start = now - since
    incidents = [i for i in ledger.list(limit=_MAX_INCIDENTS) if i.detected_at >= start]
    timelines = {i.id: ledger.events(i.id) for i in incidents}
    drills = DrillStore(ledger).list(limit=_MAX_INCIDENTS)
    actions = ActionStore(ledger).list(status=None)
    report = build_report([(i, timelines[i.id]) for i in incidents], drills, actions,
                          since=start, now=now)
    outbox = Outbox(ledger)
    pages = []
    for i in incidents:
        charts: list[Path] = []
        if i.postmortem_path:
            folder = Path(i.postmortem_path).parent / i.id
            charts = sorted(folder.glob("*.png")) if folder.is_dir() else []
        pages.append(IncidentPage(incident=i, timeline=timelines[i.id],
                                  links=_links(outbox, i.id), charts=charts))
    return ReportData(report=report, pages=pages)


def summary_lines(report: dict[str, Any]) -> list[str]:
    """A few lines for Slack and the terminal."""
    o = report["production"]["overall"]
    d = report["drills"]["overall"]
    outcomes = ", ".join(f"{k} {v}" for k, v in sorted(o["outcomes"].items())) or "none"
    span = fmt_duration
    lines = [f"production incidents since {report['since'][:10]}: {o['incidents']} ({outcomes})",
             f"MTTD {span(o['mttd_s'])} · MTTA {span(o['mtta_s'])} · MTTR (verified) "
             f"{span(o['mttr_s'])} · to remediation {span(o['time_to_remediation_s'])}"]
    ex = report["excluded"]
    if ex["drill_incidents"] or ex["dry_runs"]:
        lines.append(f"not counted above: {ex['drill_incidents']} drill incident(s), "
                     f"{ex['dry_runs']} dry run(s)")
    if d["drills"]:
        lines.append(f"drills: {d['drills']}, detected {d['detection_rate']:.0%}, top-1 root "
                     f"cause {d['top1_rate']:.0%}, passed {d['pass_rate']:.0%}")
    overdue = sum(a["overdue"] for a in report["open_actions"])
    lines.append(f"open action items: {len(report['open_actions'])} ({overdue} overdue)")
    return lines
