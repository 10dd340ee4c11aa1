"""A local Slack Web API stand-in over real HTTP (stdlib server in a thread, 127.0.0.1 only).

It answers ``chat.postMessage``, ``chat.update``, ``auth.test`` and the three steps of
``files_upload_v2`` (``files.getUploadURLExternal``, a POST of the bytes to the upload URL it
hands out, ``files.completeUploadExternal``) with the shapes Slack
documents (https://api.slack.com/methods), including its errors: ``ok:false`` with
``not_authed`` / ``invalid_auth`` / ``channel_not_found`` / ``message_not_found`` /
``invalid_blocks`` / ``msg_too_long`` (HTTP 200, as Slack does) and 429 + ``Retry-After``
with ``{"ok": false, "error": "ratelimited"}``. It records every request, can fail the next N
requests, and can go down (socket closed: connection refused) and come back on its port.
For interactivity it answers ``views.open`` (a modal needs a ``trigger_id``: Slack's
``invalid_trigger_id`` otherwise) and serves ``response_url``s (``response_url()`` hands one
out; what is POSTed there is recorded as method ``response_url``)."""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

__all__ = ["FakeSlack", "Recorded"]

# Slack's documented limits, enforced the way Slack does (the whole message is rejected).
MAX_BLOCKS, MAX_SECTION, MAX_HEADER, MAX_TEXT, MAX_FIELD, MAX_FIELDS, MAX_CONTEXT = (
    50, 3000, 150, 40_000, 2000, 10, 10)


@dataclass(frozen=True)
class Recorded:
    method: str  # API method, e.g. chat.postMessage
    body: dict[str, Any]
    headers: dict[str, str]
    status: int
    response: dict[str, Any]
    at: float  # time.monotonic() when answered


@dataclass
class _Failure:
    status: int  # 429, 500, 503 or 200 (then `error` is a Slack error code)
    error: str
    retry_after: int


@dataclass
class _State:
    token: str
    channels: dict[str, str]  # name or id -> id
    requests: list[Recorded] = field(default_factory=list)
    failures: list[_Failure] = field(default_factory=list)
    messages: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    log_path: str | None = None  # also append each request as a JSON line (manual runs)
    ts: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    # files_upload_v2: file id -> {filename, length, data (bytes once uploaded), ...}
    files: dict[str, dict[str, Any]] = field(default_factory=dict)


def _block_problem(blocks: list[dict[str, Any]]) -> str | None:
    if len(blocks) > MAX_BLOCKS:
        return f"no more than {MAX_BLOCKS} items allowed [json-pointer:/blocks]"
    for i, b in enumerate(blocks):
        kind, text = b.get("type"), (b.get("text") or {}).get("text", "")
        too_long = f"must be less than %d characters [json-pointer:/blocks/{i}/text]"
        if kind == "header" and len(text) > MAX_HEADER:
            return too_long % (MAX_HEADER + 1)
        if kind == "section":
            if len(text) > MAX_SECTION:
                return too_long % (MAX_SECTION + 1)
            fields = b.get("fields") or []
            if len(fields) > MAX_FIELDS or any(len(f.get("text", "")) > MAX_FIELD for f in fields):
                return f"invalid fields [json-pointer:/blocks/{i}/fields]"
            if not text and not fields:
                return f"must provide text or fields [json-pointer:/blocks/{i}]"
        if kind == "context" and len(b.get("elements") or []) > MAX_CONTEXT:
            return f"no more than {MAX_CONTEXT} items allowed [json-pointer:/blocks/{i}/elements]"
    return None


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass

    def do_POST(self) -> None:
        st = self.server.state
        if self.path.startswith("/upload/v1/"):  # files_upload_v2 step 2: the raw bytes
            self._upload(st)
            return
        if self.path.startswith("/actions/"):  # an interaction's response_url
            self._response_url(st)
            return
        method = self.path.split("?")[0].rsplit("/", 1)[-1]
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode("utf-8")
        ctype = self.headers.get("Content-Type", "")
        body: dict[str, Any] = (json.loads(raw or "{}") if "json" in ctype
                                else dict(parse_qsl(raw)))
        if isinstance(body.get("blocks"), str):  # form-encoded requests carry JSON strings
            body["blocks"] = json.loads(body["blocks"])
        headers = dict(self.headers.items())
        with st.lock:
            failure = st.failures.pop(0) if st.failures else None
            if failure is not None:
                status, resp = failure.status, {"ok": False, "error": failure.error}
            else:
                status, resp = 200, self._answer(st, method, body, headers)
            st.requests.append(Recorded(method, body, headers, status, resp, time.monotonic()))
            if st.log_path:
                with open(st.log_path, "a", encoding="utf-8") as f:
                    f.write(json.dumps({"method": method, "status": status, "body": body,
                                        "response": resp}) + "\n")
        data = json.dumps(resp).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        if failure is not None and failure.status == 429:
            self.send_header("Retry-After", str(failure.retry_after))
        self.end_headers()
        self.wfile.write(data)

    def _upload(self, st: _State) -> None:
        """The upload URL files.getUploadURLExternal handed out: Slack answers 200 with
        ``OK - <bytes>`` as text; an unknown or reused URL is a 404."""
        file_id = self.path.rsplit("/", 1)[-1]
        data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with st.lock:
            f = st.files.get(file_id)
            ok = f is not None and "data" not in f
            if f is not None and ok:
                f["data"] = data
            status = 200 if ok else 404
            st.requests.append(Recorded("upload", {"file_id": file_id, "bytes": len(data)},
                                        dict(self.headers.items()), status, {"ok": ok},
                                        time.monotonic()))
        answer = (f"OK - {len(data)}" if ok else "Not Found").encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    @staticmethod
    def _files_method(st: _State, method: str, body: dict[str, Any],
                      headers: dict[str, str]) -> dict[str, Any]:
        """files.getUploadURLExternal and files.completeUploadExternal (files_upload_v2)."""
        if method == "files.getUploadURLExternal":
            if not body.get("filename") or not str(body.get("length", "")).isdigit():
                return {"ok": False, "error": "invalid_arguments"}
            file_id = f"F0FAKE{len(st.files) + 1:05d}"
            st.files[file_id] = {"filename": body["filename"], "length": int(body["length"])}
            host = headers.get("Host", "127.0.0.1")
            return {"ok": True, "upload_url": f"http://{host}/upload/v1/{file_id}",
                    "file_id": file_id}
        try:
            listed = json.loads(str(body.get("files") or "[]"))
        except ValueError:
            return {"ok": False, "error": "invalid_arguments"}
        if not listed or any(str(f.get("id")) not in st.files for f in listed):
            return {"ok": False, "error": "file_not_found"}
        if any("data" not in st.files[str(f["id"])] for f in listed):
            return {"ok": False, "error": "file_upload_not_completed"}
        channel = st.channels.get(str(body.get("channel_id") or ""))
        if body.get("channel_id") and channel is None:
            return {"ok": False, "error": "channel_not_found"}
        thread_ts = body.get("thread_ts")
        if thread_ts and (channel, str(thread_ts)) not in st.messages:
            return {"ok": False, "error": "invalid_thread_ts"}
        shared = []
        for f in listed:
            meta = st.files[str(f["id"])]
            meta.update(title=f.get("title") or meta["filename"], channel=channel,
                        thread_ts=thread_ts, initial_comment=body.get("initial_comment"))
            shared.append({"id": f["id"], "name": meta["filename"], "title": meta["title"],
                           "size": len(meta["data"]), "mimetype": "image/png"
                           if meta["filename"].endswith(".png") else "application/octet-stream"})
        if channel is not None:  # the file share appears as a message (in the thread)
            n = next(st.ts)
            ts = f"{1_700_000_000 + n}.{n:06d}"
            msg: dict[str, Any] = {"type": "message", "subtype": "file_share", "ts": ts,
                                   "text": str(body.get("initial_comment") or ""),
                                   "files": shared}
            if thread_ts:
                msg["thread_ts"] = thread_ts
            st.messages[(channel, ts)] = msg
        return {"ok": True, "files": shared}

    def _response_url(self, st: _State) -> None:
        """Slack answers a response_url POST (JSON: text/blocks, response_type,
        replace_original) with 200 ``ok``; malformed JSON is a 400 ``invalid_payload``."""
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw or b"{}")
            status, text = 200, "ok"
        except ValueError:
            body, status, text = {}, 400, "invalid_payload"
        with st.lock:
            st.requests.append(Recorded("response_url", {"path": self.path, **body},
                                        dict(self.headers.items()), status, {"ok": status == 200},
                                        time.monotonic()))
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    @staticmethod
    def _views_open(body: dict[str, Any]) -> dict[str, Any]:
        view = body.get("view")
        if isinstance(view, str):  # form-encoded requests carry JSON strings
            view = json.loads(view)
        if not str(body.get("trigger_id") or "").strip():
            return {"ok": False, "error": "invalid_trigger_id"}
        if not isinstance(view, dict) or view.get("type") != "modal" or not view.get("title"):
            return {"ok": False, "error": "invalid_arguments"}
        if len((view.get("title") or {}).get("text", "")) > 24:
            return {"ok": False, "error": "invalid_arguments",
                    "response_metadata": {"messages": ["[ERROR] must be less than 25 "
                                                       "characters [json-pointer:/view/title]"]}}
        return {"ok": True, "view": {"id": "V0FAKEVIEW", **view}}

    @staticmethod
    def _answer(st: _State, method: str, body: dict[str, Any],
                headers: dict[str, str]) -> dict[str, Any]:
        auth = headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ").strip() if auth else body.get("token", "")
        if not token:
            return {"ok": False, "error": "not_authed"}
        if token != st.token:
            return {"ok": False, "error": "invalid_auth"}
        if method == "auth.test":
            return {"ok": True, "url": "https://fake-workspace.slack.com/", "team": "Fake",
                    "user": "mlpb", "team_id": "T0FAKE", "user_id": "U0BOT", "bot_id": "B0BOT",
                    "is_enterprise_install": False}
        if method in ("files.getUploadURLExternal", "files.completeUploadExternal"):
            return _Handler._files_method(st, method, body, headers)
        if method == "views.open":
            return _Handler._views_open(body)
        if method not in ("chat.postMessage", "chat.update"):
            return {"ok": False, "error": "unknown_method"}
        channel = st.channels.get(str(body.get("channel", "")))
        if channel is None or (method == "chat.update" and body.get("channel") != channel):
            return {"ok": False, "error": "channel_not_found"}  # chat.update wants the id
        text, blocks = str(body.get("text") or ""), body.get("blocks") or []
        if not text and not blocks:
            return {"ok": False, "error": "no_text"}
        if len(text) > MAX_TEXT:
            return {"ok": False, "error": "msg_too_long"}
        if (problem := _block_problem(blocks)) is not None:
            return {"ok": False, "error": "invalid_blocks", "errors": [problem]}
        if method == "chat.update":
            key = (channel, str(body.get("ts")))
            if key not in st.messages:
                return {"ok": False, "error": "message_not_found"}
            st.messages[key].update(text=text, blocks=blocks, edited=True)
            return {"ok": True, "channel": channel, "ts": key[1], "text": text,
                    "message": st.messages[key]}
        n = next(st.ts)
        ts = f"{1_700_000_000 + n}.{n:06d}"
        msg: dict[str, Any] = {"type": "message", "user": "U0BOT", "bot_id": "B0BOT",
                               "text": text, "blocks": blocks, "ts": ts}
        if body.get("thread_ts"):
            if (channel, str(body["thread_ts"])) not in st.messages:
                return {"ok": False, "error": "thread_not_found"}
            msg["thread_ts"] = body["thread_ts"]
        st.messages[(channel, ts)] = msg
        return {"ok": True, "channel": channel, "ts": ts, "message": msg}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int, state: _State) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.state = state


class FakeSlack:
    """``with FakeSlack() as slack: WebClient(base_url=slack.url, token=slack.token)``."""

    def __init__(self, *, token: str = "xoxb-fake-test-token",
                 channels: dict[str, str] | None = None, port: int = 0,
                 log_path: str | None = None) -> None:
        chans = channels or {"#ml-incidents": "C0MLINC01", "#ml-sev1": "C0MLSEV01"}
        ids = {cid: cid for cid in chans.values()}
        self._state = _State(token=token, channels={**chans, **ids}, log_path=log_path)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.port = port

    @property
    def token(self) -> str:
        return self._state.token

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def start(self) -> FakeSlack:
        self._server = _Server(self.port, self._state)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Go down: the port refuses connections until ``start()`` (same port) again."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- control and inspection ---------------------------------------------------------
    def fail_next(self, n: int = 1, *, status: int = 500, error: str | None = None,
                  retry_after: int = 1) -> None:
        """The next ``n`` requests fail: HTTP ``status`` (429 sends Retry-After), or with
        status 200 the Slack ``error`` code (e.g. ``channel_not_found``)."""
        code = error or {429: "ratelimited"}.get(status, "internal_error")
        with self._state.lock:
            self._state.failures += [_Failure(status, code, retry_after) for _ in range(n)]

    def recover(self) -> None:
        """Drop any failures still queued by ``fail_next``."""
        with self._state.lock:
            self._state.failures.clear()

    @property
    def requests(self) -> list[Recorded]:
        with self._state.lock:
            return list(self._state.requests)

    def accepted(self, method: str | None = None) -> list[Recorded]:
        return [r for r in self.requests
                if r.response.get("ok") and (method is None or r.method == method)]

    def uploaded(self) -> dict[str, dict[str, Any]]:
        """Files received through files_upload_v2 (file id -> filename, title, data,
        channel, thread_ts); ``data`` is absent for a URL that was never uploaded to."""
        with self._state.lock:
            return {k: dict(v) for k, v in self._state.files.items()}

    def response_url(self) -> str:
        """A fresh response_url, as Slack puts in an interaction payload."""
        n = next(self._state.ts)
        return f"http://127.0.0.1:{self.port}/actions/T0FAKE/{n}/fake-response-token"

    def message(self, channel: str, ts: str) -> dict[str, Any] | None:
        """The message as it stands now (edits applied), or None."""
        with self._state.lock:
            m = self._state.messages.get((channel, ts))
            return dict(m) if m is not None else None

    def thread(self, channel: str, ts: str) -> list[dict[str, Any]]:
        """The replies in a thread, in posting order."""
        with self._state.lock:
            return [m for (c, _), m in self._state.messages.items()
                    if c == channel and m.get("thread_ts") == ts]


if __name__ == "__main__":  # manual runs: python -m tests.integration.fake_slack --port 8765
    import argparse

    ap = argparse.ArgumentParser(description="Serve the fake Slack Web API on 127.0.0.1.")
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--token", default="xoxb-test")
    ap.add_argument("--log", help="append every request to this JSON-lines file")
    args = ap.parse_args()
    fake = FakeSlack(token=args.token, port=args.port, log_path=args.log).start()
    print(f"fake Slack on {fake.url} (token {args.token!r}); Ctrl-C to stop", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        fake.stop()
