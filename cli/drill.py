"""`mlpb drill`: run game-day drills and print their scores."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from cli.output import Progress, err, out, print_json
from playbooks.config import load_settings
from playbooks.errors import UnknownNameError

__all__ = ["drill_table", "list_faults", "run_drills"]


def list_faults() -> list[dict[str, Any]]:
    from playbooks.drills import expectation_for
    from playbooks.sandbox import FAULTS

    rows = []
    for kind in FAULTS.kinds():
        inj = FAULTS.get(kind)
        exp = expectation_for(kind, inj.params)
        rows.append({"fault": kind, "enters_via": exp.entry_playbook, "playbook": exp.playbook,
                     "expected_root_cause": exp.root_cause, "expected_outcome": exp.outcome,
                     "description": (inj.params.__doc__ or "").strip().splitlines()[0]})
    return rows


def _mark(ok: bool) -> str:
    return "[green]✓[/]" if ok else "[red]✗[/]"


def drill_table(results: list[dict[str, Any]]) -> Table:
    t = Table(title="Drill results")
    for col in ("fault", "seed", "playbook", "root cause (expected)", "top-1", "outcome (expected)",
                "detected", "TTD s", "TTR s", "passed"):
        t.add_column(col)
    for r in results:
        t.add_row(r["fault"], str(r["seed"]), r["playbook"],
                  f"{r['root_cause'] or '—'} ({r['expected_root_cause']})",
                  _mark(r["correct_root_cause"]), f"{r['outcome']} ({r['expected_outcome']})",
                  _mark(r["detected"]), f"{r['time_to_detect_s']:.1f}",
                  "—" if r["time_to_resolve_s"] is None else f"{r['time_to_resolve_s']:.1f}",
                  _mark(r["passed"]))
    n = sum(r["passed"] for r in results)
    t.caption = f"{n}/{len(results)} drills passed"
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
            steps.note(f"{'passed' if res['passed'] else 'FAILED'}: top-1 {res['root_cause']} "
                       f"(expected {res['expected_root_cause']}), outcome {res['outcome']}")
            results.append(res)
    if json_out:
        print_json(results)
    else:
        out.print(drill_table(results))
    if not all(r["passed"] for r in results):
        err.print("[yellow]some drills failed: see the incidents with `mlpb incidents show ID`[/]")
    return results
