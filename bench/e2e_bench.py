"""End-to-end benchmark: ``mlpb run data-drift --dry-run`` on a generated partitioned log of
growing length (the window stays 7 days), beside the floor (bare pyarrow read of the window
plus our drift engine, ``bench.e2e_floor``) and Evidently's DataDriftPreset on the same window.

Each measurement is its own process: wall clock, CPU (user + sys) and peak RSS from
``os.wait4`` (the largest of the process and the children it waited for).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.datalog import LogShape, ensure_log, write_profile

__all__ = ["E2ERow", "Measured", "measure", "run_length"]

ROOT = Path(__file__).resolve().parent.parent
Progress = Callable[[str], None]
WINDOW_DAYS = 7


@dataclass(frozen=True)
class Measured:
    seconds: float
    cpu_seconds: float
    peak_mb: float
    stdout: str
    note: str | None = None  # why it failed


@dataclass(frozen=True)
class E2ERow:
    days: int
    log_rows: int
    log_gb: float
    window_rows: int
    run: Measured
    floor: Measured
    evidently: Measured | None = None
    drifted: str = ""

    @property
    def time_ratio(self) -> float:
        return self.run.seconds / self.floor.seconds

    @property
    def cpu_ratio(self) -> float:
        return self.run.cpu_seconds / max(self.floor.cpu_seconds, 1e-9)

    @property
    def memory_ratio(self) -> float:
        return self.run.peak_mb / self.floor.peak_mb


def measure(cmd: Sequence[str], *, env: dict[str, str] | None = None,
            timeout: float = 1800.0) -> Measured:
    """Run ``cmd`` to the end; its wall time, CPU time and peak RSS (MB)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(list(cmd), stdout=out, stderr=err, env=env, cwd=ROOT)
        killer = threading.Timer(timeout, proc.kill)  # a run that hangs is cut off, not waited
        killer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            killer.cancel()
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    note = None
    if proc.returncode != 0:
        tail = " | ".join(stderr.strip().splitlines()[-3:])
        note = f"exit {proc.returncode}: {tail}"
    return Measured(seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, stdout,
                    note)


def _drifted(run_json: str) -> str:
    try:
        inc = json.loads(run_json)
    except json.JSONDecodeError:
        return "?"
    rc = inc.get("root_cause") or {}
    return str(rc.get("hypothesis_id") or inc.get("status") or "?")


def _evidently(shape: LogShape, root: Path, progress: Progress, timeout: float) -> Measured:
    import pyarrow.parquet as pq

    from bench.drift_bench import RUNNER, ensure_evidently

    python, reason = ensure_evidently(progress)
    if python is None:
        return Measured(0.0, 0.0, 0.0, "", reason)
    cols = [*shape.numeric, *shape.categorical]
    parts = sorted((root / "log").iterdir())[-WINDOW_DAYS:]  # the window: its 7 days
    files = ",".join(str(f) for p in parts for f in p.glob("*.parquet"))
    with tempfile.TemporaryDirectory(prefix="mlpb-e2e-") as tmp:
        ref = Path(tmp) / "reference.parquet"
        pq.write_table(pq.read_table(root / "reference" / "reference.parquet", columns=cols), ref)
        progress(f"running Evidently DataDriftPreset on the window (timeout {timeout:.0f} s) ...")
        return measure([str(python), str(RUNNER), str(ref), files, str(Path(tmp) / "o.json"),
                        ",".join(shape.categorical)], timeout=timeout)


def run_length(days: int, *, cache: Path, home: Path, progress: Progress,
               evidently: bool = False, evidently_timeout: float = 900.0) -> E2ERow:
    shape = LogShape(days=days)
    root = ensure_log(shape, cache, progress)
    profile = write_profile(shape, root, window=f"{WINDOW_DAYS}d")
    # A busy machine can take minutes to start the embedded Prefect server: wait for it.
    env = {"PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "600", **os.environ,
           "MLPB_HOME": str(home)}
    mlpb = str(Path(sys.executable).with_name("mlpb"))
    progress(f"{days} days: mlpb run data-drift --dry-run ...")
    run = measure([mlpb, "run", "data-drift", "--profile", str(profile), "--dry-run", "--json"],
                  env=env)
    progress(f"{days} days: floor (pyarrow read of the window + drift engine) ...")
    floor = measure([sys.executable, "-m", "bench.e2e_floor", str(root), str(WINDOW_DAYS),
                     ",".join(shape.numeric), ",".join(shape.categorical)])
    files = list((root / "log").rglob("*.parquet"))
    window_rows = json.loads(floor.stdout)["rows"] if floor.note is None else 0
    ev = _evidently(shape, root, progress, evidently_timeout) if evidently else None
    return E2ERow(days=days, log_rows=days * shape.rows_per_day,
                  log_gb=sum(f.stat().st_size for f in files) / 1e9, window_rows=window_rows,
                  run=run, floor=floor, evidently=ev, drifted=_drifted(run.stdout))
