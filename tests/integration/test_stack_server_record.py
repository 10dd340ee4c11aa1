"""`make serve`'s Prefect server is recorded in the state dir while it runs, a CLI process on
that state dir runs its flows there (not on an embedded server of its own), and the record
goes when the stack stops. A real stack (`--components prefect`: a real `prefect server`)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from bench.harness import free_port
from deployments.server_record import RECORD_NAME, live_server_url

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).parents[2]

# What `mlpb run` does before its flow: prepare the environment, then import Prefect.
_CLIENT = """
import sys
from cli.env import prepare_prefect_env
from playbooks.config import load_settings

print("USING", prepare_prefect_env(load_settings(sys.argv[1]).ensure()), flush=True)
from prefect import flow
from prefect.runtime import flow_run

@flow(name="server-record-probe")
def probe() -> str:
    return str(flow_run.id)

print("RUN", probe(), flush=True)
"""


def test_cli_runs_on_the_stack_server_while_it_runs(tmp_path: Path) -> None:
    home = tmp_path / "home"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    stack = subprocess.Popen(
        [sys.executable, "-m", "deployments.stack", "--home", str(home), "--components",
         "prefect", "--prefect-port", str(port), "--start-timeout", "300"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True)
    assert stack.stdout is not None
    lines: list[str] = []
    api = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + 330
        while time.monotonic() < deadline:
            line = stack.stdout.readline()
            assert line, "the stack exited before it was ready:\n" + "".join(lines)
            lines.append(line)
            if line.startswith("ready:"):
                break
        record = json.loads((home / RECORD_NAME).read_text())
        assert record["url"] == api
        assert live_server_url(home) == api

        client = subprocess.run([sys.executable, "-c", _CLIENT, str(home)], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=300)
        assert client.returncode == 0, client.stdout + client.stderr
        out = dict(ln.split(" ", 1) for ln in client.stdout.splitlines()
                   if ln.startswith(("USING ", "RUN ")))
        assert out["USING"] == api
        run = httpx.get(f"{api}/flow_runs/{out['RUN']}", timeout=10)
        assert run.status_code == 200, run.text  # the run is on the stack's server
        assert run.json()["state_type"] == "COMPLETED"

        stack.send_signal(signal.SIGTERM)
        rest, _ = stack.communicate(timeout=90)
    finally:
        if stack.poll() is None:
            os.killpg(stack.pid, signal.SIGKILL)
            stack.wait()
    assert stack.returncode == 0, "".join(lines) + rest
    assert not (home / RECORD_NAME).exists()
    assert live_server_url(home) is None
