"""Output-distribution evidence: are the model's scores and decisions still alive?

The recent span (default: the last 24 hours of the log - what is being served now) against
the baseline before the current window: score spread (std, IQR), share of scores outside
[0, 1] or missing, share of the single most common score (a collapsed model repeats one
value), the score distribution itself (PSI and KS: a shifted score), and the positive-
decision rate. Per-day rows show when it started. When the log has no history before the
window (reference and current are separate files), the reference's scores are the baseline.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from pydantic import Field

from playbooks.engine.plugins import collector
from playbooks.evidence.base import CollectContext, EvidencePart
from playbooks.evidence.frames import (
    RecentParams,
    log_view,
    ok_rows,
    serving_version_info,
    version_threshold,
)
from playbooks.models.profile import ModelProfile
from playbooks.stats.numeric import ks_statistic

__all__ = ["OUTPUT_METRICS", "OutputParams", "collect_outputs_part", "decision_rate",
           "score_profile"]

OUTPUT_METRICS = {
    "score_std_ratio": "recent score standard deviation / the baseline's",
    "score_iqr_ratio": "recent score inter-quartile range / the baseline's",
    "score_out_of_range_share": "share of recent scores outside [0, 1] or missing",
    "modal_score_share": "share of recent scores equal to the most common (rounded) score",
    "decision_rate_change": "recent positive-decision rate minus the baseline's",
    "score_psi": "PSI of the recent scores against the baseline's (baseline deciles)",
    "score_ks": "two-sample KS distance of the recent scores from the baseline's",
    "scored_rows": "scored requests in the recent span",
    "baseline_scored_rows": "scored rows of the baseline",
}


class OutputParams(RecentParams):
    modal_decimals: int = Field(3, ge=1, le=8, description="Rounding before finding the mode.")
    min_baseline_rows: int = Field(
        100, ge=1, description="Fewer scored rows before the window: the reference's scores are "
        "the baseline instead (when the reference has the score column).")


def score_psi(recent: np.ndarray, baseline: np.ndarray, bins: int = 10) -> float | None:
    """PSI of ``recent`` against ``baseline`` on the baseline's quantile bins (ties merged)."""
    r = np.asarray(recent, dtype=float)
    b = np.asarray(baseline, dtype=float)
    r, b = r[np.isfinite(r)], b[np.isfinite(b)]
    if len(r) < 2 or len(b) < 2:
        return None
    edges = np.unique(np.quantile(b, np.linspace(0, 1, bins + 1)[1:-1]))
    pr = np.bincount(np.searchsorted(edges, r, side="right"), minlength=len(edges) + 1) / len(r)
    pb = np.bincount(np.searchsorted(edges, b, side="right"), minlength=len(edges) + 1) / len(b)
    pr, pb = np.clip(pr, 1e-4, None), np.clip(pb, 1e-4, None)
    return float(np.sum((pr - pb) * np.log(pr / pb)))


def score_profile(scores: np.ndarray, decimals: int = 3) -> dict[str, float]:
    """Spread, range violations and mode share of one batch of scores."""
    s = np.asarray(scores, dtype=float)
    if not len(s):
        return {"rows": 0.0}
    finite = s[np.isfinite(s)]
    bad = float((~np.isfinite(s)).sum() + ((finite < 0) | (finite > 1)).sum())
    _, counts = np.unique(finite.round(decimals), return_counts=True)
    q75, q25 = (np.quantile(finite, [0.75, 0.25]) if len(finite) else (np.nan, np.nan))
    return {"rows": float(len(s)), "std": float(finite.std()) if len(finite) else float("nan"),
            "iqr": float(q75 - q25), "mean": float(finite.mean()) if len(finite) else float("nan"),
            "out_of_range_share": bad / len(s),
            "modal_share": float(counts.max()) / len(s) if len(counts) else 1.0}


def decision_rate(profile: ModelProfile, frame: pd.DataFrame, threshold: float) -> float | None:
    """Share of positive decisions (the logged decision when named, else score >= threshold)."""
    pred = profile.prediction
    if frame.empty:
        return None
    if pred.decision and pred.positive_decision and pred.decision in frame.columns:
        return float((frame[pred.decision].astype(str) == pred.positive_decision).mean())
    if pred.score and pred.score in frame.columns:
        return float((frame[pred.score].astype(float) >= threshold).mean())
    return None


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or not np.isfinite(a) or not np.isfinite(b) or b <= 0:
        return None
    return a / b


@collector("output-distribution", params=OutputParams, metrics=OUTPUT_METRICS)
def collect_outputs_part(ctx: CollectContext, params: OutputParams) -> EvidencePart:
    """Score spread, out-of-range and modal-score shares and decision rate: recent vs baseline,
    and per day."""
    prof = ctx.profile
    view = log_view(prof, ctx.data)
    score = prof.prediction.score
    if view is None or not score or score not in view.log.columns:
        return EvidencePart.unavailable(
            "output evidence needs data.timestamp and prediction.score",
            "no output evidence (no score column)")
    threshold = version_threshold(prof, serving_version_info(prof, ctx.model_store))
    log = ok_rows(prof, view.log)
    recent = view.recent(params.recent, log)
    before = ok_rows(prof, view.before)
    source = "the log before the current window"
    if len(before) < params.min_baseline_rows and score in ctx.data.reference.columns:
        before, source = ctx.data.reference, "the reference data's scores"
    cur = score_profile(recent[score].to_numpy(), params.modal_decimals)
    base = score_profile(before[score].to_numpy(), params.modal_decimals)
    rates = (decision_rate(prof, recent, threshold), decision_rate(prof, before, threshold))
    daily = []
    for day, part in log.groupby(log[view.ts].dt.floor("D")):
        daily.append({"day": pd.Timestamp(day).isoformat(),
                      **score_profile(part[score].to_numpy(), params.modal_decimals),
                      "decision_rate": decision_rate(prof, part, threshold)})
    metrics: dict[str, float] = {"score_out_of_range_share": cur.get("out_of_range_share", 0.0),
                                 "modal_score_share": cur.get("modal_share", 0.0),
                                 "scored_rows": cur["rows"], "baseline_scored_rows": base["rows"]}
    for name, key in (("score_std_ratio", "std"), ("score_iqr_ratio", "iqr")):
        if (r := _ratio(cur.get(key), base.get(key))) is not None:
            metrics[name] = r
    if rates[0] is not None and rates[1] is not None:
        metrics["decision_rate_change"] = rates[0] - rates[1]
    rs, bs = (pd.to_numeric(f[score], errors="coerce").to_numpy(dtype=float)
              for f in (recent, before))
    if (psi := score_psi(rs, bs)) is not None:
        metrics["score_psi"] = psi
        metrics["score_ks"] = ks_statistic(rs, bs)
    data: dict[str, Any] = {"available": True, "baseline_source": source,
                            "threshold": threshold, "recent": cur,
                            "baseline": base, "recent_decision_rate": rates[0],
                            "baseline_decision_rate": rates[1], "daily": daily,
                            "recent_hours": params.recent.total_seconds() / 3600}
    spread = (f"recent score std x{metrics['score_std_ratio']:.2f} of {source}"
              if "score_std_ratio" in metrics else f"no score spread to compare ({source} has "
              "too few finite scores)")
    summary = (f"{spread}, modal share {metrics['modal_score_share']:.0%}, out of range "
               f"{metrics['score_out_of_range_share']:.1%}"
               + (f", score PSI {metrics['score_psi']:.2f}" if "score_psi" in metrics else ""))
    return EvidencePart(data=data, metrics=metrics, summary=summary)
