"""`make serve`: the whole local stack in one terminal; Ctrl-C stops it all.

Starts, in order: a Prefect server (its own PREFECT_HOME under the state dir), an MLflow
tracking server, the sandbox model (bootstrapped once so alerts have something to act on),
the deployments (deployments/serve.py) and the alert receiver. Child output goes to
``<state dir>/logs/<name>.log``. If any child dies, the others are stopped too.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

__all__ = ["Stack", "main"]

BIN = Path(sys.executable).parent


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
        """One at a time, newest first: serve still reaches Prefect to pause its schedules."""
        for name, p in reversed(list(self.procs.items())):
            if p.poll() is not None:
                continue
            print(f"  stopping {name}", flush=True)
            os.killpg(p.pid, signal.SIGTERM)
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m deployments.stack", description=__doc__)
    ap.add_argument("--home", default=os.environ.get("MLPB_HOME", ".mlpb"))
    ap.add_argument("--prefect-port", type=int, default=4200)
    ap.add_argument("--mlflow-port", type=int, default=5000)
    ap.add_argument("--receiver-port", type=int, default=8686)
    ap.add_argument("--routes", default=str(Path(__file__).with_name("routes.example.yaml")))
    ap.add_argument("--no-sandbox", action="store_true", help="skip the sandbox bootstrap")
    args = ap.parse_args(argv)

    home = Path(args.home).expanduser().resolve()
    (home / "logs").mkdir(parents=True, exist_ok=True)
    api = f"http://127.0.0.1:{args.prefect_port}/api"
    token = os.environ.get("MLPB_RECEIVER_TOKEN") or secrets.token_hex(16)
    env = {**os.environ, "MLPB_HOME": str(home), "PREFECT_HOME": str(home / "prefect-server"),
           "PREFECT_API_URL": api, "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "MLPB_RECEIVER_TOKEN": token, "PYTHONUNBUFFERED": "1"}
    stack = Stack(home, env)
    try:
        print(f"starting the ML Playbooks stack (state dir {home})", flush=True)
        stack.start("prefect", [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1",
                                "--port", str(args.prefect_port)])
        (home / "mlflow-server").mkdir(exist_ok=True)
        stack.start("mlflow", [str(BIN / "mlflow"), "server", "--host", "127.0.0.1",
                               "--port", str(args.mlflow_port), "--backend-store-uri",
                               f"sqlite:///{home / 'mlflow-server' / 'mlflow.db'}",
                               "--default-artifact-root",
                               str(home / "mlflow-server" / "artifacts")])
        if not args.no_sandbox:
            print("  bootstrapping the sandbox model (first time ~15 s)", flush=True)
            from playbooks.sandbox import bootstrap_sandbox

            bootstrap_sandbox(home)
        stack.wait_http("prefect", f"{api}/health")
        stack.start("serve", [sys.executable, "-m", "deployments.serve"])
        stack.start("receiver", [str(BIN / "mlpb"), "receiver", "--home", str(home),
                                 "--port", str(args.receiver_port), "--routes", args.routes,
                                 "--prefect-api-url", api])
        stack.wait_http("receiver", f"http://127.0.0.1:{args.receiver_port}/healthz")
        stack.wait_http("mlflow", f"http://127.0.0.1:{args.mlflow_port}/health")
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
Ctrl-C stops everything.""", flush=True)
        while True:
            stack.check()
            time.sleep(1)
    except KeyboardInterrupt:
        print("\nCtrl-C: shutting down", flush=True)
        return 0
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        stack.stop()


if __name__ == "__main__":
    raise SystemExit(main())
