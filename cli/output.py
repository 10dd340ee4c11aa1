"""Human output: progress on stderr, results on stdout."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from rich.console import Console
from rich.table import Table

from playbooks.models.incident import Incident

__all__ = ["Progress", "err", "incident_summary", "incidents_table", "out", "print_json"]

# Wide enough for the tables when output goes to a file or pipe (rich assumes 80 there).
out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)


class Progress:
    """Numbered progress lines with elapsed time, on stderr."""

    def __init__(self, total: int) -> None:
        self.total, self.n, self.t0 = total, 0, time.monotonic()

    def step(self, message: str) -> None:
        self.n += 1
        err.print(
            f"[bold cyan][{self.n}/{self.total}][/] {message} "
            f"[dim](+{time.monotonic() - self.t0:.1f}s)[/]"
        )

    def note(self, message: str) -> None:
        err.print(f"      [dim]{message}[/]")


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def incidents_table(items: list[Incident]) -> Table:
    t = Table(title="Incidents")
    for col in ("id", "playbook", "model", "severity", "status", "root cause", "opened"):
        t.add_column(col)
    for i in items:
        t.add_row(
            i.id,
            i.playbook,
            i.model,
            i.severity.value,
            i.status.value,
            i.root_cause.hypothesis_id if i.root_cause else "—",
            f"{i.detected_at:%Y-%m-%d %H:%M}",
        )
    return t


def incident_summary(data: dict[str, Any]) -> Table:
    t = Table(show_header=False, title=f"Incident {data['id']}")
    t.add_column(style="bold")
    t.add_column()
    rc = data.get("root_cause")
    t.add_row("playbook", f"{data['playbook']} v{data['playbook_version']}")
    promoted = [r["change"]["new_version"] for r in data.get("remediations", [])
                if r.get("applied") and not r.get("reverted") and (r.get("change") or {}).get(
                    "new_version")]
    version = f"version {data.get('model_version') or 'n/a'}"
    t.add_row("model", f"{data['model']} ({version}" + "".join(f" → {v}" for v in promoted) + ")")
    t.add_row("status / severity", f"{data['status']} / {data['severity']}")
    t.add_row(
        "root cause",
        f"{rc['hypothesis_id']} ({rc['confidence']:.2f}) — {rc['summary']}"
        if rc
        else "not established",
    )
    for h in data.get("hypotheses", []):
        t.add_row(f"  hypothesis {h['id']}", f"{h['verdict']} ({h['confidence']:.2f})")
    for r in data.get("remediations", []):
        state = (
            "dry run (not applied)"
            if r.get("dry_run")
            else "reverted"
            if r["reverted"]
            else "applied"
            if r["applied"]
            else "not applied"
        )
        extra = (
            f" → v{r['change']['new_version']}"
            if r.get("change", {}) and r["change"].get("new_version")
            else ""
        )
        t.add_row(
            f"remediation {r['id']}",
            f"{state}{extra}" + (f" ({r['error']})" if r.get("error") else ""),
        )
    v = data.get("verification")
    if v:
        t.add_row("verification", "passed" if v["passed"] else "FAILED")
        for c in v["criteria"]:
            obs = "n/a" if c["observed"] is None else f"{c['observed']:.4f}"
            t.add_row(
                f"  {c['id']}",
                f"{c['metric']} = {obs} ({c['op']} {c['target']}) {'✓' if c['passed'] else '✗'}",
            )
    m = data.get("monitoring")
    if m:
        passed = sum(w["verdict"] == "pass" for w in m["windows"])
        t.add_row("live monitoring", f"v{m.get('version') or '—'}: {passed}/{m['count']} windows "
                  f"passed since {str(m['started_at'])[:16]}")
        for w in m["windows"]:
            t.add_row(f"  window {w['index'] + 1}",
                      f"{w['verdict']} — {w['rows']} rows; {w['reason']}")
        if data["status"] == "monitoring":
            t.add_row("  next", "`mlpb tick` measures each window once it is due")
    if data.get("escalated_to"):
        t.add_row("escalated to", data["escalated_to"])
    mttd, mttr = _span(data.get("mttd_seconds")), _span(data.get("mttr_seconds"))
    t.add_row("MTTD / MTTR", f"{mttd} / {mttr}")
    t.add_row("post-mortem", str(data.get("postmortem_path")))
    return t


def _span(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h" if seconds < 172_800 else f"{seconds / 86400:.1f} d"
