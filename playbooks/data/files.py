"""The files of a source and what their footers tell without reading data: format, schema,
row count, timestamp range (parquet statistics), and a cheap identity hash.

Footers are cached in-process by (path, size, mtime/ctime): a controller pass or a drill that loads
the same log again opens no file twice. The identity hash stands in for a content hash: a
parquet footer holds every row group's byte offsets, sizes and column statistics, so any
rewrite changes it; CSV files add their first and last 64 KiB to size and mtime.
"""

from __future__ import annotations

import glob
import hashlib
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from playbooks.errors import DataError
from playbooks.models.profile import DataSource, ModelProfile

__all__ = ["Footer", "file_format", "footer", "hash_files", "resolve_files"]

_EDGE = 64 * 1024  # CSV identity: this many bytes from each end


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


def file_format(path: Path, fmt: str) -> str:
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


@dataclass(frozen=True)
class Footer:
    """A parquet file's metadata: enough to prune it by time and to know its columns."""

    schema: pa.Schema
    rows: int
    digest: str  # sha256 of the serialized footer
    ts_min: datetime | None = None  # from row-group statistics; None when absent
    ts_max: datetime | None = None


def _stamp(path: Path) -> tuple[int, int]:
    """(size, change stamp): ctime moves on every write, even one that restores the mtime."""
    st = os.stat(path)
    return st.st_size, max(st.st_mtime_ns, st.st_ctime_ns)


def _as_utc(value: object) -> datetime | None:
    if not isinstance(value, datetime):
        return None  # a date, a string: not comparable with the window bounds, so no pruning
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _ts_range(meta: pq.FileMetaData, ts: str | None) -> tuple[datetime | None, datetime | None]:
    if ts is None or meta.num_row_groups == 0:
        return None, None
    names = [meta.schema.column(i).name for i in range(meta.num_columns)]
    if ts not in names:
        return None, None
    col = names.index(ts)
    lows, highs = [], []
    for g in range(meta.num_row_groups):
        stats = meta.row_group(g).column(col).statistics
        if stats is None or not stats.has_min_max:
            return None, None
        lo, hi = _as_utc(stats.min), _as_utc(stats.max)
        if lo is None or hi is None:
            return None, None
        lows.append(lo)
        highs.append(hi)
    return min(lows), max(highs)


def _raw_footer(path: str, size: int) -> bytes:
    """The footer's bytes: a parquet file ends with the footer, its 4-byte length, b'PAR1'."""
    with open(path, "rb") as fh:
        fh.seek(max(size - 8, 0))
        tail = fh.read(8)
        length = int.from_bytes(tail[:4], "little")
        fh.seek(max(size - 8 - length, 0))
        return fh.read(length) + tail


@lru_cache(maxsize=65_536)
def _footer(path: str, size: int, mtime_ns: int, ts: str | None) -> Footer:
    try:
        pf = pq.ParquetFile(path)
    except (OSError, pa.ArrowException) as exc:
        raise DataError(f"{path}: not a readable parquet file: {exc}",
                        hint="replace or remove the file, or set format: csv") from None
    meta = pf.metadata
    digest = hashlib.sha256(_raw_footer(path, size)).hexdigest()
    lo, hi = _ts_range(meta, ts)
    return Footer(schema=pf.schema_arrow, rows=meta.num_rows, digest=digest, ts_min=lo, ts_max=hi)


def footer(path: Path, ts: str | None = None) -> Footer:
    """``path``'s parquet footer (cached while the file keeps its size and change stamp)."""
    size, mtime = _stamp(path)
    return _footer(str(path), size, mtime, ts)


@lru_cache(maxsize=65_536)
def _identity(path: str, size: int, mtime_ns: int, kind: str) -> str:
    if kind == "parquet":
        return _footer(path, size, mtime_ns, None).digest
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        h.update(fh.read(_EDGE))
        if size > 2 * _EDGE:
            fh.seek(size - _EDGE)
        h.update(fh.read(_EDGE))
    return h.hexdigest()


def hash_files(files: list[Path]) -> str:
    """One digest of the files' identities (path, size, mtime, footer or ends), not of every
    byte: reading a year of log to hash it would cost more than the playbook."""
    h = hashlib.sha256()
    for f in files:
        size, mtime = _stamp(f)
        try:
            kind = file_format(f, "auto")
        except DataError:
            kind = "csv"  # unknown extensions hash like text: ends plus size and mtime
        h.update(f"{f}\0{size}\0{mtime}\0".encode())
        h.update(_identity(str(f), size, mtime, kind).encode())
    return h.hexdigest()
