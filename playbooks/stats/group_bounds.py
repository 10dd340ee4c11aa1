"""How sure a window's group metrics are: bootstrap bounds (pure, numpy).

A group metric on a day of traffic is noisy: with ~200 rows per group the gap in decision
rates moves by several points between two windows of the same model, so a criterion judged
on the point estimate ("may not widen the gap by more than 5 points") fails good changes at
random. A criterion is therefore judged on the side of the interval nearest to passing: an
upper limit on the low bound, a lower limit on the high bound (``playbooks.engine.fairness``),
the same rule as the slice-AUC criterion's "the drop we are confident about".

Resampling rows with replacement only changes how many rows fall into each cell (group x
label x serving decision x replaced decision), so the row bootstrap is a multinomial draw
over those cells: ``replicates`` draws cost O(replicates x cells) whatever the window's size.
The change vs the replaced version is paired (both versions decide the same resampled rows).
The generator's seed is fixed: the same rows always give the same bounds and verdict.
"""

from __future__ import annotations

import numpy as np

__all__ = ["group_metric_bounds"]

_SEED = 20261202


def _rates(positive: np.ndarray, total: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, positive / np.maximum(total, 1), np.nan)


def _spread(rates: np.ndarray) -> np.ndarray:
    """Largest minus smallest group rate per replicate (rates: replicates x groups)."""
    spread: np.ndarray = np.nanmax(rates, axis=1) - np.nanmin(rates, axis=1)
    return spread


def _metrics(cells: np.ndarray, *, version: int, labelled: bool) -> dict[str, np.ndarray]:
    """Group metrics per replicate; ``cells``: replicates x groups x labels x new x old."""
    decided = cells.sum(axis=4 - version)  # keep this version's decision axis
    # decided: replicates x groups x labels x decision
    per_group = decided.sum(axis=2)  # replicates x groups x decision
    rate = _rates(per_group[..., 1], per_group.sum(axis=2))
    with np.errstate(invalid="ignore", divide="ignore"):
        lo, hi = np.nanmin(rate, axis=1), np.nanmax(rate, axis=1)
        out = {"demographic_parity_difference": hi - lo,
               "demographic_parity_ratio": np.where(hi > 0, lo / np.where(hi > 0, hi, 1), 1.0)}
    if labelled:
        tpr = _rates(decided[:, :, 1, 1], decided[:, :, 1, :].sum(axis=2))
        fpr = _rates(decided[:, :, 0, 1], decided[:, :, 0, :].sum(axis=2))
        out["equalized_odds_difference"] = np.maximum(_spread(tpr), _spread(fpr))
    return out


def group_metric_bounds(
    groups: np.ndarray,
    serving: np.ndarray,
    previous: np.ndarray | None,
    labels: np.ndarray | None,
    *,
    confidence: float,
    replicates: int = 2000,
) -> dict[str, tuple[float, float]]:
    """One-sided ``confidence`` bounds (low, high) of each group metric of the ``serving``
    decisions (0/1 per row) across ``groups``, and of its change vs ``previous`` (key
    ``M_change``) when given. ``labels`` (0/1) add equalized odds."""
    names, g_idx = np.unique(np.asarray(groups), return_inverse=True)
    new = np.asarray(serving, dtype=int)
    old = np.asarray(previous, dtype=int) if previous is not None else new
    y = np.asarray(labels, dtype=int) if labels is not None else np.zeros_like(new)
    n_labels = 2 if labels is not None else 1
    shape = (len(names), n_labels, 2, 2)
    flat = np.ravel_multi_index((g_idx, y, new, old), shape)
    counts = np.bincount(flat, minlength=int(np.prod(shape)))
    rng = np.random.default_rng(_SEED)
    draws = rng.multinomial(len(new), counts / counts.sum(), size=replicates)
    cells = draws.reshape((replicates, *shape))
    labelled = labels is not None
    serving_m = _metrics(cells, version=0, labelled=labelled)
    q = (1.0 - confidence, confidence)

    def bounds(values: np.ndarray) -> tuple[float, float]:
        low, high = np.nanquantile(values, q)
        return float(low), float(high)

    out = {m: bounds(v) for m, v in serving_m.items()}
    if previous is not None:
        previous_m = _metrics(cells, version=1, labelled=labelled)
        out |= {f"{m}_change": bounds(v - previous_m[m]) for m, v in serving_m.items()}
    return out
