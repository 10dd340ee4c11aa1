"""`data-drift` runs unchanged on the same log from a local path, an s3:// URL (moto in server
mode over HTTP) and a PostgreSQL table: same status, same verdicts, same drifted features."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

from flows.engine import run_playbook
from tests.integration.test_s3_source import _upload, s3_endpoint
from tests.integration.test_sql_source import _load_table
from tests.unit.test_data_windows import DAYS, _table, _write_log

pytestmark = [pytest.mark.flows, pytest.mark.integration]
__all__ = ["s3_endpoint"]  # the module-scoped moto server fixture, shared


@pytest.fixture
def drifted_log(tmp_path: Path) -> Iterator[Path]:
    """The unit tests' 12-day log, with x shifted by 1.5 sd in the last 3 days."""
    files = _write_log(tmp_path)
    for f in files[DAYS - 3:]:
        frame = pd.read_parquet(f)
        frame["x"] = frame["x"] + 1.5
        pq.write_table(_table(frame), f)
    yield tmp_path


def _profile(base: Path, current: dict[str, Any]) -> str:
    path = base / f"profile-{len(list(base.glob('profile-*')))}.yaml"
    path.write_text(yaml.safe_dump({
        "name": "m", "data": {"timestamp": "ts", "id": "request_id",
                              "reference": {"path": str(base / "ref.parquet")},
                              "current": {**current, "window": "3d"}},
        "features": {"numeric": ["x", "y"], "categorical": ["colour"]}}))
    return str(path)


def _outcome(result: dict[str, Any]) -> tuple[Any, ...]:
    return (result["status"], [(h["id"], h["verdict"]) for h in result["hypotheses"]],
            sorted({f.get("feature") for h in result["hypotheses"] for f in h["findings"]
                    if f.get("breached")} - {None}))


def test_data_drift_is_the_same_from_a_path_s3_and_postgres(
        drifted_log: Path, s3_endpoint: str, postgres_url: str, home: Path) -> None:
    _upload(drifted_log, "drift-log")
    _load_table(postgres_url, sorted((drifted_log / "log").rglob("*.parquet")))
    local = run_playbook("data-drift", _profile(drifted_log, {"path": "log/**/*.parquet"}),
                         dry_run=True, quiet=True)
    s3_url = "s3://drift-log/log/**/*.parquet"
    s3 = run_playbook("data-drift", _profile(drifted_log, {"path": s3_url}), dry_run=True,
                      quiet=True)
    sql = run_playbook("data-drift", _profile(drifted_log, {"table": "inference_log",
                                                            "url": postgres_url}),
                       dry_run=True, quiet=True)
    assert "x" in _outcome(local)[2]  # the planted shift is found ...
    assert _outcome(s3) == _outcome(local) == _outcome(sql)  # ... the same way from each
