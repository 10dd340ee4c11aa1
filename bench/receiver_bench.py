"""Alert receiver on loopback: latency (alert in → incident recorded, i.e. the 202, which is
sent only after the ledger write) and sustained throughput of duplicate notifications.

The receiver runs as `mlpb receiver --no-dispatch` in its own process (so client and server
do not share a GIL); dispatch is off so Prefect is not measured. Bounded in count and time.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.harness import free_port, running_server, scratch_schema

__all__ = ["ReceiverRow", "run_backend"]

TOKEN = "bench-token"
PROFILE = """name: {model}
owners: {{model: ml, data: data, oncall: oncall}}
data: {{timestamp: ts, reference: {{path: r.parquet}}, current: {{path: c.parquet}}}}
features: {{numeric: [x], categorical: []}}
"""
ROUTES = """max_concurrent_runs_per_model: 2
routes:
  - {playbook: data-drift, profile: "profiles/{model}.yaml"}
"""


@dataclass(frozen=True)
class ReceiverRow:
    backend: str
    phase: str
    requests: int
    p50_ms: float | None
    p95_ms: float | None
    per_second: float
    incidents: int
    errors: int


def _payload(fp: str, model: str = "m0") -> dict[str, Any]:
    alert = {"status": "firing", "labels": {"alertname": "FeatureDrift", "model": model},
             "annotations": {"summary": "PSI > 0.2"}, "startsAt": "2026-01-01T00:00:00Z",
             "fingerprint": fp}
    # One Alertmanager group per alert: alerts of one group share an incident (see dedup.py).
    return {"version": "4", "groupKey": f'{{}}:{{fp="{fp}"}}', "status": "firing",
            "receiver": "bench",
            "alerts": [alert], "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
            "externalURL": "", "truncatedAlerts": 0}


@contextmanager
def _receiver(root: Path, ledger_url: str) -> Iterator[str]:
    (root / "profiles").mkdir(parents=True)
    for i in range(8):
        (root / "profiles" / f"m{i}.yaml").write_text(PROFILE.format(model=f"m{i}"))
    (root / "routes.yaml").write_text(ROUTES)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [str(Path(sys.executable).parent / "mlpb"), "receiver", "--no-dispatch",
           "--port", str(port), "--routes", str(root / "routes.yaml"), "--home", str(root / "home")]
    with running_server(cmd, name="receiver", health_url=f"{url}/healthz",
                        log=root / "receiver.log", timeout_s=60,
                        env={**os.environ, "MLPB_RECEIVER_TOKEN": TOKEN,
                             "MLPB_LEDGER_URL": ledger_url}):
        yield url


def _pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 \
        else values[0]


def _first(url: str) -> tuple[float, int]:
    """The first alert after /healthz answers (the receiver warms its imports and the routes'
    specs before it reports ready, so this is not seconds slower than the later ones)."""
    with httpx.Client(base_url=url, timeout=60) as client:
        t = time.perf_counter()
        r = client.post("/alerts/alertmanager", json=_payload("first", "m6"),
                        headers={"Authorization": f"Bearer {TOKEN}"})
        return (time.perf_counter() - t) * 1000, int(r.status_code != 202)


def _sequential(url: str, payloads: list[dict[str, Any]]) -> tuple[list[float], int]:
    lat, errors = [], 0
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=url, timeout=30) as client:
        client.post("/alerts/alertmanager", json=_payload("warm-up", "m7"), headers=headers)
        for p in payloads:
            t = time.perf_counter()
            r = client.post("/alerts/alertmanager", json=p, headers=headers)
            lat.append((time.perf_counter() - t) * 1000)
            errors += r.status_code != 202
    return lat, errors


async def _sustained(url: str, keys: int, total: int, seconds: float,
                     concurrency: int) -> tuple[int, float, int, list[float]]:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    sent = errors = 0
    lat: list[float] = []
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        async def worker(w: int) -> None:
            nonlocal sent, errors
            i = w
            while sent < total and time.perf_counter() < deadline:
                sent += 1
                t = time.perf_counter()
                k = i % keys
                r = await client.post("/alerts/alertmanager", headers=headers,
                                      json=_payload(f"storm{k}", f"m{k % 4}"))
                lat.append((time.perf_counter() - t) * 1000)
                errors += r.status_code != 202
                i += concurrency

        start = time.perf_counter()
        await asyncio.gather(*[worker(w) for w in range(concurrency)])
        return sent, time.perf_counter() - start, errors, lat


def run_backend(backend: str, ledger_url: str, *, latency_n: int, total: int, seconds: float,
                keys: int, concurrency: int) -> list[ReceiverRow]:
    from playbooks.ledger import Ledger

    with tempfile.TemporaryDirectory(prefix="mlpb-bench-") as tmp, \
            _receiver(Path(tmp), ledger_url) as url:
        ledger = Ledger(ledger_url)
        first, err = _first(url)
        opened = len(ledger.list(limit=100_000))
        rows = [ReceiverRow(backend, "first alert after start-up", 1, first, first,
                            1000 / first, opened, err)]
        lat, err = _sequential(url, [_payload(f"new{i}") for i in range(latency_n)])
        rows.append(ReceiverRow(backend, "new alert → incident (sequential)", len(lat),
                                _pct(lat, 50), _pct(lat, 95), len(lat) / (sum(lat) / 1000),
                                len(ledger.list(limit=100_000)) - opened - 1, err))
        lat, err = _sequential(url, [_payload("new0")] * latency_n)
        rows.append(ReceiverRow(backend, "repeat → timeline (sequential)", len(lat),
                                _pct(lat, 50), _pct(lat, 95), len(lat) / (sum(lat) / 1000), 0,
                                err))
        before = len(ledger.list(limit=100_000))
        sent, took, err, lat = asyncio.run(_sustained(url, keys, total, seconds, concurrency))
        opened = len(ledger.list(limit=100_000)) - before
        rows.append(ReceiverRow(backend, f"storm: {keys} alerts x dup, {concurrency} clients",
                                sent, _pct(lat, 50), _pct(lat, 95), sent / took, opened, err))
        ledger.close()
        return rows


def render(rows: list[ReceiverRow]) -> Any:
    from rich.table import Table

    table = Table(title="Alert receiver on loopback (mlpb receiver --no-dispatch)",
                  caption="latency = POST → 202, which is sent after the alert, incident and "
                          "timeline are committed to the ledger; incidents = opened in the phase")
    for name in ("ledger", "phase", "requests", "p50 (ms)", "p95 (ms)", "req/s", "incidents",
                 "non-202"):
        table.add_column(name, justify="right" if name != "phase" else "left")
    for r in rows:
        table.add_row(r.backend, r.phase, str(r.requests), f"{r.p50_ms:.1f}",
                      f"{r.p95_ms:.1f}", f"{r.per_second:,.0f}", str(r.incidents), str(r.errors))
    return table


def main(argv: list[str] | None = None) -> int:
    import argparse

    from rich.console import Console

    ap = argparse.ArgumentParser(prog="python -m bench receiver", description=__doc__)
    ap.add_argument("--latency-n", type=int, default=300, help="sequential alerts (300)")
    ap.add_argument("--total", type=int, default=3000, help="storm notifications at most (3000)")
    ap.add_argument("--seconds", type=float, default=20.0, help="storm time bound (20 s)")
    ap.add_argument("--keys", type=int, default=10, help="distinct alerts in the storm (10)")
    ap.add_argument("--concurrency", type=int, default=32, help="storm clients (32)")
    ap.add_argument("--postgres-url", default=os.environ.get("MLPB_TEST_POSTGRES_URL"),
                    help="also run on this PostgreSQL (default $MLPB_TEST_POSTGRES_URL)")
    args = ap.parse_args(argv)
    kw = {"latency_n": args.latency_n, "total": args.total, "seconds": args.seconds,
          "keys": args.keys, "concurrency": args.concurrency}
    err = Console(stderr=True, highlight=False)
    rows: list[ReceiverRow] = []
    with tempfile.TemporaryDirectory(prefix="mlpb-bench-ledger-") as tmp:
        err.print("[dim]receiver bench: SQLite ledger[/dim]")
        rows += run_backend("sqlite", f"sqlite:///{tmp}/ledger.db", **kw)
    if args.postgres_url:
        err.print("[dim]receiver bench: PostgreSQL ledger (fresh schema)[/dim]")
        with scratch_schema(args.postgres_url, "mlpb_bench") as url:
            rows += run_backend("postgresql", url, **kw)
    Console(width=None if sys.stdout.isatty() else 150, highlight=False).print(render(rows))
    return 0 if all(r.errors == 0 for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
