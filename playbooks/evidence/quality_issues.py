"""The data-quality tests: thresholds (``QualityParams``) applied to the statistics of
``playbooks.stats.quality``, each result a finding-shaped issue dict (kind, feature,
statistic, value, threshold, breached, detail, row_share). Schema tests are in
``quality_schema``; the collector that runs them all is ``playbooks.evidence.quality``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from pydantic import Field

from playbooks.models.common import StrictParams
from playbooks.stats.quality import (
    Baseline,
    column_values,
    duplicate_share,
    unseen_shares,
)
from playbooks.stats.units import unit_change

__all__ = ["QualityParams", "duplicate_issues", "issue", "value_issues"]

_MAX_LISTED = 10
_MIN_SCALE_VALUES = 50  # fewer numbers give too noisy quantiles to call a unit change


class QualityParams(StrictParams):
    """Thresholds of the quality tests. The collector runs with these defaults (collectors
    take no spec params); the data-quality checks re-apply their own, equal by default."""

    max_null_rate_increase: float = Field(
        default=0.05, gt=0, le=1,
        description="Null share above the reference's that fails a column.")
    range_quantiles: tuple[float, float] = Field(
        default=(0.001, 0.999), description="Reference quantiles the plausible range starts from.")
    range_iqr_margin: float = Field(
        default=3.0, ge=0, description="Range = [q_lo - m*IQR, q_hi + m*IQR] of the reference.")
    max_out_of_range_share: float = Field(
        default=0.01, ge=0, le=1,
        description="Share of values outside the range that fails a column.")
    min_unit_factor: float = Field(
        default=2.0, gt=1, description="Quantile ratio (same shape) that looks like a unit change.")
    unit_tolerance: float = Field(
        default=0.15, gt=0, lt=1, description="Max relative spread of the quantile ratios.")
    max_unseen_share: float = Field(
        default=0.01, ge=0, le=1,
        description="Share of rows with categories unseen in the reference.")
    max_duplicate_increase: float = Field(
        default=0.01, ge=0, le=1,
        description="Duplicate-row share above the reference's that fails.")
    rename_max_ks: float = Field(
        default=0.1, gt=0, le=1,
        description="KS distance under which a new column is a renamed one.")


def issue(kind: str, feature: str | None, statistic: str, value: float, threshold: float,
          breached: bool, *, row_share: float = 0.0, **detail: Any) -> dict[str, Any]:
    """One test's result; ``row_share`` is the share of rows it touches (for quarantine)."""
    return {"kind": kind, "feature": feature, "statistic": statistic,
            "value": round(float(value), 6), "threshold": threshold, "breached": bool(breached),
            "detail": detail, "row_share": row_share}


def value_issues(base: Baseline, frame: pd.DataFrame, skip: set[str],
                 p: QualityParams) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """Nulls, ranges, unit-looking scale changes and unseen categories, per feature; and every
    feature's statistics, failing or not."""
    issues: list[dict[str, Any]] = []
    stats: dict[str, dict[str, Any]] = {}
    cv = column_values(base, frame, skip)
    for c in cv.features:
        if c in skip:
            continue
        ref_null, cur_null = float(base.null_rate.get(c, 0.0)), float(cv.null_rate[c])
        inc = cur_null - ref_null
        stats[c] = {"null_rate_reference": ref_null, "null_rate_current": cur_null}
        issues.append(issue("missing_values", c, "null_rate_increase", inc,
                            p.max_null_rate_increase, inc >= p.max_null_rate_increase,
                            row_share=max(inc, 0.0), reference=round(ref_null, 6),
                            current=round(cur_null, 6)))
    for c in cv.numeric:
        share = float(cv.out_of_range[c])
        stats[c] |= {"range": [base.lo[c], base.hi[c]], "out_of_range_share": share}
        examples = sorted({float(v) for v in cv.outside(base, c).head(200)})[:_MAX_LISTED]
        issues.append(issue("out_of_range", c, "out_of_range_share", share,
                            p.max_out_of_range_share,
                            share > p.max_out_of_range_share and cv.valid[c] > 0,
                            row_share=share, range=[round(base.lo[c], 6), round(base.hi[c], 6)],
                            examples=examples))
        if cv.valid[c] >= _MIN_SCALE_VALUES and c in base.samples:
            values = pd.to_numeric(frame[c], errors="coerce").to_numpy(dtype=float)
            scale = _scale_issue(c, base.samples[c], values, p)
            if scale is not None:
                stats[c]["scale_ratio"] = scale["value"]
                issues.append(scale)
    for c in base.categorical:
        if c not in frame.columns or c in skip:
            continue
        unseen, n_valid = unseen_shares(base, frame, c)
        share = float(sum(unseen.values()))
        top = sorted(unseen, key=lambda k: -unseen[k])[:_MAX_LISTED]
        stats[c] |= {"unseen_share": share, "unseen_values": top}
        issues.append(issue("unseen_category", c, "unseen_share", share, p.max_unseen_share,
                            share > p.max_unseen_share, row_share=share, unseen_values=top,
                            unseen_counts={k: round(unseen[k] * n_valid) for k in top}))
    return issues, stats


def _scale_issue(col: str, reference: NDArray[np.float64], current: NDArray[np.float64],
                 p: QualityParams) -> dict[str, Any] | None:
    scale = unit_change(reference, current, min_factor=p.min_unit_factor)
    if scale is None:
        return None
    return issue("out_of_range", col, "scale_ratio", scale.ratio, p.min_unit_factor, True,
                 row_share=1.0, change="unit", quantile_ratios=[round(r, 6) for r in scale.ratios],
                 shape_ks=round(scale.spread, 4), nearest_unit_factor=scale.nearest_factor)


def duplicate_issues(base: Baseline, frame: pd.DataFrame,
                     p: QualityParams) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Rows repeating an earlier row's key beyond the reference's share."""
    key = [c for c in base.duplicate_key if c in frame.columns]
    share = duplicate_share(frame, key) if len(key) == len(base.duplicate_key) else 0.0
    inc = share - base.duplicate_share
    dup_ids: list[str] = []
    if inc >= p.max_duplicate_increase and len(key) == 1:
        dup_ids = [str(v) for v in frame.loc[frame.duplicated(key), key[0]].head(_MAX_LISTED)]
    found = issue("duplicate_rows", key[0] if len(key) == 1 else None, "duplicate_share", share,
                  round(base.duplicate_share + p.max_duplicate_increase, 6),
                  inc >= p.max_duplicate_increase, row_share=share, key=key,
                  reference_share=round(base.duplicate_share, 6), duplicated_ids=dup_ids)
    return [found], {"key": key, "share": share, "reference_share": base.duplicate_share}
