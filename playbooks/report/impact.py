"""Impact in business terms, contributed per evidence collector: what a reader who owns the
product wants to know (decisions affected, approval rate moved, requests failed, rows
quarantined), from the metrics the collectors measured and the kept row samples."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from playbooks.archive.samples import Samples
from playbooks.models.evidence import EvidencePackage
from playbooks.models.incident import Incident

__all__ = ["IMPACT", "business_impact"]

Line = Callable[[Mapping[str, float]], str | None]


def _pct(v: float) -> str:
    return f"{v:.1%}"


def _when(metric: str, fmt: Callable[[float, Mapping[str, float]], str]) -> Line:
    return lambda m: fmt(m[metric], m) if metric in m else None


IMPACT: dict[str, list[Line]] = {
    "feature-drift": [
        _when("current_rows", lambda v, m: f"{v:,.0f} decisions were made on inputs unlike the "
              f"training data ({m.get('drifted_features', 0):.0f} drifted feature(s))."),
    ],
    "threshold-metrics": [
        _when("approval_rate", lambda v, m: f"{_pct(v)} of requests got the negative decision"
              + (f", {_pct(m['approval_rate_gap'])} from the target"
                 if "approval_rate_gap" in m else "") + "."),
    ],
    "output-distribution": [
        _when("decision_rate_change", lambda v, m: f"The positive-decision rate moved by "
              f"{v:+.1%} against the baseline."),
    ],
    "serving-metrics": [
        _when("latency_p95_ms", lambda v, m: f"p95 latency {v:,.0f} ms"
              + (f" ({m['latency_p95_slo_ratio']:.1f}x the SLO)"
                 if "latency_p95_slo_ratio" in m else "") + "."),
        _when("error_rate", lambda v, m: f"{_pct(v)} of requests failed"
              + (f": {m['error_rate_slo_ratio']:.1f}x the error budget's rate"
                 if "error_rate_slo_ratio" in m else "") + "."),
    ],
    "release-history": [
        _when("release_auc_drop", lambda v, m: f"The new release ranks worse: ROC AUC "
              f"{v:.3f} lower on the same requests"
              + (f", serving {_pct(m['release_traffic_share'])} of traffic"
                 if "release_traffic_share" in m else "") + "."),
    ],
    "labelled-performance": [
        _when("performance_auc_drop", lambda v, m: f"Labelled ROC AUC fell by {v:.3f}: more "
              "good requests refused and bad ones accepted at the same threshold."),
    ],
    "data-quality": [
        lambda m: (f"{_pct(m['affected_row_share'])} of the window's rows were touched by "
                   f"{m.get('quality_failed_checks', 0):.0f} failed data check(s).")
        if m.get("affected_row_share") else None,
    ],
    "freshness": [
        _when("staleness_hours", lambda v, m: f"Decisions ran on data {v:.1f} h old."),
    ],
    "feature-skew": [
        _when("skewed_row_share", lambda v, m: f"{_pct(v)} of requests were scored with "
              "features that differ from training."),
    ],
}


def _approval_shift(samples: Samples | None) -> str | None:
    """Share of negative decisions before the window vs in it, from the kept samples."""
    if samples is None:
        return None
    score, thr = samples.role("score"), samples.roles.get("threshold")
    before, cur = samples.frames.get("baseline"), samples.frames.get("current")
    if not score or thr is None or before is None or cur is None:
        return None
    if score not in before or score not in cur or before.empty or cur.empty:
        return None
    b = float((before[score] >= float(thr)).mean())
    c = float((cur[score] >= float(thr)).mean())
    return (f"Negative decisions (score ≥ {float(thr):g}): {_pct(b)} before the window → "
            f"{_pct(c)} in it (sampled rows).")


def business_impact(inc: Incident, evidence: EvidencePackage | None,
                    samples: Samples | None, collectors: list[str]) -> list[str]:
    """Bullets in business terms; the remediation's own effects (rows quarantined) too."""
    out: list[str] = []
    if evidence is not None:
        for name in collectors:
            out += [line for f in IMPACT.get(name, []) if (line := f(evidence.metrics))]
    if (shift := _approval_shift(samples)) is not None:
        out.append(shift)
    for r in inc.remediations:
        ch = r.change or {}
        moved = ch.get("moves")
        if r.applied and not r.dry_run and isinstance(moved, list) and moved:
            out.append(f"{r.id} took {len(moved)} file(s) out of the inference log"
                       + (" (since restored)" if r.reverted else "") + ".")
    return out
