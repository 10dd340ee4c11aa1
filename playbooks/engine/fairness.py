"""Group metrics of a change as acceptance metrics, and how a criterion reads them (pure).

Metrics stay ``dict[str, float]`` (what the ledger keeps per window), with one key per fact:

- ``M@attr`` / ``M_previous@attr``: metric M of the serving / replaced version on attribute
  ``attr`` (only when conclusive: every group has ``min_group_rows`` rows);
- ``M`` / ``M_previous``: the worst attribute (largest difference, smallest ratio), only when
  every attribute is conclusive. A profile that names no sensitive attribute gets the neutral
  value (0 difference, ratio 1): no group can be harmed;
- ``selection_rate@attr=group`` / ``selection_rate_previous@attr=group``: for the post-mortem.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from playbooks.models.profile import ModelProfile
from playbooks.models.spec import GROUP_METRIC_NAMES, AcceptanceCriterion
from playbooks.stats.fairness import GROUP_METRICS, LABELLED_GROUP_METRICS, group_fairness

__all__ = [
    "attribute_key",
    "criterion_observed",
    "fairness_metrics",
    "group_metrics_meanings",
    "previous_key",
]

_NEUTRAL = {"demographic_parity_difference": 0.0, "demographic_parity_ratio": 1.0,
            "equalized_odds_difference": 0.0}
_LOWER_IS_WORSE = frozenset({"demographic_parity_ratio"})


def attribute_key(metric: str, attribute: str, *, previous: bool = False) -> str:
    return f"{previous_key(metric) if previous else metric}@{attribute}"


def previous_key(metric: str) -> str:
    return f"{metric}_previous"


def group_metrics_meanings(*, labelled: bool) -> dict[str, str]:
    """Group metric names -> meaning; ``labelled=False``: the label-free ones only."""
    return {m: d for m, d in GROUP_METRICS.items() if labelled or m not in LABELLED_GROUP_METRICS}


def _decisions(model: Any, frame: pd.DataFrame, profile: ModelProfile) -> np.ndarray:
    threshold = profile.model.threshold if profile.model is not None else 0.5
    scores = np.asarray(model.predict_proba(frame[profile.features.all])[:, 1], dtype=float)
    return np.asarray(scores >= threshold, dtype=int)


def fairness_metrics(profile: ModelProfile, frame: pd.DataFrame, *, serving: Any,
                     previous: Any | None, labels: np.ndarray | None) -> dict[str, float]:
    """Group metrics of ``serving`` (and ``previous``, on the same rows) on ``frame``."""
    attrs = profile.fairness.sensitive_attributes
    if not attrs:
        return {**_NEUTRAL, **{previous_key(m): v for m, v in _NEUTRAL.items()}}
    versions = {False: serving} | ({True: previous} if previous is not None else {})
    out: dict[str, float] = {}
    for is_prev, model in versions.items():
        decided = _decisions(model, frame, profile) if len(frame) else np.zeros(0, dtype=int)
        found = [group_fairness(frame[a] if a in frame.columns else pd.Series(dtype=str, name=a),
                                decided, labels, min_group_rows=profile.fairness.min_group_rows)
                 for a in attrs]
        rate = "selection_rate_previous" if is_prev else "selection_rate"
        for af in found:
            out |= {attribute_key(m, af.attribute, previous=is_prev): v
                    for m, v in af.metrics.items()}
            out |= {f"{rate}@{af.attribute}={g}": r for g, r in af.selection_rates.items()}
        for m in GROUP_METRICS:
            values = [af.metrics[m] for af in found if m in af.metrics]
            if len(values) == len(found):  # every attribute conclusive
                worst = min(values) if m in _LOWER_IS_WORSE else max(values)
                out[previous_key(m) if is_prev else m] = worst
    return out


def _attributes(metric: str, metrics: dict[str, float]) -> list[str]:
    prefix = f"{metric}@"
    return [k.removeprefix(prefix) for k in metrics if k.startswith(prefix)]


def criterion_observed(c: AcceptanceCriterion, metrics: dict[str, float]
                       ) -> tuple[float | None, str | None]:
    """What criterion ``c`` reads from ``metrics``, and the attribute that decided it (None
    for a plain metric or the neutral value). A group criterion over every attribute reads the
    one closest to failing; a missing value (an inconclusive attribute) is None."""
    if c.metric not in GROUP_METRIC_NAMES:
        return metrics.get(c.metric), None
    if c.metric not in metrics and c.attribute is None:
        return None, None  # some attribute is inconclusive
    attrs = [c.attribute] if c.attribute else _attributes(c.metric, metrics)
    if not attrs:  # no sensitive attribute named: the neutral value
        value = metrics.get(c.metric)
        if c.versus == "previous":
            old = metrics.get(previous_key(c.metric))
            value = None if value is None or old is None else value - old
        return value, None
    values: dict[str, float] = {}
    for a in attrs:
        new = metrics.get(attribute_key(c.metric, a))
        if c.versus == "previous":
            old = metrics.get(attribute_key(c.metric, a, previous=True))
            new = None if new is None or old is None else new - old
        if new is None:
            return None, a
        values[a] = new
    # The attribute closest to failing: the largest value under an upper bound, else the least.
    pick = max if c.op in ("<=", "<") else min
    if c.op == "==":
        decided = max(values, key=lambda a: abs(values[a] - c.value))
    else:
        decided = pick(values, key=lambda a: values[a])
    return values[decided], decided
