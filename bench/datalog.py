"""A generated hive-partitioned inference log (``date=YYYY-MM-DD/part-0.parquet``) and the
profile that points at it, for the end-to-end benchmark. Generated once per shape under a
cache dir (a ``done.json`` marker records the shape); the last ``drift_days`` carry a planted
population shift on a few features so data-drift has something to find."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["LogShape", "ensure_log", "write_profile"]

Progress = Callable[[str], None]
END = datetime(2026, 6, 1, tzinfo=UTC)  # fixed: the same shape always gives the same files
CATEGORIES = ("north", "south", "east", "west", "online", "branch")


@dataclass(frozen=True)
class LogShape:
    days: int
    rows_per_day: int = 200_000
    features: int = 24  # the last 4 are categorical
    drift_days: int = 7
    seed: int = 0

    @property
    def numeric(self) -> list[str]:
        return [f"f{i:02d}" for i in range(self.features - 4)]

    @property
    def categorical(self) -> list[str]:
        return [f"c{i}" for i in range(4)]

    @property
    def name(self) -> str:
        return f"log-{self.days}d-{self.rows_per_day}r-{self.features}f-s{self.seed}"


def _day_table(shape: LogShape, day: datetime, rng: np.random.Generator, *,
               drifted: bool) -> pa.Table:
    n = shape.rows_per_day
    secs = np.sort(rng.integers(0, 86_400_000_000, n))  # microseconds into the day
    ts = np.datetime64(day.replace(tzinfo=None), "us") + secs.astype("timedelta64[us]")
    cols: dict[str, pa.Array] = {
        "ts": pa.array(ts, type=pa.timestamp("us", tz="UTC")),
        "request_id": pa.array(np.arange(n, dtype=np.int64) + int(day.timestamp()) * 1_000_000),
    }
    for i, name in enumerate(shape.numeric):
        shift = 0.6 if drifted and i < 3 else 0.0
        cols[name] = pa.array(rng.normal(shift + i * 0.1, 1.0 + 0.05 * i, n))
    for i, name in enumerate(shape.categorical):
        weights = np.linspace(1.0, 2.0 + i, len(CATEGORIES))
        codes = rng.choice(len(CATEGORIES), n, p=weights / weights.sum())
        cols[name] = pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32)),
                                                    pa.array(CATEGORIES))
    cols["score"] = pa.array(rng.random(n))
    return pa.table(cols)


def ensure_log(shape: LogShape, cache: Path, progress: Progress) -> Path:
    """The log's root dir (``<cache>/<shape.name>``), generated unless already complete."""
    root = cache / shape.name
    marker = root / "done.json"
    if marker.exists() and json.loads(marker.read_text()) == asdict(shape):
        progress(f"using cached log {root}")
        return root
    rng = np.random.default_rng(shape.seed)
    ref_dir = root / "reference"
    ref_dir.mkdir(parents=True, exist_ok=True)
    first = END - timedelta(days=shape.days)
    pq.write_table(_day_table(shape, first - timedelta(days=30), rng, drifted=False),
                   ref_dir / "reference.parquet")
    for k in range(shape.days):
        day = first + timedelta(days=k)
        part = root / "log" / f"date={day:%Y-%m-%d}"
        part.mkdir(parents=True, exist_ok=True)
        table = _day_table(shape, day, rng, drifted=k >= shape.days - shape.drift_days)
        pq.write_table(table, part / "part-0.parquet", row_group_size=50_000)
        if (k + 1) % 10 == 0 or k + 1 == shape.days:
            progress(f"generating {shape.name}: {k + 1}/{shape.days} days")
    marker.write_text(json.dumps(asdict(shape)))
    return root


def write_profile(shape: LogShape, root: Path, *, window: str = "7d",
                  current: str | None = None) -> Path:
    """A profile (no model: the run diagnoses and recommends) over the generated log;
    ``current`` replaces the log's path (an ``s3://`` URL, say)."""
    import yaml

    profile = {
        "name": "bench-log",
        "data": {
            "timestamp": "ts",
            "id": "request_id",
            "reference": {"path": "reference/reference.parquet"},
            "current": {"path": current or "log/**/*.parquet", "window": window},
        },
        "features": {"numeric": shape.numeric, "categorical": shape.categorical},
        "prediction": {"score": "score"},
    }
    path = root / f"profile-{window}.yaml"
    path.write_text(yaml.safe_dump(profile, sort_keys=False))
    return path
