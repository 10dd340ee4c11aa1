"""The alert receiver: a FastAPI app (``create_app``) served by uvicorn (``uvicorn_config``),
run by ``mlpb receiver``.

POST /alerts/alertmanager | /alerts/grafana | /alerts/generic, GET /healthz, GET /metrics, and
POST /slack/interactions (Slack buttons and modals, signed by Slack: deployments/
slack_interactions.py).
Contract (DESIGN.md §5): 2xx only after the request's alerts are committed to the ledger (one
transaction per request); bad input gets a 4xx with a JSON reason — a notification with some
bad alerts records the good ones and answers 422 naming the rest; a ledger outage (or the
concurrency cap) is a 503 so the sender retries; bad input never is. Rejections are counted
(``/metrics``) and sampled into the ledger, not written one row each. Slow clients are cut off
by the server (header and body read timeouts, ``TimedH11Protocol``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h11
import sqlalchemy as sa
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from sqlalchemy.exc import SQLAlchemyError
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect
from uvicorn.protocols.http.h11_impl import H11Protocol

from playbooks.alerts import (
    PARSERS,
    AlertIntake,
    AlertParseError,
    AuthError,
    Backoff,
    Credentials,
    DispatchLoop,
    Launcher,
    Outcome,
    Parsed,
    ReceiverMetrics,
    Replayed,
    ReplayGuard,
    RoutingRules,
    excerpt,
    load_routing_rules,
)
from playbooks.alerts.routing import BUILTIN_PROFILES
from playbooks.config import load_settings
from playbooks.errors import ConfigError
from playbooks.ledger import AlertStore, Ledger, LedgerError
from playbooks.notify import Notifier, SlackNotifier, find_notifier
from playbooks.notify.interactions import (
    InteractionError,
    header_problem,
    parse_interaction,
    signature_problem,
)

__all__ = ["DEFAULT_MAX_BODY", "ReceiverConfig", "create_app", "hide_password",
           "timed_protocol", "uvicorn_config"]

DEFAULT_MAX_BODY = 1 << 20  # 1 MiB: a large Alertmanager group is a few tens of KiB
log = logging.getLogger("mlpb.receiver")
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Message]],
                    Callable[[Message], Awaitable[None]]], Awaitable[None]]
_ENDPOINTS = {"/healthz": "healthz", "/metrics": "metrics", "/slack/interactions": "slack",
              **{f"/alerts/{s}": s for s in PARSERS}}
_REQUESTS, _ALERTS = "mlpb_receiver_requests_total", "mlpb_receiver_alerts_total"


def hide_password(url: str) -> str:
    """``url`` fit to print: the password (if any) as ***."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except (sa.exc.ArgumentError, ValueError):
        return "<unparseable URL>"


@dataclass
class ReceiverConfig:
    ledger_url: str
    home: Path
    rules: RoutingRules
    credentials: Credentials
    prefect_api_url: str | None = None
    launcher: Launcher | None = None  # default: PrefectLauncher(prefect_api_url)
    notifier: Notifier | None = None  # needs_triage alerts; default: the console
    max_body: int = DEFAULT_MAX_BODY
    backoff: Backoff = field(default_factory=Backoff)
    poll: float = 2.0
    reconcile_every: float = 15.0  # how often runs that ended without closing are checked
    dispatch: bool = True  # False: record and queue only (another receiver dispatches)
    header_timeout: float = 10.0  # connect → request headers complete (idle connections too)
    body_timeout: float = 15.0  # headers complete → body complete, however it trickles
    keep_alive: int = 5  # idle seconds between requests on one connection
    limit_concurrency: int = 512  # connections + requests at once; beyond: 503 + retry
    reject_sample_s: float = 60.0  # a rejection row per (endpoint, status) at most this often
    routing: str = "routes given by the caller"  # how the rules were chosen (for the banner)
    slack_signing_secret: str | None = None  # SLACK_SIGNING_SECRET: /slack/interactions

    @property
    def safe_ledger_url(self) -> str:
        return hide_password(self.ledger_url)

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
        named = routes or (Path(os.environ["MLPB_RECEIVER_ROUTES"])
                           if os.environ.get("MLPB_RECEIVER_ROUTES") else None)
        path = named or settings.home / "routes.yaml"
        if path.exists():
            rules, routing = load_routing_rules(path), f"routes {path}"
        elif named is not None:
            raise ConfigError(f"no routing rules at {path}",
                              hint="pass --routes FILE; start from deployments/routes.example.yaml")
        else:
            rules = RoutingRules.builtin()
            profiles = " or ".join(p.replace("{home}", str(settings.home))
                                   for p in BUILTIN_PROFILES)
            routing = (f"built-in routing (no --routes, no {path}): the alert's playbook label "
                       f"(else triage) on {profiles}; an alert without a profile waits in "
                       "needs_triage")
        from tasks.prefect_context import prefect_runtime  # Slack when configured, else console

        return cls(ledger_url=settings.ledger_url, home=settings.home, rules=rules,
                   credentials=creds, notifier=prefect_runtime(str(settings.home)).notifier,
                   slack_signing_secret=os.environ.get("SLACK_SIGNING_SECRET") or None,
                   prefect_api_url=prefect_api_url or os.environ.get("PREFECT_API_URL")
                   or "http://127.0.0.1:4200/api", routing=routing)


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


class _Measure:
    """ASGI middleware: every answer counted by endpoint and status code, and timed."""

    def __init__(self, app: ASGIApp, metrics: ReceiverMetrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Message]],
                       send: Callable[[Message], Awaitable[None]]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, status, counted = time.perf_counter(), [0], [False]
        endpoint = _ENDPOINTS.get(scope.get("path", ""), "other")

        def count() -> None:  # before the last byte leaves: whoever reads the answer sees it
            if not counted[0]:
                counted[0] = True
                self.metrics.inc(_REQUESTS, "Answers by endpoint and HTTP status code.",
                                 endpoint=endpoint, code=str(status[0] or 500))
                self.metrics.observe(time.perf_counter() - start, endpoint=endpoint)

        async def send_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                count()
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            count()


def _gated(config: ReceiverConfig, store: AlertStore) -> RoutingRules:
    """The routes as the run policy allows them: each route acts as ``route:<name>``; a
    refusal is a ledger record (playbooks/run_gate.py)."""
    from playbooks.clock import clock_for
    from playbooks.run_gate import GatedRoutes, PolicyFile

    return GatedRoutes.wrap(config.rules, PolicyFile(config.home),
                            store.ledger.refusals.record, clock_for(config.home).now)


def _warm_prefect_client() -> None:
    """Import what PrefectLauncher uses on its first launch (~3 s of Prefect imports)."""
    import importlib

    for name in ("prefect.client.orchestration", "prefect.client.schemas.filters",
                 "prefect.exceptions"):
        importlib.import_module(name)


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
    intake = AlertIntake(store, _gated(config, store), home=config.home,
                         on_queued=loop.wake if loop else None, notifier=config.notifier,
                         sample_every=config.reject_sample_s)
    creds, replays, metrics = config.credentials, ReplayGuard(), ReceiverMetrics()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Before /healthz answers: the first alert must not wait for imports (seconds).
        await run_in_threadpool(intake.warm)
        if loop and config.launcher is None:  # ours: the first dispatch needs Prefect's client
            await run_in_threadpool(_warm_prefect_client)
        if loop:
            loop.start()
        try:
            yield
        finally:
            if loop:
                await run_in_threadpool(loop.stop)
            if slack is not None:
                await run_in_threadpool(slack.close)
            store.ledger.close()

    app = FastAPI(title="ML Playbooks alert receiver", lifespan=lifespan)
    app.add_middleware(_Measure, metrics=metrics)
    app.state.store, app.state.intake, app.state.dispatch = store, intake, loop
    app.state.metrics, app.state.config = metrics, config
    slack = None
    if config.slack_signing_secret:  # the engine's decision paths: imported only when used
        from deployments.slack_interactions import SlackInteractions

        slack_bot = find_notifier(config.notifier, SlackNotifier)
        slack = SlackInteractions(config.home, config.ledger_url,
                                  config.notifier or intake.notifier,
                                  client=slack_bot.client if slack_bot else None)
    app.state.slack = slack

    @app.exception_handler(SQLAlchemyError)
    @app.exception_handler(LedgerError)
    async def _ledger_down(_: Request, exc: Exception) -> JSONResponse:
        log.error("ledger unavailable: %s", exc)
        return JSONResponse({"error": "the ledger is unavailable; nothing was recorded, retry "
                                      "later"}, status_code=503)

    def count(source: str, state: str, n: int = 1) -> None:
        metrics.inc(_ALERTS, "Alerts by endpoint and what became of them (queued, repeat, "
                             "grouped, resolved, triage, rejected, not_recorded...).",
                    by=n, source=source, state=state)

    async def reject(source: str, code: int, reason: str, *, body: bytes | None = None,
                     problems: list[tuple[str, str]] | None = None,
                     answer: dict[str, Any] | None = None) -> JSONResponse:
        sample = None if body is None else excerpt(body, problems)
        alert_id = await run_in_threadpool(intake.reject, source, code, reason, sample)
        out = {"error": reason, **(answer or {})}
        if alert_id:
            out["sampled_as"] = alert_id
        return JSONResponse(out, status_code=code)

    async def authenticate(source: str, request: Request) -> tuple[bool, JSONResponse | None]:
        """(bearer ok, refusal): refused before the body is read whenever that is possible."""
        if creds.check_bearer(request.headers):
            return True, None
        if creds.signature_header(request.headers) is None or not creds.hmac_secret:
            why = ("invalid bearer token" if "authorization" in request.headers else
                   "missing credentials: send 'Authorization: Bearer <token>', or "
                   "'X-MLPB-Timestamp' and 'X-MLPB-Signature: sha256=<hmac of "
                   "\"<timestamp>.<body>\">'")
            if creds.signature_header(request.headers) is not None:
                why = "invalid HMAC signature: no MLPB_RECEIVER_HMAC_SECRET is set"
            return False, await reject(source, 401, why)
        try:
            creds.check_timestamp(request.headers)
        except AuthError as exc:
            return False, await reject(source, 401, str(exc))
        return False, None

    async def receive(source: str, request: Request) -> Response:
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > config.max_body:
            return await reject(source, 413, f"body of {int(length)} bytes exceeds the "
                                f"{config.max_body}-byte limit; lower max_alerts on the sender",
                                answer={"size": int(length)})
        bearer_ok, refusal = await authenticate(source, request)
        if refusal is not None:
            return refusal
        try:
            body = await _read_limited(request, config.max_body)
        except _TooLarge:
            return await reject(source, 413, f"body exceeds the {config.max_body}-byte limit; "
                                             "lower max_alerts on the sender")
        except ClientDisconnect:  # cut off by the body timeout, or gone: nobody to answer
            count(source, "client_gone")
            return Response(status_code=499)
        signed = None
        if not bearer_ok:
            try:
                signed = creds.verify_signature(request.headers, body)
            except AuthError as exc:
                return await reject(source, 401, str(exc))
            if replays.seen(signed):
                return await reject(source, 401, "replayed request: this signature was "
                                                 "already accepted; sign each request anew")
        try:
            parsed = PARSERS[source](body)
        except AlertParseError as exc:
            count(source, "rejected")
            return await reject(source, exc.status_code, exc.message, body=body,
                                problems=exc.problems, answer=exc.to_json())
        try:
            outcome = await run_in_threadpool(intake.process, parsed.alerts, parsed.indexes,
                                              signed=signed)
        except Replayed:
            return await reject(source, 401, "replayed request: this signature was already "
                                             "accepted; sign each request anew")
        if signed is not None:
            replays.remember(signed)
        return answer(source, parsed, outcome)

    def answer(source: str, parsed: Parsed, outcome: Outcome) -> JSONResponse:
        for r in outcome.results:
            count(source, r.dispatch_state)
        if parsed.rejected:
            count(source, "rejected", len(parsed.rejected))
        if outcome.not_recorded:
            count(source, "not_recorded", len(outcome.not_recorded))
        body: dict[str, Any] = {"accepted": len(outcome.results),
                                "alerts": [r.to_json() for r in outcome.results]}
        missed = [r.to_json() for r in parsed.rejected] + [
            n.to_json() for n in outcome.not_recorded]
        task = BackgroundTask(intake.send, outcome.notifications)
        if not missed:
            return JSONResponse(body, status_code=202, background=task)
        missed.sort(key=lambda m: int(m["index"]))
        total = len(outcome.results) + len(missed)
        body["error"] = (f"{len(missed)} of {total} alerts were not recorded (see not_recorded); "
                         f"the other {len(outcome.results)} were")
        body["not_recorded"] = missed[:20]
        if len(missed) > 20:
            body["more_not_recorded"] = len(missed) - 20
        return JSONResponse(body, status_code=422, background=task)

    def endpoint(source: str) -> Callable[[Request], Awaitable[Response]]:
        async def handler(request: Request) -> Response:
            return await receive(source, request)

        handler.__name__ = f"receive_{source}"
        handler.__doc__ = f"Receive a {source} notification (see README: The receiver)."
        return handler

    for source in PARSERS:
        app.add_api_route(f"/alerts/{source}", endpoint(source), methods=["POST"],
                          status_code=202, response_class=JSONResponse)

    @app.post("/slack/interactions")
    async def slack_interactions(request: Request) -> Response:
        """Slack buttons and modals (README: Slack interactivity). Signed by Slack, so the
        receiver's bearer token is not asked for; 401 for a missing, bad or stale one."""
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > config.max_body:
            return await reject("slack", 413, f"body of {int(length)} bytes exceeds the "
                                f"{config.max_body}-byte limit")
        early = header_problem(config.slack_signing_secret, request.headers)
        if early is not None:
            return await reject("slack", 401, early)  # before the body is read
        try:
            body = await _read_limited(request, config.max_body)
        except _TooLarge:
            return await reject("slack", 413, f"body exceeds the {config.max_body}-byte limit")
        except ClientDisconnect:
            return Response(status_code=499)
        problem = signature_problem(config.slack_signing_secret, request.headers, body)
        if problem is not None or slack is None:
            return await reject("slack", 401, problem or "Slack interactivity is off")
        try:
            press = parse_interaction(body)
        except InteractionError as exc:
            return await reject("slack", exc.http_status, exc.message)
        out = await run_in_threadpool(slack.handle, press)
        if out.body is None:
            return Response(status_code=out.status)
        return JSONResponse(out.body, status_code=out.status)

    async def ledger_up() -> bool:
        try:
            await run_in_threadpool(store.ping)
            return True
        except (SQLAlchemyError, LedgerError, OSError):
            return False

    @app.get("/healthz")
    async def healthz(request: Request) -> JSONResponse:
        """Without auth: ok and whether the ledger answers. With the bearer token: details."""
        up = await ledger_up()
        out: dict[str, Any] = {"status": "ok" if up else "unavailable",
                               "ledger": "reachable" if up else "unreachable"}
        if creds.check_bearer(request.headers):
            counts = await run_in_threadpool(store.counts) if up else {}
            out["dispatch"] = {"enabled": loop is not None, **counts,
                               "last_error": loop.last_error if loop else None}
            out["routing"] = config.routing
            out["requests"] = metrics.total(_REQUESTS)
        return JSONResponse(out, status_code=200 if up else 503)

    @app.get("/metrics")
    async def prometheus(request: Request) -> Response:
        """Prometheus text format; needs the bearer token when one is configured."""
        if creds.token and not creds.check_bearer(request.headers):
            return JSONResponse({"error": "send 'Authorization: Bearer <token>' (Prometheus: "
                                          "authorization.credentials)"}, status_code=401)
        up = await ledger_up()
        counts = await run_in_threadpool(store.counts) if up else {}
        gauges = [("mlpb_ledger_up", "1 when the ledger answers.", {}, float(up)),
                  *[("mlpb_dispatch_queue", "Dispatch rows by state.", {"state": s},
                     float(counts.get(s, 0))) for s in ("queued", "dispatched", "failed")],
                  ("mlpb_dispatch_loop_running", "1 when this receiver dispatches runs.", {},
                   float(loop is not None)),
                  ("mlpb_dispatch_failing", "1 while the last launch attempt failed.", {},
                   float(bool(loop and loop.last_error)))]
        return PlainTextResponse(metrics.render(gauges),
                                 media_type="text/plain; version=0.0.4; charset=utf-8")

    return app


def timed_protocol(header_timeout: float, body_timeout: float,
                   on_cutoff: Callable[[str], None] = lambda _: None) -> type[H11Protocol]:
    """uvicorn's h11 protocol with read deadlines it lacks: a connection must complete its
    request headers within ``header_timeout`` of opening (or of its previous answer), and its
    body within ``body_timeout`` of the headers, or it is closed (``on_cutoff("header")`` /
    ``("body")``). A handler reading that body sees the client disconnect."""

    class TimedH11Protocol(H11Protocol):
        _deadline: asyncio.TimerHandle | None = None
        _phase: str | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._watch()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            self._watch()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._watch()

        def connection_lost(self, exc: Exception | None) -> None:
            self._set(None)
            super().connection_lost(exc)

        def _watch(self) -> None:
            state = self.conn.their_state
            self._set("header" if state is h11.IDLE else "body" if state is h11.SEND_BODY
                      else None)

        def _set(self, phase: str | None) -> None:
            if phase == self._phase:
                return
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None
            self._phase = phase
            if phase is not None:
                timeout = header_timeout if phase == "header" else body_timeout
                self._deadline = self.loop.call_later(timeout, self._expire, phase)

        def _expire(self, phase: str) -> None:
            self._deadline = None
            if not self.transport.is_closing():
                on_cutoff(phase)
                self.transport.close()

    return TimedH11Protocol


def uvicorn_config(app: FastAPI, *, host: str, port: int, **overrides: Any) -> uvicorn.Config:
    """How the receiver is served: its read timeouts, keep-alive and concurrency cap."""
    config: ReceiverConfig = app.state.config
    metrics: ReceiverMetrics = app.state.metrics

    def on_cutoff(phase: str) -> None:
        metrics.inc("mlpb_receiver_cutoffs_total", "Connections closed for reading too slowly "
                    "(phase: header or body).", phase=phase)

    kwargs: dict[str, Any] = {
        "host": host, "port": port, "log_level": "warning",
        "http": timed_protocol(config.header_timeout, config.body_timeout, on_cutoff),
        "timeout_keep_alive": config.keep_alive, "limit_concurrency": config.limit_concurrency,
        **overrides}
    return uvicorn.Config(app, **kwargs)
