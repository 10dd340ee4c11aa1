"""s3:// sources through a local S3-compatible server (moto in server mode, over HTTP) with the
real clients (boto3 uploads, s3fs/pyarrow read): the same windows as the local log, pruned by
footers, and a clear error for a missing bucket or an unreachable endpoint."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

from bench.harness import free_port, running_server
from playbooks.data import WindowNeeds, hash_files, load_windows
from playbooks.errors import DataError
from playbooks.models import ModelProfile
from tests.unit.test_data_windows import DAYS, _profile, _write_log

pytestmark = pytest.mark.integration
NEEDS = WindowNeeds(timedelta(days=3), "window")


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One moto server for the module (it takes a while to start on a busy machine)."""
    pytest.importorskip("moto.server", reason="moto[server] is a test dependency")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with pytest.MonkeyPatch.context() as mp:
        for key, value in {"AWS_ENDPOINT_URL": url, "AWS_ACCESS_KEY_ID": "testing",
                           "AWS_SECRET_ACCESS_KEY": "testing",
                           "AWS_DEFAULT_REGION": "us-east-1"}.items():
            mp.setenv(key, value)
        log = tmp_path_factory.mktemp("moto") / "moto.log"
        with running_server([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p",
                             str(port)], name="moto", health_url=f"{url}/moto-api/",
                            log=log, env=dict(os.environ), timeout_s=90):
            yield url


def _upload(base: Path, bucket: str) -> None:
    import boto3

    client = boto3.client("s3")
    client.create_bucket(Bucket=bucket)
    for f in sorted((base / "log").rglob("*.parquet")):
        client.upload_file(str(f), bucket, str(f.relative_to(base)))


def _s3_profile(base: Path, url: str) -> ModelProfile:
    prof = _profile(base)
    src = prof.data.current.model_copy(update={"path": url})
    return prof.model_copy(update={"data": prof.data.model_copy(update={"current": src})})


def test_an_s3_log_gives_the_local_logs_windows(tmp_path: Path, s3_endpoint: str) -> None:
    _write_log(tmp_path)
    _upload(tmp_path, "inference")
    local = load_windows(_profile(tmp_path), needs=NEEDS)
    remote = load_windows(_s3_profile(tmp_path, "s3://inference/log/**/*.parquet"), needs=NEEDS)
    pd.testing.assert_frame_equal(remote.current, local.current)
    assert remote.now == local.now
    assert [sf.rows for sf in remote.log_files] == [sf.rows for sf in local.log_files]
    assert sum(1 for sf in remote.log_files if sf.rows == 0) == DAYS - 3  # pruned by footers
    files = remote.refs["current"].files
    assert len(files) == 3 and all(f.startswith("s3://inference/log/date=") for f in files)
    assert hash_files(files) == remote.refs["current"].sha256  # ETag identity, stable


def test_bad_s3_sources_say_what_to_fix(tmp_path: Path, s3_endpoint: str,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    _write_log(tmp_path)
    _upload(tmp_path, "inference2")
    with pytest.raises(DataError, match="no objects match 's3://inference2/nothing/"):
        load_windows(_s3_profile(tmp_path, "s3://inference2/nothing/*.parquet"), needs=NEEDS)
    with pytest.raises(DataError, match="s3://no-such-bucket"):
        load_windows(_s3_profile(tmp_path, "s3://no-such-bucket/log/*.parquet"), needs=NEEDS)
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    with pytest.raises(DataError, match="AWS_ENDPOINT_URL"):
        load_windows(_s3_profile(tmp_path, "s3://inference2/log/**/*.parquet"), needs=NEEDS)
