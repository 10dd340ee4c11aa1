"""Group-fairness evidence: the serving version's decisions against those of the version that
served before it, re-scored on the same rows of the current window (each at its own decision
threshold), per sensitive attribute of the profile (fairlearn.metrics)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from pydantic import Field

from playbooks.engine.plugins import collector
from playbooks.evidence.base import CollectContext, EvidencePart
from playbooks.evidence.frames import (
    log_view,
    ok_rows,
    previous_version,
    serving_version_info,
    version_threshold,
)
from playbooks.models.common import StrictParams
from playbooks.stats.fairness import AttributeFairness, group_fairness
from playbooks.stats.group_bounds import group_metric_bounds

__all__ = ["GROUP_EVIDENCE_METRICS", "GroupFairnessParams", "collect_group_fairness"]

GROUP_EVIDENCE_METRICS = {
    "group_gap_serving": "largest decision-rate gap between the groups of a sensitive "
                         "attribute under the serving version (demographic parity difference)",
    "group_gap_previous": "the same under the version that served before it, same rows",
    "group_gap_widening": "serving minus previous version's gap, worst sensitive attribute",
    "group_odds_widening": "serving minus previous version's equalized odds difference on the "
                           "window's labelled rows, worst sensitive attribute",
    "group_gap_widening_low": "the widening of the gap we are confident about: one-sided "
                              "bootstrap low bound (profile fairness.confidence), worst attribute",
    "group_odds_widening_low": "the same for the equalized odds widening",
}


class GroupFairnessParams(StrictParams):
    max_rows: int = Field(20_000, ge=100, description="Rows re-scored at most (a sample).")


def _by_version(decided: np.ndarray, rows: pd.DataFrame, labels: np.ndarray | None,
                attrs: list[str], min_rows: int) -> list[AttributeFairness]:
    return [group_fairness(rows[a], decided, labels, min_group_rows=min_rows) for a in attrs]


def _widening(metric: str, new: list[AttributeFairness], old: list[AttributeFairness]
              ) -> float | None:
    deltas = [n.metrics[metric] - o.metrics[metric] for n, o in zip(new, old, strict=True)
              if metric in n.metrics and metric in o.metrics]
    return max(deltas) if deltas and len(deltas) == len(new) else None


def _confident_widening(metric: str, rows: pd.DataFrame, attrs: list[str], new: np.ndarray,
                        old: np.ndarray, labels: np.ndarray | None, confidence: float) -> float:
    """The worst attribute's one-sided low bound of the widening (paired bootstrap)."""
    lows = []
    for a in attrs:
        keep = rows[a].notna().to_numpy()
        bounds = group_metric_bounds(rows[a][keep].astype(str).to_numpy(), new[keep],
                                     old[keep], labels[keep] if labels is not None else None,
                                     confidence=confidence)
        lows.append(bounds[f"{metric}_change"][0])
    return max(lows)


@collector("group-fairness", params=GroupFairnessParams, metrics=GROUP_EVIDENCE_METRICS)
def collect_group_fairness(ctx: CollectContext, params: GroupFairnessParams) -> EvidencePart:
    """Decision-rate gaps between sensitive groups: serving vs previous version, same rows."""
    prof = ctx.profile
    attrs = prof.fairness.sensitive_attributes
    view = log_view(prof, ctx.data)
    vcol = prof.prediction.model_version
    store = ctx.model_store
    if not attrs:
        return EvidencePart.unavailable("the profile names no fairness.sensitive_attributes",
                                        "no sensitive attributes named")
    if view is None or not vcol or vcol not in view.log.columns or store is None \
            or prof.model is None:
        return EvidencePart.unavailable(
            "group comparison needs data.timestamp, prediction.model_version and a model",
            "no group comparison (no version column or registry)")
    info = serving_version_info(prof, store)
    serving = info.version if info else None
    previous = previous_version(view.log, view.ts, vcol, serving)[0] if serving else None
    if serving is None or previous is None:
        return EvidencePart.unavailable("no earlier version served in the log",
                                        f"serving v{serving}; no earlier version to compare")
    rows = ok_rows(prof, view.log)
    rows = rows[rows[view.ts] >= view.window_start]
    if len(rows) > params.max_rows:
        rows = rows.sample(params.max_rows, random_state=0)
    missing = [a for a in attrs if a not in rows.columns]
    if missing or rows.empty:
        return EvidencePart.unavailable(f"sensitive attribute(s) {missing} not in the log"
                                        if missing else "no rows in the window",
                                        "no group comparison")
    lab = prof.target if prof.target and prof.target in rows.columns else None
    labels = rows[lab].astype(int).to_numpy() if lab and rows[lab].notna().all() else None
    name, minimum = prof.model.registry_name, prof.fairness.min_group_rows
    found: dict[str, list[AttributeFairness]] = {}
    decisions: dict[str, np.ndarray] = {}
    for v in (serving, previous):
        scores = store.load_model(name, v).predict_proba(rows[prof.features.all])[:, 1]
        threshold = version_threshold(prof, store.get_version(name, v))
        decided = np.asarray(np.asarray(scores, dtype=float) >= threshold, dtype=int)
        decisions[v] = decided
        found[v] = _by_version(decided, rows, labels, attrs, minimum)
    new, old = found[serving], found[previous]
    metrics: dict[str, float] = {}
    gaps = {v: [af.metrics.get("demographic_parity_difference") for af in f]
            for v, f in found.items()}
    if all(g is not None for gs in gaps.values() for g in gs):
        metrics["group_gap_serving"] = max(g for g in gaps[serving] if g is not None)
        metrics["group_gap_previous"] = max(g for g in gaps[previous] if g is not None)
    for key, metric in (("group_gap_widening", "demographic_parity_difference"),
                        ("group_odds_widening", "equalized_odds_difference")):
        if (w := _widening(metric, new, old)) is not None:
            metrics[key] = w
            metrics[f"{key}_low"] = _confident_widening(metric, rows, attrs, decisions[serving],
                                                        decisions[previous], labels,
                                                        prof.fairness.confidence)
    data: dict[str, Any] = {
        "available": True, "serving_version": serving, "previous_version": previous,
        "rows": len(rows),
        "attributes": {n.attribute: {"rows": n.rows, "selection_rate": n.selection_rates,
                                     "selection_rate_previous": o.selection_rates,
                                     "metrics": n.metrics, "metrics_previous": o.metrics,
                                     "inconclusive": n.inconclusive or o.inconclusive}
                       for n, o in zip(new, old, strict=True)}}
    w = metrics.get("group_gap_widening")
    summary = (f"decision-rate gap between groups v{serving} vs v{previous}: "
               + (f"{metrics['group_gap_previous']:.3f} -> {metrics['group_gap_serving']:.3f}"
                  if w is not None else "not judged (a group is too small)"))
    return EvidencePart(data=data, metrics=metrics, summary=summary)
