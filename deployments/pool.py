"""`make serve-pool WORKERS=N`: the playbook deployments on a Prefect ``process`` work pool
with N workers, a Prefect server on PostgreSQL and the ledger on PostgreSQL.

    python -m deployments.pool --workers 4          (what `make serve-pool WORKERS=4` runs)
    python -m deployments.pool deploy --pool NAME   (deploy only; needs PREFECT_API_URL)

Starts, in order: the PostgreSQL databases if missing (``--prefect-db``, default
``mlpb_prefect_pool``; the ledger's ``mlpb_ledger_pool`` unless ``--ledger-url`` /
``MLPB_LEDGER_URL`` names one), a Prefect server on the first (asyncpg), the work pool, the
deployments of deployments/serve.py deployed to it from this repository's source (a worker
runs each flow in a fresh process from the checkout), and N ``prefect worker start``
processes. Each worker runs ``--worker-limit`` flow runs at a time (default 1), so N is the
number of playbook runs in flight. Every worker and flow-run process gets the same
``MLPB_HOME``, ``MLPB_LEDGER_URL`` and ``PREFECT_API_URL``: the ledger's model leases and
idempotent incident opening keep concurrent runs apart. Logs go to ``<home>/logs/``; Ctrl-C,
SIGTERM or SIGHUP stops everything (the databases stay).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from deployments.stack import BIN, Stack
from playbooks.config import harden_env
from playbooks.errors import ConfigError

__all__ = ["DEFAULT_ADMIN_URL", "DEFAULT_POOL", "DEFAULT_PREFECT_DB", "REPO_DIR",
           "PoolServer", "asyncpg_url", "database_url", "deploy_to_pool", "drop_database",
           "ensure_database", "libpq_url", "main", "pool_server", "worker_argv"]

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_PREFECT_DB = "mlpb_prefect_pool"
DEFAULT_LEDGER_DB = "mlpb_ledger_pool"
DEFAULT_POOL = "mlpb-pool"
REPO_DIR = Path(__file__).resolve().parents[1]


def database_url(admin_url: str, name: str) -> str:
    """``admin_url`` (any database on the server) pointed at database ``name``."""
    parts = urlsplit(admin_url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))


def asyncpg_url(url: str) -> str:
    """The SQLAlchemy URL Prefect's server wants (``postgresql+asyncpg://``)."""
    scheme, sep, rest = url.partition("://")
    if not sep or not scheme.startswith("postgres"):
        raise ConfigError(f"not a PostgreSQL URL: {url!r}",
                          hint="use postgresql://user@host:5432/db")
    return f"postgresql+asyncpg://{rest}"


def libpq_url(url: str) -> str:
    """The URL psycopg (libpq) takes: a SQLAlchemy URL's ``+driver`` dropped from the scheme
    (``postgresql+psycopg://`` as in MLPB_TEST_POSTGRES_URL or a ledger URL)."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme.split('+', 1)[0]}{sep}{rest}" if sep else url


def _check_name(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise ConfigError(f"database name {name!r} is not a plain identifier",
                          hint="use letters, digits and underscores, e.g. mlpb_prefect_pool")
    return name


def ensure_database(admin_url: str, name: str) -> str:
    """Create database ``name`` if it does not exist; returns its URL."""
    import psycopg

    _check_name(name)
    try:
        with psycopg.connect(libpq_url(admin_url), autocommit=True) as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                            (name,)).fetchone() is None:
                conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        raise ConfigError(f"cannot reach PostgreSQL at {admin_url}: {exc}",
                          hint="start PostgreSQL or pass --admin-url "
                          "postgresql://user@host:5432/postgres") from None
    return database_url(admin_url, name)


def drop_database(admin_url: str, name: str) -> None:
    """Drop database ``name`` (closing its sessions). Only for databases we created."""
    import psycopg

    with psycopg.connect(libpq_url(admin_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{_check_name(name)}" WITH (FORCE)')


def worker_argv(pool: str, name: str, limit: int) -> list[str]:
    return [str(BIN / "prefect"), "worker", "start", "--pool", pool, "--type", "process",
            "--name", name, "--limit", str(limit)]


def deploy_to_pool(pool: str, *, schedules: bool = True, source: Path = REPO_DIR) -> list[Any]:
    """Create the process work pool (if missing) and deploy every deployment of
    deployments/serve.py to it, loaded from ``source`` (a worker's flow-run process runs in
    that directory). Needs PREFECT_API_URL. ``schedules=False`` deploys the scheduled ones
    (controller, drill, report) paused: benchmarks start runs themselves."""
    from prefect import Flow, deploy
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists

    from deployments.serve import build_deployments

    with get_client(sync_client=True) as client, suppress(ObjectAlreadyExists):
        client.create_work_pool(WorkPoolCreate(name=pool, type="process"))
    flows: dict[str, Any] = {}
    deployments = []
    for local in build_deployments():  # serve's names, parameters, forms and schedules
        entry = _relative_entrypoint(str(local.entrypoint), source)
        if entry not in flows:
            flows[entry] = Flow.from_source(source=str(source), entrypoint=entry)
        dep = flows[entry].to_deployment(
            name=local.name, parameters=local.parameters, tags=local.tags,
            description=local.description, schedules=local.schedules or None,
            paused=None if schedules else True, job_variables={"env": harden_env({})})
        dep._parameter_openapi_schema = local._parameter_openapi_schema
        deployments.append(dep)
    ids = deploy(*deployments, work_pool_name=pool, build=False, push=False,
                 print_next_steps_message=False, ignore_warnings=True)
    assert isinstance(ids, list)  # sync context: deploy ran (an async caller gets a coroutine)
    return ids


def _relative_entrypoint(entry: str, source: Path) -> str:
    """``path/to/flows/engine.py:run_playbook`` relative to ``source`` (to_deployment makes
    it relative to the working directory, or absolute outside it)."""
    path, sep, fn = entry.rpartition(":")
    file = Path(path)
    if not file.is_absolute():
        file = Path.cwd() / file
    return f"{file.resolve().relative_to(source.resolve()).as_posix()}{sep}{fn}"


class PoolServer:
    """A Prefect server on PostgreSQL and its work pool; workers come and go."""

    def __init__(self, stack: Stack, pool: str, api_url: str) -> None:
        self.stack, self.pool, self.api_url = stack, pool, api_url
        self.workers: list[str] = []

    def deploy(self, *, schedules: bool = True) -> None:
        """In a child process: this one keeps Prefect unimported (its settings come from
        the environment at import)."""
        argv = [sys.executable, "-m", "deployments.pool", "deploy", "--pool", self.pool]
        done = subprocess.run(argv + ([] if schedules else ["--paused"]), env=self.stack.env,
                              capture_output=True, text=True, check=False)
        if done.returncode:
            raise RuntimeError(f"deploying to {self.pool} failed:\n{done.stdout}{done.stderr}")

    def start_workers(self, n: int, *, limit: int = 1, prefix: str = "worker-",
                      env: Mapping[str, str] | None = None) -> list[str]:
        """Start ``n`` workers (logs ``<home>/logs/<prefix><i>.log``); ``env`` overrides
        the server's environment for them and the flow runs they start."""
        self.stack.env.update(env or {})
        started = []
        for _ in range(n):
            name = f"{prefix}{len(self.workers) + 1}"
            self.stack.start(name, worker_argv(self.pool, name, limit))
            self.workers.append(name)
            started.append(name)
        return started

    def stop_workers(self) -> None:
        """Stop the workers (SIGTERM: a process worker ends with its runs)."""
        for name in self.workers:
            proc = self.stack.procs.pop(name)
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.workers.clear()


@contextmanager
def pool_server(home: Path, *, prefect_db_url: str, ledger_url: str, port: int,
                pool: str = DEFAULT_POOL, extra_env: Mapping[str, str] | None = None,
                timeout: float = 180.0) -> Iterator[PoolServer]:
    """The Prefect server (its own PREFECT_HOME under ``home``) on ``prefect_db_url``, up;
    every process it starts shares ``ledger_url`` and ``home``. Stopped on exit."""
    from playbooks.ledger import Ledger

    (home / "logs").mkdir(parents=True, exist_ok=True)
    Ledger(ledger_url).engine.dispose()  # tables exist before N workers race to create them
    api = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, "MLPB_HOME": str(home), "MLPB_LEDGER_URL": ledger_url,
           "PREFECT_HOME": str(home / "prefect-pool"), "PREFECT_API_URL": api,
           "PREFECT_API_DATABASE_CONNECTION_URL": asyncpg_url(prefect_db_url),
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PYTHONUNBUFFERED": "1",
           **(extra_env or {})}
    harden_env(env)
    stack = Stack(home, env)
    try:
        stack.start("prefect", [str(BIN / "prefect"), "server", "start", "--host",
                                "127.0.0.1", "--port", str(port)])
        stack.wait_http("prefect", f"{api}/health", timeout)
        yield PoolServer(stack, pool, api)
    finally:
        stack.stop()


class _Stop(Exception):
    pass


def _on_signal(signum: int, _frame: object) -> None:
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN)
    raise _Stop(signal.Signals(signum).name)


def main(argv: list[str] | None = None) -> int:
    args_in = sys.argv[1:] if argv is None else argv
    if args_in[:1] == ["deploy"]:
        dp = argparse.ArgumentParser(prog="python -m deployments.pool deploy")
        dp.add_argument("--pool", default=DEFAULT_POOL)
        dp.add_argument("--paused", action="store_true", help="scheduled deployments paused")
        ns = dp.parse_args(args_in[1:])
        ids = deploy_to_pool(ns.pool, schedules=not ns.paused)
        print(f"deployed {len(ids)} deployments to work pool {ns.pool!r}")
        return 0
    ap = argparse.ArgumentParser(prog="python -m deployments.pool", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, default=int(os.environ.get("WORKERS", "2")))
    ap.add_argument("--worker-limit", type=int, default=1,
                    help="flow runs each worker runs at once (default 1)")
    ap.add_argument("--home", default=os.environ.get("MLPB_HOME", ".mlpb"))
    ap.add_argument("--port", type=int, default=4200)
    ap.add_argument("--pool", default=DEFAULT_POOL)
    ap.add_argument("--admin-url", default=os.environ.get("MLPB_PG_ADMIN_URL",
                                                          DEFAULT_ADMIN_URL),
                    help=f"PostgreSQL to create the databases on (default {DEFAULT_ADMIN_URL})")
    ap.add_argument("--prefect-db", default=DEFAULT_PREFECT_DB)
    ap.add_argument("--ledger-url", default=os.environ.get("MLPB_LEDGER_URL"),
                    help=f"the ledger (default: database {DEFAULT_LEDGER_DB} on --admin-url)")
    args = ap.parse_args(args_in)
    if args.workers < 1 or args.worker_limit < 1:
        ap.error("--workers and --worker-limit must be at least 1")
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)
    home = Path(args.home).expanduser().resolve()
    try:
        prefect_db = ensure_database(args.admin_url, args.prefect_db)
        ledger = args.ledger_url or ensure_database(args.admin_url, DEFAULT_LEDGER_DB)
        print(f"Prefect server on {prefect_db}; ledger on {ledger}", flush=True)
        with pool_server(home, prefect_db_url=prefect_db, ledger_url=ledger, port=args.port,
                         pool=args.pool) as server:
            server.deploy()
            server.start_workers(args.workers, limit=args.worker_limit)
            print(f"""
ready: work pool {args.pool!r} with {args.workers} process worker(s) x {args.worker_limit}
  Prefect UI  http://127.0.0.1:{args.port}
  run one     PREFECT_API_URL={server.api_url} prefect deployment run run-playbook/data-drift \\
                -p profile=credit-risk -p dry_run=true
Ctrl-C (or SIGTERM / SIGHUP) stops the workers and the server.""", flush=True)
            while True:
                server.stack.check()
                time.sleep(1)
    except KeyboardInterrupt:
        print("\nCtrl-C: shutting down", flush=True)
    except _Stop as stop:
        print(f"\n{stop}: shutting down", flush=True)
    except (RuntimeError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
