"""Drift pictures: the statistic per feature against its threshold, reference-vs-current
distributions of the most drifted features, and the score distribution before/after."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from playbooks.charts.base import BAD, CURRENT, NEUTRAL, REFERENCE, Chart, figure, save

__all__ = ["distribution_chart", "drift_statistic_chart", "score_chart", "top_drifted"]

_TOP_CATEGORIES = 8


def top_drifted(feature_drift: Sequence[dict[str, Any]], n: int = 4) -> list[dict[str, Any]]:
    """The ``n`` features with the largest PSI (drifted ones first)."""
    ranked = sorted((d for d in feature_drift if d.get("psi") is not None),
                    key=lambda d: (d.get("status") != "drift", -(d.get("psi") or 0.0)))
    return ranked[:n]


def drift_statistic_chart(feature_drift: Sequence[dict[str, Any]], threshold: float,
                          path: Path, *, statistic: str = "psi", top: int = 15) -> Chart | None:
    """Horizontal bars of ``statistic`` per feature, the act threshold as a line."""
    rows = sorted((d for d in feature_drift if d.get(statistic) is not None),
                  key=lambda d: d[statistic])[-top:]
    if not rows:
        return None
    longest = max(len(str(d["feature"])) for d in rows)
    fig = figure(8, max(2.5, 0.35 * len(rows) + 1.2), left=min(0.45, 0.03 + 0.012 * longest))
    ax = fig.add_subplot()
    values = [float(d[statistic]) for d in rows]
    colors = [BAD if v > threshold else NEUTRAL for v in values]
    ax.barh([str(d["feature"]) for d in rows], values, color=colors)
    ax.axvline(threshold, color=BAD, linestyle="--", label=f"threshold {threshold:g}")
    ax.set_xlabel(statistic.upper())
    ax.set_title(f"Drift per feature ({statistic.upper()}, red: above the threshold)")
    ax.legend(loc="lower right")
    title = f"{statistic.upper()} per feature vs the threshold {threshold:g}"
    return save(fig, path, name=path.stem, title=title)


def _numeric(ax: Axes, ref: pd.Series, cur: pd.Series) -> None:
    r, c = ref.dropna().astype(float), cur.dropna().astype(float)
    both = pd.concat([r, c])
    if both.empty:
        return
    lo, hi = np.nanpercentile(both, [0.5, 99.5])
    bins = np.linspace(lo, hi if hi > lo else lo + 1.0, 31).tolist()
    ax.hist(r, bins=bins, density=True, alpha=0.55, color=REFERENCE, label="reference")
    ax.hist(c, bins=bins, density=True, alpha=0.55, color=CURRENT, label="current")


def _categorical(ax: Axes, ref: pd.Series, cur: pd.Series) -> None:
    r = ref.astype(str).value_counts(normalize=True)
    c = cur.astype(str).value_counts(normalize=True)
    cats = list((r.add(c, fill_value=0)).sort_values(ascending=False).index[:_TOP_CATEGORIES])
    x = np.arange(len(cats))
    ax.bar(x - 0.2, [r.get(k, 0.0) for k in cats], 0.4, color=REFERENCE, label="reference")
    ax.bar(x + 0.2, [c.get(k, 0.0) for k in cats], 0.4, color=CURRENT, label="current")
    ax.set_xticks(x, [k[:12] for k in cats], rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("share")


def distribution_chart(reference: pd.DataFrame, current: pd.DataFrame,
                       features: Sequence[dict[str, Any]], path: Path) -> Chart | None:
    """One panel per feature: reference vs current (histograms, or category shares)."""
    shown = [d for d in features if d["feature"] in reference and d["feature"] in current]
    if not shown:
        return None
    cols = min(2, len(shown))
    rows = (len(shown) + cols - 1) // cols
    fig = figure(4.2 * cols, 3.0 * rows)
    for i, d in enumerate(shown):
        ax = fig.add_subplot(rows, cols, i + 1)
        name = str(d["feature"])
        if d.get("kind") == "categorical":
            _categorical(ax, reference[name], current[name])
        else:
            _numeric(ax, reference[name], current[name])
        psi = d.get("psi")
        ax.set_title(f"{name} (PSI {psi:.2f})" if psi is not None else name, fontsize=10)
        if i == 0:
            ax.legend(fontsize=8)
    fig.suptitle("Reference vs current: the most drifted features")
    names = ", ".join(str(d["feature"]) for d in shown)
    return save(fig, path, name=path.stem, title=f"Reference vs current distributions: {names}")


def score_chart(before: pd.Series, after: pd.Series, path: Path, *,
                threshold: float | None = None, labels: tuple[str, str] = (
                    "reference", "current")) -> Chart | None:
    """The model's score distribution before and after (e.g. the reference vs the window)."""
    b, a = before.dropna().astype(float), after.dropna().astype(float)
    if b.empty or a.empty:
        return None
    fig = figure(7, 3.5)
    ax = fig.add_subplot()
    unit = bool(b.between(0, 1).all() and a.between(0, 1).all())
    bins: list[float] | int = np.linspace(0.0, 1.0, 41).tolist() if unit else 40
    ax.hist(b, bins=bins, density=True, alpha=0.55, color=REFERENCE, label=labels[0])
    ax.hist(a, bins=bins, density=True, alpha=0.55, color=CURRENT, label=labels[1])
    if threshold is not None:
        ax.axvline(threshold, color=BAD, linestyle="--", label=f"decision threshold {threshold:g}")
        above_b, above_a = float((b >= threshold).mean()), float((a >= threshold).mean())
        ax.set_title(f"Score distribution: {above_b:.1%} → {above_a:.1%} at or above the "
                     "threshold")
    else:
        ax.set_title("Score distribution")
    ax.set_xlabel("score")
    ax.legend(fontsize=8)
    return save(fig, path, name=path.stem, title=f"Score distribution, {labels[0]} vs {labels[1]}")
