"""``python -m bench e2e``: the end-to-end table (mlpb run data-drift on a partitioned log)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench.e2e_bench import ROOT, E2ERow, Measured, run_length

CAPTION = (
    "Log: hive partitions date=YYYY-MM-DD, 200k rows/day x 24 features (20 numeric, 4 "
    "categorical) + ts, request_id, score; window 7 days. mlpb = `mlpb run data-drift "
    "--dry-run --json` (embedded Prefect, ledger, every evidence collector of the playbook). "
    "floor = bare pyarrow read of the window's partitions + drift_report (bench/e2e_floor.py). "
    "Each in its own process: wall, CPU = user+sys, peak = ru_maxrss (largest process). "
    "On a busy machine compare CPU: wall time then mostly measures waiting for a core."
)


def _cell(m: Measured | None, what: str) -> str:
    if m is None:
        return "-"
    if m.note:
        return "n/a"
    return {"s": f"{m.seconds:.1f}", "cpu": f"{m.cpu_seconds:.1f}",
            "mb": f"{m.peak_mb:,.0f}"}[what]


def render(rows: list[E2ERow]) -> Table:
    table = Table(title="mlpb run data-drift --dry-run vs the floor, by log length",
                  caption=CAPTION)
    for name in ("log days", "log rows", "log GB", "window rows", "mlpb wall s", "mlpb CPU s",
                 "mlpb peak MB", "floor wall s", "floor CPU s", "floor peak MB",
                 "time x floor", "CPU x floor", "mem x floor", "Evidently wall s",
                 "Evidently peak MB", "verdict"):
        table.add_column(name, justify="right", overflow="fold")
    for r in rows:
        table.add_row(str(r.days), f"{r.log_rows:,}", f"{r.log_gb:.1f}", f"{r.window_rows:,}",
                      _cell(r.run, "s"), _cell(r.run, "cpu"), _cell(r.run, "mb"),
                      _cell(r.floor, "s"), _cell(r.floor, "cpu"), _cell(r.floor, "mb"),
                      *((f"{r.time_ratio:.1f}x", f"{r.cpu_ratio:.1f}x", f"{r.memory_ratio:.1f}x")
                        if r.run.note is None and r.floor.note is None else ("n/a",) * 3),
                      _cell(r.evidently, "s"), _cell(r.evidently, "mb"), r.drifted)
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench e2e", description=__doc__)
    parser.add_argument("--days", default="30,120",
                        help="comma-separated log lengths in days (default 30,120)")
    parser.add_argument("--full", action="store_true",
                        help="add the 365-day log (13 GB, ~4 min to generate once)")
    parser.add_argument("--cache", type=Path, default=ROOT / ".bench" / "logs",
                        help="where generated logs are kept (default .bench/logs)")
    parser.add_argument("--skip-evidently", action="store_true",
                        help="no Evidently column (it runs once, on the first length: the "
                        "window is the same size at every length)")
    parser.add_argument("--evidently-timeout", type=float, default=900.0)
    args = parser.parse_args(argv)
    days = [int(d) for d in args.days.split(",") if d.strip()]
    if args.full and 365 not in days:
        days.append(365)
    progress = Console(stderr=True, highlight=False)
    out = Console(width=None if sys.stdout.isatty() else 200, highlight=False)
    home = ROOT / ".bench" / "e2e-home"
    home.mkdir(parents=True, exist_ok=True)
    rows: list[E2ERow] = []
    for i, d in enumerate(days):
        row = run_length(d, cache=args.cache, home=home,
                         progress=lambda msg: progress.print(f"[dim]{msg}[/dim]"),
                         evidently=not args.skip_evidently and i == 0,
                         evidently_timeout=args.evidently_timeout)
        rows.append(row)
        progress.print(f"{d} days: mlpb {row.run.seconds:.1f} s / {row.run.peak_mb:,.0f} MB, "
                       f"floor {row.floor.seconds:.1f} s / {row.floor.peak_mb:,.0f} MB"
                       + (f", Evidently {row.evidently.seconds:.1f} s" if row.evidently else ""))
    out.print(render(rows))
    for r in rows:
        for name, m in (("mlpb", r.run), ("floor", r.floor), ("Evidently", r.evidently)):
            if m is not None and m.note:
                out.print(f"{name} n/a at {r.days} days: {m.note}")
    done = [r for r in rows if r.run.note is None]
    if len(done) > 1:
        a, b = done[0], done[-1]
        out.print(f"{b.days} vs {a.days} days: mlpb wall x{b.run.seconds / a.run.seconds:.2f}, "
                  f"CPU x{b.run.cpu_seconds / a.run.cpu_seconds:.2f}, "
                  f"peak RSS x{b.run.peak_mb / a.run.peak_mb:.2f} (target <= 1.3)")
    out.print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    return 0
