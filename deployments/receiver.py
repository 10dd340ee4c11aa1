"""The alert receiver: a FastAPI app (``create_app``) run by ``mlpb receiver``.

POST /alerts/alertmanager | /alerts/grafana | /alerts/generic, GET /healthz.
Contract (DESIGN.md §5): 2xx only after the alert is in the ledger; bad input gets a 4xx with
a JSON reason and is recorded as ``rejected``; a ledger outage is a 503 so the sender retries.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from playbooks.alerts import (
    PARSERS,
    AlertIntake,
    AlertParseError,
    Backoff,
    Credentials,
    DispatchLoop,
    Launcher,
    RoutingRules,
    load_routing_rules,
)
from playbooks.config import load_settings
from playbooks.errors import ConfigError
from playbooks.ledger import AlertStore, Ledger, LedgerError

__all__ = ["DEFAULT_MAX_BODY", "ReceiverConfig", "create_app"]

DEFAULT_MAX_BODY = 1 << 20  # 1 MiB: a large Alertmanager group is a few tens of KiB
_EXCERPT = 4096  # how much of a rejected body is kept for inspection
log = logging.getLogger("mlpb.receiver")


@dataclass
class ReceiverConfig:
    ledger_url: str
    home: Path
    rules: RoutingRules
    credentials: Credentials
    prefect_api_url: str | None = None
    launcher: Launcher | None = None  # default: PrefectLauncher(prefect_api_url)
    max_body: int = DEFAULT_MAX_BODY
    backoff: Backoff = field(default_factory=Backoff)
    poll: float = 2.0
    reconcile_every: float = 15.0  # how often runs that ended without closing are checked
    dispatch: bool = True  # False: record and queue only (another receiver dispatches)

    @classmethod
    def from_env(cls, *, home: str | None = None, routes: Path | None = None,
                 prefect_api_url: str | None = None) -> ReceiverConfig:
        settings = load_settings(home).ensure()
        creds = Credentials(os.environ.get("MLPB_RECEIVER_TOKEN") or None,
                            os.environ.get("MLPB_RECEIVER_HMAC_SECRET") or None)
        if not creds.configured:
            raise ConfigError("the receiver needs credentials: no MLPB_RECEIVER_TOKEN or "
                              "MLPB_RECEIVER_HMAC_SECRET is set",
                              hint="export MLPB_RECEIVER_TOKEN=$(openssl rand -hex 24) and give "
                                   "the same token to Alertmanager / Grafana")
        path = routes or Path(os.environ.get("MLPB_RECEIVER_ROUTES")
                              or settings.home / "routes.yaml")
        if not path.exists():
            raise ConfigError(f"no routing rules at {path}",
                              hint="pass --routes FILE; start from deployments/routes.example.yaml")
        return cls(ledger_url=settings.ledger_url, home=settings.home,
                   rules=load_routing_rules(path), credentials=creds,
                   prefect_api_url=prefect_api_url or os.environ.get("PREFECT_API_URL")
                   or "http://127.0.0.1:4200/api")


class _TooLarge(Exception):
    pass


async def _read_limited(request: Request, limit: int) -> bytes:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge(size)
        chunks.append(chunk)
    return b"".join(chunks)


def _excerpt(body: bytes) -> dict[str, Any]:
    return {"size": len(body), "body": body[:_EXCERPT].decode("utf-8", errors="replace")}


def create_app(config: ReceiverConfig) -> FastAPI:
    store = AlertStore(Ledger(config.ledger_url))
    if store.use_wal():
        log.info("ledger switched to SQLite WAL mode (many small commits; see AlertStore)")
    launcher = config.launcher
    if launcher is None and config.dispatch:
        from deployments.dispatcher import PrefectLauncher

        launcher = PrefectLauncher(config.prefect_api_url or "http://127.0.0.1:4200/api")
    loop = (DispatchLoop(store, launcher, max_per_model=config.rules.max_concurrent_runs_per_model,
                         backoff=config.backoff, poll=config.poll,
                         reconcile_every=config.reconcile_every)
            if launcher is not None and config.dispatch else None)
    intake = AlertIntake(store, config.rules, home=config.home,
                         on_queued=loop.wake if loop else None)
    creds = config.credentials

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if loop:
            loop.start()
        try:
            yield
        finally:
            if loop:
                await run_in_threadpool(loop.stop)
            store.ledger.close()

    app = FastAPI(title="ML Playbooks alert receiver", lifespan=lifespan)
    app.state.store, app.state.intake, app.state.dispatch = store, intake, loop

    @app.exception_handler(SQLAlchemyError)
    @app.exception_handler(LedgerError)
    async def _ledger_down(_: Request, exc: Exception) -> JSONResponse:
        log.error("ledger unavailable: %s", exc)
        return JSONResponse({"error": "the ledger is unavailable; nothing was recorded, retry "
                                      "later"}, status_code=503)

    async def reject(source: str, code: int, reason: str, payload: Any = None,
                     extra: dict[str, Any] | None = None) -> JSONResponse:
        alert_id = await run_in_threadpool(intake.reject, source, code, reason, payload)
        return JSONResponse({"error": reason, "alert_id": alert_id, **(extra or {})},
                            status_code=code)

    async def receive(source: str, request: Request) -> JSONResponse:
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > config.max_body:
            return await reject(source, 413, f"body of {int(length)} bytes exceeds the "
                                f"{config.max_body}-byte limit; lower max_alerts on the sender",
                                {"size": int(length)})
        bearer_ok = creds.check_bearer(request.headers)
        if not bearer_ok and creds.signature_header(request.headers) is None:
            why = ("invalid bearer token" if "authorization" in request.headers else
                   "missing credentials: send 'Authorization: Bearer <token>' or an "
                   "'X-MLPB-Signature: sha256=<hmac of the body>' header")
            return await reject(source, 401, why)
        try:
            body = await _read_limited(request, config.max_body)
        except _TooLarge:
            return await reject(source, 413, f"body exceeds the {config.max_body}-byte limit; "
                                             "lower max_alerts on the sender")
        if not bearer_ok and not creds.check_signature(request.headers, body):
            return await reject(source, 401, "invalid HMAC signature: expected hex HMAC-SHA256 of "
                                             "the raw body with MLPB_RECEIVER_HMAC_SECRET")
        try:
            alerts = PARSERS[source](body)
        except AlertParseError as exc:
            payload = {**_excerpt(body), "problems": exc.problems}
            return await reject(source, exc.status_code, exc.message, payload,
                                {"problems": exc.to_json()["problems"]})
        results = await run_in_threadpool(intake.accept, alerts)
        return JSONResponse({"accepted": len(results), "alerts": [r.to_json() for r in results]},
                            status_code=202)

    def endpoint(source: str) -> Callable[[Request], Awaitable[JSONResponse]]:
        async def handler(request: Request) -> JSONResponse:
            return await receive(source, request)

        handler.__name__ = f"receive_{source}"
        handler.__doc__ = f"Receive a {source} notification (see README: Alerts and deployments)."
        return handler

    for source in PARSERS:
        app.add_api_route(f"/alerts/{source}", endpoint(source), methods=["POST"],
                          status_code=202, response_class=JSONResponse)

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        counts = await run_in_threadpool(store.counts)  # also proves the ledger answers
        return JSONResponse({"status": "ok", "dispatch": {
            "enabled": loop is not None, **counts,
            "last_error": loop.last_error if loop else None}})

    return app
