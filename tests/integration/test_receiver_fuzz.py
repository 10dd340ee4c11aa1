"""Fuzz tier: at least 1,000 hostile requests per endpoint, on SQLite and PostgreSQL, from a
seeded generator (the same payloads every run). The contract under test: no answer is ever a
5xx (bad input is a 4xx; only a ledger outage may be 503, and the ledger is up), and the
receiver is healthy afterwards. Status-code counts are printed (``-s``) per endpoint."""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from deployments.receiver import ReceiverConfig, create_app
from playbooks.alerts import sign
from playbooks.notify import ConsoleNotifier
from tests.integration._receiver_support import (
    SECRET,
    ReceiverServer,
    am_payload,
    auth,
    credentials,
    write_routes,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]
PER_ENDPOINT = 1000
Json = Any

STRINGS: list[str] = [
    "", " ", "\x00", "a\x00b", "\ud800", "x\udfff", "\u202eevil", "\r\nX-Injected: 1",
    "../../etc/passwd", "'; DROP TABLE mlpb_incidents; --", "{model}", "{home}", "%s%n%x",
    "☃" * 50, "\U0001f525" * 30, "m" * 257, "m" * 5000, "x" * 70_000, "\t\n\x1b[31m",
    "credit-risk", "data-drift", "triage", "firing", "resolved", "null", "NaN",
]
NUMBERS: list[str] = ["NaN", "Infinity", "-Infinity", "1e999", "-1e999", "9" * 5000, "-0",
                      "1e-400", "0", "4", "1.5", "123456789012345678901234567890"]


class Gen:
    """Hostile variations of one valid body; ``payload()`` is the next one, as bytes."""

    def __init__(self, seed: int, base: Callable[[random.Random], dict[str, Any]]) -> None:
        self.r = random.Random(seed)
        self.base = base

    def value(self, depth: int = 0) -> Json:
        r = self.r
        kind = r.randrange(12 if depth < 3 else 8)
        if kind < 3:
            return r.choice(STRINGS)
        if kind == 3:
            return r.choice([None, True, False, 0, -1, 2**63, 1.5])
        if kind == 4:
            return _Raw(r.choice(NUMBERS))
        if kind == 5:
            return r.choice([[], {}, [None], {"": ""}])
        if kind == 6:
            return _Raw("[" * r.choice((40, 500, 5000)) + "]" * r.choice((40, 500, 5000)))
        if kind == 7:
            return r.choice(STRINGS)[: r.randrange(1, 40)]
        if kind < 10:
            return {r.choice(STRINGS)[:50]: self.value(depth + 1) for _ in range(r.randrange(4))}
        return [self.value(depth + 1) for _ in range(r.randrange(4))]

    def mutate(self, node: Json, depth: int = 0) -> Json:
        r = self.r
        if isinstance(node, dict) and node and r.random() < (0.97 if depth == 0 else 0.8):
            key = r.choice(list(node))
            op = r.randrange(6)
            if op == 0:
                node.pop(key)
            elif op == 1:
                node[key] = self.value()
            elif op == 2:
                node[r.choice(STRINGS)[:300]] = self.value()
            else:
                node[key] = self.mutate(node[key], depth + 1)
            return node
        if isinstance(node, list) and node and r.random() < 0.8:
            i = r.randrange(len(node))
            op = r.randrange(5)
            if op == 0:
                node.append(self.value())
            elif op == 1:
                node[i] = self.value()
            elif op == 2:
                node.extend([node[i]] * r.choice((2, 50, 1100)))  # duplicates; > MAX_ALERTS
            else:
                node[i] = self.mutate(node[i], depth + 1)
            return node
        return self.value()

    def payload(self) -> bytes:
        r = self.r
        data = self.base(r)
        for _ in range(r.randrange(1, 4)):
            data = self.mutate(data)
        raw = _dumps(data)
        op = r.random()
        if op < 0.08:  # byte-level damage
            cut = r.randrange(max(len(raw), 1))
            raw = r.choice([raw[:cut], raw[:cut] + b"\xff\xfe" + raw[cut:],
                            b"\xef\xbb\xbf" + raw, raw.decode("utf-8", "replace")
                            .encode("utf-16"), raw + b"garbage", b"", b"   ", raw * 2])
        elif op < 0.12:  # many labels on one alert
            labels = {f"l{i}": "v" for i in range(r.choice((129, 600)))}
            raw = _dumps({**self.base(r), "labels": labels, "commonLabels": labels})
        elif op < 0.13:  # over the body limit
            raw = raw[:-1] + b', "pad": "' + b"p" * (1 << 20) + b'"}'
        return raw


class _Raw(str):
    """A JSON token written as-is (NaN, huge numbers, deep nesting)."""


def _dumps(data: Json) -> bytes:
    parts: list[str] = []

    def emit(v: Json) -> None:
        if isinstance(v, _Raw):
            parts.append(str(v))
        elif isinstance(v, dict):
            parts.append("{")
            for i, (k, item) in enumerate(v.items()):
                parts.append(("," if i else "") + json.dumps(str(k)) + ":")
                emit(item)
            parts.append("}")
        elif isinstance(v, list):
            parts.append("[")
            for i, item in enumerate(v):
                if i:
                    parts.append(",")
                emit(item)
            parts.append("]")
        else:
            parts.append(json.dumps(v))

    emit(data)
    return "".join(parts).encode("utf-8", "surrogatepass")


def _am(r: random.Random) -> dict[str, Any]:
    model = r.choice(["credit-risk", "churn", "fraud", "credit-risk"])
    return am_payload(r.choice(["firing", "resolved"]), fingerprint=f"{r.randrange(40):04x}",
                      model=model, group=f"{{}}:{{g=\"{r.randrange(10)}\"}}")


def _grafana(r: random.Random) -> dict[str, Any]:
    note = _am(r)
    note["alerts"][0]["values"] = {"B": r.random(), "C": 1}
    return {**note, "orgId": 1, "title": "[FIRING:1]", "state": "alerting", "version": "1"}


def _generic(r: random.Random) -> dict[str, Any]:
    return {"model": r.choice(["credit-risk", "churn", "fraud"]), "playbook": "data-drift",
            "status": r.choice(["firing", "resolved"]), "labels": {"alertname": "FeatureDrift"},
            "annotations": {"summary": "s"}, "fingerprint": f"g{r.randrange(40)}"}


BASES = {"alertmanager": _am, "grafana": _grafana, "generic": _generic}


def _headers(r: random.Random, data: bytes) -> dict[str, str]:
    """Mostly the bearer token (to reach the parser); some hostile auth headers."""
    op = r.random()
    if op < 0.85:
        return {**auth(), "Content-Type": "application/json"}
    now = int(time.time())
    ts = r.choice([str(now), "-1", "", "1e9", "9" * 30, str(now - 10_000), "abc"])
    return r.choice([
        {"X-MLPB-Timestamp": ts, "X-MLPB-Signature": sign(SECRET, data, now)},
        {"X-MLPB-Timestamp": str(now), "X-MLPB-Signature": "sha256=" + "z" * 64},
        {"X-Grafana-Alerting-Signature": "0" * 64, "X-Grafana-Alerting-Signature-Timestamp": ts},
        {"Authorization": r.choice(["Bearer", "Bearer  x", "Basic x", "bearer " + "a" * 5000])},
    ])


@pytest.fixture
def fuzzed(tmp_path: Path, ledger_url: str) -> Iterator[tuple[ReceiverServer, Any]]:
    app = create_app(ReceiverConfig(ledger_url=ledger_url, home=tmp_path,
                                    rules=write_routes(tmp_path), credentials=credentials(),
                                    dispatch=False, notifier=ConsoleNotifier(quiet=True)))
    with ReceiverServer(app) as srv:
        yield srv, app


def test_hostile_payloads_never_get_5xx_and_leave_the_receiver_healthy(
        fuzzed: tuple[ReceiverServer, Any], ledger_url: str) -> None:
    srv, app = fuzzed
    backend = ledger_url.split(":", 1)[0].split("+")[0]
    cases: list[tuple[str, bytes, dict[str, str]]] = []
    for n, (source, base) in enumerate(BASES.items()):
        gen = Gen(1300 + n, base)
        for _ in range(PER_ENDPOINT):
            data = gen.payload()
            cases.append((source, data, _headers(gen.r, data)))
    limits = httpx.Limits(max_connections=4, max_keepalive_connections=4)
    with httpx.Client(base_url=srv.url, timeout=60, limits=limits) as client:

        def send(case: tuple[str, bytes, dict[str, str]]) -> tuple[str, int, str]:
            source, data, headers = case
            r = client.post(f"/alerts/{source}", content=data, headers=headers)
            return source, r.status_code, r.text[:300] if r.status_code >= 500 else ""

        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(send, cases))
        # the other doors: health and metrics, odd methods and paths, hostile headers
        r = random.Random(7)
        for i in range(300):
            path = r.choice(["/healthz", "/metrics", "/alerts/x", "/alerts/generic/..",
                             "/%2e%2e/etc", "/" + "a" * 3000])
            method = r.choice(["GET", "POST", "PUT", "DELETE", "OPTIONS", "HEAD"])
            headers = _headers(r, b"")
            resp = client.request(method, path, headers=headers,
                                  content=Gen(i, _generic).payload())
            answers.append(("other", resp.status_code, resp.text[:300]))
        counts = {s: Counter(code for src, code, _ in answers if src == s)
                  for s in (*BASES, "other")}
        print(f"\nfuzz [{backend}]: " + "; ".join(
            f"{s}: " + ", ".join(f"{c}: {n}" for c, n in sorted(counts[s].items()))
            for s in counts))
        bad = [(s, c, t) for s, c, t in answers if c >= 500]
        assert not bad, bad[:5]
        assert all(sum(counts[s].values()) >= PER_ENDPOINT for s in BASES)
        assert all(len(counts[s]) >= 3 for s in BASES)  # the generator reaches many answers
        # healthy after: health, a good alert, metrics that agree
        assert client.get("/healthz").json() == {"status": "ok", "ledger": "reachable"}
        good = am_payload(fingerprint="after-fuzz", group="{}:{after=\"fuzz\"}")
        r = client.post("/alerts/alertmanager", json=good, headers=auth())
        assert r.status_code == 202, r.text
        assert r.json()["alerts"][0]["dispatch_state"] == "queued"
        assert client.get("/metrics", headers=auth()).status_code == 200
    metrics = app.state.metrics
    assert metrics.total("mlpb_receiver_requests_total") >= 3 * PER_ENDPOINT
    assert not [k for k in metrics.series("mlpb_receiver_requests_total")
                if dict(k)["code"].startswith("5")]
    # rejections were sampled, not written one row each
    assert len(app.state.store.alerts(status="rejected", limit=10_000)) < 40
