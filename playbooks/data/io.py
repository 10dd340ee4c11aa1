"""Data access for profiles. Errors name the file or column and say what to do.

``load_windows`` reads only what a run needs (``playbooks.data.needs``): the log from its
newest row back over the needed history, the profile's columns, pruned and pushed down by
``playbooks.data.reader``."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from playbooks.data.files import (
    Location,
    file_format,
    footer,
    hash_files,
    resolve_files,
    resolve_locations,
)
from playbooks.data.handoff import keeping, put, take
from playbooks.data.needs import WindowNeeds, default_needs
from playbooks.data.reader import SourceFile, newest_timestamp, read_frame, read_span
from playbooks.data.sql import masked_url, sql_identity, sql_newest, sql_span
from playbooks.data.stream import WindowStream, estimated_bytes, memory_budget, sample_step
from playbooks.errors import DataError
from playbooks.models.evidence import DataWindowRef
from playbooks.models.profile import DataSource, ModelProfile

__all__ = ["DataWindows", "SourceFile", "WindowNeeds", "hash_files", "load_windows",
           "profile_columns", "read_frame", "read_windows", "resolve_files", "span"]


def _to_utc(frame: pd.DataFrame, col: str, what: str) -> pd.Series:
    try:
        return pd.to_datetime(frame[col], utc=True, format="mixed")
    except (ValueError, TypeError) as exc:
        raise DataError(
            f"{what}: timestamp column '{col}' is not parseable as dates: {exc}"
        ) from None


def _require_columns(frame: pd.DataFrame, cols: list[str], what: str,
                     files: list[Location]) -> None:
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
    """The frames one incident works on. ``log`` is the current source over the span the run
    needs (``playbooks.data.needs``: baselines, retraining, monitoring windows); ``current``
    is its last ``window``."""

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
    # The current source's files in log order; those before the span are listed with 0 rows.
    log_files: list[SourceFile] = field(default_factory=list)
    # A span over the memory budget: ``log``/``current`` are a 1-in-k sample, and the drift
    # statistics stream over the whole current window from here.
    stream: WindowStream | None = None

    def labelled_between(self, start: datetime, end: datetime, ts: str) -> pd.DataFrame:
        if self.labelled is None:
            return pd.DataFrame()
        t = self.labelled[ts]
        return self.labelled[(t >= start) & (t < end)]


def _ref(name: str, files: list[Location], frame: pd.DataFrame, ts: str | None) -> DataWindowRef:
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


def is_sql(source: DataSource) -> bool:
    return source.table is not None or source.query is not None


def _source_ref(name: str, source: DataSource, files: list[Location], frame: pd.DataFrame,
                ts: str | None) -> DataWindowRef:
    if not is_sql(source):
        return _ref(name, files, frame, ts)
    start, end = span(frame, ts)
    return DataWindowRef(name=name, files=[f"{masked_url(source)} {source.table or 'query'}"],
                         rows=len(frame), start=start, end=end,
                         sha256=sql_identity(source, frame, ts))


def _sql_since(source: DataSource, ts: str | None, needs: WindowNeeds) -> pd.Timestamp | None:
    if needs.history is None or ts is None:
        return None
    newest = sql_newest(source, ts, "current")
    return None if newest is None else pd.Timestamp(newest) - needs.history


def profile_columns(profile: ModelProfile) -> set[str]:
    """Every log column the profile names: all a strict load reads."""
    d, pr = profile.data, profile.prediction
    names = [*profile.features.all, *profile.segments, *profile.fairness.sensitive_attributes,
             d.id, d.timestamp, d.feature_version,
             profile.target, pr.score, pr.decision, pr.latency, pr.model_version, pr.status]
    return {n for n in names if n}


def _since(files: list[Location], fmt: str, ts: str | None, needs: WindowNeeds
           ) -> pd.Timestamp | None:
    """The lower bound of the read (rows newer than it), from footers when they can tell."""
    if needs.history is None or ts is None:
        return None
    newest = newest_timestamp(files, fmt, ts)
    if newest is None:  # CSV or no statistics: read the timestamp column alone
        stamps, _ = read_span(files, fmt, columns={ts})
        if ts not in stamps.columns or stamps.empty:
            return None  # the column check below says what is missing
        return pd.Timestamp(_to_utc(stamps, ts, "current").max()) - needs.history
    return pd.Timestamp(newest) - needs.history


def _ends_before(path: Location, ts: str | None, start: pd.Timestamp) -> bool:
    hi = footer(path, ts).ts_max
    return hi is not None and pd.Timestamp(hi) <= start


def _over_budget(files: list[Location], fmt: str, ts: str | None, since: pd.Timestamp | None,
                 columns: set[str] | None) -> WindowStream | None:
    """A stream over the span when reading it whole would exceed the memory budget (parquet
    with a timestamp only: CSV and untimed logs are read whole)."""
    if ts is None or since is None or any(file_format(f, fmt) != "parquet" for f in files):
        return None
    kept = [f for f in files if not _ends_before(f, ts, since)]
    width = len(columns) if columns is not None else max(
        (len(footer(f).schema.names) for f in kept), default=0)
    size, budget = estimated_bytes(kept, width), memory_budget()
    if size <= budget:
        return None
    return WindowStream(files=tuple(kept), ts=ts, start=since,
                        columns=tuple(sorted(columns)) if columns is not None else tuple(
                            footer(kept[0]).schema.names),
                        every=sample_step(size, budget))


def _files_with_rows_after(sources: list[SourceFile], stamps: pd.Series,
                           start: pd.Timestamp | None) -> list[Location]:
    """The files that put rows into the frame newer than ``start`` (the current window's)."""
    out, offset = [], 0
    for sf in sources:
        block = stamps.iloc[offset:offset + sf.rows]
        offset += sf.rows
        if sf.rows and (start is None or bool((block > start).any())):
            out.append(sf.path)
    return out


def _read_labels(profile: ModelProfile, log: pd.DataFrame, cur_files: list[Location]
                 ) -> tuple[pd.DataFrame | None, DataWindowRef | None]:
    d = profile.data
    if not (d.labels and d.id and d.timestamp):
        return None, None
    lab_files = [] if is_sql(d.labels) else resolve_locations(profile, d.labels, "labels")
    wanted = {d.id, d.labels.column}
    labels = sql_span(d.labels, "labels", columns=wanted) if is_sql(d.labels) else read_span(
        lab_files, d.labels.format, columns=wanted, per_file_frames=True)[0]
    _require_columns(labels, [d.id, d.labels.column], "labels", lab_files)
    _require_columns(log, [d.id], "current", cur_files)
    lab = labels[[d.id, d.labels.column]].drop_duplicates(d.id, keep="last")
    labelled = log.merge(lab, on=d.id, how="inner", suffixes=("", "_label"))
    if d.labels.column != (profile.target or d.labels.column):
        labelled = labelled.rename(columns={d.labels.column: profile.target})
    return labelled, _source_ref("labels", d.labels, lab_files, labels, None)


def _read_log(profile: ModelProfile, files: list[Location], needs: WindowNeeds,
              columns: set[str] | None, lenient: bool
              ) -> tuple[pd.DataFrame, list[SourceFile], WindowStream | None]:
    """The log over the needed span: from SQL (the database prunes: WHERE ts > since, only
    the needed columns), as a sample plus a stream (over the memory budget), or read."""
    d = profile.data
    if is_sql(d.current):
        since = _sql_since(d.current, d.timestamp, needs)
        log = sql_span(d.current, "current", ts=d.timestamp, since=since, columns=columns)
        return log, [], None
    since = _since(files, d.current.format, d.timestamp, needs)
    stream = _over_budget(files, d.current.format, d.timestamp, since, columns)
    if stream is not None:
        return stream.sample(), [], stream
    log, log_files = read_span(files, d.current.format, ts=d.timestamp, since=since,
                               columns=columns, per_file_frames=lenient)
    return log, log_files, None


def _handoff_key(profile: ModelProfile, lenient: bool, needs: WindowNeeds
                 ) -> tuple[str, ...] | None:
    """What makes two loads the same: the profile, the options, the files' identities."""
    d = profile.data
    sources = [s for s in (d.reference, d.current, d.labels) if s is not None]
    if any(is_sql(s) for s in sources):
        return None  # a table has no cheap identity: read it again
    ids = [hash_files(resolve_locations(profile, s, "source")) for s in sources]
    return (profile.model_dump_json(), str(profile.base_dir), str(lenient), repr(needs), *ids)


def load_windows(profile: ModelProfile, *, lenient: bool = False,
                 needs: WindowNeeds | None = None) -> DataWindows:
    """``read_windows``, or the load a ``hand_off_loads()`` block kept for this same one."""
    needs = needs or default_needs(profile)
    try:
        key = _handoff_key(profile, lenient, needs)
    except DataError:
        key = None  # let the read say what is wrong
    if key is not None and (kept := take(key)) is not None:
        assert isinstance(kept, DataWindows)
        return kept
    data = read_windows(profile, lenient=lenient, needs=needs)
    if key is not None and keeping():
        put(key, data)
    return data


def read_windows(profile: ModelProfile, *, lenient: bool = False,
                 needs: WindowNeeds | None = None) -> DataWindows:
    """Read reference, the log over the needed span, its current window, and labels;
    validate columns and types up front.

    ``needs`` (default: ``default_needs(profile)``) bounds the log: rows newer than its
    newest timestamp minus ``needs.history``; files that end before are not opened past
    their footer. A strict load reads the profile's columns only.

    ``lenient`` is for playbooks that diagnose broken data (data-quality): every column is
    read, a feature column missing from the current data is kept as all-NaN and text in a
    numeric feature becomes NaN, both recorded on the result, instead of raising. The
    reference, the timestamp and the label join stay strict: those are the profile's
    contract, not the feed's.
    """
    d, feats = profile.data, profile.features
    needs = needs or default_needs(profile)
    ref_files = [] if is_sql(d.reference) else resolve_locations(profile, d.reference, "reference")
    cur_files = [] if is_sql(d.current) else resolve_locations(profile, d.current, "current")
    reference = (sql_span(d.reference, "reference") if is_sql(d.reference)
                 else read_frame(ref_files, d.reference.format))
    columns = None if lenient else profile_columns(profile)
    log, log_files, span_stream = _read_log(profile, cur_files, needs, columns, lenient)
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
    current, window_start = log, None
    if d.current.window and d.timestamp and now is not None:
        window_start = pd.Timestamp(now - d.current.window)
        current = log[log[d.timestamp] > window_start].reset_index(drop=True)
    labelled, lab_ref = _read_labels(profile, log, cur_files)
    refs = {"labels": lab_ref} if lab_ref else {}
    window_files = cur_files
    if d.timestamp and len(log) and log_files:
        window_files = _files_with_rows_after(log_files, log[d.timestamp], window_start)
    refs["reference"] = _source_ref("reference", d.reference, ref_files, reference, d.timestamp)
    stream = None
    if span_stream is not None and window_start is not None:
        stream = replace(span_stream, files=tuple(
            f for f in span_stream.files if not _ends_before(f, d.timestamp, window_start)),
            start=window_start)
        window_files = list(stream.files)
    refs["current"] = _source_ref("current", d.current, window_files, current, d.timestamp)
    if stream is not None:
        refs["current"] = refs["current"].model_copy(update={
            "name": f"current (drift streamed over every row; other evidence on a 1-in-"
                    f"{stream.every} sample, {len(current)} rows)",
            "rows": stream.count_rows()})
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
        stream=stream,
    )


def span(frame: pd.DataFrame, ts: str | None) -> tuple[datetime | None, datetime | None]:
    if not ts or ts not in frame.columns or frame.empty:
        return None, None
    return frame[ts].min().to_pydatetime(), frame[ts].max().to_pydatetime()
