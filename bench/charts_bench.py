"""``python -m bench.charts_bench``: CPU time of the post-mortem charts (they are drawn at
every close), each chart alone and the whole incident set, with the fixed-margin layout we
ship against matplotlib's constrained layout. Synthetic data: 12 features, 2000 sampled rows
per window, 3 live windows."""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from unittest import mock

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from rich.console import Console
from rich.table import Table

from playbooks.charts import base, drift, monitoring
from playbooks.models.incident import Monitoring, WindowResult

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _frames(rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    def frame(shift: float) -> pd.DataFrame:
        cols = {f"num_{i}": rng.normal(shift * i / 12, 1, 2000) for i in range(9)}
        cols |= {f"cat_{i}": rng.choice(list("abcdef"), 2000) for i in range(3)}
        cols["score"] = rng.beta(2, 5 + shift, 2000)
        return pd.DataFrame(cols)
    return frame(0.0), frame(1.0)


def _monitoring() -> Monitoring:
    crit = [{"id": "psi", "metric": "max_psi", "op": "<=", "value": 0.25},
            {"id": "auc", "metric": "roc_auc", "op": ">=", "value": 0.7}]
    windows = [WindowResult(index=i, start=T0 + timedelta(days=i), end=T0 + timedelta(days=i + 1),
                            rows=1500, metrics={"max_psi": 0.02, "roc_auc": 0.78},
                            verdict="pass", measured_at=T0 + timedelta(days=i + 2))
               for i in range(3)]
    return Monitoring(remediation_id="retrain", action="retrain", journal_seq=1, change={},
                      started_at=T0, window=timedelta(days=1), count=3, failure_limit=1,
                      inconclusive_limit=2, min_rows=500, criteria=crit, windows=windows)


def _cpu(fn: Callable[[], object], repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t = time.process_time()
        fn()
        times.append(time.process_time() - t)
    return statistics.median(times)


def main() -> None:
    rng = np.random.default_rng(7)
    ref, cur = _frames(rng)
    rows = [{"feature": c, "kind": "categorical" if c.startswith("cat") else "numeric",
             "status": "drift", "psi": float(rng.uniform(0.05, 1.0))} for c in ref.columns[:12]]
    mon = _monitoring()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        charts: dict[str, Callable[[], object]] = {
            "drift statistic": lambda: drift.drift_statistic_chart(rows, 0.2, out / "a.png"),
            "distributions (4)": lambda: drift.distribution_chart(
                ref, cur, drift.top_drifted(rows), out / "b.png"),
            "scores": lambda: drift.score_chart(ref["score"], cur["score"], out / "c.png",
                                                threshold=0.5),
            "live windows (2 metrics)": lambda: monitoring.windows_chart(mon, out / "d.png"),
        }
        for fn in charts.values():
            fn()  # warm-up: fonts, caches
        fixed = {name: _cpu(fn) for name, fn in charts.items()}

        def constrained(width: float = 8.0, height: float = 4.0, *,
                        left: float = 0.1) -> Figure:
            return Figure(figsize=(width, height), dpi=90, layout="constrained")

        with mock.patch.object(base, "figure", constrained), \
                mock.patch.object(drift, "figure", constrained), \
                mock.patch.object(monitoring, "figure", constrained):
            slow = {name: _cpu(fn) for name, fn in charts.items()}
    table = Table(title="Post-mortem charts: CPU seconds per chart (median of 3)")
    for col in ("chart", "fixed margins (shipped)", "constrained layout", "ratio"):
        table.add_column(col)
    for name in charts:
        table.add_row(name, f"{fixed[name]:.3f}", f"{slow[name]:.3f}",
                      f"{slow[name] / fixed[name]:.1f}x")
    total_f, total_s = sum(fixed.values()), sum(slow.values())
    table.add_row("all four (one close)", f"{total_f:.3f}", f"{total_s:.3f}",
                  f"{total_s / total_f:.1f}x")
    Console().print(table)


if __name__ == "__main__":
    main()
