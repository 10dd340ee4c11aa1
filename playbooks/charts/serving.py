"""Latency and error-rate series for serving incidents, with the SLOs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from playbooks.charts.base import BAD, CURRENT, REFERENCE, Chart, figure, save

__all__ = ["serving_chart"]


def serving_chart(frame: pd.DataFrame, path: Path, *, timestamp: str, latency: str | None,
                  status: str | None = None, error_value: str = "error",
                  p95_slo_ms: float | None = None, error_slo: float | None = None,
                  freq: str = "1h") -> Chart | None:
    """Hourly p95 latency and error rate of ``frame`` (an inference log window)."""
    has_latency, has_status = bool(latency and latency in frame), bool(status and status in frame)
    if timestamp not in frame or not (has_latency or has_status):
        return None
    t = pd.to_datetime(frame[timestamp], utc=True, format="mixed")
    groups = frame.groupby(t.dt.floor(freq))
    panels = int(has_latency) + int(has_status)
    fig = figure(8, 2.6 * panels + 0.4)
    n = 0
    if latency and has_latency:
        n += 1
        ax = fig.add_subplot(panels, 1, n)
        p95 = groups[latency].quantile(0.95)
        ax.plot(list(p95.index), p95.to_numpy(dtype=float), color=REFERENCE,
                label="p95 latency (ms)")
        if p95_slo_ms is not None:
            ax.axhline(p95_slo_ms, color=BAD, linestyle="--", label=f"SLO {p95_slo_ms:g} ms")
        ax.set_ylabel("ms")
        ax.legend(fontsize=8)
    if status and has_status:
        n += 1
        ax = fig.add_subplot(panels, 1, n)
        rate = groups[status].apply(lambda s: float((s.astype(str) == error_value).mean()))
        ax.plot(list(rate.index), rate.to_numpy(dtype=float), color=CURRENT, label="error rate")
        if error_slo is not None:
            ax.axhline(error_slo, color=BAD, linestyle="--", label=f"SLO {error_slo:.1%}")
        ax.set_ylabel("share")
        ax.legend(fontsize=8)
    fig.suptitle(f"Serving per {freq}: latency and errors")
    return save(fig, path, name=path.stem, title="Serving latency (p95) and error rate over time")
