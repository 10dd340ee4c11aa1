"""Group-fairness metrics of a model's binary decisions, per sensitive attribute
(fairlearn.metrics; pure).

A decision is the model's positive class (the sandbox: a declined loan), so the "selection
rate" of a group is its share of positive decisions. A group with fewer than
``min_group_rows`` rows makes its attribute inconclusive: its metrics are left out, never
reported as a pass. Equalized odds also needs both labels in every group.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["GROUP_METRICS", "LABELLED_GROUP_METRICS", "AttributeFairness", "group_fairness"]

GROUP_METRICS: Mapping[str, str] = {
    "demographic_parity_difference": "largest gap in selection rate (share decided positive) "
    "between the groups of a sensitive attribute (worst attribute)",
    "demographic_parity_ratio": "smallest group selection rate over the largest (1 = equal; "
    "worst attribute)",
    "equalized_odds_difference": "largest gap between groups in true- or false-positive rate "
    "(needs labels; worst attribute)",
}
LABELLED_GROUP_METRICS = frozenset({"equalized_odds_difference"})


@dataclass(frozen=True)
class AttributeFairness:
    """The group metrics of one sensitive attribute; ``inconclusive`` says why some are missing."""

    attribute: str
    rows: dict[str, int]  # group value -> rows
    selection_rates: dict[str, float]
    metrics: dict[str, float] = field(default_factory=dict)  # conclusive ones only
    inconclusive: str = ""


def group_fairness(
    sensitive: pd.Series,
    decided: np.ndarray,
    labels: np.ndarray | None = None,
    *,
    min_group_rows: int,
) -> AttributeFairness:
    """Metrics of ``decided`` (0/1 per row) across the groups of ``sensitive``; ``labels``
    (0/1) when known. Missing attribute values form no group (they are left out)."""
    from fairlearn.metrics import (
        demographic_parity_difference,
        demographic_parity_ratio,
        equalized_odds_difference,
    )

    keep = sensitive.notna().to_numpy()
    groups = sensitive[keep].astype(str).to_numpy()
    pred = np.asarray(decided, dtype=int)[keep]
    rows = {str(g): int(n) for g, n in zip(*np.unique(groups, return_counts=True), strict=True)}
    rates = {g: float(pred[groups == g].mean()) for g in rows}
    name = str(sensitive.name)
    small = sorted(g for g, n in rows.items() if n < min_group_rows)
    if len(rows) < 2 or small:
        why = (f"{name}: group(s) {small} have fewer than {min_group_rows} rows" if small
               else f"{name}: fewer than two groups")
        return AttributeFairness(name, rows, rates, {}, why)
    dummy = np.zeros_like(pred)  # parity ignores the labels
    out = {
        "demographic_parity_difference": float(
            demographic_parity_difference(dummy, pred, sensitive_features=groups)),
        "demographic_parity_ratio": float(
            demographic_parity_ratio(dummy, pred, sensitive_features=groups)),
    }
    why = ""
    if labels is not None:
        y = np.asarray(labels, dtype=int)[keep]
        one_class = sorted(g for g in rows if len(np.unique(y[groups == g])) < 2)
        if one_class:
            why = f"{name}: group(s) {one_class} lack positive or negative labels"
        else:
            out["equalized_odds_difference"] = float(
                equalized_odds_difference(y, pred, sensitive_features=groups))
    return AttributeFairness(name, rows, rates, out, why)
