"""`mlpb run data-quality --dry-run --json` on CSV data from elsewhere (a sensor fleet, no
MLflow model): the incident names the columns with missing values, the unseen categories and a
renamed column, and changes nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.e2e

MLPB = [sys.executable, "-m", "cli.main"]


def mlpb(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MLPB_HOME": str(home)}
    proc = subprocess.run([*MLPB, *args], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, f"mlpb {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}"
    return proc


def _sensors(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "reading_id": [f"r{seed}-{i}" for i in range(n)],
        "ts": pd.date_range("2026-01-01", periods=n, freq="min", tz="UTC").astype(str),
        "temperature_c": rng.normal(65, 6, n).round(2),
        "vibration_mm_s": rng.gamma(2.0, 1.5, n).round(3),
        "pressure_kpa": rng.normal(300, 20, n).round(1),
        "humidity_pct": rng.uniform(20, 80, n).round(1),
        "site": rng.choice(["plant-a", "plant-b", "plant-c"], n, p=[0.5, 0.3, 0.2]),
        "firmware": rng.choice(["v1", "v2"], n),
        "failure_score": rng.uniform(0, 1, n).round(4),
    })


def test_data_quality_names_broken_columns_in_csv_data(tmp_path: Path) -> None:
    home = tmp_path / "home"
    _sensors(4000, seed=1).to_csv(tmp_path / "reference.csv", index=False)
    cur = _sensors(3000, seed=2)
    cur.loc[cur.sample(frac=0.25, random_state=1).index, "pressure_kpa"] = np.nan
    cur.loc[cur.sample(frac=0.15, random_state=2).index, "site"] = "plant-d"
    cur.loc[cur.sample(frac=0.05, random_state=3).index, "firmware"] = "v3-beta"
    cur = cur.rename(columns={"humidity_pct": "rel_humidity"})  # upstream renamed it
    cur.to_csv(tmp_path / "current.csv", index=False)

    prof = tmp_path / "sensors.yaml"
    mlpb("profile", "init", "sensor-failure", "--reference", str(tmp_path / "reference.csv"),
         "--current", str(tmp_path / "current.csv"), "--timestamp", "ts", "--prediction",
         "failure_score", "--id", "reading_id", "-o", str(prof), home=home)
    res = json.loads(mlpb("run", "data-quality", "--profile", str(prof), "--dry-run", "--json",
                          home=home).stdout)

    assert res["playbook"] == "data-quality" and res["status"] == "diagnosed" and res["dry_run"]
    hyp = {h["id"]: h for h in res["hypotheses"]}
    assert res["root_cause"]["hypothesis_id"] == "schema-break"
    (renamed,) = hyp["schema-break"]["findings"]
    assert renamed["feature"] == "humidity_pct"
    assert renamed["detail"]["renamed_to"] == "rel_humidity"
    nulls = {f["feature"]: f for f in hyp["null-spike"]["findings"] if f["breached"]}
    assert set(nulls) == {"pressure_kpa"} and nulls["pressure_kpa"]["kind"] == "missing_values"
    assert nulls["pressure_kpa"]["value"] == pytest.approx(0.25, abs=0.01)
    unseen = {f["feature"]: f["detail"]["unseen_values"]
              for f in hyp["unseen-categories"]["findings"]}
    assert unseen == {"site": ["plant-d"], "firmware": ["v3-beta"]}
    for h in ("null-spike", "unseen-categories"):
        assert hyp[h]["verdict"] == "supported"
        for f in hyp[h]["findings"]:
            assert {"kind", "feature", "statistic", "value", "threshold", "breached"} <= f.keys()
    (rem,) = res["remediations"]
    assert rem["id"] == "quarantine-batch" and rem["dry_run"] and not rem["applied"]
    assert rem["plan"]["summary"].startswith("move 1 file(s) (3000 rows)")
    assert (tmp_path / "current.csv").is_file()  # a dry run moves nothing
