"""`make serve`: the whole local stack in one terminal; Ctrl-C, SIGTERM or SIGHUP stops it all.

Starts, in order: a Prefect server (its own PREFECT_HOME under the state dir), the sandbox
model (bootstrapped once so alerts have something to act on), an MLflow tracking server on
the *same* store the sandbox profile uses (``<state dir>/mlflow``: the UI shows the sandbox
model), the deployments (deployments/serve.py) and the alert receiver. Child output goes to
``<state dir>/logs/<name>.log``. Each child runs in its own process group and is stopped by
killing that group (MLflow's and Prefect's servers fork workers) and waiting for it. If any
child dies, the others are stopped too. ``--components`` starts a subset (tests, debugging).
While its Prefect server runs, ``<state dir>/prefect-server.json`` records its API URL and pid:
CLI commands on the same state dir use that server (deployments/server_record.py).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from deployments.server_record import remove_record, write_record
from playbooks.config import harden_env

__all__ = ["COMPONENTS", "Stack", "main"]

BIN = Path(sys.executable).parent
COMPONENTS = ("prefect", "sandbox", "mlflow", "serve", "receiver")


class Stop(Exception):
    """SIGTERM or SIGHUP arrived: shut everything down."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _on_signal(signum: int, _frame: object) -> None:
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):  # one shutdown at a time
        signal.signal(sig, signal.SIG_IGN)
    raise Stop(signum)


@dataclass
class Stack:
    home: Path
    env: dict[str, str]
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, name: str, argv: list[str]) -> None:
        log = (self.home / "logs" / f"{name}.log").open("ab")
        # Own session: Ctrl-C reaches only us, and we stop the children in reverse order.
        self.procs[name] = subprocess.Popen(argv, env=self.env, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        print(f"  started {name:<9} pid {self.procs[name].pid}  (log: {log.name})", flush=True)

    def wait_http(self, name: str, url: str, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check()
            try:
                if httpx.get(url, timeout=2).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"{name} did not answer at {url} within {timeout:.0f} s; "
                           f"see {self.home / 'logs' / (name + '.log')}")

    def check(self) -> None:
        for name, p in self.procs.items():
            if p.poll() is not None:
                raise RuntimeError(f"{name} exited with code {p.returncode}; "
                                   f"see {self.home / 'logs' / (name + '.log')}")

    def stop(self) -> None:
        """One at a time, newest first: serve still reaches Prefect to pause its schedules.
        The whole process group goes: a child's own workers must not outlive it."""
        for name, p in reversed(list(self.procs.items())):
            print(f"  stopping {name}", flush=True)
            _kill_group(p.pid, signal.SIGTERM)
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                _kill_group(p.pid, signal.SIGKILL)
                p.wait()
            if _group_alive(p.pid):  # the leader is gone; stragglers in its group are not
                _kill_group(p.pid, signal.SIGTERM)
                deadline = time.monotonic() + 10
                while _group_alive(p.pid) and time.monotonic() < deadline:
                    time.sleep(0.1)
                _kill_group(p.pid, signal.SIGKILL)


def _kill_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # already gone
        os.killpg(pgid, sig)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, not ours to signal
        return True
    return True


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m deployments.stack", description=__doc__)
    ap.add_argument("--home", default=os.environ.get("MLPB_HOME", ".mlpb"))
    ap.add_argument("--prefect-port", type=int, default=4200)
    ap.add_argument("--mlflow-port", type=int, default=5000)
    ap.add_argument("--receiver-port", type=int, default=8686)
    ap.add_argument("--routes", default=str(Path(__file__).with_name("routes.example.yaml")))
    ap.add_argument("--no-sandbox", action="store_true", help="skip the sandbox bootstrap")
    ap.add_argument("--start-timeout", type=float, default=180.0,
                    help="seconds each server may take to answer (default 180)")
    ap.add_argument("--components", default=",".join(COMPONENTS),
                    help=f"comma-separated subset of {', '.join(COMPONENTS)} (default: all)")
    args = ap.parse_args(argv)
    wanted = {c.strip() for c in args.components.split(",") if c.strip()}
    if unknown := wanted - set(COMPONENTS):
        ap.error(f"unknown component(s) {sorted(unknown)}; choose from {', '.join(COMPONENTS)}")
    if args.no_sandbox:
        wanted.discard("sandbox")
    # SIGTERM/SIGHUP (systemd, a closed terminal, `kill`) stop everything as Ctrl-C does; in
    # the background SIGINT is ignored, so these are how a script stops the stack.
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)

    home = Path(args.home).expanduser().resolve()
    (home / "logs").mkdir(parents=True, exist_ok=True)
    api = f"http://127.0.0.1:{args.prefect_port}/api"
    token = os.environ.get("MLPB_RECEIVER_TOKEN") or secrets.token_hex(16)
    env = {**os.environ, "MLPB_HOME": str(home), "PREFECT_HOME": str(home / "prefect-server"),
           "PREFECT_API_URL": api, "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "MLPB_RECEIVER_TOKEN": token, "PYTHONUNBUFFERED": "1"}
    harden_env(env)  # every child: MLflow never unpickles an artifact
    harden_env()  # and this process (the sandbox bootstrap loads models)
    stack = Stack(home, env)
    try:
        print(f"starting the ML Playbooks stack (state dir {home})", flush=True)
        if "prefect" in wanted:
            stack.start("prefect", [str(BIN / "prefect"), "server", "start", "--host",
                                    "127.0.0.1", "--port", str(args.prefect_port)])
        if "sandbox" in wanted:
            print("  bootstrapping the sandbox model (first time ~15 s)", flush=True)
            from playbooks.sandbox import bootstrap_sandbox

            bootstrap_sandbox(home)
        if "mlflow" in wanted:  # after the sandbox: it creates the store's tables first
            from playbooks.modelstore import MlflowModelStore

            store = MlflowModelStore.local(home)  # the store the sandbox profile names
            stack.start("mlflow", [str(BIN / "mlflow"), "server", "--host", "127.0.0.1",
                                   "--port", str(args.mlflow_port), "--backend-store-uri",
                                   store.tracking_uri, "--default-artifact-root",
                                   str(store.artifact_location), "--workers", "1"])
        if "prefect" in wanted:
            stack.wait_http("prefect", f"{api}/health", args.start_timeout)
            # `mlpb run` etc. on this state dir use this server instead of an embedded one.
            write_record(home, api, stack.procs["prefect"].pid)
        if "serve" in wanted:
            stack.start("serve", [sys.executable, "-m", "deployments.serve"])
        if "receiver" in wanted:
            stack.start("receiver", [str(BIN / "mlpb"), "receiver", "--home", str(home),
                                     "--port", str(args.receiver_port), "--routes",
                                     args.routes, "--prefect-api-url", api])
            stack.wait_http("receiver", f"http://127.0.0.1:{args.receiver_port}/healthz",
                            args.start_timeout)
        if "mlflow" in wanted:
            stack.wait_http("mlflow", f"http://127.0.0.1:{args.mlflow_port}/health",
                            args.start_timeout)
        print(f"""
ready:
  Prefect UI      http://127.0.0.1:{args.prefect_port}  (run-playbook/*, game-day/weekly)
  MLflow          http://127.0.0.1:{args.mlflow_port}
  alert receiver  http://127.0.0.1:{args.receiver_port}  (POST /alerts/<source>)
  receiver token  {token}
try:
  curl -X POST http://127.0.0.1:{args.receiver_port}/alerts/generic \\
    -H 'Authorization: Bearer {token}' -H 'Content-Type: application/json' \\
    -d '{{"model": "credit-risk", "labels": {{"alertname": "FeatureDrift"}}}}'
Ctrl-C (or SIGTERM / SIGHUP) stops everything.""", flush=True)
        while True:
            stack.check()
            time.sleep(1)
    except KeyboardInterrupt:
        print("\nCtrl-C: shutting down", flush=True)
        return 0
    except Stop as stop:
        print(f"\n{stop}: shutting down", flush=True)
        return 0
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):  # stop() runs to the end
            signal.signal(sig, signal.SIG_IGN)
        if "prefect" in stack.procs:  # first: no CLI command picks a server that is stopping
            remove_record(home, stack.procs["prefect"].pid)
        stack.stop()


if __name__ == "__main__":
    raise SystemExit(main())
