"""`mlpb report`, `mlpb actions`, `mlpb lessons`, `mlpb spec`: learning from incidents.

Registered on the main app by :func:`register` (one line in cli/main.py)."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Annotated, Any

import typer

from cli.output import err, key_table, out, print_json
from playbooks.config import load_settings

__all__ = ["register"]

HomeOpt = Annotated[
    str | None, typer.Option("--home", help="State dir (default $MLPB_HOME or ./.mlpb).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")]

actions_app = typer.Typer(no_args_is_help=True, help="Post-mortem action items.")
spec_app = typer.Typer(no_args_is_help=True, help="Archived playbook spec versions.")


def _ledger(home: str | None) -> Any:
    from playbooks.ledger import Ledger

    return Ledger(load_settings(home).ensure().ledger_url)


def _span(seconds: float | None) -> str:
    from playbooks.report.html import fmt_duration

    return fmt_duration(seconds)


def report(
    since: Annotated[str, typer.Option(help="How far back: 90d, 12w, 36h.")] = "90d",
    html: Annotated[Path | None, typer.Option("--html", help="Write the HTML report here "
                                              "(one self-contained file).")] = None,
    json_out: JsonOpt = False,
    home: HomeOpt = None,
) -> None:
    """MTTD, MTTA, MTTR (to the verified close), time to remediation and outcomes by playbook,
    model, severity and month; drills reported apart; open action items."""
    from playbooks.clock import clock_for
    from playbooks.report.build import collect_report, parse_since, summary_lines

    settings = load_settings(home).ensure()
    data = collect_report(_ledger(home), since=parse_since(since),
                          now=clock_for(settings.home).now())
    if html is not None:
        html.parent.mkdir(parents=True, exist_ok=True)
        html.write_text(data.html(), encoding="utf-8")
        err.print(f"wrote {html}", highlight=False, soft_wrap=True)
    if json_out:
        print_json(data.report)
        return
    prod = data.report["production"]
    for title, groups in (("by playbook", prod["by_playbook"]), ("by model", prod["by_model"]),
                          ("by severity", prod["by_severity"]), ("by month", prod["by_month"])):
        rows = [[k, str(g["incidents"]), _span(g["mttd_s"]), _span(g["mtta_s"]),
                 _span(g["mttr_s"]), _span(g["time_to_remediation_s"]),
                 ", ".join(f"{o} {n}" for o, n in sorted(g["outcomes"].items()))]
                for k, g in groups.items()]
        if rows:
            out.print(key_table(f"Production {title}", [title.split()[-1], "incidents", "MTTD",
                                "MTTA", "MTTR", "to remediation", "outcomes"], rows,
                                keep=(title.split()[-1],)))
    for line in summary_lines(data.report):
        out.print(line, highlight=False, soft_wrap=True)


@actions_app.command("list")
def actions_list(
    all_: Annotated[bool, typer.Option("--all", help="Done ones too.")] = False,
    model: Annotated[str | None, typer.Option(help="Only this model.")] = None,
    json_out: JsonOpt = False,
    home: HomeOpt = None,
) -> None:
    """Action items from post-mortems: owner, due date, open or done."""
    from playbooks.clock import clock_for
    from playbooks.ledger import ActionStore

    now = clock_for(load_settings(home).home).now()
    items = ActionStore(_ledger(home)).list(status=None if all_ else "open", model=model)
    rows = [{"id": a.id, "status": a.status, "owner": a.owner, "due": f"{a.due:%Y-%m-%d}",
             "overdue": a.overdue(now), "incident": a.incident_id, "drill": a.drill,
             "text": a.text} for a in items]
    if json_out:
        print_json(rows)
        return
    cols = ("id", "status", "owner", "due", "incident", "item")
    out.print(key_table("Action items", cols, [
        [str(r["id"]), str(r["status"]) + (" (overdue)" if r["overdue"] else "")
         + (" (drill)" if r["drill"] else ""), str(r["owner"]), str(r["due"]),
         str(r["incident"]), str(r["text"])]
        for r in rows], keep=("id", "incident")))


@actions_app.command("done")
def actions_done(
    action_id: Annotated[str, typer.Argument(help="ACT-N (from `mlpb actions list`).")],
    by: Annotated[str | None, typer.Option(help="Who did it (default: your user name).")] = None,
    home: HomeOpt = None,
) -> None:
    """Mark an action item done."""
    from playbooks.ledger import ActionStore

    item = ActionStore(_ledger(home)).done(action_id, by=by or getpass.getuser())
    out.print(f"{item.id} done by {item.done_by} at {item.done_at:%Y-%m-%d %H:%M} UTC: "
              f"{item.text}", highlight=False, soft_wrap=True)


def lessons_cmd(
    playbook: Annotated[str, typer.Argument(help="Catalog playbook id, e.g. data-drift.")],
    json_out: JsonOpt = False,
    home: HomeOpt = None,
) -> None:
    """The living appendix: what closed incidents of a playbook taught, by root cause."""
    from playbooks.errors import UnknownNameError
    from playbooks.ledger import ActionStore
    from playbooks.loader import CATALOG_DIR, catalog_ids, load_spec
    from playbooks.report.learning import lessons

    if playbook not in catalog_ids():
        raise UnknownNameError(f"no playbook '{playbook}' in the catalog",
                               hint=f"one of: {', '.join(catalog_ids())}")
    ledger = _ledger(home)
    data = lessons(playbook, ledger.list(limit=5000), load_spec(CATALOG_DIR / f"{playbook}.yaml"),
                   ActionStore(ledger).list(status=None, playbook=playbook))
    if json_out:
        print_json(data)
        return
    out.print(f"[bold]Lessons from {data['closed_incidents']} closed '{playbook}' incident(s)"
              "[/]", highlight=False)
    if not data["causes"]:
        out.print("none closed yet", highlight=False)
    for c in data["causes"]:
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(c["outcomes"].items()))
        out.print(f"\n[bold]{c['root_cause']}[/] — {c['claim']}", highlight=False, soft_wrap=True)
        for line in (
            f"{c['incidents']} incident(s) ({c['drills']} drills) on {', '.join(c['models'])}, "
            f"{c['first'][:10]} → {c['last'][:10]}; outcomes: {outcomes}",
            "worked: " + (", ".join(f"{k} x{v}" for k, v in c["worked"].items()) or "—"),
            "did not work (reverted): "
            + (", ".join(f"{k} x{v}" for k, v in c["did_not_work"].items()) or "—"),
            f"permanent fix: {c['permanent_fix']}",
            *(f"open: {a}" for a in c["open_actions"]),
            "incidents: " + " ".join(c["incident_ids"]),
        ):
            out.print(f"  - {line}", highlight=False, soft_wrap=True)


@spec_app.command("list")
def spec_list(
    playbook: Annotated[str, typer.Argument(help="Playbook id.")],
    json_out: JsonOpt = False,
    home: HomeOpt = None,
) -> None:
    """Spec versions of a playbook that ran, archived by hash."""
    from playbooks.archive import archived_versions

    rows = archived_versions(load_settings(home).home, playbook)
    if json_out:
        print_json(rows)
        return
    out.print(key_table(f"Archived specs of {playbook}", ("hash", "version", "path"),
                        [[r["hash"], r["version"], r["path"]] for r in rows],
                        keep=("hash", "path")))


@spec_app.command("diff")
def spec_diff_cmd(
    a: Annotated[str, typer.Argument(help="PLAYBOOK@REF: a hash (prefix), a version that "
                                     "ran, or 'current' (the catalog now).")],
    b: Annotated[str, typer.Argument(help="PLAYBOOK@REF to compare with, or a spec file "
                                     "(a team playbook now, resolved).")],
    home: HomeOpt = None,
) -> None:
    """Unified diff of two spec versions (YAML, keys sorted); exit 1 when they differ."""
    from playbooks.archive.specs import resolve_ref, spec_diff
    from playbooks.loader import CATALOG_DIR, catalog_ids, load_spec

    root = load_settings(home).home

    def current(ref: str) -> Any:
        name = ref.partition("@")[0]
        return load_spec(CATALOG_DIR / f"{name}.yaml") if name in catalog_ids() else None

    def side(ref: str) -> tuple[str, dict[str, Any]]:
        path = Path(ref)
        if path.suffix in (".yaml", ".yml") and path.is_file():  # a team spec, as it is now
            spec = load_spec(path)
            return f"{path} ({spec.version}, {spec.hash})", spec.model_dump(mode="json")
        return resolve_ref(root, ref, current(ref))

    text = spec_diff(side(a), side(b))
    if not text:
        err.print("no difference")
        return
    out.print(text, markup=False, highlight=False, soft_wrap=True, end="")
    raise typer.Exit(1)


def register(app: typer.Typer, friendly: Any) -> None:
    """Add the commands to ``app``; ``friendly`` is main's error presenter."""
    app.command("report")(friendly(report))
    app.command("lessons")(friendly(lessons_cmd))
    for sub in (actions_app, spec_app):
        for cmd in sub.registered_commands:
            if cmd.callback is not None:
                cmd.callback = friendly(cmd.callback)
    app.add_typer(actions_app, name="actions")
    app.add_typer(spec_app, name="spec")
