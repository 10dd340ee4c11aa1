"""Data-quality evidence: is the current data *well-formed*, judged against the reference?

Unlike drift (has the population moved?), quality asks whether the feed broke: a column went
missing or changed type, nulls spiked, values left any plausible range or changed unit,
categories nobody has seen appeared, rows were duplicated. Each test compares the current
window with the reference, so what the reference already tolerates (its null rate, its
duplicates) is never a failure, and a plain population shift is not one either.

The window is assessed as a whole (the headline metrics, read by the clean-data guard as
``quality_failed_checks``) and file by file, so the quarantine remediation knows which files
of the inference log hold the bad batch. The statistics are ``playbooks.stats.quality``
(reference side computed once and reused for every file), the tests ``quality_issues`` and
``quality_schema``; this module runs them and assembles the evidence part.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from playbooks.data.io import DataWindows
from playbooks.engine.plugins import collector
from playbooks.evidence.base import CollectContext, EvidencePart
from playbooks.evidence.frames import SourceFrames, frame_source, window_files
from playbooks.evidence.quality_issues import QualityParams, duplicate_issues, value_issues
from playbooks.evidence.quality_schema import schema_issues
from playbooks.models.profile import ModelProfile
from playbooks.stats.jsonable import to_jsonable
from playbooks.stats.quality import Baseline, fit_baseline

__all__ = [
    "QUALITY_METRICS",
    "QualityReport",
    "assess_quality",
    "assess_windows",
    "baseline_for",
    "collect_data_quality_part",
]

QUALITY_METRICS = {
    "quality_failed_checks": "number of failed data-quality checks (column x test) in the "
                             "current window; > 0 blocks remediations that need clean data",
    "max_null_rate_increase": "largest null-share increase of any feature vs the reference",
    "duplicate_share": "share of current rows that repeat an earlier row (or request id)",
    "unseen_category_share": "largest share of rows with a category unseen in the reference",
    "out_of_range_share": "largest share of a numeric feature outside its plausible range",
    "schema_changes": "features missing, retyped or renamed in the current files",
    "affected_row_share": "largest share of current rows touched by a failed quality check",
}


@dataclass(frozen=True)
class QualityReport:
    """Issues are finding-shaped dicts (kind, feature, statistic, value, threshold, breached,
    detail); ``columns`` holds every feature's statistics, failing or not."""

    issues: list[dict[str, Any]]
    columns: dict[str, dict[str, Any]]
    schema: dict[str, Any]
    duplicates: dict[str, Any]
    metrics: dict[str, float]

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [i for i in self.issues if i["breached"]]


def baseline_for(profile: ModelProfile, reference: pd.DataFrame,
                 params: QualityParams | None = None) -> Baseline:
    """The reference statistics of the profile's features. Duplicates are judged by the
    request id when the reference has one, else by the features and the timestamp."""
    p = params or QualityParams()
    id_col, ts = profile.data.id, profile.data.timestamp
    key = [id_col] if id_col and id_col in reference.columns else [
        *profile.features.all, *([ts] if ts and ts in reference.columns else [])]
    return fit_baseline(reference, profile.features.numeric, profile.features.categorical, key,
                        range_quantiles=p.range_quantiles, range_iqr_margin=p.range_iqr_margin)


def assess_quality(base: Baseline, frame: pd.DataFrame, *,
                   files: SourceFrames | None = None,
                   known: Collection[str] = (),
                   history: Collection[str] = (),
                   coerced: dict[str, int] | None = None,
                   params: QualityParams | None = None) -> QualityReport:
    """Every quality test of ``frame`` against the baseline. ``files`` are the raw files the
    rows came from (for schema tests); without them the frame's own columns are the schema."""
    p = params or QualityParams()
    if files is None:
        files = [(frame_source(frame, "<frame>"), frame)]
    schema_found, schema = schema_issues(base, frame, files, known, history, coerced or {}, p)
    value_found, columns = value_issues(base, frame, set(schema["missing"]), p)
    dup_found, dups = duplicate_issues(base, frame, p)
    issues = [*schema_found, *value_found, *dup_found]
    failed = {(i["kind"], i["feature"]): i for i in issues if i["breached"]}
    nulls = [i["value"] for i in value_found if i["kind"] == "missing_values"]

    def top(kind: str, stat: str) -> float:
        return max((i["value"] for i in issues if i["kind"] == kind and i["statistic"] == stat),
                   default=0.0)

    metrics = {
        "quality_failed_checks": float(len(failed)),
        "max_null_rate_increase": max([0.0, *nulls]),
        "duplicate_share": float(dups["share"]),
        "unseen_category_share": top("unseen_category", "unseen_share"),
        "out_of_range_share": top("out_of_range", "out_of_range_share"),
        "schema_changes": float(len([i for i in schema_found if i["breached"]])),
        "affected_row_share": min(1.0, max((i["row_share"] for i in failed.values()),
                                           default=0.0)),
    }
    return QualityReport(issues=issues, columns=columns, schema=schema, duplicates=dups,
                         metrics=metrics)


def _known_columns(profile: ModelProfile) -> set[str]:
    """The profile's non-feature columns: present in the files, never 'added' by the feed."""
    d, pr = profile.data, profile.prediction
    names = [d.id, d.timestamp, d.feature_version, profile.target, pr.score, pr.decision,
             pr.latency, pr.model_version, pr.status, d.labels.column if d.labels else None]
    return {n for n in names if n}


def assess_windows(profile: ModelProfile, data: DataWindows, params: QualityParams | None = None
                   ) -> tuple[QualityReport, list[dict[str, Any]]]:
    """The current window as a whole, and each of its files (for quarantine)."""
    p = params or QualityParams()
    base = baseline_for(profile, data.reference, p)
    files, history = window_files(profile, data)
    known = _known_columns(profile)
    report = assess_quality(base, data.current, files=files, known=known, history=history,
                            coerced=data.coerced_columns, params=p)
    ts = profile.data.timestamp
    per_file = []
    for sf, part in files:
        rep = assess_quality(base, part, files=[(sf, part)], known=known, history=history,
                             params=p)
        start, end = _span(part, ts)
        per_file.append({"path": str(sf.path), "rows": len(part), "start": start, "end": end,
                         "failed_checks": int(rep.metrics["quality_failed_checks"]),
                         "kinds": sorted({i["kind"] for i in rep.failed})})
    return report, per_file


def _measured(i: dict[str, Any]) -> str:
    """What one failed test measured, in words."""
    v = i["value"]
    if i["statistic"] == "scale_ratio":
        return f"rescaled x{v:.4g}"
    if i["kind"] == "schema_change":
        return f"schema: {i['detail'].get('change', 'changed')}"
    return f"{i['kind']}: {v:.1%}" if 0 <= v <= 1 else f"{i['kind']}: {v:.4g}"


def _span(frame: pd.DataFrame, ts: str | None) -> tuple[str | None, str | None]:
    if not ts or ts not in frame.columns or frame.empty:
        return None, None
    return frame[ts].min().isoformat(), frame[ts].max().isoformat()


def _onset(per_file: list[dict[str, Any]]) -> datetime | None:
    starts = [f["start"] for f in per_file if f["failed_checks"] and f["start"]]
    return datetime.fromisoformat(min(starts)) if starts else None


@collector("data-quality", params=QualityParams, metrics=QUALITY_METRICS)
def collect_data_quality_part(ctx: CollectContext, params: QualityParams) -> EvidencePart:
    """Schema, nulls, ranges, unit changes, unseen categories and duplicates vs the reference."""
    report, per_file = assess_windows(ctx.profile, ctx.data, params)
    failed = report.failed
    said: dict[str, list[str]] = {}  # one entry per column, every failed test named once
    for i in failed:
        said.setdefault(i["feature"] or "rows", []).append(_measured(i))
    names = ", ".join(f"{c} ({'; '.join(v)})" for c, v in list(said.items())[:6])
    summary = (f"{len(failed)} quality check(s) failed: {names}" if failed
               else "no quality check failed")
    data = {"rows": len(ctx.data.current), "issues": report.issues, "columns": report.columns,
            "schema": report.schema,
            "duplicates": report.duplicates, "files": per_file,
            "params": params.model_dump(mode="json")}
    onset = _onset(per_file)
    return EvidencePart(data=to_jsonable(data), metrics=report.metrics, summary=summary,
                        fields={"drift_onset": onset} if onset else {})
