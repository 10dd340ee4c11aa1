"""Data-quality evidence: is the current data *well-formed*, judged against the reference?

Unlike drift (has the population moved?), quality asks whether the feed broke: a column went
missing or changed type, nulls spiked, values left any plausible range or changed unit,
categories nobody has seen appeared, rows were duplicated. Each test compares the current
window with the reference, so what the reference already tolerates (its null rate, its
duplicates) is never a failure, and a plain population shift is not one either.

The window is assessed as a whole (the headline metrics, read by the clean-data guard as
``quality_failed_checks``) and file by file, so the quarantine remediation knows which files
of the inference log hold the bad batch. Statistics are vectorized across columns; reference
statistics are computed once (``fit_baseline``) and reused for every file.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes
from pydantic import BaseModel, ConfigDict, Field

from playbooks.data.io import DataWindows, SourceFile
from playbooks.engine.plugins import collector
from playbooks.evidence.base import CollectContext, EvidencePart
from playbooks.models.profile import ModelProfile
from playbooks.stats.categorical import fit_categorical
from playbooks.stats.jsonable import to_jsonable
from playbooks.stats.numeric import ks_statistic
from playbooks.stats.units import unit_scale

__all__ = [
    "QUALITY_METRICS",
    "Baseline",
    "QualityParams",
    "QualityReport",
    "assess_quality",
    "assess_windows",
    "collect_data_quality_part",
    "fit_baseline",
]

_SCALE_QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)
_SAMPLE = 5000  # reference values kept per numeric column for rename matching
_MAX_LISTED = 10


class QualityParams(BaseModel):
    """Thresholds of the quality tests. The collector runs with these defaults (collectors
    take no spec params); the data-quality checks re-apply their own, equal by default."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

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
class Baseline:
    """Reference statistics, computed once."""

    numeric: list[str]
    categorical: list[str]
    lo: dict[str, float]
    hi: dict[str, float]
    quantiles: dict[str, list[float]]  # per numeric column, at _SCALE_QUANTILES
    null_rate: dict[str, float]
    categories: dict[str, set[str]]
    samples: dict[str, np.ndarray]  # sorted reference values for rename matching
    kinds: dict[str, str]  # "number" or "text", per feature
    duplicate_share: float
    duplicate_key: list[str]
    columns: set[str]


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


def _kind(dtype: Any) -> str:
    return "number" if ptypes.is_numeric_dtype(dtype) or ptypes.is_bool_dtype(dtype) else "text"


def _dtype_kind(name: str) -> str:
    return "number" if name.startswith(("int", "uint", "float", "bool", "Int", "Float")) else "text"


def _duplicate_share(frame: pd.DataFrame, key: list[str]) -> float:
    if frame.empty or not key:
        return 0.0
    return float(frame.duplicated(subset=key, keep="first").mean())


def fit_baseline(profile: ModelProfile, reference: pd.DataFrame,
                 params: QualityParams | None = None) -> Baseline:
    p = params or QualityParams()
    num, cat = profile.features.numeric, profile.features.categorical
    ref = reference[num].astype(float)
    q = ref.quantile([p.range_quantiles[0], 0.25, 0.75, p.range_quantiles[1]])
    iqr = (q.iloc[2] - q.iloc[1]).to_numpy()
    spread = np.maximum(iqr, (q.iloc[3] - q.iloc[0]).to_numpy() / 10)  # discrete columns
    lo = q.iloc[0].to_numpy() - p.range_iqr_margin * spread
    hi = q.iloc[3].to_numpy() + p.range_iqr_margin * spread
    scale_q = ref.quantile(list(_SCALE_QUANTILES))
    rng = np.random.default_rng(0)
    samples = {}
    for c in num:
        v = ref[c].dropna().to_numpy()
        samples[c] = np.sort(rng.choice(v, _SAMPLE, replace=False) if len(v) > _SAMPLE else v)
    id_col, ts = profile.data.id, profile.data.timestamp
    key = [id_col] if id_col and id_col in reference.columns else [
        *profile.features.all, *([ts] if ts and ts in reference.columns else [])]
    return Baseline(
        numeric=list(num), categorical=list(cat),
        lo=dict(zip(num, lo.tolist(), strict=True)), hi=dict(zip(num, hi.tolist(), strict=True)),
        quantiles={c: scale_q[c].tolist() for c in num},
        null_rate=reference[[*num, *cat]].isna().mean().to_dict(),
        categories={c: set(fit_categorical(reference, c).categories) for c in cat},
        samples=samples, kinds={c: _kind(reference[c].dtype) for c in [*num, *cat]},
        duplicate_share=_duplicate_share(reference, key), duplicate_key=key,
        columns=set(map(str, reference.columns)))


def _issue(kind: str, feature: str | None, statistic: str, value: float, threshold: float,
           breached: bool, **detail: Any) -> dict[str, Any]:
    return {"kind": kind, "feature": feature, "statistic": statistic,
            "value": round(float(value), 6), "threshold": threshold, "breached": bool(breached),
            "detail": detail, "row_share": 0.0}


def _schema(base: Baseline, frame: pd.DataFrame, files: list[tuple[SourceFile, pd.DataFrame]],
            known: Collection[str], history: Collection[str], coerced: dict[str, int],
            p: QualityParams) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Missing / renamed / retyped features and new columns, from the raw file schemas."""
    feats = [*base.numeric, *base.categorical]
    n_files = max(len(files), 1)
    lacking = {c: [sf for sf, _ in files if c not in sf.dtypes] for c in feats}
    seen = {c for sf, _ in files for c in sf.dtypes}
    extra = sorted(seen - set(history) - base.columns - set(known))
    issues, missing = [], {}
    for c in feats:
        if not lacking[c]:
            continue
        rows = sum(len(part) for sf, part in files if c not in sf.dtypes)
        renamed = _renamed_to(base, c, frame, extra, p)
        missing[c] = {"files_missing": len(lacking[c]), "files": len(files), "renamed_to": renamed}
        issue = _issue("schema_change", c, "files_missing_share", len(lacking[c]) / n_files, 0.0,
                       True, change="renamed" if renamed else "missing", renamed_to=renamed,
                       files_missing=len(lacking[c]), files=len(files),
                       example_file=str(lacking[c][0].path))
        issue["row_share"] = rows / max(len(frame), 1)
        issues.append(issue)
    retyped = {}
    for c in feats:
        if c in missing:
            continue
        kinds = {_dtype_kind(sf.dtypes[c]) for sf, part in files
                 if c in sf.dtypes and part[c].notna().any()}
        if c in coerced:
            kinds.add("text")
        changed = kinds - {base.kinds[c]}
        if changed:
            retyped[c] = {"reference": base.kinds[c], "current": sorted(kinds)}
            issue = _issue("schema_change", c, "type", 1.0, 0.0, True, change="dtype",
                           reference=base.kinds[c], current=sorted(kinds),
                           non_numeric_values=coerced.get(c, 0))
            issue["row_share"] = coerced.get(c, len(frame)) / max(len(frame), 1)
            issues.append(issue)
    return issues, {"missing": missing, "retyped": retyped, "added": extra}


def _renamed_to(base: Baseline, col: str, frame: pd.DataFrame, extra: list[str],
                p: QualityParams) -> str | None:
    for cand in extra:
        if cand not in frame.columns or frame[cand].notna().sum() < 20:
            continue
        values = frame[cand].dropna()
        if col in base.samples:
            v = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
            if ks_statistic(v, base.samples[col]) <= p.rename_max_ks:
                return cand
        elif col in base.categories:
            labels = fit_categorical(values.to_frame(), cand).frequencies
            if sum(s for k, s in labels.items() if k in base.categories[col]) >= 0.9:
                return cand
    return None


def _values(base: Baseline, frame: pd.DataFrame, skip: set[str],
            p: QualityParams) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """Nulls, ranges, unit-looking scale changes and unseen categories, per feature."""
    issues: list[dict[str, Any]] = []
    stats: dict[str, dict[str, Any]] = {}
    feats = [c for c in [*base.numeric, *base.categorical] if c in frame.columns]
    nulls = frame[feats].isna().mean() if len(frame) else pd.Series(0.0, index=feats)
    num = [c for c in base.numeric if c in frame.columns and c not in skip]
    block = frame[num].apply(pd.to_numeric, errors="coerce") if num else pd.DataFrame()
    valid = block.notna().sum()
    lo, hi = pd.Series(base.lo)[num], pd.Series(base.hi)[num]
    outside = ((block.lt(lo) | block.gt(hi)) & block.notna()).sum() / valid.clip(lower=1)
    cur_q = block.quantile(list(_SCALE_QUANTILES)) if len(block) else None
    for c in feats:
        if c in skip:
            continue
        ref_null, cur_null = float(base.null_rate.get(c, 0.0)), float(nulls[c])
        inc = cur_null - ref_null
        st: dict[str, Any] = {"null_rate_reference": ref_null, "null_rate_current": cur_null}
        i = _issue("missing_values", c, "null_rate_increase", inc, p.max_null_rate_increase,
                   inc >= p.max_null_rate_increase, reference=round(ref_null, 6),
                   current=round(cur_null, 6))
        i["row_share"] = max(inc, 0.0)
        issues.append(i)
        stats[c] = st
    for c in num:
        share = float(outside[c])
        st = stats[c]
        st |= {"range": [base.lo[c], base.hi[c]], "out_of_range_share": share}
        sample = block[c][block[c].lt(base.lo[c]) | block[c].gt(base.hi[c])]
        i = _issue("out_of_range", c, "out_of_range_share", share, p.max_out_of_range_share,
                   share > p.max_out_of_range_share and valid[c] > 0,
                   range=[round(base.lo[c], 6), round(base.hi[c], 6)],
                   examples=sorted({float(v) for v in sample.head(200)})[:_MAX_LISTED])
        i["row_share"] = share
        issues.append(i)
        if cur_q is not None and valid[c] >= 50:
            scale = _scale_issue(c, base.quantiles[c], cur_q[c].tolist(), p)
            if scale is not None:
                st["scale_ratio"] = scale["value"]
                issues.append(scale)
    for c in base.categorical:
        if c not in frame.columns or c in skip:
            continue
        prof = fit_categorical(frame, c)
        unseen = {k: s for k, s in prof.frequencies.items() if k not in base.categories[c]}
        share = float(sum(unseen.values()))
        top = sorted(unseen, key=lambda k: -unseen[k])[:_MAX_LISTED]
        stats[c] |= {"unseen_share": share, "unseen_values": top}
        i = _issue("unseen_category", c, "unseen_share", share, p.max_unseen_share,
                   share > p.max_unseen_share, unseen_values=top,
                   unseen_counts={k: round(unseen[k] * prof.n_valid) for k in top})
        i["row_share"] = share
        issues.append(i)
    return issues, stats


def _scale_issue(col: str, ref_q: list[float], cur_q: list[float],
                 p: QualityParams) -> dict[str, Any] | None:
    scale = unit_scale(ref_q, cur_q, min_factor=p.min_unit_factor, tolerance=p.unit_tolerance)
    if scale is None:
        return None
    i = _issue("out_of_range", col, "scale_ratio", scale.ratio, p.min_unit_factor, True,
               change="unit", quantile_ratios=[round(r, 6) for r in scale.ratios],
               nearest_unit_factor=scale.nearest_factor)
    i["row_share"] = 1.0
    return i


def _duplicates(base: Baseline, frame: pd.DataFrame,
                p: QualityParams) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    key = [c for c in base.duplicate_key if c in frame.columns]
    share = _duplicate_share(frame, key) if len(key) == len(base.duplicate_key) else 0.0
    inc = share - base.duplicate_share
    dup_ids: list[str] = []
    if inc >= p.max_duplicate_increase and len(key) == 1:
        dup_ids = [str(v) for v in frame.loc[frame.duplicated(key), key[0]].head(_MAX_LISTED)]
    i = _issue("duplicate_rows", key[0] if len(key) == 1 else None, "duplicate_share", share,
               round(base.duplicate_share + p.max_duplicate_increase, 6),
               inc >= p.max_duplicate_increase, key=key,
               reference_share=round(base.duplicate_share, 6), duplicated_ids=dup_ids)
    i["row_share"] = share
    return [i], {"key": key, "share": share, "reference_share": base.duplicate_share}


def assess_quality(base: Baseline, frame: pd.DataFrame, *,
                   files: list[tuple[SourceFile, pd.DataFrame]] | None = None,
                   known: Collection[str] = (),
                   history: Collection[str] = (),
                   coerced: dict[str, int] | None = None,
                   params: QualityParams | None = None) -> QualityReport:
    """Every quality test of ``frame`` against the baseline. ``files`` are the raw files the
    rows came from (for schema tests); without them the frame's own columns are the schema."""
    p = params or QualityParams()
    if files is None:
        sf = SourceFile(path=Path("<frame>"), rows=len(frame),
                        dtypes={str(c): str(t) for c, t in frame.dtypes.items()})
        files = [(sf, frame)]
    schema_issues, schema = _schema(base, frame, files, known, history, coerced or {}, p)
    skip = set(schema["missing"])
    value_issues, columns = _values(base, frame, skip, p)
    dup_issues, dups = _duplicates(base, frame, p)
    issues = [*schema_issues, *value_issues, *dup_issues]
    failed = {(i["kind"], i["feature"]): i for i in issues if i["breached"]}
    nulls = [i["value"] for i in value_issues if i["kind"] == "missing_values"]

    def top(kind: str, stat: str) -> float:
        return max((i["value"] for i in issues if i["kind"] == kind and i["statistic"] == stat),
                   default=0.0)

    metrics = {
        "quality_failed_checks": float(len(failed)),
        "max_null_rate_increase": max([0.0, *nulls]),
        "duplicate_share": float(dups["share"]),
        "unseen_category_share": top("unseen_category", "unseen_share"),
        "out_of_range_share": top("out_of_range", "out_of_range_share"),
        "schema_changes": float(len([i for i in schema_issues if i["breached"]])),
        "affected_row_share": min(1.0, max((i["row_share"] for i in failed.values()),
                                           default=0.0)),
    }
    return QualityReport(issues=issues, columns=columns, schema=schema, duplicates=dups,
                         metrics=metrics)


def _known_columns(profile: ModelProfile) -> set[str]:
    d, pr = profile.data, profile.prediction
    names = [d.id, d.timestamp, d.feature_version, profile.target, pr.score, pr.decision,
             pr.latency, pr.model_version, pr.status, d.labels.column if d.labels else None]
    return {n for n in names if n}


def _window_files(profile: ModelProfile, data: DataWindows
                  ) -> tuple[list[tuple[SourceFile, pd.DataFrame]], set[str]]:
    """(file, its rows inside the current window) for files reaching into the window, and
    the columns of the files before it (the schema the feed had)."""
    ts, log = profile.data.timestamp, data.log
    if not data.log_files or sum(f.rows for f in data.log_files) != len(log):
        sf = SourceFile(path=Path("<current>"), rows=len(data.current),
                        dtypes={str(c): str(t) for c, t in data.current.dtypes.items()})
        return [(sf, data.current)], set()
    start = data.current[ts].min() if ts and len(data.current) else None
    out, history, offset = [], set(), 0
    for sf in data.log_files:
        part = log.iloc[offset:offset + sf.rows]
        offset += sf.rows
        if start is not None and ts:
            inside = part[part[ts] >= start]
            if inside.empty:
                history |= set(sf.dtypes)
                continue
            part = inside
        out.append((sf, part))
    return out, history


def assess_windows(profile: ModelProfile, data: DataWindows, params: QualityParams | None = None
                   ) -> tuple[QualityReport, list[dict[str, Any]]]:
    """The current window as a whole, and each of its files (for quarantine)."""
    p = params or QualityParams()
    base = fit_baseline(profile, data.reference, p)
    files, history = _window_files(profile, data)
    known = _known_columns(profile)
    frame = data.current
    report = assess_quality(base, frame, files=files, known=known, history=history,
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
    names = ", ".join(f"{i['feature'] or 'rows'} ({i['kind']})" for i in failed[:6])
    summary = (f"{len(failed)} quality check(s) failed: {names}" if failed
               else "no quality check failed")
    data = {"issues": report.issues, "columns": report.columns, "schema": report.schema,
            "duplicates": report.duplicates, "files": per_file,
            "params": params.model_dump(mode="json")}
    onset = _onset(per_file)
    return EvidencePart(data=to_jsonable(data), metrics=report.metrics, summary=summary,
                        fields={"drift_onset": onset} if onset else {})

