"""The report as one self-contained HTML file: charts inline (base64 PNG), one section per
incident (timeline, hypotheses, remediation, live windows, links), no external assets."""

from __future__ import annotations

import base64
import html
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from playbooks.charts.base import Chart
from playbooks.charts.trends import bar_chart, trend_chart
from playbooks.models.incident import Incident, TimelineEvent

__all__ = ["IncidentPage", "fmt_duration", "render_html"]

_CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}
td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px;text-align:left;vertical-align:top}
th{background:#f3f3f3} h2{border-bottom:2px solid #ddd;margin-top:2em}
section.incident{border-top:1px solid #bbb;margin-top:2.5em}
img{max-width:100%} .muted{color:#777} code{background:#f5f5f5;padding:0 3px}
"""


@dataclass
class IncidentPage:
    incident: Incident
    timeline: Sequence[TimelineEvent]
    links: Mapping[str, str] = field(default_factory=dict)
    charts: Sequence[Path] = ()  # the post-mortem's PNGs, inlined


def _e(v: object) -> str:
    return html.escape("" if v is None else str(v))


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    return str(timedelta(seconds=round(seconds)))


def _img(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{_e(alt)}" src="data:image/png;base64,{data}">'


def _table(head: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    if not rows:
        return '<p class="muted">none</p>'
    th = "".join(f"<th>{_e(h)}</th>" for h in head)
    trs = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{th}</tr>{trs}</table>"


def _mttx_table(groups: Mapping[str, Mapping[str, Any]], label: str) -> str:
    d = fmt_duration
    rows = [[_e(k), g["incidents"], d(g["mttd_s"]), d(g["mtta_s"]), d(g["mttr_s"]),
             d(g["time_to_remediation_s"]),
             "n/a" if g["completeness"] is None else f"{g['completeness']:.0f}",
             _e(", ".join(f"{o} {n}" for o, n in sorted(g["outcomes"].items())))]
            for k, g in groups.items()]
    return _table([label, "incidents", "MTTD", "MTTA", "MTTR (verified)", "to remediation",
                   "post-mortem completeness", "outcomes"], rows)


def _trend_charts(report: Mapping[str, Any], tmp: Path) -> list[Chart]:
    prod, drills = report["production"], report["drills"]
    months = prod["by_month"]
    hours = {"MTTD": [(m, g["mttd_s"] / 3600 if g["mttd_s"] is not None else None)
                      for m, g in months.items()],
             "MTTR": [(m, g["mttr_s"] / 3600 if g["mttr_s"] is not None else None)
                      for m, g in months.items()]}
    charts = [
        trend_chart(hours, tmp / "mttx.png", title="Production MTTD and MTTR per month",
                    ylabel="hours"),
        bar_chart({k: g["incidents"] for k, g in prod["by_playbook"].items()},
                  tmp / "by-playbook.png", title="Production incidents by playbook"),
        trend_chart({"detection": [(m, d["detection_rate"]) for m, d in
                                   drills["by_month"].items()],
                     "top-1 root cause": [(m, d["top1_rate"]) for m, d in
                                          drills["by_month"].items()],
                     "passed": [(m, d["pass_rate"]) for m, d in drills["by_month"].items()]},
                    tmp / "drills.png", title="Game-day drill scores per month", ylabel="share"),
    ]
    return [c for c in charts if c is not None]


def _incident_section(page: IncidentPage) -> str:
    inc = page.incident
    kind = "drill" if inc.drill else "dry run" if inc.dry_run else "production"
    rc = inc.root_cause
    parts = [f'<section class="incident" id="{_e(inc.id)}"><h3>{_e(inc.id)}</h3>',
             f"<p><b>{_e(inc.playbook)}</b> v{_e(inc.playbook_version)} on <b>{_e(inc.model)}"
             f"</b> version {_e(inc.model_version or 'n/a')} · {_e(inc.severity.value)} · "
             f"{_e(inc.status.value)} · {kind} · owner {_e(inc.owner)}</p>",
             "<p>Root cause: " + (f"<b>{_e(rc.hypothesis_id)}</b> ({rc.confidence:.2f}) — "
                                  f"{_e(rc.summary)}" if rc else "not established") + "</p>"]
    links = dict(page.links)
    if inc.model_version:
        links.setdefault("MLflow version", f"models:/{inc.model}/{inc.model_version}")
    if inc.postmortem_path:
        links.setdefault("post-mortem", inc.postmortem_path)
    parts.append("<p>" + " · ".join(
        f'<a href="{_e(u)}">{_e(k)}</a>' if u.startswith(("http://", "https://"))
        else f"{_e(k)}: <code>{_e(u)}</code>" for k, u in links.items()) + "</p>")
    parts.append("<h4>Timeline (UTC)</h4>" + _table(["time", "event", "detail"], [
        [f"{e.at:%Y-%m-%d %H:%M:%S}", _e(e.kind), _e(e.message)] for e in page.timeline]))
    parts.append("<h4>Hypotheses</h4>" + _table(["hypothesis", "verdict", "confidence",
                                                 "summary"], [
        [_e(h.id), _e(h.verdict.value), f"{h.confidence:.2f}", _e(h.summary)]
        for h in inc.hypotheses]))
    parts.append("<h4>Remediation</h4>" + _table(["id", "action", "state", "plan"], [
        [_e(r.id), _e(r.action), "dry run" if r.dry_run else "reverted" if r.reverted
         else "applied" if r.applied else "not applied", _e(r.plan.get("summary", ""))]
        for r in inc.remediations]))
    if inc.monitoring is not None:
        parts.append("<h4>Live windows</h4>" + _table(["window", "span", "rows", "verdict",
                                                      "metrics", "reason"], [
            [w.index + 1, f"{w.start:%m-%d %H:%M} → {w.end:%m-%d %H:%M}", w.rows,
             _e(w.verdict), _e(", ".join(f"{k} {v:.4g}" for k, v in w.metrics.items())),
             _e(w.reason)] for w in inc.monitoring.windows]))
    parts += [_img(p, p.stem) for p in page.charts if p.exists()]
    return "".join(parts) + "</section>"


def render_html(report: Mapping[str, Any], pages: Sequence[IncidentPage]) -> str:
    prod, drills = report["production"], report["drills"]
    with tempfile.TemporaryDirectory(prefix="mlpb-report-") as tmp:
        charts = "".join(_img(c.path, c.title) for c in _trend_charts(report, Path(tmp)))
    ex = report["excluded"]
    body = [
        f"<h1>ML Playbooks report</h1><p class='muted'>incidents since {_e(report['since'])}"
        f" · generated {_e(report['generated_at'])} · production figures exclude "
        f"{ex['drill_incidents']} drill incident(s) and {ex['dry_runs']} dry run(s)</p>",
        "<h2>Production</h2>", _mttx_table({"all": prod["overall"]}, "scope"),
        "<h3>By playbook</h3>", _mttx_table(prod["by_playbook"], "playbook"),
        "<h3>By model</h3>", _mttx_table(prod["by_model"], "model"),
        "<h3>By severity</h3>", _mttx_table(prod["by_severity"], "severity"),
        "<h3>By month</h3>", _mttx_table(prod["by_month"], "month"),
        "<h2>Trends</h2>", charts or '<p class="muted">no data to chart</p>',
        "<h2>Game-day drills</h2>",
        _table(["month", "drills", "detected", "top-1 root cause", "passed", "time to detect",
                "time to resolve"], [
            [_e(m), d["drills"], _rate(d["detection_rate"]), _rate(d["top1_rate"]),
             _rate(d["pass_rate"]), fmt_duration(d["time_to_detect_s"]),
             fmt_duration(d["time_to_resolve_s"])]
            for m, d in drills["by_month"].items()]),
        "<h3>By fault</h3>",
        _table(["fault", "drills", "detected", "top-1", "passed"], [
            [_e(f), d["drills"], _rate(d["detection_rate"]), _rate(d["top1_rate"]),
             _rate(d["pass_rate"])] for f, d in drills["by_fault"].items()]),
        "<h2>Open action items</h2>",
        _table(["id", "owner", "due", "incident", "item"], [
            [_e(a["id"]), _e(a["owner"]), _e(a["due"][:10]) + (" <b>overdue</b>"
                                                               if a["overdue"] else ""),
             f'<a href="#{_e(a["incident_id"])}">{_e(a["incident_id"])}</a>'
             + (" (drill)" if a["drill"] else ""), _e(a["text"])]
            for a in report["open_actions"]]),
        "<h2>Incidents</h2>",
        _table(["id", "kind", "playbook", "model", "severity", "outcome", "MTTD", "MTTR",
                "completeness"], [
            [f'<a href="#{_e(r["id"])}">{_e(r["id"])}</a>', _e(r["kind"]), _e(r["playbook"]),
             _e(r["model"]), _e(r["severity"]), _e(r["outcome"]), fmt_duration(r["mttd_s"]),
             fmt_duration(r["mttr_s"]), _e(r["completeness"] if r["completeness"] is not None
                                   else "n/a")] for r in report["incidents"]]),
        *(_incident_section(p) for p in pages),
    ]
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>ML Playbooks report"
            f"</title><style>{_CSS}</style></head><body>{''.join(body)}</body></html>\n")


def _rate(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.0%}"
