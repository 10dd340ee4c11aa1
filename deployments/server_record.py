"""The Prefect server `make serve` runs, recorded in its state dir (``prefect-server.json``:
API URL and pid) so that CLI commands on the same state dir use it instead of starting an
embedded one. A record is only believed while its pid lives and the URL answers Prefect's
health endpoint: a stack killed without cleaning up leaves a stale file, which is ignored.

Light on purpose (stdlib only): `mlpb` reads it before Prefect is imported.
"""

from __future__ import annotations

import contextlib
import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

__all__ = ["RECORD_NAME", "ServerRecord", "live_server_url", "read_record", "remove_record",
           "write_record"]

RECORD_NAME = "prefect-server.json"


@dataclass(frozen=True)
class ServerRecord:
    url: str  # the API URL, e.g. http://127.0.0.1:4200/api
    pid: int  # the server process (the stack's child); dead means the record is stale


def _path(home: Path) -> Path:
    return home / RECORD_NAME


def write_record(home: Path, url: str, pid: int) -> Path:
    """Record the running server (atomically: a reader never sees half a file)."""
    path = _path(home)
    tmp = path.with_name(f".{RECORD_NAME}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"url": url, "pid": pid}) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def remove_record(home: Path, pid: int) -> None:
    """Remove the record if it still names ``pid`` (a newer stack's record is not ours)."""
    rec = read_record(home)
    if rec is not None and rec.pid == pid:
        with contextlib.suppress(FileNotFoundError):
            _path(home).unlink()


def read_record(home: Path) -> ServerRecord | None:
    """The record, or None when there is none or it is unreadable (never an error)."""
    try:
        data = json.loads(_path(home).read_text(encoding="utf-8"))
        url, pid = data["url"], data["pid"]
    except (OSError, ValueError, TypeError, KeyError):
        return None
    if not isinstance(url, str) or not isinstance(pid, int) or isinstance(pid, bool):
        return None
    return ServerRecord(url=url.rstrip("/"), pid=pid)


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, another user's
        return True
    return True


def _answers(url: str, timeout: float) -> bool:
    # No proxies: the record names a local server, and an HTTP(S)_PROXY must not answer for it.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"{url}/health", timeout=timeout) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def live_server_url(home: Path, *, timeout: float = 1.0) -> str | None:
    """The recorded server's API URL when its process lives and it answers; else None."""
    rec = read_record(home)
    if rec is None or not _alive(rec.pid) or not _answers(rec.url, timeout):
        return None
    return rec.url
