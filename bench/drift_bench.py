"""Drift engine benchmark: our time and memory, and Evidently's DataDriftPreset on the same data.

Evidently lives in its own virtualenv (``.bench/evidently-venv``, made on first use) because
it pins pandas < 3; it runs in a subprocess on parquet copies of the data.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from playbooks.stats import drift_report

__all__ = [
    "BenchRow",
    "EvidentlyResult",
    "ensure_evidently",
    "generate",
    "run_evidently",
    "run_size",
]

ROOT = Path(__file__).resolve().parent.parent
EVIDENTLY_VENV = ROOT / ".bench" / "evidently-venv"
EVIDENTLY_REQUIREMENTS = ("evidently==0.7.*", "pandas<3", "pyarrow")
RUNNER = Path(__file__).resolve().parent / "evidently_runner.py"

Progress = Callable[[str], None]

# Planted changes: large ones every drift detector should flag, small ones none should.
_LARGE = ("mean+0.5sd", "mean+1sd", "scale*1.5", "unit*100")
_SMALL = ("mean+0.03sd",)


def _quiet(_: str) -> None:
    return None


@dataclass(frozen=True)
class EvidentlyResult:
    seconds: float | None
    verdicts: dict[str, bool]
    note: str | None = None  # why there is no result


@dataclass(frozen=True)
class BenchRow:
    rows: int
    features: int
    ours_seconds: float
    ours_peak_mb: float
    input_mb: float
    memory_ratio: float
    ours_truth_agreement: float  # share of columns where our verdict matches the planted change
    evidently_seconds: float | None = None
    speedup: float | None = None
    verdict_agreement: float | None = None  # share of columns where we and Evidently agree
    evidently_truth_agreement: float | None = None
    evidently_note: str | None = None


def _base_column(rng: np.random.Generator, family: int, n: int) -> NDArray[np.float64]:
    """One of five reference-like shapes, all with mean ~0-3 and std ~1."""
    if family == 0:
        return rng.standard_normal(n)
    if family == 1:
        return rng.lognormal(0.0, 0.5, n)
    if family == 2:
        return rng.uniform(-1.7, 1.7, n)
    if family == 3:  # bimodal mix
        return rng.standard_normal(n) * 0.5 + np.where(rng.random(n) < 0.3, 2.0, -1.0)
    return rng.poisson(3.0, n).astype(np.float64)


def _apply(change: str, x: NDArray[np.float64], sd: float) -> NDArray[np.float64]:
    if change.startswith("mean+"):
        return x + float(change[5:-2]) * sd
    if change == "scale*1.5":
        mean = float(x.mean())
        return (x - mean) * 1.5 + mean
    if change == "unit*100":
        return x * 100.0
    raise ValueError(change)


def generate(rows: int, features: int, seed: int = 0
             ) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, str]]:
    """Seeded reference and current frames, and the change planted per changed column.

    About 10% of columns get a large change and 10% a small one; the rest are unchanged.
    """
    rng = np.random.default_rng(seed)
    names = [f"f{i:03d}" for i in range(features)]
    order = rng.permutation(features)
    n_large = max(1, round(features * 0.1))
    n_small = max(1, round(features * 0.1))
    planted = {names[j]: _LARGE[k % len(_LARGE)] for k, j in enumerate(order[:n_large])}
    planted |= {names[j]: _SMALL[k % len(_SMALL)]
                for k, j in enumerate(order[n_large:n_large + n_small])}
    ref_cols, cur_cols = {}, {}
    for i, name in enumerate(names):
        ref_cols[name] = _base_column(rng, i % 5, rows)
        cur = _base_column(rng, i % 5, rows)
        if name in planted:
            cur = _apply(planted[name], cur, float(ref_cols[name].std()))
        cur_cols[name] = cur
    return pd.DataFrame(ref_cols), pd.DataFrame(cur_cols), planted


def _truth(columns: list[str], planted: dict[str, str]) -> dict[str, bool]:
    return {c: planted.get(c) in _LARGE for c in columns}


def _agreement(a: dict[str, bool], b: dict[str, bool]) -> float:
    common = [c for c in a if c in b]
    return sum(a[c] == b[c] for c in common) / len(common) if common else float("nan")


def ensure_evidently(progress: Progress = _quiet) -> tuple[Path | None, str | None]:
    """Python of the Evidently venv, creating it on first use; else (None, reason)."""
    python = EVIDENTLY_VENV / "bin" / "python"
    probe = [str(python), "-c", "import evidently, pyarrow"]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return python, None
    base = shutil.which("python3") or sys.executable
    progress(f"creating {EVIDENTLY_VENV.relative_to(ROOT)} and installing "
             f"{' '.join(EVIDENTLY_REQUIREMENTS)} (one-off, about a minute) ...")
    steps = [[base, "-m", "venv", str(EVIDENTLY_VENV)],
             [str(python), "-m", "pip", "install", "--quiet", *EVIDENTLY_REQUIREMENTS]]
    for step in steps:
        try:
            done = subprocess.run(step, capture_output=True, text=True, timeout=1200)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return None, f"could not install Evidently: {exc}"
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            return None, f"could not install Evidently ({' '.join(step[2:4])}): {' | '.join(tail)}"
    if subprocess.run(probe, capture_output=True).returncode != 0:
        return None, "Evidently installed but does not import"
    return python, None


def run_evidently(reference: pd.DataFrame, current: pd.DataFrame, timeout: float,
                  progress: Progress = _quiet) -> EvidentlyResult:
    python, reason = ensure_evidently(progress)
    if python is None:
        return EvidentlyResult(None, {}, reason)
    with tempfile.TemporaryDirectory(prefix="mlpb-bench-") as tmp:
        ref_path, cur_path, out = (Path(tmp) / f for f in ("ref.parquet", "cur.parquet",
                                                          "out.json"))
        progress("writing parquet for Evidently ...")
        reference.to_parquet(ref_path, compression=None)
        current.to_parquet(cur_path, compression=None)
        progress(f"running Evidently DataDriftPreset (timeout {timeout:.0f} s) ...")
        cmd = [str(python), str(RUNNER), str(ref_path), str(cur_path), str(out)]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return EvidentlyResult(None, {}, f"Evidently did not finish within {timeout:.0f} s")
        if done.returncode != 0:
            tail = done.stderr.strip().splitlines()[-2:]
            return EvidentlyResult(None, {}, f"Evidently failed: {' | '.join(tail)}")
        result = json.loads(out.read_text())
    return EvidentlyResult(float(result["seconds"]), dict(result["verdicts"]))


def _ours(reference: pd.DataFrame, current: pd.DataFrame) -> dict[str, bool]:
    report = drift_report(reference, current, list(reference.columns), [])
    return {f.feature: f.breached() for f in report.features}


def run_size(rows: int, features: int, *, skip_evidently: bool = False,
             evidently_timeout: float = 900.0, seed: int = 0,
             progress: Progress = _quiet) -> BenchRow:
    progress(f"generating {rows:,} x {features} (reference and current) ...")
    reference, current, planted = generate(rows, features, seed)
    input_mb = (reference.memory_usage(index=False).sum()
                + current.memory_usage(index=False).sum()) / 1e6
    _ours(reference.head(1000), current.head(1000))  # warm up imports and first calls

    progress("running ours: fit_reference + compute_drift ...")
    start = time.perf_counter()
    verdicts = _ours(reference, current)
    seconds = time.perf_counter() - start

    progress("measuring our peak memory (separate run under tracemalloc) ...")
    tracemalloc.start()
    try:
        _ours(reference, current)
        peak_mb = tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()

    truth = _truth(list(reference.columns), planted)
    row = BenchRow(rows=rows, features=features, ours_seconds=seconds, ours_peak_mb=peak_mb,
                   input_mb=input_mb, memory_ratio=peak_mb / input_mb,
                   ours_truth_agreement=_agreement(verdicts, truth))
    if skip_evidently:
        return row
    evid = run_evidently(reference, current, evidently_timeout, progress)
    if evid.seconds is None:
        return replace(row, evidently_note=evid.note)
    return replace(row, evidently_seconds=evid.seconds, speedup=evid.seconds / seconds,
                    verdict_agreement=_agreement(verdicts, evid.verdicts),
                    evidently_truth_agreement=_agreement(evid.verdicts, truth))

