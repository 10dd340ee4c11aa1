"""Charts over many incidents (the report): a metric per period, counts per group."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from playbooks.charts.base import NEUTRAL, REFERENCE, Chart, figure, save

__all__ = ["bar_chart", "trend_chart"]


def trend_chart(series: Mapping[str, Sequence[tuple[str, float | None]]], path: Path, *,
                title: str, ylabel: str) -> Chart | None:
    """Lines of (period label, value) per series name; None values leave gaps."""
    if not any(v is not None for pts in series.values() for _, v in pts):
        return None
    fig = figure(8, 3.4)
    ax = fig.add_subplot()
    periods = sorted({p for pts in series.values() for p, _ in pts})
    pos = {p: i for i, p in enumerate(periods)}
    for name, pts in series.items():
        xs = [pos[p] for p, v in pts if v is not None]
        ys = [v for _, v in pts if v is not None]
        ax.plot(xs, ys, marker="o", label=name)
    ax.set_xticks(range(len(periods)), periods, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if len(series) > 1:
        ax.legend(fontsize=8)
    return save(fig, path, name=path.stem, title=title)


def bar_chart(counts: Mapping[str, float], path: Path, *, title: str,
              xlabel: str = "incidents") -> Chart | None:
    if not counts:
        return None
    longest = max(len(n) for n in counts)
    fig = figure(7, max(2.2, 0.35 * len(counts) + 1.0), left=min(0.45, 0.03 + 0.013 * longest))
    ax = fig.add_subplot()
    names = list(counts)
    ax.barh(names, [counts[n] for n in names], color=[REFERENCE if i % 2 == 0 else NEUTRAL
                                                       for i in range(len(names))])
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    return save(fig, path, name=path.stem, title=title)
