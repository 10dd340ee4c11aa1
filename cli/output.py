"""Human output: progress on stderr, results on stdout."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from playbooks.models.incident import Incident

if TYPE_CHECKING:
    from playbooks.i18n import Num, Translator

__all__ = ["Progress", "err", "incident_summary", "incidents_table", "key_table", "out",
           "print_incident", "print_json"]


def _width(stream: Any) -> int | None:
    """The terminal's width; COLUMNS when set (rich reads it); else 160 for a file or pipe
    (rich assumes 80 there, which would squeeze tables nobody is looking at on a screen)."""
    return None if stream.isatty() or os.environ.get("COLUMNS") else 160


out = Console(width=_width(sys.stdout))
err = Console(stderr=True, width=_width(sys.stderr))


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


def key_table(title: str, columns: Sequence[str], rows: Iterable[Sequence[str]], *,
              keep: Iterable[str] = ("id",), width: int | None = None) -> Table:
    """A table whose ``keep`` columns (ids, fault names, paths: things people copy) are never
    cut; the others wrap, character by character when a word is too long for them.

    When the kept columns and one line of every other column cannot share ``width`` (the
    console's by default), the other columns fold into one ``details`` column beside the
    kept ones: at 80 columns an incident id (45 characters) stays whole and copyable."""
    rows = [list(r) for r in rows]
    kept = [c in set(keep) for c in columns]
    longest = [max([len(c), *(len(r[i]) for r in rows)]) for i, c in enumerate(columns)]
    room = width or out.width
    if sum(longest) + 3 * len(columns) + 1 <= room or all(kept):
        t = Table(title=title)
        for col, k, n in zip(columns, kept, longest, strict=True):
            t.add_column(col, no_wrap=k, min_width=n if k else None,
                         overflow="fold")
        for r in rows:
            t.add_row(*r)
        return t
    t = Table(title=title)
    for col, k, n in zip(columns, kept, longest, strict=True):
        if k:
            t.add_column(col, no_wrap=True, min_width=n)
    rest = [c for c, k in zip(columns, kept, strict=True) if not k]
    t.add_column(" · ".join(rest), overflow="fold")
    for r in rows:
        t.add_row(*(v for v, k in zip(r, kept, strict=True) if k),
                  " · ".join(v for v, k in zip(r, kept, strict=True) if not k))
    return t


INCIDENT_COLUMNS = ("id", "playbook", "model", "severity", "status", "owner", "root cause",
                    "kind", "opened")


def incident_row(i: Incident) -> dict[str, str]:
    """One incident as ``incidents list`` shows it (``kind``: production, drill or dry run,
    so a drill is never read as a production incident)."""
    kind = "drill" if i.drill else "dry run" if i.dry_run else "production"
    return {"id": i.id, "playbook": i.playbook, "model": i.model,
            "severity": i.severity.value, "status": i.status.value, "owner": i.owner,
            "root cause": i.root_cause.hypothesis_id if i.root_cause else "—",
            "kind": kind, "opened": f"{i.detected_at:%Y-%m-%d %H:%M}"}


def incidents_table(items: list[Incident], *, width: int | None = None) -> Table:
    rows = [[incident_row(i)[c] for c in INCIDENT_COLUMNS] for i in items]
    return key_table("Incidents", INCIDENT_COLUMNS, rows, keep=("id",), width=width)


def print_incident(data: dict[str, Any]) -> None:
    """The summary table, then the post-mortem path on a line of its own, printed without
    wrapping or cropping (a terminal's soft wrap keeps it one line to copy)."""
    out.print(incident_summary(data))
    out.print(f"post-mortem: {data.get('postmortem_path') or 'not written yet'}",
              soft_wrap=True, highlight=False, markup=False)


def incident_summary(data: dict[str, Any]) -> Table:
    """The incident as a two-column table (the post-mortem path: :func:`print_incident`), in
    the process's language (MLPB_LOCALE)."""
    from playbooks.i18n import Num, msg, process_locale, translator  # Babel: only when shown
    from playbooks.models.incident import IncidentStatus
    from playbooks.notify.words import status_label

    tr = translator(process_locale())
    t = Table(show_header=False, title=tr.t("Incident {id}", id=data["id"]))
    t.add_column(style="bold")
    t.add_column(overflow="fold")  # a long path wraps instead of losing its end
    rc = data.get("root_cause")
    base = data.get("playbook_base")
    t.add_row(tr.t("playbook"), f"{data['playbook']} v{data['playbook_version']}" + (
        tr.t(" (extends {base} v{version}, hash {hash})", base=base["id"],
             version=base["version"], hash=base["hash"]) if base else ""))
    promoted = [r["change"]["new_version"] for r in data.get("remediations", [])
                if r.get("applied") and not r.get("reverted") and (r.get("change") or {}).get(
                    "new_version")]
    version = tr.t("version {version}", version=data.get("model_version") or tr.t("n/a"))
    t.add_row(tr.t("model"),
              f"{data['model']} ({version}" + "".join(f" → {v}" for v in promoted) + ")")
    status = tr(status_label(IncidentStatus(data["status"])))
    t.add_row(tr.t("status / severity"), f"{status} / {data['severity']}")
    t.add_row(tr.t("owner"), str(data.get("owner") or tr.t("unassigned")))
    t.add_row(
        tr.t("root cause"),
        f"{rc['hypothesis_id']} ({tr.num(rc['confidence'])}) — {rc['summary']}"
        if rc
        else tr.t("not established"),
    )
    verdicts = {"supported": msg("supported"), "refuted": msg("refuted"),
                "inconclusive": msg("inconclusive")}
    for h in data.get("hypotheses", []):
        t.add_row(tr.t("  hypothesis {id}", id=h["id"]),
                  f"{tr(verdicts.get(h['verdict'], h['verdict']))} "
                  f"({tr.num(h['confidence'])})")
    for r in data.get("remediations", []):
        state = (
            tr.t("dry run (not applied)")
            if r.get("dry_run")
            else tr.t("reverted")
            if r["reverted"]
            else tr.t("applied")
            if r["applied"]
            else tr.t("not applied")
        )
        extra = (
            f" → v{r['change']['new_version']}"
            if r.get("change", {}) and r["change"].get("new_version")
            else ""
        )
        t.add_row(
            tr.t("remediation {id}", id=r["id"]),
            f"{state}{extra}" + (f" ({r['error']})" if r.get("error") else ""),
        )
    v = data.get("verification")
    if v:
        t.add_row(tr.t("verification"), tr.t("passed") if v["passed"] else tr.t("FAILED"))
        for c in v["criteria"]:
            obs = tr.num(c["observed"], 4)
            t.add_row(
                f"  {c['id']}",
                f"{c['metric']} = {obs} ({c['op']} {c['target']}) {'✓' if c['passed'] else '✗'}",
            )
    m = data.get("monitoring")
    if m:
        passed = sum(w["verdict"] == "pass" for w in m["windows"])
        t.add_row(tr.t("live monitoring"),
                  tr.t("v{version}: {passed}/{count} windows passed since {since}",
                       version=m.get("version") or "—", passed=passed, count=m["count"],
                       since=str(m["started_at"])[:16]))
        windows = {"pass": msg("pass"), "fail": msg("fail"), "inconclusive": msg("inconclusive")}
        for w in m["windows"]:
            t.add_row(tr.t("  window {index}", index=w["index"] + 1),
                      tr.t("{verdict} — {rows} rows; {reason}",
                           verdict=windows.get(w["verdict"], w["verdict"]), rows=w["rows"],
                           reason=w["reason"]))
        if data["status"] == "monitoring":
            t.add_row(tr.t("  next"), tr.t("`mlpb tick` measures each window once it is due"))
    if data.get("escalated_to"):
        t.add_row(tr.t("escalated to"), data["escalated_to"])
    spans = " / ".join(_span(data.get(k), tr, Num) for k in ("mttd_seconds", "mtta_seconds",
                                                              "mttr_seconds"))
    t.add_row("MTTD / MTTA / MTTR", spans)
    return t


def _span(seconds: float | None, tr: Translator, num: type[Num]) -> str:
    if seconds is None:
        return tr.t("n/a")
    if seconds < 120:
        return tr.t("{value} s", value=num(seconds, 0))
    if seconds < 7200:
        return tr.t("{value} min", value=num(seconds / 60, 1))
    if seconds < 172_800:
        return tr.t("{value} h", value=num(seconds / 3600, 1))
    return tr.t("{value} d", value=num(seconds / 86400, 1))
