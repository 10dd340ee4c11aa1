"""SQL sources on the machine's PostgreSQL: the window is pushed into the query and gives the
same frames as the parquet log it was loaded from; bad sources say what to fix."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from playbooks.data import WindowNeeds, load_windows
from playbooks.errors import DataError
from playbooks.models import ModelProfile
from tests.unit.test_data_windows import _profile, _write_log

pytestmark = pytest.mark.integration
NEEDS = WindowNeeds(timedelta(days=3), "window")


def _load_table(url: str, files: list[Path], name: str = "inference_log") -> None:
    frame = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        frame.to_sql(name, conn, index=False)
    engine.dispose()


def _sql_profile(base: Path, url: str, **current: object) -> ModelProfile:
    prof = _profile(base)
    src = prof.data.current.model_copy(update={"path": "", "url": url, **current})
    return prof.model_copy(update={"data": prof.data.model_copy(update={"current": src})})


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    cols = sorted(frame.columns)
    return frame[cols].sort_values("request_id").reset_index(drop=True)


def test_a_table_gives_the_parquet_logs_windows(tmp_path: Path, postgres_url: str) -> None:
    files = _write_log(tmp_path)
    _load_table(postgres_url, files)
    parquet = load_windows(_profile(tmp_path), needs=NEEDS)
    sql = load_windows(_sql_profile(tmp_path, postgres_url, table="inference_log"), needs=NEEDS)
    assert sql.now == parquet.now
    pd.testing.assert_frame_equal(_sorted(sql.current), _sorted(parquet.current),
                                  check_dtype=False, check_categorical=False)
    assert len(sql.log) == len(parquet.log)  # WHERE ts > since: the database pruned
    (where,) = sql.refs["current"].files
    assert where.endswith("inference_log") and "postgres" in where
    assert sql.refs["current"].sha256 == load_windows(
        _sql_profile(tmp_path, postgres_url, table="inference_log"), needs=NEEDS
    ).refs["current"].sha256


def test_a_query_source_is_windowed_as_a_subquery(tmp_path: Path, postgres_url: str) -> None:
    _load_table(postgres_url, _write_log(tmp_path))
    prof = _sql_profile(tmp_path, postgres_url,
                        query="SELECT * FROM inference_log WHERE colour = 'red'")
    data = load_windows(prof, needs=NEEDS)
    assert len(data.current) and set(data.current["colour"]) == {"red"}
    assert data.log["ts"].min() > pd.Timestamp(data.now) - timedelta(days=3)


def test_bad_sql_sources_name_the_problem(tmp_path: Path, postgres_url: str) -> None:
    _write_log(tmp_path)
    with pytest.raises(DataError, match="table 'nowhere' does not exist"):
        load_windows(_sql_profile(tmp_path, postgres_url, table="nowhere"), needs=NEEDS)
    dead = "postgresql+psycopg://postgres:secret@127.0.0.1:1/test"
    with pytest.raises(DataError, match="cannot reach") as exc:
        load_windows(_sql_profile(tmp_path, dead, table="t"), needs=NEEDS)
    assert "secret" not in str(exc.value) and "***" in str(exc.value)
    with pytest.raises(DataError, match=r"\$\{MLPB_NO_SUCH_VAR\}"):
        load_windows(_sql_profile(tmp_path, "postgresql+psycopg://${MLPB_NO_SUCH_VAR}@h/d",
                                  table="t"), needs=NEEDS)
    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:
        pd.DataFrame({"ts": ["yesterday"], "x": [1.0], "y": [1.0], "colour": ["red"],
                      "request_id": [1]}).to_sql("texty", conn, index=False)
    engine.dispose()
    with pytest.raises(DataError, match="timestamp column 'ts'"):
        load_windows(_sql_profile(tmp_path, postgres_url, table="texty"), needs=NEEDS)


def test_profile_rejects_a_source_that_is_both_or_neither() -> None:
    base = {"name": "m", "features": {"numeric": ["x"]},
            "data": {"reference": {"path": "r.csv"}}}
    for current, problem in (({"path": "a", "table": "t", "url": "sqlite://"}, "not both"),
                             ({"table": "t"}, "need url"), ({}, "give path"),
                             ({"path": "a", "url": "sqlite://"}, "url is for SQL")):
        with pytest.raises(ValueError, match=problem):
            ModelProfile.model_validate({**base, "data": {**base["data"], "current": current}})
