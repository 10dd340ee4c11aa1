"""Reading the span of a source a playbook needs, and no more.

Parquet files are pruned by their footers' timestamp statistics (whatever the layout: hive
``date=`` partitions, hourly files, one big file with row groups), only the needed columns
are read, and the timestamp bound is pushed into the scan so row groups before it are
skipped. Files without statistics, and CSV, are read whole and filtered afterwards.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from playbooks.data.files import Location, file_format, filesystem, footer, is_url, open_binary
from playbooks.errors import DataError

__all__ = ["SourceFile", "newest_timestamp", "read_frame", "read_span"]


@dataclass(frozen=True)
class SourceFile:
    """One file of a source as read: its rows are a contiguous block of the loaded frame
    (files are concatenated in this order), ``dtypes`` are its raw column types. A file
    pruned because it ends before the span is listed with ``rows=0`` (its schema still says
    which columns the feed had)."""

    path: Location  # a local Path, or an fsspec URL
    rows: int
    dtypes: dict[str, str]


def _dtypes(schema: pa.Schema) -> dict[str, str]:
    frame = schema.empty_table().to_pandas()
    return {str(c): str(t) for c, t in frame.dtypes.items()}


def _read_error(path: Location, kind: str, exc: Exception) -> DataError:
    if isinstance(exc, UnicodeDecodeError):
        return DataError(f"{path}: not UTF-8 text ({exc.reason})",
                         hint="re-encode the file as UTF-8, e.g. `iconv -f latin1 -t utf-8`")
    return DataError(f"{path}: cannot read as {kind}: {exc}",
                     hint="replace or remove the file, or fix format: on the data source")


def _read_csv(path: Location, columns: Collection[str] | None) -> pd.DataFrame:
    try:
        usecols = None if columns is None else (lambda c: c in columns)
        with open_binary(path) as fh:
            frame: pd.DataFrame = pd.read_csv(fh, encoding="utf-8", low_memory=False,
                                              usecols=usecols)
        return frame
    except (UnicodeDecodeError, OSError, ValueError, pd.errors.ParserError) as exc:
        raise _read_error(path, "csv", exc) from None


def _bound(field: pa.Field, since: pd.Timestamp) -> pc.Expression | None:
    """``ts > since`` as a scan filter, when the column is a timestamp the bound compares to."""
    if not pa.types.is_timestamp(field.type):
        return None
    value = since if field.type.tz else since.tz_convert(None)
    return pc.field(field.name) > pa.scalar(value.to_pydatetime(), type=field.type)


def _read_parquet(path: Location, columns: Collection[str] | None, ts: str | None,
                  since: pd.Timestamp | None) -> pa.Table:
    schema = footer(path).schema
    cols = None if columns is None else [n for n in schema.names if n in columns]
    where = None
    if since is not None and ts and ts in schema.names:
        where = _bound(schema.field(ts), since)
    try:
        # partitioning=None: hive directory names (date=...) are not data columns.
        if is_url(path):
            fs, inner = filesystem(str(path))
            return pq.read_table(inner, columns=cols, filters=where, partitioning=None,
                                 filesystem=fs)
        return pq.read_table(path, columns=cols, filters=where, partitioning=None)
    except (OSError, pa.ArrowException) as exc:
        raise _read_error(path, "parquet", exc) from None


def _pruned(path: Location, ts: str | None, since: pd.Timestamp | None) -> bool:
    if since is None or ts is None:
        return False
    hi = footer(path, ts).ts_max
    return hi is not None and pd.Timestamp(hi) <= since


def _concat(tables: list[pa.Table], frames: list[pd.DataFrame] | None) -> pd.DataFrame:
    if frames is not None:  # lenient: pandas' concat keeps mixed types for the checks to see
        return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    if not tables:
        return pd.DataFrame()
    try:
        table = pa.concat_tables(tables, promote_options="permissive").unify_dictionaries()
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # schemas that differ: let pandas mix them
        return _concat([], [t.to_pandas() for t in tables])
    tables.clear()  # the concatenated table holds the buffers now
    frame: pd.DataFrame = table.to_pandas(self_destruct=True, split_blocks=True)
    return frame


def read_span(files: list[Path] | list[Location], fmt: str = "auto", *, ts: str | None = None,
              since: pd.Timestamp | None = None, columns: Collection[str] | None = None,
              per_file_frames: bool = False) -> tuple[pd.DataFrame, list[SourceFile]]:
    """Rows of ``files`` with ``ts > since`` (all rows when ``since`` is None), only
    ``columns`` (all when None), concatenated in file order, and each file as read.
    ``per_file_frames`` converts each file to pandas before concatenating (mixed types
    across files stay visible, as the data-quality checks need)."""
    tables: list[pa.Table] = []
    # CSV comes as pandas frames, whose mixed-type columns arrow cannot hold: concat in pandas.
    per_file_frames = per_file_frames or any(file_format(p, fmt) != "parquet" for p in files)
    frames: list[pd.DataFrame] | None = [] if per_file_frames else None
    sources: list[SourceFile] = []
    for path in files:
        kind = file_format(path, fmt)
        if kind == "parquet" and _pruned(path, ts, since):
            sources.append(SourceFile(path, 0, _dtypes(footer(path).schema)))
            continue
        if kind == "parquet":
            table = _read_parquet(path, columns, ts, since)
            sources.append(SourceFile(path, table.num_rows, _dtypes(table.schema)))
            if frames is None:
                tables.append(table)
                continue
            frame = table.to_pandas()
        else:
            frame = _read_csv(path, columns)
            sources.append(SourceFile(path, len(frame), {str(c): str(t)
                                                         for c, t in frame.dtypes.items()}))
        if frames is not None:
            frames.append(frame)
    return _concat(tables, frames), sources


def read_frame(files: list[Path] | list[Location], fmt: str = "auto") -> pd.DataFrame:
    """Every row and column of ``files`` (small sources: a reference, a label file)."""
    return read_span(files, fmt, per_file_frames=True)[0]


def newest_timestamp(files: list[Path] | list[Location], fmt: str, ts: str) -> datetime | None:
    """The newest ``ts`` of ``files`` from parquet footers alone, or None when some file
    cannot tell (CSV, no statistics, a column that is not a timestamp): then the caller
    reads the column."""
    newest: datetime | None = None
    for path in files:
        if file_format(path, fmt) != "parquet":
            return None
        foot = footer(path, ts)
        if foot.rows == 0:
            continue
        if foot.ts_max is None:
            return None
        newest = foot.ts_max if newest is None else max(newest, foot.ts_max)
    return newest
