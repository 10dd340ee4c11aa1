"""``python -m bench startup``: how long the quick ``mlpb`` commands take from a cold process,
hyperfine-style: each command run ``--runs`` times after one warm-up (page cache, .pyc), then
mean ± sd, min and max of the wall clock, and the mean CPU (user + sys: what a busy machine
does not inflate). Target: every command under 1.5 s.
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
COMMANDS: tuple[tuple[str, ...], ...] = (
    ("--help",),
    ("validate",),
    ("incidents", "list"),
    ("incidents", "show", "INC-00000000-none"),  # an unknown id: the lookup, then the answer
)


def time_command(args: tuple[str, ...], runs: int, env: dict[str, str]
                 ) -> tuple[list[float], list[float]]:
    """Wall and CPU (user + sys) seconds of ``runs`` runs after one warm-up."""
    from bench.e2e_bench import measure

    mlpb = str(Path(sys.executable).with_name("mlpb"))
    walls, cpus = [], []
    for i in range(runs + 1):
        m = measure([mlpb, *args], env=env, timeout=600)
        if m.note and "incidents" not in args[:1]:  # `show` of an unknown id exits non-zero
            raise SystemExit(f"mlpb {' '.join(args)} failed: {m.note}")
        if i:  # the first run warms the page cache and writes .pyc files
            walls.append(m.seconds)
            cpus.append(m.cpu_seconds)
    return walls, cpus


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench startup", description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    table = Table(title=f"mlpb start-up, {args.runs} runs each (target < {TARGET_S} s)",
                  caption=f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs at "
                  "the start; a fresh MLPB_HOME with an empty ledger")
    for name in ("command", "mean s", "sd s", "min s", "max s", "CPU s", "target"):
        table.add_column(name, justify="right")
    with tempfile.TemporaryDirectory(prefix="mlpb-startup-") as home:
        env = {**os.environ, "MLPB_HOME": home}
        for cmd in COMMANDS:
            t, cpu = time_command(cmd, args.runs, env)
            mean = statistics.fmean(t)
            table.add_row("mlpb " + " ".join(cmd), f"{mean:.2f}",
                          f"{statistics.stdev(t) if len(t) > 1 else 0.0:.2f}",
                          f"{min(t):.2f}", f"{max(t):.2f}", f"{statistics.fmean(cpu):.2f}",
                          "ok" if mean < TARGET_S else "over")
    Console(width=None if sys.stdout.isatty() else 120, highlight=False).print(table)
    return 0
