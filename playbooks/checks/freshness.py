"""Competing hypotheses for late or incomplete data, read from the ``freshness`` evidence.

* stale-feed: the newest data is older than the freshness SLO — the feed stopped or lags.
* missing-partitions: the feed is current but days are missing or far too thin.
* fresh: the data is current and complete — a false alarm.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from playbooks.checks.base import CheckResult
from playbooks.checks.evidence_gate import reads_part
from playbooks.checks.strength import MAX_BAYES_FACTOR, Specificity, strength, strength_from_bf
from playbooks.engine.plugins import check
from playbooks.models.common import StrictParams
from playbooks.models.evidence import EvidencePackage
from playbooks.models.incident import Finding, Verdict
from playbooks.stats.significance import p_count_below

__all__ = [
    "FreshParams",
    "MissingPartitionsParams",
    "StaleFeedParams",
    "check_fresh",
    "check_missing_partitions",
    "check_stale_feed",
]


class StaleFeedParams(StrictParams):
    max_staleness_ratio: float = Field(
        default=1.0, gt=0,
        description="Staleness / SLO above which the feed is stale (1 = the SLO).")


class MissingPartitionsParams(StrictParams):
    min_missing_days: int = Field(
        default=1, ge=1, description="Empty days that count as missing data.")
    min_volume_drop_days: int = Field(
        default=1, ge=1, description="Thin days that count as a drop.")
    min_days_share: float = Field(
        default=0.5, gt=0, lt=1, description="A thin day's strength is judged against a normal "
        "day thinned to this share of the median (the collector's drop threshold).")


class FreshParams(StrictParams):
    max_staleness_ratio: float = Field(default=1.0, gt=0, description="As stale-feed's threshold.")


def _part(evidence: EvidencePackage) -> dict[str, Any] | None:
    part = evidence.parts.get("freshness")
    return part if part and part.get("available") else None


def _staleness(part: dict[str, Any], threshold: float) -> Finding:
    slo = part.get("max_staleness_hours")
    ratio = part["staleness_hours"] / max(slo, 1e-9) if slo else None
    return Finding(kind="staleness", statistic="staleness_hours", value=part["staleness_hours"],
                   threshold=slo * threshold if slo else None,
                   breached=ratio is not None and ratio > threshold,
                   detail={"newest": part["newest"], "now": part["now"],
                           "clock": part.get("clock"), "slo_source": part.get("slo_source"),
                           "ratio": round(ratio, 3) if ratio is not None else None})


def _gaps(part: dict[str, Any], p: MissingPartitionsParams) -> list[Finding]:
    out = []
    if part["missing_days"]:
        out.append(Finding(kind="missing_partitions", statistic="missing_days",
                           value=len(part["missing_days"]), threshold=p.min_missing_days,
                           breached=len(part["missing_days"]) >= p.min_missing_days,
                           detail={"days": part["missing_days"]}))
    if part["volume_drops"]:
        out.append(Finding(kind="volume_drop", statistic="min_daily_volume_ratio",
                           value=part["min_daily_volume_ratio"],
                           breached=len(part["volume_drops"]) >= p.min_volume_drop_days,
                           detail={"days": part["volume_drops"],
                                   "median_daily_rows": part["median_daily_rows"]}))
    return out


_reads_freshness = reads_part(_part, "no freshness evidence (needs the 'freshness' collector "
                              "and a timestamp column in the profile)")


@check("stale-feed", params=StaleFeedParams)
@_reads_freshness
def check_stale_feed(part: dict[str, Any], params: StaleFeedParams) -> CheckResult:
    """The newest data is older than the freshness SLO."""
    f = _staleness(part, params.max_staleness_ratio)
    ratio, slo = f.detail["ratio"], part.get("max_staleness_hours")
    if ratio is None:
        return CheckResult(Verdict.INCONCLUSIVE, 0.0, f"staleness not judged: "
                           f"{part.get('slo_source')}", [f])
    if not f.breached:
        return CheckResult(Verdict.REFUTED, 0.9, f"newest row is {f.value:.1f} h old, within "
                           f"the {slo:.3g} h SLO ({part.get('slo_source')})", [f])
    # Staleness is measured, not sampled: past the SLO by its own length or more is certain;
    # just past it, a late batch is as likely as a stopped feed (even odds).
    excess = min(max(ratio / params.max_staleness_ratio - 1.0, 0.0), 1.0)
    return CheckResult(Verdict.SUPPORTED, strength_from_bf(MAX_BAYES_FACTOR ** excess),
                       f"feed is stale: newest row {f.value:.1f} h old ({ratio:.1f}x the "
                       f"{slo:.3g} h SLO, {part.get('slo_source')}), last data "
                       f"{part['newest'][:16]}", [f], specificity=Specificity.LOCALISED)


@check("missing-partitions", params=MissingPartitionsParams)
@_reads_freshness
def check_missing_partitions(part: dict[str, Any],
                             params: MissingPartitionsParams) -> CheckResult:
    """Days without rows, or with far fewer rows than usual, inside the current window."""
    findings = _gaps(part, params)
    hits = [f for f in findings if f.breached]
    if not hits:
        return CheckResult(Verdict.REFUTED, 0.85,
                           "every day of the window has its usual volume", findings)
    said = [f"{len(f.detail['days'])} {'empty' if f.kind == 'missing_partitions' else 'thin'} "
            f"day(s): {', '.join(list(f.detail['days'])[:5])}" for f in hits]
    median = float(part.get("median_daily_rows") or 0.0)
    ps = [p_count_below(0, median) for f in hits if f.kind == "missing_partitions"]
    ps += [p_count_below(min(f.detail["days"].values()), median, params.min_days_share)
           for f in hits if f.kind == "volume_drop"]
    return CheckResult(Verdict.SUPPORTED, strength(min(ps)), "incomplete data: "
                       + "; ".join(said) + f" (a usual day has {median:.0f} rows)", hits,
                       specificity=Specificity.LOCALISED)


@check("fresh", params=FreshParams)
@_reads_freshness
def check_fresh(part: dict[str, Any], params: FreshParams) -> CheckResult:
    """The data is current and complete: the alert was a false alarm."""
    stale = _staleness(part, params.max_staleness_ratio)
    gaps = [f for f in _gaps(part, MissingPartitionsParams()) if f.breached]
    if stale.breached or gaps:
        return CheckResult(Verdict.REFUTED, 0.9, "the data is stale or incomplete",
                           [stale, *gaps])
    judged = "" if stale.detail["ratio"] is not None else (
        f" (staleness not judged: {part.get('slo_source')})")
    return CheckResult(Verdict.SUPPORTED, 0.85,
                       f"data is fresh ({stale.value:.1f} h old) and complete{judged}", [stale])
