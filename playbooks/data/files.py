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
from pathlib import Path, PurePosixPath
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from playbooks.errors import DataError
from playbooks.models.profile import DataSource, ModelProfile

__all__ = ["Footer", "Location", "file_format", "filesystem", "footer", "hash_files", "is_url",
           "open_binary", "resolve_files", "resolve_locations"]

_EDGE = 64 * 1024  # CSV identity: this many bytes from each end
# A local file, or an fsspec URL ('s3://bucket/key'): object stores have no Path.
Location = Path | str


def is_url(path: str | Path) -> bool:
    return isinstance(path, str) and "://" in path and not path.startswith("file://")


def filesystem(url: str) -> tuple[Any, str]:
    """(fsspec filesystem, path without the protocol) for ``url``; credentials and endpoints
    come from each store's standard settings (AWS_* incl. AWS_ENDPOINT_URL, GOOGLE_*,
    AZURE_STORAGE_*)."""
    import fsspec  # only remote sources pay for it

    options: dict[str, Any] = {}
    if url.startswith(("s3://", "s3a://")) and os.environ.get("AWS_ENDPOINT_URL"):
        # Part of fsspec's instance cache key: a changed endpoint gets a fresh client.
        options["endpoint_url"] = os.environ["AWS_ENDPOINT_URL"]
    try:
        fs, path = fsspec.core.url_to_fs(url, **options)
    except (ImportError, ValueError) as exc:
        raise DataError(f"{url}: no filesystem for this URL: {exc}",
                        hint="install the store's fsspec package (s3fs, gcsfs, adlfs)") from None
    return fs, str(path)


def _remote_error(url: str, exc: Exception) -> DataError:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return DataError(f"{url}: cannot reach the object store: {text}",
                     hint="check the bucket and prefix, the credentials (AWS_ACCESS_KEY_ID / "
                     "AWS_SECRET_ACCESS_KEY or a profile) and AWS_ENDPOINT_URL for "
                     "S3-compatible stores")


def _resolve_remote(url: str, what: str) -> list[Location]:
    fs, path = filesystem(url)
    protocol = url.split("://", 1)[0]
    try:
        fs.invalidate_cache()  # a long-lived process must see partitions written since
        found = sorted(p for p in fs.glob(path) if fs.isfile(p)) if glob.has_magic(path) else (
            [path] if fs.isfile(path) else [])
    except Exception as exc:  # botocore / aiohttp errors differ by store: all are 'unreachable'
        raise _remote_error(url, exc) from None
    if not found:
        raise DataError(f"{what}: no objects match '{url}'",
                        hint=f"fix data.{what}.path (bucket, prefix, glob) in the profile")
    return [f"{protocol}://{p}" for p in found]


def resolve_locations(profile: ModelProfile, source: DataSource, what: str) -> list[Location]:
    """The source's files: local paths (relative to the profile) or fsspec URLs."""
    if is_url(source.path):
        return _resolve_remote(source.path, what)
    return list(resolve_files(profile, source, what))


def open_binary(path: Location) -> Any:
    """A readable binary file object for ``path``."""
    if isinstance(path, Path):
        return path.open("rb")
    fs, inner = filesystem(path)
    return fs.open(inner, "rb")


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


def file_format(path: Location, fmt: str) -> str:
    if fmt != "auto":
        return fmt
    name = PurePosixPath(path) if isinstance(path, str) else path
    if name.suffix.lower() in (".parquet", ".pq"):
        return "parquet"
    if name.suffix.lower() in (".csv", ".txt") or name.name.lower().endswith(".csv.gz"):
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


def _stamp(path: Location) -> tuple[int, str]:
    """(size, change stamp): ctime moves on every write, even one that restores the mtime;
    an object's ETag changes with its content."""
    if isinstance(path, Path):
        st = os.stat(path)
        return st.st_size, str(max(st.st_mtime_ns, st.st_ctime_ns))
    fs, inner = filesystem(path)
    try:
        info = fs.info(inner)
    except Exception as exc:  # any store error means the same to the user: unreachable
        raise _remote_error(path, exc) from None
    tag = info.get("ETag") or info.get("etag") or info.get("LastModified") or info.get("mtime")
    return int(info.get("size") or 0), str(tag)


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
    with open_binary(path if is_url(path) else Path(path)) as fh:
        fh.seek(max(size - 8, 0))
        tail: bytes = fh.read(8)
        length = int.from_bytes(tail[:4], "little")
        fh.seek(max(size - 8 - length, 0))
        body: bytes = fh.read(length)
        return body + tail


@lru_cache(maxsize=65_536)
def _footer(path: str, size: int, stamp: str, ts: str | None) -> Footer:
    try:
        if is_url(path):
            fs, inner = filesystem(path)
            pf = pq.ParquetFile(inner, filesystem=fs)
        else:
            pf = pq.ParquetFile(path)
    except (OSError, pa.ArrowException) as exc:
        raise DataError(f"{path}: not a readable parquet file: {exc}",
                        hint="replace or remove the file, or set format: csv") from None
    meta = pf.metadata
    digest = hashlib.sha256(_raw_footer(path, size)).hexdigest()
    lo, hi = _ts_range(meta, ts)
    return Footer(schema=pf.schema_arrow, rows=meta.num_rows, digest=digest, ts_min=lo, ts_max=hi)


def footer(path: Location, ts: str | None = None) -> Footer:
    """``path``'s parquet footer (cached while the file keeps its size and change stamp)."""
    size, stamp = _stamp(path)
    return _footer(str(path), size, stamp, ts)


@lru_cache(maxsize=65_536)
def _identity(path: str, size: int, stamp: str, kind: str) -> str:
    if is_url(path):
        return hashlib.sha256(f"{size}\0{stamp}".encode()).hexdigest()  # the ETag says it all
    if kind == "parquet":
        return _footer(path, size, stamp, None).digest
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        h.update(fh.read(_EDGE))
        if size > 2 * _EDGE:
            fh.seek(size - _EDGE)
        h.update(fh.read(_EDGE))
    return h.hexdigest()


def hash_files(files: list[Path] | list[Location]) -> str:
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
