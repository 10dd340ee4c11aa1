"""Metrics of one live monitoring window after a change (pure).

Label-free metrics are known as soon as the window closes; labelled ones only once the
window's labels have arrived. ``estimated_roc_auc`` stands in for the labelled AUC meanwhile:
for a calibrated classifier each score is the probability its row is positive, so the
expected AUC follows from the scores alone (the idea of NannyML's CBPE).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from playbooks.engine.fairness import fairness_metrics, group_metrics_meanings
from playbooks.models.profile import ModelProfile
from playbooks.stats import DriftThresholds, drift_report

__all__ = ["LABELLED_METRICS", "LIVE_METRICS", "estimated_auc", "measure_live"]

LABEL_FREE_METRICS: dict[str, str] = {
    "rows": "rows of live traffic in the window served by the new version",
    "max_psi": "largest feature PSI of the window against the serving version's reference",
    "drifted_feature_share": "share of features drifted against the serving version's reference",
    "estimated_roc_auc": "ROC AUC expected from the (calibrated) scores alone, before labels",
    "positive_rate": "share of rows the model decided positive (the profile's threshold)",
    "mean_score": "mean model score in the window",
    **group_metrics_meanings(labelled=False),  # against the replaced version on the same rows
}
LABELLED_METRICS: dict[str, str] = {
    "roc_auc": "ROC AUC of the serving version on the window's arrived labels",
    "labelled_rows": "rows of the window whose labels have arrived",
    "equalized_odds_difference": group_metrics_meanings(labelled=True)[
        "equalized_odds_difference"],
}
LIVE_METRICS: dict[str, str] = {**LABEL_FREE_METRICS, **LABELLED_METRICS}


def estimated_auc(scores: np.ndarray) -> float | None:
    """Expected ROC AUC when each row is positive with probability ``scores[i]``.

    Pairs (i, j) with s_i > s_j count p_i (1 - p_j); ties half. Normalised by the expected
    number of (positive, negative) pairs, excluding a row paired with itself."""
    p = np.clip(np.asarray(scores, dtype=float), 0.0, 1.0)
    p = p[~np.isnan(p)]
    if len(p) < 2:
        return None
    order = np.argsort(p, kind="mergesort")
    p = p[order]
    neg_below = np.concatenate([[0.0], np.cumsum(1 - p)[:-1]])  # Σ(1-p_j) for j ranked lower
    # Ties: rows with equal scores split their pairs half and half.
    _, first, counts = np.unique(p, return_index=True, return_counts=True)
    tie_neg = np.repeat(np.add.reduceat(1 - p, first), counts) - (1 - p)
    tie_start = np.repeat(neg_below[first], counts)
    wins = float(np.sum(p * (tie_start + 0.5 * tie_neg)))
    pairs = float(p.sum() * (1 - p).sum() - np.sum(p * (1 - p)))
    return wins / pairs if pairs > 0 else None


def _auc(y: np.ndarray, s: np.ndarray) -> float | None:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, s)) if len(np.unique(y)) == 2 else None


def measure_live(
    profile: ModelProfile,
    window: pd.DataFrame,
    labelled: pd.DataFrame | None,
    *,
    serving: Any,
    reference: pd.DataFrame,
    thresholds: DriftThresholds | None = None,
    previous: Any | None = None,
) -> dict[str, float]:
    """Metrics of one window: ``window`` is its traffic, ``labelled`` the rows of it whose
    labels arrived (None while they are not due), ``serving`` the model behind the alias,
    ``reference`` the data the serving version was trained on, ``previous`` the version the
    change replaced (group metrics are compared with it on the same rows)."""
    out: dict[str, float] = {"rows": float(len(window))}
    if window.empty:
        return out
    feats = profile.features
    rep = drift_report(reference, window, feats.numeric, feats.categorical, thresholds)
    out["max_psi"] = rep.max_psi()
    out["drifted_feature_share"] = len(rep.drifted()) / max(len(rep.features), 1)
    scores = np.asarray(serving.predict_proba(window[feats.all])[:, 1], dtype=float)
    out["mean_score"] = float(np.mean(scores))
    threshold = profile.model.threshold if profile.model is not None else 0.5
    out["positive_rate"] = float(np.mean(scores >= threshold))
    if (est := estimated_auc(scores)) is not None:
        out["estimated_roc_auc"] = est
    # Parity on all traffic at once; equalized odds only on the rows whose labels arrived.
    parity = fairness_metrics(profile, window, serving=serving, previous=previous, labels=None)
    out |= parity
    if labelled is not None and profile.target and profile.target in labelled.columns:
        out["labelled_rows"] = float(len(labelled))
        if len(labelled):
            y = labelled[profile.target].astype(int).to_numpy()
            s = np.asarray(serving.predict_proba(labelled[feats.all])[:, 1], dtype=float)
            if (auc := _auc(y, s)) is not None:
                out["roc_auc"] = auc
            odds = fairness_metrics(profile, labelled, serving=serving, previous=previous,
                                    labels=y)
            out |= {k: v for k, v in odds.items() if k.startswith("equalized_odds_difference")}
    return out
