"""CLI commands find the Prefect server `make serve` records in the state dir, and only
believe the record while its process lives and its health endpoint answers."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from cli.env import prepare_prefect_env
from deployments.server_record import (
    RECORD_NAME,
    live_server_url,
    read_record,
    remove_record,
    write_record,
)
from playbooks.config import load_settings

_PREFECT_VARS = ("PREFECT_API_URL", "PREFECT_HOME", "PREFECT_LOGGING_LEVEL")


class _Health(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        code = self.status if self.path == "/api/health" else 404
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"true")

    def log_message(self, *_: object) -> None:  # keep test output clean
        pass


def _serve(status: int) -> Iterator[str]:
    handler = type("Handler", (_Health,), {"status": status})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02},
                              daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def healthy() -> Iterator[str]:
    """The API URL of a real local HTTP server whose /api/health answers 200."""
    yield from _serve(200)


@pytest.fixture
def failing() -> Iterator[str]:
    yield from _serve(503)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No Prefect variables, and whatever the test sets is undone afterwards."""
    for name in _PREFECT_VARS:
        monkeypatch.setenv(name, "")  # remembers the original value (or its absence)...
        monkeypatch.delenv(name)  # ...so the code under test may set it freely


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_live_recorded_server_is_found(tmp_path: Path, healthy: str) -> None:
    write_record(tmp_path, healthy, os.getpid())
    assert live_server_url(tmp_path) == healthy


def test_no_record_is_no_server(tmp_path: Path) -> None:
    assert read_record(tmp_path) is None
    assert live_server_url(tmp_path) is None


@pytest.mark.parametrize("text", ["", "{", "[]", '{"url": "http://x/api"}',
                                  '{"url": 1, "pid": 2}', '{"url": "http://x/api", "pid": true}'],
                         ids=["empty", "truncated", "list", "no-pid", "url-not-str", "pid-bool"])
def test_a_malformed_record_is_ignored(tmp_path: Path, text: str) -> None:
    (tmp_path / RECORD_NAME).write_text(text)
    assert read_record(tmp_path) is None
    assert live_server_url(tmp_path) is None


def test_a_record_whose_process_died_is_ignored(tmp_path: Path, healthy: str) -> None:
    # Even though something answers at the URL: the recorded server is gone.
    write_record(tmp_path, healthy, _dead_pid())
    assert read_record(tmp_path) is not None
    assert live_server_url(tmp_path) is None


def test_a_record_whose_server_does_not_answer_is_ignored(tmp_path: Path, failing: str) -> None:
    write_record(tmp_path, failing, os.getpid())
    assert live_server_url(tmp_path) is None
    write_record(tmp_path, "http://127.0.0.1:9/api", os.getpid())  # nothing listens there
    assert live_server_url(tmp_path, timeout=0.5) is None


def test_remove_record_only_removes_its_own(tmp_path: Path) -> None:
    path = write_record(tmp_path, "http://127.0.0.1:4200/api", 1234)
    remove_record(tmp_path, 999)  # a newer stack wrote it: not ours to remove
    assert read_record(tmp_path) is not None
    remove_record(tmp_path, 1234)
    assert not path.exists()
    remove_record(tmp_path, 1234)  # already gone: no error


def test_prepare_prefect_env_uses_the_live_server(tmp_path: Path, healthy: str,
                                                  clean_env: None) -> None:
    settings = load_settings(tmp_path).ensure()
    write_record(settings.home, healthy, os.getpid())
    assert prepare_prefect_env(settings) == healthy
    assert os.environ["PREFECT_API_URL"] == healthy
    assert os.environ["PREFECT_HOME"] == str(settings.home / "prefect")


def test_prepare_prefect_env_falls_back_to_embedded_on_a_stale_record(
        tmp_path: Path, healthy: str, clean_env: None) -> None:
    settings = load_settings(tmp_path).ensure()
    write_record(settings.home, healthy, _dead_pid())
    assert prepare_prefect_env(settings) is None
    assert "PREFECT_API_URL" not in os.environ
    assert os.environ["PREFECT_HOME"] == str(settings.home / "prefect")


def test_a_user_set_api_url_wins_over_the_record(tmp_path: Path, healthy: str,
                                                 clean_env: None,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings(tmp_path).ensure()
    write_record(settings.home, healthy, os.getpid())
    monkeypatch.setenv("PREFECT_API_URL", "http://prefect.example:4200/api")
    assert prepare_prefect_env(settings) is None
    assert os.environ["PREFECT_API_URL"] == "http://prefect.example:4200/api"
    assert "PREFECT_HOME" not in os.environ  # the user's Prefect configuration is theirs
