"""Freshness evidence: is the inference log up to date, and are its daily partitions whole?

"Now" is the wall clock (UTC), except for a simulated world: when the profile's directory
holds a ``sandbox.json`` with a ``now`` (the sandbox writes one), that anchored time is now,
so a drill on an old sandbox is judged against the end of its own timeline.

The freshness SLO is the profile's ``slo.max_staleness``. Without one it is inferred from the
feed's own cadence (twice the longest gap between consecutive rows the log has had), and
staleness is not judged at all - with a note saying so - when the newest row is older than
the whole log is long: that is a historical extract, not a feed that stopped.
"""

from __future__ import annotations

import json
from collections.abc import Hashable
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from pydantic import Field

from playbooks.data.io import DataWindows
from playbooks.engine.plugins import collector
from playbooks.evidence.base import CollectContext, EvidencePart
from playbooks.evidence.frames import as_timestamp
from playbooks.models.common import StrictParams
from playbooks.models.profile import ModelProfile

__all__ = ["FRESHNESS_METRICS", "FreshnessParams", "assess_freshness",
           "collect_freshness_part", "reference_now"]

SIMULATED_CLOCK = "sandbox.json"

FRESHNESS_METRICS = {
    "staleness_hours": "hours between now and the newest row of the inference log",
    "max_staleness_hours": "the freshness SLO in hours: the profile's slo.max_staleness, else "
                           "inferred from the feed's cadence",
    "staleness_ratio": "staleness_hours / max_staleness_hours (> 1 breaches the SLO)",
    "missing_partitions": "calendar days inside the current window without a single row",
    "volume_drop_days": "whole days in the current window with far fewer rows than usual",
    "min_daily_volume_ratio": "smallest whole-day row count / median whole-day row count",
}


class FreshnessParams(StrictParams):
    cadence_factor: float = Field(
        default=2.0, gt=1, description="Without slo.max_staleness: the SLO is this many times "
        "the longest gap between consecutive rows in the log.")
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


def _slo(profile: ModelProfile, log_ts: pd.Series[pd.Timestamp], staleness_h: float,
         p: FreshnessParams) -> tuple[float | None, str]:
    """(SLO hours or None when staleness cannot be judged, where the SLO came from)."""
    if profile.slo.max_staleness is not None:
        return profile.slo.max_staleness.total_seconds() / 3600, "profile slo.max_staleness"
    stamps = log_ts.sort_values()
    span_h = (stamps.iloc[-1] - stamps.iloc[0]).total_seconds() / 3600
    if len(stamps) < 3 or span_h <= 0:
        return None, "no slo.max_staleness and too few rows to infer the feed's cadence"
    if staleness_h > span_h:
        return None, (f"no slo.max_staleness, and the newest row is older ({staleness_h:.0f} h) "
                      f"than the log is long ({span_h:.0f} h): a historical extract, so "
                      "staleness is not judged; set slo.max_staleness to judge it")
    gap_h = float(stamps.diff().max().total_seconds()) / 3600
    return max(gap_h * p.cadence_factor, 1e-3), (
        f"inferred: {p.cadence_factor:g}x the longest gap between rows ({gap_h:.1f} h); no "
        "slo.max_staleness in the profile")


def assess_freshness(profile: ModelProfile, data: DataWindows, now: datetime,
                     params: FreshnessParams | None = None) -> dict[str, Any]:
    """Staleness against the SLO, missing days and volume drops inside the current window."""
    p = params or FreshnessParams()
    ts = profile.data.timestamp
    if not ts or data.log.empty:
        return {"available": False, "reason": "no timestamp column or no rows in the log"}
    newest = data.log[ts].max().floor("us").to_pydatetime()
    staleness = max((now - newest).total_seconds() / 3600, 0.0)
    hours, slo_source = _slo(profile, data.log[ts], staleness, p)
    daily = _daily(data.log[ts])
    start = data.current[ts].min().floor("D") if len(data.current) else daily.index.min()
    whole = daily.iloc[1:-1]  # first and last day are partial by construction
    median = float(whole.median()) if len(whole) else float(daily.median())
    window = whole[whole.index >= start]
    missing = [_iso_day(d) for d, n in daily[daily.index >= start].items() if n == 0]
    drops = {_iso_day(d): int(n) for d, n in window.items()
             if 0 < n < p.min_volume_ratio * median}
    ratios = window[window > 0] / median if median else window * 0.0
    return {
        "available": True, "now": now.isoformat(), "newest": newest.isoformat(),
        "staleness_hours": round(staleness, 3), "max_staleness_hours": hours,
        "slo_source": slo_source,
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
    slo_h = info["max_staleness_hours"]
    metrics = {
        "staleness_hours": info["staleness_hours"],
        **({"max_staleness_hours": slo_h,
            "staleness_ratio": info["staleness_hours"] / max(slo_h, 1e-9)} if slo_h else {}),
        "missing_partitions": float(len(info["missing_days"])),
        "volume_drop_days": float(len(info["volume_drops"])),
        "min_daily_volume_ratio": info["min_daily_volume_ratio"],
    }
    stale = metrics.get("staleness_ratio", 0.0) > 1
    onset = (datetime.fromisoformat(info["newest"]) if stale else
             datetime.fromisoformat(min(info["missing_days"])).replace(tzinfo=UTC)
             if info["missing_days"] else None)
    slo = f"SLO {slo_h:.3g} h, {info['slo_source']}" if slo_h else info["slo_source"]
    summary = (f"newest row {info['staleness_hours']:.1f} h old ({slo}; "
               f"{clock.split(' (')[0]}); "
               f"{len(info['missing_days'])} missing day(s), "
               f"{len(info['volume_drops'])} volume drop(s)")
    return EvidencePart(data=info, metrics=metrics, summary=summary,
                        fields={"drift_onset": onset} if onset else {})
