"""Freshness evidence: is the inference log up to date, and are its daily partitions whole?

"Now" is the wall clock (UTC), except for a simulated world: when the profile's directory
holds a ``sandbox.json`` with a ``now`` (the sandbox writes one), that anchored time is now,
so a drill on an old sandbox is judged against the end of its own timeline.
"""

from __future__ import annotations

import json
from collections.abc import Hashable
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
from pydantic import Field

from playbooks.data.io import DataWindows
from playbooks.engine.plugins import collector
from playbooks.evidence.base import CollectContext, EvidencePart
from playbooks.evidence.frames import as_timestamp
from playbooks.models.common import Duration, StrictParams
from playbooks.models.profile import ModelProfile

__all__ = ["FRESHNESS_METRICS", "FreshnessParams", "assess_freshness",
           "collect_freshness_part", "reference_now"]

SIMULATED_CLOCK = "sandbox.json"

FRESHNESS_METRICS = {
    "staleness_hours": "hours between now and the newest row of the inference log",
    "max_staleness_hours": "the profile's slo.max_staleness in hours (the freshness SLO)",
    "staleness_ratio": "staleness_hours / max_staleness_hours (> 1 breaches the SLO)",
    "missing_partitions": "calendar days inside the current window without a single row",
    "volume_drop_days": "whole days in the current window with far fewer rows than usual",
    "min_daily_volume_ratio": "smallest whole-day row count / median whole-day row count",
}


class FreshnessParams(StrictParams):
    # A duration string is what specs write; validate_default parses it to a timedelta.
    default_max_staleness: Duration = Field(  # type: ignore[assignment]
        default="1d", description="Freshness SLO when the profile sets no slo.max_staleness.")
    min_volume_ratio: float = Field(
        default=0.5, gt=0, lt=1,
        description="A whole day below this share of the median day is a drop.")


def reference_now(profile: ModelProfile) -> tuple[datetime, str]:
    """(now, where it came from): a simulated clock next to the profile, else the wall clock."""
    marker = profile.base_dir / SIMULATED_CLOCK
    if marker.is_file():
        try:
            now = json.loads(marker.read_text(encoding="utf-8"))["now"]
            return datetime.fromisoformat(now).astimezone(UTC), f"simulated clock ({marker})"
        except (KeyError, ValueError, OSError):
            pass  # not a sandbox marker: fall through to the wall clock
    return datetime.now(UTC), "wall clock"


def _daily(ts: pd.Series[pd.Timestamp]) -> pd.Series[int]:
    """Rows per UTC calendar day from the first to the last day, zeros for empty days."""
    days = ts.dt.floor("D")
    counts = days.value_counts().sort_index()
    full = pd.date_range(counts.index.min(), counts.index.max(), freq="D")
    return counts.reindex(full, fill_value=0)


def _iso_day(label: Hashable) -> str:
    return as_timestamp(label).date().isoformat()


def assess_freshness(profile: ModelProfile, data: DataWindows, now: datetime,
                     params: FreshnessParams | None = None) -> dict[str, Any]:
    """Staleness against the SLO, missing days and volume drops inside the current window."""
    p = params or FreshnessParams()
    ts = profile.data.timestamp
    slo: timedelta = profile.slo.max_staleness or p.default_max_staleness
    if not ts or data.log.empty:
        return {"available": False, "reason": "no timestamp column or no rows in the log"}
    newest = data.log[ts].max().floor("us").to_pydatetime()
    staleness = max((now - newest).total_seconds() / 3600, 0.0)
    daily = _daily(data.log[ts])
    start = data.current[ts].min().floor("D") if len(data.current) else daily.index.min()
    whole = daily.iloc[1:-1]  # first and last day are partial by construction
    median = float(whole.median()) if len(whole) else float(daily.median())
    window = whole[whole.index >= start]
    missing = [_iso_day(d) for d, n in daily[daily.index >= start].items() if n == 0]
    drops = {_iso_day(d): int(n) for d, n in window.items()
             if 0 < n < p.min_volume_ratio * median}
    ratios = window[window > 0] / median if median else window * 0.0
    hours = slo.total_seconds() / 3600
    return {
        "available": True, "now": now.isoformat(), "newest": newest.isoformat(),
        "staleness_hours": round(staleness, 3), "max_staleness_hours": hours,
        "missing_days": missing, "volume_drops": drops, "median_daily_rows": median,
        "daily_rows": {_iso_day(d): int(n) for d, n in daily.items()},
        "window_start": start.isoformat(),
        "min_daily_volume_ratio": round(float(ratios.min()), 4) if len(ratios) else 1.0,
    }


@collector("freshness", params=FreshnessParams, metrics=FRESHNESS_METRICS)
def collect_freshness_part(ctx: CollectContext, params: FreshnessParams) -> EvidencePart:
    """Newest timestamp vs now (the profile's max_staleness), missing days, volume drops."""
    now, clock = reference_now(ctx.profile)
    info = assess_freshness(ctx.profile, ctx.data, now, params) | {"clock": clock}
    if not info["available"]:
        return EvidencePart(data=info, summary=info["reason"])
    metrics = {
        "staleness_hours": info["staleness_hours"],
        "max_staleness_hours": info["max_staleness_hours"],
        "staleness_ratio": info["staleness_hours"] / max(info["max_staleness_hours"], 1e-9),
        "missing_partitions": float(len(info["missing_days"])),
        "volume_drop_days": float(len(info["volume_drops"])),
        "min_daily_volume_ratio": info["min_daily_volume_ratio"],
    }
    stale = metrics["staleness_ratio"] > 1
    onset = (datetime.fromisoformat(info["newest"]) if stale else
             datetime.fromisoformat(min(info["missing_days"])).replace(tzinfo=UTC)
             if info["missing_days"] else None)
    summary = (f"newest row {info['staleness_hours']:.1f} h old (SLO "
               f"{info['max_staleness_hours']:g} h, {clock.split(' (')[0]}); "
               f"{len(info['missing_days'])} missing day(s), "
               f"{len(info['volume_drops'])} volume drop(s)")
    return EvidencePart(data=info, metrics=metrics, summary=summary,
                        fields={"drift_onset": onset} if onset else {})
