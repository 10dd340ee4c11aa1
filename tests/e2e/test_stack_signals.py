"""`make serve` (deployments/stack.py) stops every child on SIGTERM and SIGHUP, also when
launched in the background (SIGINT ignored), and its MLflow server serves the store the
sandbox profile uses (issue 13, point 13). A reduced stack: the MLflow server and the
receiver, the same process handling as the full one."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from bench.harness import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
ROOT = Path(__file__).parents[2]


def _groups_members(pgids: set[int]) -> list[int]:
    """Live processes (not zombies) in any of the process groups ``pgids``."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        if int(fields[2]) in pgids and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def _register_a_model(home: Path) -> None:
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from playbooks.modelstore import MlflowModelStore

    x = np.random.default_rng(0).normal(size=(200, 3))
    MlflowModelStore.local(home).register_model(
        "shared-store-model", LogisticRegression().fit(x, x[:, 0] > 0), experiment="stack",
        params={}, metrics={}, tags={})


def _ignore_sigint() -> None:  # what `make serve &` in a non-interactive shell gives
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_signal_stops_every_child_and_mlflow_shows_the_sandbox_store(
    tmp_path: Path, sig: signal.Signals
) -> None:
    home = tmp_path / "home"
    _register_a_model(home)
    mlflow_port, receiver_port = free_port(), free_port()
    env = {**os.environ, "MLPB_RECEIVER_TOKEN": "t" * 32}
    proc = subprocess.Popen(
        [sys.executable, "-m", "deployments.stack", "--home", str(home), "--components",
         "mlflow,receiver", "--start-timeout", "600", "--mlflow-port", str(mlflow_port),
         "--receiver-port", str(receiver_port)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        preexec_fn=_ignore_sigint, start_new_session=True)
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 700
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            assert line, "the stack exited before it was ready:\n" + "".join(lines)
            lines.append(line)
            if line.startswith("ready:"):
                break
        children = {int(m.group(1)) for m in
                    (re.search(r"started \w+ +pid (\d+)", ln) for ln in lines) if m}
        assert len(children) == 2, lines
        assert len(_groups_members(children)) > 2  # MLflow's server runs workers in its group

        found = httpx.get(f"http://127.0.0.1:{mlflow_port}/api/2.0/mlflow/registered-models/"
                          "search", timeout=10).json()
        assert [m["name"] for m in found["registered_models"]] == ["shared-store-model"]

        proc.send_signal(signal.SIGINT)  # ignored in the background (else "Ctrl-C: ...")...
        proc.send_signal(sig)  # ...but SIGTERM / SIGHUP stop it
        rest, _ = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0, "".join(lines) + rest
    assert f"{sig.name}: shutting down" in rest
    assert _groups_members(children) == []
