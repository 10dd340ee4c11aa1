"""Slow and greedy clients against the receiver on real sockets: header and body read
timeouts, idle connections, auth before the body, the concurrency cap. Every wait is on the
socket (the server closing it), never a sleep; the trickling client paces itself by waiting
for that close with a short select timeout."""

from __future__ import annotations

import contextlib
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from deployments.receiver import ReceiverConfig, create_app
from playbooks.notify import ConsoleNotifier
from tests.integration._receiver_support import (
    TOKEN,
    ReceiverServer,
    am_payload,
    auth,
    body,
    credentials,
    signed,
    write_routes,
)

pytestmark = pytest.mark.integration
TIMEOUT = 1.0  # the header and the body read timeouts of these tests


@contextlib.contextmanager
def _serve(root: Path, **config: Any) -> Iterator[tuple[ReceiverServer, Any]]:
    app = create_app(ReceiverConfig(
        ledger_url=f"sqlite:///{root / 'ledger.db'}", home=root, rules=write_routes(root),
        credentials=credentials(), dispatch=False, notifier=ConsoleNotifier(quiet=True),
        **{"header_timeout": TIMEOUT, "body_timeout": TIMEOUT, **config}))
    with ReceiverServer(app) as srv:
        yield srv, app


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[ReceiverServer, Any]]:
    with _serve(tmp_path) as running:
        yield running


def _connect(srv: ReceiverServer) -> socket.socket:
    return socket.create_connection(("127.0.0.1", srv.port), timeout=10)


def _closed_after(sock: socket.socket, trickle: bytes = b"", limit: float = 10.0) -> float:
    """Seconds until the server closes ``sock`` (reading whatever it answers first), while
    sending ``trickle`` one byte per 0.1 s. AssertionError if still open after ``limit``."""
    start = time.monotonic()
    pending = bytearray(trickle)
    while time.monotonic() - start < limit:
        readable, _, _ = select.select([sock], [], [], 0.1)
        if readable:
            try:
                if not sock.recv(65536):
                    return time.monotonic() - start
            except ConnectionResetError:
                return time.monotonic() - start
            continue
        if pending:
            with contextlib.suppress(OSError):
                sock.sendall(bytes(pending[:1]))
            del pending[:1]
    raise AssertionError(f"connection still open after {limit} s")


def _head(path: str, length: int, **headers: str) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: x", f"Content-Length: {length}",
             "Content-Type: application/json", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_a_slow_body_is_cut_off_within_the_body_timeout(
        server: tuple[ReceiverServer, Any]) -> None:
    srv, app = server
    with _connect(srv) as sock:
        sock.sendall(_head("/alerts/alertmanager", 1000, Authorization=f"Bearer {TOKEN}"))
        took = _closed_after(sock, trickle=b"x" * 1000)  # 1 byte / 0.1 s: 100 s to finish
    assert TIMEOUT * 0.9 <= took < TIMEOUT + 1.0, took
    assert app.state.metrics.value("mlpb_receiver_cutoffs_total", phase="body") == 1
    assert app.state.store.ledger.list() == []


@pytest.mark.parametrize("sent", [b"", b"POST /alerts/generic HTTP/1.1\r\nHost: x\r\n"])
def test_idle_and_slow_header_connections_are_closed(server: tuple[ReceiverServer, Any],
                                                     sent: bytes) -> None:
    srv, app = server
    with _connect(srv) as sock:
        sock.sendall(sent)
        took = _closed_after(sock, trickle=b"X-Slow: " + b"a" * 200)
    assert TIMEOUT * 0.9 <= took < TIMEOUT + 1.0, took
    assert app.state.metrics.value("mlpb_receiver_cutoffs_total", phase="header") == 1


def test_many_half_sent_bodies_are_all_cut_and_the_receiver_keeps_answering(
        server: tuple[ReceiverServer, Any]) -> None:
    srv, app = server
    socks = [_connect(srv) for _ in range(30)]
    try:
        for s in socks:
            s.sendall(_head("/alerts/generic", 500, Authorization=f"Bearer {TOKEN}") + b'{"mo')
        r = httpx.post(f"{srv.url}/alerts/alertmanager", content=body(am_payload()),
                       headers=auth(), timeout=10)
        assert r.status_code == 202  # not starved while they hang
        took = [_closed_after(s) for s in socks]
    finally:
        for s in socks:
            s.close()
    assert max(took) < TIMEOUT + 1.0
    assert app.state.metrics.value("mlpb_receiver_cutoffs_total", phase="body") == 30


def test_bad_credentials_are_refused_before_the_body_is_read(
        server: tuple[ReceiverServer, Any]) -> None:
    srv, _ = server
    _, headers = signed(am_payload(), at=time.time() - 3600)  # stale: refused unread
    cases = [{"Authorization": "Bearer wrong"}, {},
             {k: v for k, v in headers.items() if k != "Content-Type"}]
    for extra in cases:
        with _connect(srv) as sock:
            sock.sendall(_head("/alerts/alertmanager", 100_000, **extra))  # no body follows
            sock.settimeout(TIMEOUT / 2)  # the answer comes before any body timeout
            answer = sock.recv(65536)
        assert answer.startswith(b"HTTP/1.1 401"), (extra, answer[:200])


def test_beyond_the_concurrency_cap_the_answer_is_503_then_service_resumes(
        tmp_path: Path) -> None:
    with _serve(tmp_path, limit_concurrency=40, body_timeout=60) as (srv, _):
        _over_the_cap(srv)


def _over_the_cap(srv: ReceiverServer) -> None:
    idle = [_connect(srv) for _ in range(39)]  # uvicorn counts the newcomer: 39 + 1 = the cap
    try:
        for s in idle:  # requests whose handler waits for a body that never comes
            s.sendall(_head("/alerts/generic", 10, Authorization=f"Bearer {TOKEN}",
                            Expect="100-continue"))
        for s in idle:  # "100 Continue": the server holds this request (the event to wait on)
            s.settimeout(10)
            assert s.recv(65536).startswith(b"HTTP/1.1 100")
        with _connect(srv) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            sock.settimeout(5)
            assert sock.recv(65536).startswith(b"HTTP/1.1 503")
    finally:
        for s in idle:
            s.close()
    deadline = time.monotonic() + 10
    while True:  # the closes reach the server asynchronously; each attempt is a request
        r = httpx.get(f"{srv.url}/healthz", timeout=5)
        if r.status_code == 200 or time.monotonic() > deadline:
            break
    assert r.status_code == 200
