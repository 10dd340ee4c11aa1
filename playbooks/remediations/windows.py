"""Labelled spans remediations learn from and verify on.

The learning ones (retrain, recalibrate-threshold) split the newest labelled data in two at
``holdout_start``: what they learn from before it, and a holdout after it that verification
measures on. The bounds travel as ISO strings in the plan and the change, so verify (or a
revert after a restart) rebuilds the same rows. Remediations that compare the serving version
with the one it replaced on such a holdout report :data:`HOLDOUT_METRICS`.
"""

from __future__ import annotations

import pandas as pd

from playbooks.remediations.base import NotApplicable, RemediationContext
from playbooks.stats.fairness import GROUP_METRICS

__all__ = ["HOLDOUT_METRICS", "labelled_spans", "require_rows"]

# What ``playbooks.engine.verify.measure`` reports on a labelled holdout.
HOLDOUT_METRICS = {
    "roc_auc": "ROC AUC of the serving version on the fresh labelled holdout",
    "roc_auc_delta_vs_previous": "serving minus replaced version's ROC AUC on the same holdout",
    "max_psi": "largest PSI of the holdout against the serving version's training data",
    "drifted_feature_share": "share of features drifted between training data and holdout",
    "worst_slice_auc_drop": "largest ROC AUC loss on any profile segment, new vs previous, "
                            "beyond its sampling error (one-sided 95%)",
    **GROUP_METRICS,  # per sensitive attribute, serving and replaced version (criteria: versus)
}


def labelled_spans(ctx: RemediationContext, start: str, holdout_start: str,
                   end: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Labelled rows in [start, holdout_start) and the holdout [holdout_start, end] (the
    newest row, at ``end``, included)."""
    ts = ctx.profile.data.timestamp or ""
    t0, t1, t2 = pd.Timestamp(start), pd.Timestamp(holdout_start), pd.Timestamp(end)
    before = ctx.data.labelled_between(t0, t1, ts)
    holdout = ctx.data.labelled_between(t1, t2 + pd.Timedelta(microseconds=1), ts)
    return before, holdout


def require_rows(frame: pd.DataFrame, need: int, where: str) -> None:
    """NotApplicable unless ``frame`` has ``need`` rows: too few to learn or verify on."""
    if len(frame) < need:
        raise NotApplicable(f"only {len(frame)} labelled rows {where} (need {need})")
