"""A local PagerDuty Events API v2 stand-in over real HTTP (stdlib server in a thread,
127.0.0.1 only).

``POST /v2/enqueue`` answers as PagerDuty documents
(https://developer.pagerduty.com/docs/events-api-v2/trigger-events/): 202
``{"status": "success", "message": "Event processed", "dedup_key": ...}``; 400
``{"status": "invalid event", "message": "Event object is invalid", "errors": [...]}`` for a
malformed event (routing key not 32 characters, unknown ``event_action``, a trigger without
``payload.summary``/``source``/a valid ``severity``, dedup_key over 255); 429 when told to
(``fail_next``), or 500. It records every request and can go down (connection refused)."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["FakePagerDuty", "PdRequest"]

_SEVERITIES = {"critical", "error", "warning", "info"}


@dataclass(frozen=True)
class PdRequest:
    path: str
    body: dict[str, Any]
    status: int


@dataclass
class _State:
    requests: list[PdRequest] = field(default_factory=list)
    failures: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _problems(event: dict[str, Any]) -> list[str]:
    errors = []
    if len(str(event.get("routing_key") or "")) != 32:
        errors.append("Length of 'routing_key' is incorrect (should be 32 characters)")
    action = event.get("event_action")
    if action not in ("trigger", "acknowledge", "resolve"):
        errors.append("'event_action' is invalid (must be one of the following: 'trigger', "
                      "'acknowledge' or 'resolve')")
    if len(str(event.get("dedup_key") or "")) > 255:
        errors.append("'dedup_key' is too long (must be at most 255 characters)")
    if action in ("acknowledge", "resolve") and not event.get("dedup_key"):
        errors.append("'dedup_key' is missing or blank")
    if action == "trigger":
        payload = event.get("payload")
        if not isinstance(payload, dict):
            errors.append("'payload' is missing or blank")
        else:
            for key in ("summary", "source"):
                if not str(payload.get(key) or "").strip():
                    errors.append(f"'payload.{key}' is missing or blank")
            if payload.get("severity") not in _SEVERITIES:
                errors.append("'payload.severity' is invalid (must be one of the following: "
                              "'critical', 'warning', 'error' or 'info')")
    return errors


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        st = self.server.state
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = None
        resp: dict[str, Any]
        with st.lock:
            failure = st.failures.pop(0) if st.failures else None
            if self.path != "/v2/enqueue":
                status, resp = 404, {"status": "not found"}
            elif failure is not None:
                status, resp = failure, ({"status": "throttle event", "message": "Requests for "
                                          "this service are arriving too quickly."}
                                         if failure == 429 else {"status": "server error"})
            elif not isinstance(body, dict):
                status, resp = 400, {"status": "invalid event", "message": "Event object is "
                                     "invalid", "errors": ["Malformed JSON"]}
            elif errors := _problems(body):
                status, resp = 400, {"status": "invalid event",
                                     "message": "Event object is invalid", "errors": errors}
            else:
                status, resp = 202, {"status": "success", "message": "Event processed",
                                     "dedup_key": body.get("dedup_key") or "generated"}
            st.requests.append(PdRequest(self.path, body if isinstance(body, dict) else {},
                                         status))
        data = json.dumps(resp).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int, state: _State) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.state = state


class FakePagerDuty:
    """``with FakePagerDuty() as pd: PagerDutySettings(routing_key=..., url=pd.url)``."""

    routing_key = "R0UT1NGKEY0123456789ABCDEFGHIJKL"  # 32 characters, as PagerDuty's are

    def __init__(self, port: int = 0) -> None:
        self._state = _State()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.port = port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakePagerDuty:
        self._server = _Server(self.port, self._state)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Go down: connections are refused until ``start()`` (same port) again."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakePagerDuty:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def fail_next(self, n: int = 1, *, status: int = 429) -> None:
        with self._state.lock:
            self._state.failures += [status] * n

    @property
    def requests(self) -> list[PdRequest]:
        with self._state.lock:
            return list(self._state.requests)

    def accepted(self) -> list[dict[str, Any]]:
        """The events PagerDuty took (202), in arrival order."""
        return [r.body for r in self.requests if r.status == 202]
