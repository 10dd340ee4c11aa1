"""``python -m bench``: time our drift engine against Evidently and print a comparison table."""

from __future__ import annotations

import argparse
import sys

from rich.console import Console
from rich.table import Table

from bench.drift_bench import BenchRow, run_size

FOOTER = (
    "ours = fit_reference + compute_drift, wall clock, one run after a warm-up. "
    "peak = tracemalloc peak of allocations (numpy buffers included) during a separate "
    "untimed run; input = the reference + current float64 arrays; ratio = peak / input. "
    "Evidently = Report([DataDriftPreset()]).run only, in its own venv. agreement = share of "
    "columns with the same drift verdict; vs truth = share matching the planted changes "
    "(large changes = drift, small and none = no drift)."
)


def _rows_arg(text: str) -> list[int]:
    return [int(part.replace("_", "")) for part in text.split(",") if part.strip()]


def _fmt(value: float | None, spec: str, suffix: str = "") -> str:
    return "n/a" if value is None else f"{value:{spec}}{suffix}"


def render(rows: list[BenchRow]) -> Table:
    table = Table(title="Drift statistics: ours vs Evidently DataDriftPreset", caption=FOOTER)
    for name in ("rows x features", "ours (s)", "ours peak (MB)", "input (MB)", "mem ratio",
                 "Evidently (s)", "speed-up", "agreement", "vs truth (ours / Ev.)"):
        table.add_column(name, justify="right", overflow="fold")
    for r in rows:
        table.add_row(
            f"{r.rows:,} x {r.features}", f"{r.ours_seconds:.2f}", f"{r.ours_peak_mb:,.1f}",
            f"{r.input_mb:,.0f}", f"{r.memory_ratio:.2f}x", _fmt(r.evidently_seconds, ".1f"),
            _fmt(r.speedup, ".1f", "x"), _fmt(r.verdict_agreement, ".0%"),
            f"{r.ours_truth_agreement:.0%} / {_fmt(r.evidently_truth_agreement, '.0%')}")
    return table


def main(argv: list[str] | None = None) -> int:
    args_in = sys.argv[1:] if argv is None else argv
    if args_in[:1] == ["receiver"]:  # `python -m bench receiver`: the alert receiver bench
        from bench.receiver_bench import main as receiver_main

        return receiver_main(args_in[1:])
    if args_in[:1] == ["startup"]:  # `python -m bench startup`: quick mlpb commands
        from bench.startup_bench import main as startup_main

        return startup_main(args_in[1:])
    if args_in[:1] == ["e2e"]:  # `python -m bench e2e`: mlpb run on a partitioned log
        from bench.e2e_main import main as e2e_main

        return e2e_main(args_in[1:])
    if args_in[:1] == ["scale"]:  # `python -m bench scale`: N models on a Prefect work pool
        from bench.scale_bench import main as scale_main

        return scale_main(args_in[1:])
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     epilog="`python -m bench receiver --help`: the alert "
                                            "receiver benchmark; `python -m bench e2e "
                                            "--help`: mlpb run on a partitioned log; `python -m "
                                            "bench startup`: mlpb start-up times")
    parser.add_argument("--rows", type=_rows_arg, default=[100_000, 1_000_000],
                        help="comma-separated row counts (default 100000,1000000)")
    parser.add_argument("--features", type=int, default=100, help="numeric features (100)")
    parser.add_argument("--skip-evidently", action="store_true", help="time ours only")
    parser.add_argument("--quick", action="store_true",
                        help="one small size (50,000 x 20) for a fast check")
    parser.add_argument("--evidently-timeout", type=float, default=900.0,
                        help="seconds before giving up on one Evidently run (900)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    sizes = [(50_000, 20)] if args.quick else [(n, args.features) for n in args.rows]

    progress = Console(stderr=True, highlight=False)
    out = Console(width=None if sys.stdout.isatty() else 150, highlight=False)
    results = []
    for rows, features in sizes:
        results.append(run_size(rows, features, skip_evidently=args.skip_evidently,
                                evidently_timeout=args.evidently_timeout, seed=args.seed,
                                progress=lambda msg: progress.print(f"[dim]{msg}[/dim]")))
    out.print(render(results))
    for r in results:
        if r.evidently_note and not args.skip_evidently:
            out.print(f"Evidently n/a at {r.rows:,} x {r.features}: {r.evidently_note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
