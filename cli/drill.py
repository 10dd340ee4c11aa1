"""`mlpb drill`: run game-day drills and print their scores."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from cli.output import Progress, err, key_table, out, print_json
from playbooks.config import load_settings
from playbooks.errors import UnknownNameError

__all__ = ["drill_table", "faults_table", "list_faults", "run_drills"]


def list_faults() -> list[dict[str, Any]]:
    from playbooks.drills import expectation_for
    from playbooks.sandbox import FAULTS

    rows = []
    for kind in FAULTS.kinds():
        inj = FAULTS.get(kind)
        exp = expectation_for(kind, inj.params)
        rows.append({"fault": kind, "enters_via": exp.entry_playbook, "playbook": exp.playbook,
                     "expected_root_cause": exp.root_cause, "expected_outcome": exp.outcome,
                     "expected_live": exp.live, "persists": inj.params.persists,
                     "description": (inj.params.__doc__ or "").strip().splitlines()[0]})
    return rows


def faults_table(rows: list[dict[str, Any]]) -> Table:
    """`mlpb drill --list`: what each fault's drill expects, live monitoring included (fault
    names stay whole at any width: they are what `mlpb drill FAULT` takes)."""
    cols = ("fault", "enters via", "playbook", "expected root cause", "expected outcome",
            "live monitoring", "persists")
    return key_table("Faults", cols, [
        [r["fault"], r["enters_via"], r["playbook"], r["expected_root_cause"],
         r["expected_outcome"], r["expected_live"] or "—", "yes" if r["persists"] else "no"]
        for r in rows], keep=("fault",))


def _mark(ok: bool) -> str:
    return "[green]✓[/]" if ok else "[red]✗[/]"


def span(seconds: float | None) -> str:
    """A duration in engine time (a drill's is simulated: monitoring takes days)."""
    if seconds is None:
        return "—"
    if seconds < 120:
        return f"{seconds:.1f}s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f}m"
    days, hours = divmod(round(seconds / 3600), 24)
    return f"{days}d {hours}h" if days else f"{hours}h"


def drill_table(results: list[dict[str, Any]]) -> Table:
    t = Table(title="Drill results")
    for col in ("fault", "seed", "playbook", "root cause (expected)", "top-1", "outcome (expected)",
                "live (expected)", "windows", "detected", "TTD", "TTR", "passed"):
        t.add_column(col)
    for r in results:
        d = r.get("detail", {})
        live = f"{d.get('live') or '—'} ({d.get('expected_live') or '—'})"
        windows = " ".join(str(v) for v in d.get("windows", [])) or "—"
        t.add_row(r["fault"], str(r["seed"]), r["playbook"],
                  f"{r['root_cause'] or '—'} ({r['expected_root_cause']})",
                  _mark(r["correct_root_cause"]), f"{r['outcome']} ({r['expected_outcome']})",
                  live, windows, _mark(r["detected"]), span(r["time_to_detect_s"]),
                  span(r["time_to_resolve_s"]), _mark(r["passed"]))
    n = sum(r["passed"] for r in results)
    t.caption = (f"{n}/{len(results)} drills passed · times are engine (simulated) time: "
                 "monitoring waits for live windows and their labels")
    return t


def run_drills(faults: list[str], seeds: list[int], *, home: str | None,
               json_out: bool) -> list[dict[str, Any]]:
    from playbooks.sandbox import FAULTS

    unknown = [f for f in faults if f not in FAULTS.kinds()]
    if unknown:
        raise UnknownNameError(f"unknown fault(s) {unknown}",
                               hint=f"`mlpb drill --list` shows: {', '.join(FAULTS.kinds())}")
    settings = load_settings(home).ensure()
    from cli.env import prepare_prefect_env

    prepare_prefect_env(settings)
    from flows.drill import run_drill

    steps = Progress(len(faults) * len(seeds))
    results = []
    for fault in faults:
        for seed in seeds:
            steps.step(f"drill {fault} (seed {seed})")
            res = run_drill(fault=fault, seed=seed, home=str(settings.home), quiet=True)
            live = res["detail"].get("live")
            steps.note(f"{'passed' if res['passed'] else 'FAILED'}: top-1 {res['root_cause']} "
                       f"(expected {res['expected_root_cause']}), outcome {res['outcome']}"
                       + (f", live monitoring {live}" if live else ""))
            results.append(res)
    if json_out:
        print_json(results)
    else:
        out.print(drill_table(results))
    if not all(r["passed"] for r in results):
        err.print("[yellow]some drills failed: see the incidents with `mlpb incidents show ID`[/]")
    return results
