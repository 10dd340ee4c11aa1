"""Acceptance metrics measured on fresh data after a change, and the closure gate (pure)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from playbooks.engine.fairness import criterion_observed, fairness_metrics
from playbooks.models.incident import CriterionResult, Verification
from playbooks.models.profile import ModelProfile
from playbooks.models.spec import AcceptanceCriterion
from playbooks.stats import DriftThresholds, drift_report

__all__ = ["auc_standard_error", "evaluate_criteria", "measure"]


def _scores(model: Any, frame: pd.DataFrame, features: list[str]) -> np.ndarray:
    return np.asarray(model.predict_proba(frame[features])[:, 1], dtype=float)


def _auc(y: pd.Series, s: np.ndarray) -> float | None:
    from sklearn.metrics import roc_auc_score  # ~0.7 s to import: only when measuring

    return float(roc_auc_score(y, s)) if y.nunique() == 2 else None


def auc_standard_error(auc: float, n_pos: int, n_neg: int) -> float:
    """Hanley & McNeil (1982) standard error of a ROC AUC."""
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    var = auc * (1 - auc) + (n_pos - 1) * (q1 - auc**2) + (n_neg - 1) * (q2 - auc**2)
    return float(np.sqrt(max(var, 0.0) / max(n_pos * n_neg, 1)))


# One-sided 95%: a slice counts as harmed only by the drop we are confident about, so a
# small slice's sampling noise does not revert a good change.
_Z = 1.645


def measure(
    profile: ModelProfile,
    window: pd.DataFrame,
    *,
    serving: Any,
    previous: Any | None,
    reference: pd.DataFrame,
    thresholds: DriftThresholds | None = None,
) -> dict[str, float]:
    """Metrics for acceptance criteria: ``serving`` is the model behind the alias now,
    ``previous`` the one it replaced, ``reference`` the serving model's training data."""
    feats, target = profile.features.all, profile.target
    out: dict[str, float] = {}
    rep = drift_report(
        reference, window, profile.features.numeric, profile.features.categorical, thresholds
    )
    out["max_psi"] = rep.max_psi()
    out["drifted_feature_share"] = len(rep.drifted()) / max(len(rep.features), 1)
    labelled = target is not None and target in window.columns
    labels = window[target].astype(int).to_numpy() if labelled and target else None
    out |= fairness_metrics(profile, window, serving=serving, previous=previous, labels=labels)
    if target is None or target not in window.columns:
        return out
    y = window[target].astype(int)
    new_s = _scores(serving, window, feats)
    if (auc := _auc(y, new_s)) is not None:
        out["roc_auc"] = auc
    if previous is not None:
        old_s = _scores(previous, window, feats)
        if (old := _auc(y, old_s)) is not None and "roc_auc" in out:
            out["roc_auc_previous"] = old
            out["roc_auc_delta_vs_previous"] = out["roc_auc"] - old
        drops = []
        for seg in profile.segments:
            if seg not in window.columns:
                continue
            for _, idx in window.groupby(seg, observed=True).indices.items():
                if len(idx) < 50:
                    continue
                ys = y.iloc[idx]
                a_new, a_old = _auc(ys, new_s[idx]), _auc(ys, old_s[idx])
                if a_new is not None and a_old is not None:
                    n_pos = int(ys.sum())
                    n_neg = len(ys) - n_pos
                    # Independent-samples SE of the difference: conservative for paired scores.
                    se = float(
                        np.hypot(
                            auc_standard_error(a_new, n_pos, n_neg),
                            auc_standard_error(a_old, n_pos, n_neg),
                        )
                    )
                    drops.append(a_old - a_new - _Z * se)
        if drops:
            out["worst_slice_auc_drop"] = max(drops)
        elif not profile.segments:
            out["worst_slice_auc_drop"] = 0.0  # no segments named: no slice can be harmed
    return out


def evaluate_criteria(
    criteria: list[AcceptanceCriterion],
    metrics: dict[str, float],
    window: dict[str, Any] | None = None,
) -> Verification:
    """Every criterion must hold; a metric that could not be measured fails its criterion
    (a group metric reads its attributes: ``playbooks.engine.fairness``)."""
    observed = [criterion_observed(c, metrics) for c in criteria]
    results = [
        CriterionResult(id=c.id, metric=c.metric, op=c.op, target=c.value, observed=o.value,
                        passed=c.holds(o.value),
                        estimate=o.estimate if o.estimate != o.value else None)
        for c, o in zip(criteria, observed, strict=True)
    ]
    return Verification(
        passed=all(r.passed for r in results), criteria=results, window=window or {}
    )
