"""Data access for profiles. Errors name the file or column and say what to do."""

from __future__ import annotations

import glob
import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from pandas.api import types as ptypes

from playbooks.errors import DataError
from playbooks.models.evidence import DataWindowRef
from playbooks.models.profile import DataSource, ModelProfile

__all__ = ["DataWindows", "SourceFile", "hash_files", "load_windows", "read_frame", "resolve_files"]


def resolve_files(profile: ModelProfile, source: DataSource, what: str) -> list[Path]:
    pattern = str(profile.resolve(source.path))
    files = sorted(Path(p) for p in glob.glob(pattern, recursive=True) if Path(p).is_file())
    if not files:
        raise DataError(
            f"{what}: no files match '{pattern}'",
            hint=f"fix data.{what}.path in the profile (relative paths resolve against "
            f"{profile.base_dir})",
        )
    return files


def _format_of(path: Path, fmt: str) -> str:
    if fmt != "auto":
        return fmt
    if path.suffix.lower() in (".parquet", ".pq"):
        return "parquet"
    if path.suffix.lower() in (".csv", ".txt") or path.name.lower().endswith(".csv.gz"):
        return "csv"
    raise DataError(
        f"{path}: cannot tell the format from the extension",
        hint="set format: csv or format: parquet on the data source",
    )


def _read_one(path: Path, fmt: str) -> pd.DataFrame:
    kind = _format_of(path, fmt)
    try:
        if kind == "parquet":
            # Read the file alone: hive directory names (date=...) are not data columns.
            frame: pd.DataFrame = pq.read_table(path, partitioning=None).to_pandas()
            return frame
        return pd.read_csv(path, encoding="utf-8", low_memory=False)
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{path}: not UTF-8 text ({exc.reason})",
            hint="re-encode the file as UTF-8, e.g. `iconv -f latin1 -t utf-8`",
        ) from None
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise DataError(f"{path}: cannot read as {kind}: {exc}") from None


def read_frame(files: list[Path], fmt: str = "auto") -> pd.DataFrame:
    frames = [_read_one(f, fmt) for f in files]
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


@dataclass(frozen=True)
class SourceFile:
    """One file of a source as read: its rows are a contiguous block of the loaded frame
    (files are concatenated in this order), ``dtypes`` are its raw column types."""

    path: Path
    rows: int
    dtypes: dict[str, str]


def _read_sources(files: list[Path], fmt: str) -> tuple[pd.DataFrame, list[SourceFile]]:
    frames = [_read_one(f, fmt) for f in files]
    sources = [
        SourceFile(f, len(fr), {str(c): str(t) for c, t in fr.dtypes.items()})
        for f, fr in zip(files, frames, strict=True)
    ]
    return (frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)), sources


def hash_files(files: list[Path]) -> str:
    h = hashlib.sha256()
    for f in files:
        h.update(str(f).encode())
        with f.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def _to_utc(frame: pd.DataFrame, col: str, what: str) -> pd.Series:
    try:
        return pd.to_datetime(frame[col], utc=True, format="mixed")
    except (ValueError, TypeError) as exc:
        raise DataError(
            f"{what}: timestamp column '{col}' is not parseable as dates: {exc}"
        ) from None


def _require_columns(frame: pd.DataFrame, cols: list[str], what: str, files: list[Path]) -> None:
    missing = [c for c in cols if c not in frame.columns]
    where = files[0] if len(files) == 1 else f"{len(files)} files"
    if missing:
        raise DataError(
            f"{what}: missing column(s) {missing} in {where}",
            hint=f"columns present: {list(frame.columns)[:30]}; "
            "fix the profile's features or the data",
        )


def _check_numeric(frame: pd.DataFrame, cols: list[str], what: str) -> None:
    for c in cols:
        s = frame[c]
        if ptypes.is_numeric_dtype(s) or ptypes.is_bool_dtype(s):
            continue
        coerced = pd.to_numeric(s, errors="coerce")
        bad = s[coerced.isna() & s.notna()]
        if len(bad) and len(bad) < len(s.dropna()):
            raise DataError(
                f"{what}: numeric feature '{c}' has mixed types: {len(bad)} non-numeric value(s), "
                f"e.g. {bad.astype(str).unique()[:3].tolist()}",
                hint="clean the column upstream or declare it categorical in the profile",
            )
        if len(bad):
            raise DataError(
                f"{what}: numeric feature '{c}' holds text "
                f"(e.g. {bad.astype(str).unique()[:3].tolist()})",
                hint="declare it under features.categorical in the profile",
            )
        frame[c] = coerced


def _coerce_numeric(frame: pd.DataFrame, cols: list[str]) -> dict[str, int]:
    """Lenient ``_check_numeric``: text in numeric features becomes NaN; returns the count of
    values that were not numbers, per column (a type change the data-quality playbook reports)."""
    bad: dict[str, int] = {}
    for c in cols:
        s = frame[c]
        if ptypes.is_numeric_dtype(s) or ptypes.is_bool_dtype(s):
            continue
        coerced = pd.to_numeric(s, errors="coerce")
        if n := int((coerced.isna() & s.notna()).sum()):
            bad[c] = n
        frame[c] = coerced
    return bad


@dataclass
class DataWindows:
    """The frames one incident works on. ``log`` is the whole current source (for retraining
    and verification windows); ``current`` is its last ``window``."""

    reference: pd.DataFrame
    log: pd.DataFrame
    current: pd.DataFrame
    labelled: pd.DataFrame | None
    refs: dict[str, DataWindowRef] = field(default_factory=dict)
    now: datetime | None = None
    # Lenient loads only: feature columns absent from every current file (kept as all-NaN)
    # and numeric features that held text (count of non-numbers, now NaN).
    missing_columns: list[str] = field(default_factory=list)
    coerced_columns: dict[str, int] = field(default_factory=dict)
    log_files: list[SourceFile] = field(default_factory=list)  # the current source, in log order

    def labelled_between(self, start: datetime, end: datetime, ts: str) -> pd.DataFrame:
        if self.labelled is None:
            return pd.DataFrame()
        t = self.labelled[ts]
        return self.labelled[(t >= start) & (t < end)]


def _ref(name: str, files: list[Path], frame: pd.DataFrame, ts: str | None) -> DataWindowRef:
    start = end = None
    if ts and ts in frame.columns and len(frame):
        start, end = frame[ts].min().to_pydatetime(), frame[ts].max().to_pydatetime()
    return DataWindowRef(
        name=name,
        files=[str(f) for f in files],
        rows=len(frame),
        start=start,
        end=end,
        sha256=hash_files(files),
    )


def load_windows(profile: ModelProfile, *, lenient: bool = False) -> DataWindows:
    """Read reference, current (windowed) and labels; validate columns and types up front.

    ``lenient`` is for playbooks that diagnose broken data (data-quality): a feature column
    missing from the current data is kept as all-NaN and text in a numeric feature becomes
    NaN, both recorded on the result, instead of raising. The reference, the timestamp and
    the label join stay strict: those are the profile's contract, not the feed's.
    """
    d, feats = profile.data, profile.features
    ref_files = resolve_files(profile, d.reference, "reference")
    cur_files = resolve_files(profile, d.current, "current")
    reference = read_frame(ref_files, d.reference.format)
    log, log_files = _read_sources(cur_files, d.current.format)
    need = feats.all + ([d.timestamp] if d.timestamp else [])
    _require_columns(reference, feats.all, "reference", ref_files)
    missing: list[str] = []
    coerced: dict[str, int] = {}
    if lenient:
        missing = [c for c in feats.all if c not in log.columns]
        for c in missing:
            dtype = float if c in feats.numeric else object
            log[c] = pd.Series(np.nan, index=log.index, dtype=dtype)
        need = [d.timestamp] if d.timestamp else []
    _require_columns(log, need, "current", cur_files)
    _check_numeric(reference, feats.numeric, "reference")
    if lenient:
        coerced = _coerce_numeric(log, feats.numeric)
    else:
        _check_numeric(log, feats.numeric, "current")
    if d.timestamp:
        log[d.timestamp] = _to_utc(log, d.timestamp, "current")
        if d.timestamp in reference.columns:
            reference[d.timestamp] = _to_utc(reference, d.timestamp, "reference")
    now = log[d.timestamp].max().to_pydatetime() if d.timestamp and len(log) else None
    current = log
    if d.current.window and d.timestamp and now is not None:
        current = log[log[d.timestamp] > now - d.current.window].reset_index(drop=True)
    labelled, refs = None, {}
    if d.labels and d.id and d.timestamp:
        lab_files = resolve_files(profile, d.labels, "labels")
        labels = read_frame(lab_files, d.labels.format)
        _require_columns(labels, [d.id, d.labels.column], "labels", lab_files)
        _require_columns(log, [d.id], "current", cur_files)
        lab = labels[[d.id, d.labels.column]].drop_duplicates(d.id, keep="last")
        labelled = log.merge(lab, on=d.id, how="inner", suffixes=("", "_label"))
        if d.labels.column != (profile.target or d.labels.column):
            labelled = labelled.rename(columns={d.labels.column: profile.target})
        refs["labels"] = _ref("labels", lab_files, labels, None)
    refs["reference"] = _ref("reference", ref_files, reference, d.timestamp)
    refs["current"] = _ref("current", cur_files, current, d.timestamp)
    return DataWindows(
        reference=reference,
        log=log,
        current=current,
        labelled=labelled,
        refs=refs,
        now=now,
        missing_columns=missing,
        coerced_columns=coerced,
        log_files=log_files,
    )


def span(frame: pd.DataFrame, ts: str | None) -> tuple[datetime | None, datetime | None]:
    if not ts or ts not in frame.columns or frame.empty:
        return None, None
    return frame[ts].min().to_pydatetime(), frame[ts].max().to_pydatetime()
