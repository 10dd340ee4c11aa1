"""Acceptance metrics per monitoring window, with the change marked."""

from __future__ import annotations

from pathlib import Path

from playbooks.charts.base import BAD, GOOD, NEUTRAL, REFERENCE, Chart, figure, save
from playbooks.models.incident import Monitoring, Verification

__all__ = ["windows_chart"]


def windows_chart(monitoring: Monitoring, path: Path, *, verification: Verification | None = None,
                  before: dict[str, float] | None = None) -> Chart | None:
    """One panel per criterion metric: the value at detection (``before``, when the evidence
    measured it), at the pre-check, then in each live window; the target as a line, each
    window's verdict as the marker colour, the change as a vertical line."""
    targets = {str(c["metric"]): (str(c.get("op", ">=")), float(c["value"]))
               for c in monitoring.criteria if "metric" in c and "value" in c}
    if not targets or not monitoring.windows:
        return None
    pre = {c.metric: c.observed for c in (verification.criteria if verification else [])}
    before = before or {}
    fig = figure(8, 2.4 * len(targets) + 0.6)
    for i, (metric, (op, target)) in enumerate(targets.items()):
        ax = fig.add_subplot(len(targets), 1, i + 1)
        points: list[tuple[float, float, str]] = []  # x, value, marker colour
        if metric in before:
            points.append((-1.0, before[metric], REFERENCE))
        if (observed := pre.get(metric)) is not None:
            points.append((0.0, observed, NEUTRAL))
        points += [(float(w.index + 1), w.metrics[metric],
                    {"pass": GOOD, "fail": BAD}.get(w.verdict, NEUTRAL))
                   for w in monitoring.windows if metric in w.metrics]
        if points:
            xs, ys, colors = ([p[k] for p in points] for k in range(3))
            ax.plot(xs, ys, color=NEUTRAL, linewidth=1, zorder=1)
            ax.scatter(xs, ys, c=colors, s=40, zorder=2)
        ax.axhline(target, color=BAD, linestyle="--", linewidth=1, label=f"target {op} {target:g}")
        ax.axvline(-0.5, color="black", linestyle=":", linewidth=1)
        ax.annotate(f"change: {monitoring.remediation_id}", (-0.5, 1.0),
                    xycoords=("data", "axes fraction"), fontsize=8, va="top", ha="left")
        ticks = [-1.0, 0.0] + [float(w.index + 1) for w in monitoring.windows]
        ax.set_xticks(ticks, ["detected", "pre-check",
                              *(f"w{w.index + 1}" for w in monitoring.windows)])
        ax.set_xlim(-1.5, len(monitoring.windows) + 0.5)
        ax.set_ylabel(metric, fontsize=9)
        ax.legend(fontsize=8, loc="best")
    fig.suptitle(f"Acceptance per live window (green pass, red fail) after "
                 f"{monitoring.remediation_id}")
    return save(fig, path, name=path.stem,
                title=f"Acceptance metrics per monitoring window ({', '.join(targets)})")
