"""Shared test set-up: a private state dir and Prefect home; ledger URLs for both backends."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.harness import scratch_schema

# Before anything imports Prefect: a private home and no analytics (DESIGN.md §7).
_SESSION_TMP = Path(os.environ.get("MLPB_TEST_TMP", "/tmp")) / f"mlpb-tests-{os.getpid()}"
os.environ.setdefault("PREFECT_HOME", str(_SESSION_TMP / "prefect"))
Path(os.environ["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.pop("MLPB_LEDGER_URL", None)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh state dir (MLPB_HOME) per test."""
    h = tmp_path / "mlpb-home"
    monkeypatch.setenv("MLPB_HOME", str(h))
    return h


def _postgres_url() -> str | None:
    return os.environ.get("MLPB_TEST_POSTGRES_URL")


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A PostgreSQL URL bound to a fresh schema, dropped afterwards."""
    url = _postgres_url()
    if not url:
        pytest.skip("MLPB_TEST_POSTGRES_URL is not set (.ci/run sets it; PostgreSQL runs there)")
    with scratch_schema(url, "mlpb_test") as bound:
        yield bound


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    return str(request.getfixturevalue("postgres_url"))
