"""`mlpb tick`: one pass of the incident controller, from the command line."""

from __future__ import annotations

from rich.table import Table

from cli.output import err, out, print_json
from playbooks.engine import escalation, monitor
from tasks.prefect_context import prefect_runtime

__all__ = ["tick"]


def tick(home: str | None, *, json_out: bool = False) -> list[monitor.Step]:
    """Advance every waiting incident once; print what was done."""
    rt = prefect_runtime(home, quiet=json_out)
    work = [(iid, monitor.advance_safely) for iid in monitor.waiting_incidents(rt)]
    work += [(iid, escalation.advance_people_safely) for iid in escalation.people_incidents(rt)]
    ids = [iid for iid, _ in work]
    err.print(f"[dim]controller pass at {rt.now():%Y-%m-%d %H:%M} UTC "
              f"({type(rt.clock).__name__}): {len(ids)} waiting incident(s)[/]")
    steps: list[monitor.Step] = []
    for n, (iid, advance) in enumerate(work, start=1):
        done = advance(rt, iid)
        steps += done
        if not json_out:
            err.print(f"[bold cyan][{n}/{len(ids)}][/] {iid}: "
                      + "; ".join(f"{s.action} — {s.detail}" for s in done), highlight=False)
    monitor.finish_pass(rt)  # reminders for what waits, then the outbox
    if json_out:
        print_json([vars(s) for s in steps])
    elif steps:
        t = Table(title="Controller pass")
        for col in ("incident", "action", "detail"):
            t.add_column(col)
        for s in steps:
            t.add_row(s.incident_id, s.action, s.detail)
        out.print(t)
    return steps
