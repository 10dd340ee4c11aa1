"""Group metrics of a change as acceptance metrics, and how a criterion reads them (pure).

Metrics stay ``dict[str, float]`` (what the ledger keeps per window), with one key per fact:

- ``M@attr`` / ``M_previous@attr``: metric M of the serving / replaced version on attribute
  ``attr`` (only when conclusive: every group has ``min_group_rows`` rows);
- ``M`` / ``M_previous``: the worst attribute (largest difference, smallest ratio), only when
  every attribute is conclusive. A profile that names no sensitive attribute gets the neutral
  value (0 difference, ratio 1): no group can be harmed;
- ``M_low@attr`` / ``M_high@attr`` and ``M_change_low@attr`` / ``M_change_high@attr``:
  one-sided bootstrap bounds (``fairness.confidence``) of M and of its change vs the replaced
  version (``playbooks.stats.group_bounds``). A criterion is judged on the bound nearest to
  passing, so it fails only on what the window shows beyond sampling noise;
- ``selection_rate@attr=group`` / ``selection_rate_previous@attr=group``: for the post-mortem.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from playbooks.models.profile import ModelProfile
from playbooks.models.spec import GROUP_METRIC_NAMES, AcceptanceCriterion
from playbooks.stats.fairness import GROUP_METRICS, LABELLED_GROUP_METRICS, group_fairness
from playbooks.stats.group_bounds import group_metric_bounds

__all__ = [
    "Observed",
    "attribute_key",
    "bound_key",
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


def bound_key(metric: str, attribute: str, side: str, *, change: bool = False) -> str:
    """``side``: "low" or "high"; ``change``: the bound of the change vs the replaced version."""
    return f"{metric}{'_change' if change else ''}_{side}@{attribute}"


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
    decisions: dict[bool, np.ndarray] = {}
    for is_prev, model in versions.items():
        decided = _decisions(model, frame, profile) if len(frame) else np.zeros(0, dtype=int)
        decisions[is_prev] = decided
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
    return out | _bounds(profile, frame, decisions, labels, conclusive=out)


def _bounds(profile: ModelProfile, frame: pd.DataFrame, decisions: dict[bool, np.ndarray],
            labels: np.ndarray | None, *, conclusive: dict[str, float]) -> dict[str, float]:
    """Bootstrap bounds of the metrics that are conclusive (point value present)."""
    out: dict[str, float] = {}
    for a in profile.fairness.sensitive_attributes:
        if attribute_key("demographic_parity_difference", a) not in conclusive:
            continue  # a group too small (or the column missing): nothing to bound
        col = frame[a]
        keep = col.notna().to_numpy()
        found = group_metric_bounds(
            col[keep].astype(str).to_numpy(), decisions[False][keep],
            decisions[True][keep] if True in decisions else None,
            labels[keep] if labels is not None else None,
            confidence=profile.fairness.confidence)
        for name, (low, high) in found.items():
            metric, change = name.removesuffix("_change"), name.endswith("_change")
            if attribute_key(metric, a) not in conclusive or (
                    change and attribute_key(metric, a, previous=True) not in conclusive):
                continue  # e.g. equalized odds with a group lacking one label
            out[bound_key(metric, a, "low", change=change)] = low
            out[bound_key(metric, a, "high", change=change)] = high
    return out


def _attributes(metric: str, metrics: dict[str, float]) -> list[str]:
    prefix = f"{metric}@"
    return [k.removeprefix(prefix) for k in metrics if k.startswith(prefix)]


class Observed(NamedTuple):
    """What a criterion is judged on: ``value`` (for a group metric with bounds, the bound
    nearest to passing), the deciding ``attribute``, and the point ``estimate``."""

    value: float | None
    attribute: str | None = None
    estimate: float | None = None


def _judged_side(c: AcceptanceCriterion) -> str | None:
    return {"<=": "low", "<": "low", ">=": "high", ">": "high"}.get(c.op)


def _read(c: AcceptanceCriterion, metrics: dict[str, float], a: str) -> Observed:
    """Criterion ``c`` on attribute ``a``: the point value (or change) and its judged bound."""
    point = metrics.get(attribute_key(c.metric, a))
    if c.versus == "previous":
        old = metrics.get(attribute_key(c.metric, a, previous=True))
        point = None if point is None or old is None else point - old
    side = _judged_side(c)
    bound = (metrics.get(bound_key(c.metric, a, side, change=c.versus == "previous"))
             if side and point is not None else None)
    return Observed(point if bound is None else bound, a, point)


def criterion_observed(c: AcceptanceCriterion, metrics: dict[str, float]) -> Observed:
    """What criterion ``c`` reads from ``metrics`` (``Observed``; attribute None for a plain
    metric or the neutral value). A group criterion over every attribute reads the one
    closest to failing; a missing value (an inconclusive attribute) is None."""
    if c.metric not in GROUP_METRIC_NAMES:
        return Observed(metrics.get(c.metric))
    if c.metric not in metrics and c.attribute is None:
        return Observed(None)  # some attribute is inconclusive
    attrs = [c.attribute] if c.attribute else _attributes(c.metric, metrics)
    if not attrs:  # no sensitive attribute named: the neutral value
        value = metrics.get(c.metric)
        if c.versus == "previous":
            old = metrics.get(previous_key(c.metric))
            value = None if value is None or old is None else value - old
        return Observed(value, None, value)
    read: dict[str, Observed] = {}
    for a in attrs:
        if (o := _read(c, metrics, a)).value is None:
            return o
        read[a] = o
    # The attribute closest to failing: the largest value under an upper bound, else the least.
    values = {a: o.value for a, o in read.items() if o.value is not None}
    pick = max if c.op in ("<=", "<") else min
    if c.op == "==":
        decided = max(values, key=lambda a: abs(values[a] - c.value))
    else:
        decided = pick(values, key=lambda a: values[a])
    return read[decided]
