"""``python -m bench startup``: how long the quick ``mlpb`` commands take from a cold process,
hyperfine-style: each command run ``--runs`` times after one warm-up (page cache, .pyc), then
mean ± sd, min and max of the wall clock, and the mean CPU (user + sys: what a busy machine
does not inflate). Target: every command under 1.5 s.

Byte code is cached as after ``pip install`` (which compiles it): in a private
``PYTHONPYCACHEPREFIX`` under the run's temp dir, so the bench writes nothing into the venv or
the tree, and a ``PYTHONDONTWRITEBYTECODE=1`` in the caller's environment does not turn every
run into a compile of pandas and friends. ``--no-pyc`` measures that worst case instead.
The ledger holds one incident, so ``list`` prints a row and ``show`` renders it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table

__all__ = ["COMMANDS", "main", "time_command"]

ROOT = Path(__file__).resolve().parent.parent
TARGET_S = 1.5
INCIDENT_ID = "INC-bench-startup"
COMMANDS: tuple[tuple[str, ...], ...] = (
    ("--help",),
    ("validate",),
    ("incidents", "list"),
    ("incidents", "show", INCIDENT_ID),
)


def time_command(args: tuple[str, ...], runs: int, env: dict[str, str]
                 ) -> tuple[list[float], list[float]]:
    """Wall and CPU (user + sys) seconds of ``runs`` runs after one warm-up."""
    from bench.e2e_bench import measure

    mlpb = str(Path(sys.executable).with_name("mlpb"))
    walls, cpus = [], []
    for i in range(runs + 1):
        m = measure([mlpb, *args], env=env, timeout=600)
        if m.note:
            raise SystemExit(f"mlpb {' '.join(args)} failed: {m.note}")
        if i:  # the first run warms the page cache and writes .pyc files
            walls.append(m.seconds)
            cpus.append(m.cpu_seconds)
    return walls, cpus


def seed_ledger(home: Path) -> None:
    """One open incident with a short timeline in a fresh state dir."""
    from playbooks.config import load_settings
    from playbooks.engine.transitions import Event, record_event
    from playbooks.ledger import Ledger
    from playbooks.models.incident import Incident

    ledger = Ledger(load_settings(str(home)).ensure().ledger_url)
    inc, _ = ledger.open_incident(Incident(
        id=INCIDENT_ID, playbook="data-drift", playbook_version="1.0.0", playbook_hash="h",
        model="credit-risk", dedup_key="bench-startup"))
    for ev in (Event.STARTED, Event.PLANNING):
        inc = record_event(ledger, inc, ev, ev.value)


def bench_env(tmp: Path, *, pyc: bool) -> dict[str, str]:
    env = {**os.environ, "MLPB_HOME": str(tmp / "home")}
    if pyc:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env.pop("PYTHONPYCACHEPREFIX", None)
    return env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench startup", description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-pyc", action="store_true",
                        help="no byte-code cache: every run compiles every module it imports")
    args = parser.parse_args(argv)
    pyc = "no byte-code cache" if args.no_pyc else "byte code cached (as after pip install)"
    table = Table(title=f"mlpb start-up, {args.runs} runs each (target < {TARGET_S} s)",
                  caption=f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs at "
                  f"the start; a fresh MLPB_HOME with one incident; {pyc}")
    for name in ("command", "mean s", "sd s", "min s", "max s", "CPU s", "target"):
        table.add_column(name, justify="right")
    with tempfile.TemporaryDirectory(prefix="mlpb-startup-") as tmp:
        env = bench_env(Path(tmp), pyc=not args.no_pyc)
        seed_ledger(Path(env["MLPB_HOME"]))
        for cmd in COMMANDS:
            t, cpu = time_command(cmd, args.runs, env)
            mean = statistics.fmean(t)
            table.add_row("mlpb " + " ".join(cmd), f"{mean:.2f}",
                          f"{statistics.stdev(t) if len(t) > 1 else 0.0:.2f}",
                          f"{min(t):.2f}", f"{max(t):.2f}", f"{statistics.fmean(cpu):.2f}",
                          "ok" if mean < TARGET_S else "over")
    Console(width=None if sys.stdout.isatty() else 120, highlight=False).print(table)
    return 0
