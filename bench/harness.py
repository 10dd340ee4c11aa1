"""Real local servers and scratch databases, shared by the benchmarks and the integration tests:
a free loopback port, a server subprocess that is up (healthy over HTTP) while in use, and a
fresh PostgreSQL schema dropped afterwards."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["free_port", "running_server", "scratch_schema"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def running_server(cmd: Sequence[str], *, name: str, health_url: str, log: Path,
                   env: Mapping[str, str], timeout_s: float, poll_s: float = 0.1,
                   **popen: Any) -> Iterator[subprocess.Popen[bytes]]:
    """``cmd`` running (output to ``log``) until ``health_url`` answers 200, then stopped on
    exit. RuntimeError with the log when it exits first, or when it is not up in time."""
    import httpx

    with log.open("wb") as out:
        proc = subprocess.Popen(list(cmd), env=dict(env), stdout=out, stderr=subprocess.STDOUT,
                                **popen)
        try:
            deadline = time.monotonic() + timeout_s
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited: {log.read_text()}")
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(health_url, timeout=2).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{name} did not start in {timeout_s:g} s")
                time.sleep(poll_s)
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextlib.contextmanager
def scratch_schema(url: str, prefix: str) -> Iterator[str]:
    """``url`` (PostgreSQL) bound to a fresh schema named ``prefix_<random>``, dropped after."""
    import sqlalchemy as sa

    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
