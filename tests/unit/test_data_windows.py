"""Windowed reads: only the span a run needs is read (files before it are pruned by their
footers and never opened past them), only the profile's columns, the same current window as
a whole-log read, and cheap identity hashes that still notice a rewrite."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from playbooks.data import WindowNeeds, hand_off_loads, hash_files, load_windows, needs_for
from playbooks.errors import DataError
from playbooks.loader import CATALOG_DIR, load_spec
from playbooks.models import ModelProfile

END = datetime(2026, 3, 1, tzinfo=UTC)
DAYS, ROWS = 12, 240


def _day(k: int, rng: np.random.Generator, *, naive: bool = False) -> pd.DataFrame:
    start = END - timedelta(days=DAYS - k)
    ts = pd.date_range(start, periods=ROWS, freq=timedelta(days=1) / ROWS)
    return pd.DataFrame({
        "ts": ts.tz_convert(None) if naive else ts,
        "request_id": np.arange(ROWS) + k * ROWS,
        "x": rng.normal(size=ROWS), "y": rng.normal(size=ROWS),
        "colour": rng.choice(["red", "blue"], ROWS),
        "unused_blob": ["payload"] * ROWS,  # not in the profile: a strict load skips it
    })


def _table(frame: pd.DataFrame) -> pa.Table:
    """Arrow straight from numpy (pyarrow's pandas path warns on tz-aware columns)."""
    cols = {}
    for name in frame.columns:
        col = frame[name]
        if isinstance(col.dtype, pd.DatetimeTZDtype):
            cols[name] = pa.array(col.dt.tz_convert(None).to_numpy(), pa.timestamp("us", "UTC"))
        else:
            cols[name] = pa.array(col.to_numpy())
    return pa.table(cols)


def _write_log(base: Path, *, naive: bool = False, compression: str = "snappy") -> list[Path]:
    rng = np.random.default_rng(0)
    _day(0, rng).drop(columns=["ts"]).to_parquet(base / "ref.parquet")
    paths = []
    for k in range(DAYS):
        day = END - timedelta(days=DAYS - k)
        part = base / "log" / f"date={day:%Y-%m-%d}"
        part.mkdir(parents=True)
        path = part / "part-0.parquet"
        pq.write_table(_table(_day(k, rng, naive=naive)), path, compression=compression)
        paths.append(path)
    return paths


def _profile(base: Path, window: str | None = "3d", **data: object) -> ModelProfile:
    current: dict[str, object] = {"path": "log/**/*.parquet"}
    if window:
        current["window"] = window
    return ModelProfile.model_validate({
        "name": "m", "data": {"timestamp": "ts", "id": "request_id",
                              "reference": {"path": "ref.parquet"}, "current": current, **data},
        "features": {"numeric": ["x", "y"], "categorical": ["colour"]},
    }).model_copy(update={"base_dir": base})


def _corrupt_data_pages(path: Path) -> None:
    """Overwrite the column data after the leading magic, keeping the footer intact: any
    read of the rows fails, reading the footer still works."""
    size = path.stat().st_size
    footer_len = int.from_bytes(path.read_bytes()[-8:-4], "little")
    with path.open("r+b") as fh:
        fh.seek(4)
        fh.write(b"\xff" * (size - 8 - footer_len - 4))


def test_window_only_reads_skip_older_files_and_match_a_whole_log_read(tmp_path: Path) -> None:
    paths = _write_log(tmp_path, compression="none")
    prof = _profile(tmp_path)
    whole = load_windows(prof, needs=WindowNeeds(None, "whole log"))
    for old in paths[:DAYS - 3]:  # days that end before the 3-day window
        _corrupt_data_pages(old)
    data = load_windows(prof, needs=WindowNeeds(timedelta(days=3), "window"))
    pd.testing.assert_frame_equal(data.current, whole.current)
    assert data.now == whole.now and len(whole.log) == DAYS * ROWS
    assert data.log["ts"].min() > pd.Timestamp(data.now) - timedelta(days=3)
    # Pruned files are still listed (0 rows) with their schema: the feed's earlier columns.
    assert [sf.rows for sf in data.log_files[:DAYS - 3]] == [0] * (DAYS - 3)
    assert sum(sf.rows for sf in data.log_files) == len(data.log)
    assert "x" in data.log_files[0].dtypes
    assert data.refs["current"].files == [str(p) for p in paths[DAYS - 3:]]
    assert data.refs["current"].rows == len(data.current)
    with pytest.raises(DataError, match="cannot read as parquet"):
        load_windows(prof, needs=WindowNeeds(None, "whole log"))  # the corruption is real


def test_strict_reads_take_only_the_profile_columns_lenient_reads_all(tmp_path: Path) -> None:
    _write_log(tmp_path)
    prof = _profile(tmp_path)
    strict = load_windows(prof)
    assert set(strict.log.columns) == {"ts", "request_id", "x", "y", "colour"}
    assert "unused_blob" in load_windows(prof, lenient=True).log.columns


def test_default_needs_read_a_bounded_history(tmp_path: Path) -> None:
    _write_log(tmp_path)
    data = load_windows(_profile(tmp_path, window="1h"))  # default: max(8 windows, 56 days)
    assert len(data.log) == DAYS * ROWS  # 12 days < 56: all of it
    whole = load_windows(_profile(tmp_path, window=None))
    assert len(whole.current) == len(whole.log) == DAYS * ROWS


def test_naive_timestamps_are_utc_and_prune_the_same(tmp_path: Path) -> None:
    _write_log(tmp_path, naive=True)
    data = load_windows(_profile(tmp_path), needs=WindowNeeds(timedelta(days=3), "window"))
    assert str(data.log["ts"].dt.tz) == "UTC"
    assert data.now == END - timedelta(days=1) / ROWS
    assert sum(1 for sf in data.log_files if sf.rows == 0) == DAYS - 3


def test_string_timestamps_fall_back_to_reading_the_column(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    (tmp_path / "log").mkdir()
    _day(0, rng).drop(columns=["ts"]).to_parquet(tmp_path / "ref.parquet")
    for k in range(4):
        frame = _day(k + DAYS - 4, rng)
        frame["ts"] = frame["ts"].dt.strftime("%Y-%m-%dT%H:%M:%S%z")
        pq.write_table(_table(frame), tmp_path / "log" / f"{k}.parquet")
    data = load_windows(_profile(tmp_path, window="1d"),
                        needs=WindowNeeds(timedelta(days=1), "window"))
    assert len(data.current) == ROWS and str(data.current["ts"].dt.tz) == "UTC"


def test_a_feature_whose_type_differs_between_partitions_is_named(tmp_path: Path) -> None:
    paths = _write_log(tmp_path)
    frame = pd.read_parquet(paths[-1])
    frame["x"] = "n/a"
    pq.write_table(_table(frame), paths[-1])
    with pytest.raises(DataError, match="numeric feature 'x'"):
        load_windows(_profile(tmp_path))


def test_identity_hash_is_stable_and_notices_a_rewrite(tmp_path: Path) -> None:
    paths = _write_log(tmp_path)
    first = hash_files(paths)
    assert hash_files(paths) == first
    frame = pd.read_parquet(paths[3])
    frame["x"] = frame["x"] + 1.0  # same shape, same size class: new statistics in the footer
    stat = paths[3].stat()
    pq.write_table(_table(frame), paths[3])
    os.utime(paths[3], ns=(stat.st_atime_ns, stat.st_mtime_ns))  # even with the old mtime
    assert hash_files(paths) != first
    csv = tmp_path / "a.csv"
    csv.write_text("a,b\n1,2\n")
    before = hash_files([csv])
    csv.write_text("a,b\n1,3\n")
    assert hash_files([csv]) != before


def test_needs_follow_the_playbook_and_the_profile(tmp_path: Path) -> None:
    drift = load_spec(CATALOG_DIR / "data-drift.yaml")
    bare = _profile(tmp_path, window="7d")
    assert needs_for(drift, bare).history == timedelta(days=7)
    with_model = bare.model_copy(update={"model": ModelProfileModel.model})
    assert needs_for(drift, with_model).history == timedelta(days=56)
    labelled = _profile(tmp_path, window="7d", labels={"path": "l.csv", "column": "y"})
    assert needs_for(drift, labelled).history == timedelta(days=56)  # label-metrics baseline
    freshness = load_spec(CATALOG_DIR / "data-freshness.yaml")
    assert needs_for(freshness, bare).history == timedelta(days=56)
    assert needs_for(drift, _profile(tmp_path, window=None)).history is None


class ModelProfileModel:
    model = ModelProfile.model_validate({
        "name": "m", "data": {"reference": {"path": "r"}, "current": {"path": "c"}},
        "features": {"numeric": ["x"]}, "model": {"registry_name": "m"}}).model


def test_a_load_is_handed_to_the_next_identical_load_once(tmp_path: Path) -> None:
    paths = _write_log(tmp_path)
    prof = _profile(tmp_path)
    with hand_off_loads():
        first = load_windows(prof)
    assert load_windows(prof) is first  # the flow gets what the CLI validated
    assert load_windows(prof) is not first  # once: later loads read afresh
    with hand_off_loads():
        kept = load_windows(prof)
    pq.write_table(_table(_day(DAYS - 1, np.random.default_rng(9))), paths[-1])
    assert load_windows(prof) is not kept  # a file changed: read again
