"""Real servers for the receiver tests: the receiver app under uvicorn in a thread, a
`prefect server start` subprocess, and a TCP forwarder that plays an outage by being off."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import uvicorn

from bench.harness import free_port, running_server
from deployments.receiver import uvicorn_config
from playbooks.alerts import Credentials, RoutingRules, load_routing_rules, sign

TOKEN = "test-token-0123456789"
SECRET = "test-hmac-secret"
PROFILE = """\
name: {model}
owners: {{model: ml-team, data: data-platform, oncall: ml-oncall}}
data:
  timestamp: ts
  reference: {{path: reference.parquet}}
  current: {{path: "current/*.parquet", window: 7d}}
features:
  numeric: [age, income]
  categorical: [region]
"""
ROUTES = """\
max_concurrent_runs_per_model: 2
routes:
  - name: drift
    match: {alertname: FeatureDrift}
    playbook: data-drift
    profile: profiles/{model}.yaml
default:
  name: triage
  playbook: not-yet-written
  profile: profiles/{model}.yaml
"""


def write_routes(root: Path, models: tuple[str, ...] = ("credit-risk", "churn")) -> RoutingRules:
    (root / "profiles").mkdir(parents=True, exist_ok=True)
    for m in models:
        (root / "profiles" / f"{m}.yaml").write_text(PROFILE.format(model=m))
    (root / "routes.yaml").write_text(ROUTES)
    return load_routing_rules(root / "routes.yaml")


def credentials() -> Credentials:
    return Credentials(token=TOKEN, hmac_secret=SECRET)


def am_payload(status: str = "firing", *, fingerprint: str = "1a30ba71cca2921f",
               model: str = "credit-risk", alertname: str = "FeatureDrift",
               group: str = '{}:{alertname="FeatureDrift"}', **labels: str) -> dict[str, Any]:
    """An Alertmanager v4 webhook body (the documented shape plus an unknown field) for one
    alert of the aggregation group ``group``."""
    alert = {"status": status, "labels": {"alertname": alertname, "model": model, **labels},
             "annotations": {"summary": f"PSI above 0.2 on {model}"},
             "startsAt": "2026-03-15T10:00:00.123456789Z", "endsAt": "0001-01-01T00:00:00Z",
             "generatorURL": "http://prometheus:9090/graph", "fingerprint": fingerprint}
    return {"receiver": "mlpb", "status": status, "alerts": [alert],
            "groupLabels": {"alertname": alertname}, "commonLabels": alert["labels"],
            "commonAnnotations": alert["annotations"], "externalURL": "http://am:9093",
            "version": "4", "groupKey": group, "truncatedAlerts": 0,
            "someFutureField": {"ignored": True}}


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


def signed(payload: dict[str, Any] | bytes, *, at: float | None = None,
           secret: str = SECRET) -> tuple[bytes, dict[str, str]]:
    """The body and the X-MLPB-Timestamp / X-MLPB-Signature headers for it."""
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    ts = str(int(time.time() if at is None else at))
    return data, {"X-MLPB-Timestamp": ts, "X-MLPB-Signature": sign(secret, data, ts),
                  "Content-Type": "application/json"}


class ReceiverServer:
    """The receiver app served on a free loopback port, in a thread (lifespan included), with
    the uvicorn settings ``mlpb receiver`` uses (read timeouts, concurrency cap)."""

    def __init__(self, app: Any) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn_config(app, host="127.0.0.1", port=self.port,
                                                    lifespan="on", backlog=4096))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ReceiverServer:
        self.thread.start()
        deadline = time.monotonic() + 60  # start-up imports the playbook machinery (warm)
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("receiver did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(20)


def drain_prefect_workers() -> None:
    """Deliver the events and logs in-process runs queued for a test's own Prefect server
    while it is up. Left queued for a server that is gone, the session harness's teardown
    (which drains every worker) waits on them forever."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all()
    EventsWorker.drain_all()


@contextlib.contextmanager
def prefect_server(home: Path) -> Iterator[str]:
    """`prefect server start` on a free port with its own PREFECT_HOME; yields the API URL."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(PREFECT_HOME=str(home), PREFECT_SERVER_ANALYTICS_ENABLED="false")
    home.mkdir(parents=True, exist_ok=True)
    url = f"http://127.0.0.1:{port}/api"
    cmd = [str(Path(sys.executable).parent / "prefect"), "server", "start", "--host", "127.0.0.1",
           "--port", str(port), "--no-services", "--no-ui"]
    with running_server(cmd, name="prefect server", health_url=f"{url}/health",
                        log=home / "server.log", env=env, timeout_s=90, poll_s=0.25,
                        start_new_session=True):
        yield url


class TcpForwarder:
    """127.0.0.1:port → target port while on; connection refused while off (an outage)."""

    def __init__(self, target_port: int) -> None:
        self.target = target_port
        self.port = free_port()
        self._sock: socket.socket | None = None
        self._stop = threading.Event()

    def on(self) -> None:
        self._stop.clear()
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(64)
        s.settimeout(0.2)
        self._sock = s
        threading.Thread(target=self._accept, daemon=True).start()

    def off(self) -> None:
        self._stop.set()
        if self._sock:
            self._sock.close()
            self._sock = None

    def _accept(self) -> None:
        assert self._sock is not None
        sock = self._sock
        while not self._stop.is_set():
            try:
                client, _ = sock.accept()
            except (TimeoutError, OSError):
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)


def body(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode()
