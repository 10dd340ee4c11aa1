"""Run Evidently's DataDriftPreset on two parquet files; executed by the Evidently venv's python.

Usage: python evidently_runner.py REFERENCE.parquet CURRENT.parquet OUT.json [CATEGORICAL]

CURRENT may be a comma-separated list of parquet files (a window's partitions); CATEGORICAL,
comma-separated, names the categorical columns (the rest are numerical).

Only ``Report.run`` is timed. Writes {"seconds", "version", "verdicts": {column: drifted},
"scores": {column: score}, "methods": {column: method}} to OUT.json. Kept free of project
imports: it runs in a different virtualenv (pandas < 3 there).
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any


def main(reference_path: str, current_path: str, out_path: str, categorical: str = "") -> None:
    import evidently
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    cats = [c for c in categorical.split(",") if c]
    reference = pd.read_parquet(reference_path)
    parts = current_path.split(",")
    current = pd.concat([pd.read_parquet(p, columns=list(reference.columns)) for p in parts],
                        ignore_index=True) if len(parts) > 1 else pd.read_parquet(parts[0])
    columns = [c for c in reference.columns if c not in cats]
    definition = DataDefinition(numerical_columns=columns, categorical_columns=cats)
    ref_ds = Dataset.from_pandas(reference, data_definition=definition)
    cur_ds = Dataset.from_pandas(current, data_definition=definition)

    report = Report([DataDriftPreset()], include_tests=True)
    start = time.perf_counter()
    snapshot = report.run(cur_ds, ref_ds)
    seconds = time.perf_counter() - start

    result = snapshot.dict()
    verdicts: dict[str, bool] = {}
    for test in result["tests"]:
        params: dict[str, Any] = test["metric_config"]["params"]
        if test["id"] == "drift" and "column" in params:
            verdicts[params["column"]] = test["status"] == "FAIL"  # FAIL = drift detected
    scores: dict[str, float] = {}
    methods: dict[str, str] = {}
    for metric in result["metrics"]:
        config = metric["config"]
        if config.get("type", "").endswith("ValueDrift"):
            scores[config["column"]] = float(metric["value"])
            methods[config["column"]] = str(config.get("method"))
    with open(out_path, "w") as fh:
        json.dump({"seconds": seconds, "version": evidently.__version__, "verdicts": verdicts,
                   "scores": scores, "methods": methods}, fh)


if __name__ == "__main__":
    main(*sys.argv[1:5])
