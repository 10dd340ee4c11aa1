"""Labelled spans the learning remediations (retrain, recalibrate-threshold) work on.

Both split the newest labelled data in two at ``holdout_start``: what they learn from before
it, and a holdout after it that verification measures on. The bounds travel as ISO strings in
the plan and the change, so verify (or a revert after a restart) rebuilds the same rows.
"""

from __future__ import annotations

import pandas as pd

from playbooks.remediations.base import RemediationContext

__all__ = ["labelled_spans"]


def labelled_spans(ctx: RemediationContext, start: str, holdout_start: str,
                   end: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Labelled rows in [start, holdout_start) and the holdout [holdout_start, end] (the
    newest row, at ``end``, included)."""
    ts = ctx.profile.data.timestamp or ""
    t0, t1, t2 = pd.Timestamp(start), pd.Timestamp(holdout_start), pd.Timestamp(end)
    before = ctx.data.labelled_between(t0, t1, ts)
    holdout = ctx.data.labelled_between(t1, t2 + pd.Timedelta(microseconds=1), ts)
    return before, holdout
