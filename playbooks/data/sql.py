"""SQL sources (``table:`` or ``query:`` with a SQLAlchemy ``url:``): the window is pushed
into the query (``WHERE ts > :since``) and only the needed columns are selected, so the
database does the pruning. Errors name the source and what to fix, never a driver trace."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, make_url

from playbooks.errors import DataError
from playbooks.models.profile import DataSource

__all__ = ["masked_url", "sql_identity", "sql_newest", "sql_span"]

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _url(source: DataSource, what: str) -> str:
    raw = source.url or ""
    missing = [v for v in _VAR.findall(raw) if v not in os.environ]
    if missing:
        raise DataError(f"{what}: url uses ${{{missing[0]}}}, which is not set",
                        hint=f"export {missing[0]}=... before the run (it keeps the password "
                        "out of the profile)")
    return _VAR.sub(lambda m: os.environ[m.group(1)], raw)


def masked_url(source: DataSource) -> str:
    """The source's URL as it may be shown and recorded: no password."""
    try:
        return make_url(_url(source, "source")).render_as_string(hide_password=True)
    except (DataError, sa.exc.ArgumentError):
        return "<sql>"


def _label(source: DataSource) -> str:
    return f"{masked_url(source)} {source.table or 'query'}"


@contextmanager
def _connect(source: DataSource, what: str) -> Iterator[Connection]:
    try:
        engine = sa.create_engine(_url(source, what))
    except (sa.exc.ArgumentError, ImportError) as exc:
        raise DataError(f"{what}: url is not a usable SQLAlchemy URL: {exc}",
                        hint="e.g. postgresql+psycopg://user@host:5432/db") from None
    try:
        with engine.connect() as conn:
            yield conn
    except sa.exc.OperationalError as exc:
        raise DataError(f"{what}: cannot reach {masked_url(source)}: "
                        f"{str(exc.orig).strip().splitlines()[0]}",
                        hint="check the host, port, database, user and password in url "
                        "(and that the server runs)") from None
    except sa.exc.ProgrammingError as exc:
        raise DataError(f"{what}: {_label(source)}: {str(exc.orig).strip().splitlines()[0]}",
                        hint="check table/query, the timestamp column and its type (a "
                        "timestamp, not text)") from None
    finally:
        engine.dispose()


def _selectable(source: DataSource, conn: Connection, what: str) -> sa.FromClause:
    if source.query is not None:  # its columns, from a result with no rows
        query = source.query.strip().rstrip(";")
        keys = conn.execute(sa.text(f"SELECT * FROM ({query}) AS probe LIMIT 0")).keys()
        return sa.text(query).columns(*[sa.column(k) for k in keys]).subquery("src")
    schema, _, name = (source.table or "").rpartition(".")
    try:
        return sa.Table(name, sa.MetaData(), schema=schema or None, autoload_with=conn)
    except sa.exc.NoSuchTableError:
        raise DataError(f"{what}: table '{source.table}' does not exist in "
                        f"{masked_url(source)}",
                        hint="fix data.<source>.table (schema.table) or create it") from None


def _since_param(col: sa.ColumnElement[Any], since: pd.Timestamp) -> datetime:
    naive = isinstance(col.type, sa.DateTime) and not col.type.timezone
    value = since.tz_convert(None) if naive else since
    return value.to_pydatetime()


def sql_newest(source: DataSource, ts: str, what: str) -> datetime | None:
    """``max(ts)`` of the source, computed by the database."""
    with _connect(source, what) as conn:
        src = _selectable(source, conn, what)
        if ts not in src.c:
            return None  # the column check of the loaded frame says what is missing
        value = conn.execute(sa.select(sa.func.max(src.c[ts]))).scalar()
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise DataError(f"{what}: timestamp column '{ts}' of {_label(source)} holds "
                        f"{type(value).__name__}, not timestamps",
                        hint="store it as timestamp (with time zone), or cast it in query:")
    stamp = pd.Timestamp(value)
    return (stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp).to_pydatetime()


def sql_span(source: DataSource, what: str, *, ts: str | None = None,
             since: pd.Timestamp | None = None,
             columns: Collection[str] | None = None) -> pd.DataFrame:
    """Rows with ``ts > since`` (all when None), only ``columns`` (all when None)."""
    with _connect(source, what) as conn:
        src = _selectable(source, conn, what)
        cols = [c for c in src.c if columns is None or c.name in columns]
        stmt = sa.select(*cols)
        if since is not None and ts and ts in src.c:
            stmt = stmt.where(src.c[ts] > _since_param(src.c[ts], since))
        if ts and ts in src.c:
            stmt = stmt.order_by(src.c[ts])
        frame: pd.DataFrame = pd.read_sql(stmt, conn)
    return frame


def sql_identity(source: DataSource, frame: pd.DataFrame, ts: str | None) -> str:
    """What was read, by identity: where from, how many rows, and their time span."""
    span = ""
    if ts and ts in frame.columns and len(frame):
        span = f"{frame[ts].min()}..{frame[ts].max()}"
    text = f"{masked_url(source)}\0{source.table or source.query}\0{len(frame)}\0{span}"
    return hashlib.sha256(text.encode()).hexdigest()
