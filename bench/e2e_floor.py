"""The floor of a data-drift run: the bare pyarrow read of the window's partitions plus the
project's drift engine, nothing else (no Prefect, no ledger, no other evidence).

Usage: python -m bench.e2e_floor LOG_ROOT WINDOW_DAYS NUMERIC CATEGORICAL
(column lists comma-separated). Prints {"seconds", "rows", "drifted"} as JSON.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import timedelta
from pathlib import Path


def main(root: str, window_days: str, numeric: str, categorical: str) -> None:
    start = time.perf_counter()
    import pyarrow.compute as pc
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    from playbooks.stats import drift_report

    log = Path(root) / "log"
    parts = sorted(p for p in log.iterdir() if p.name.startswith("date="))
    newest = pq.read_table(parts[-1], columns=["ts"])["ts"]
    now = pc.max(newest).as_py()
    since = now - timedelta(days=int(window_days))
    first_day = f"date={since:%Y-%m-%d}"
    files = [str(f) for p in parts if p.name >= first_day for f in p.glob("*.parquet")]
    cols = ["ts", *numeric.split(","), *categorical.split(",")]
    window = ds.dataset(files, format="parquet").to_table(
        columns=cols, filter=pc.field("ts") > since).to_pandas()
    reference = pq.read_table(Path(root) / "reference" / "reference.parquet").to_pandas()
    report = drift_report(reference, window, numeric.split(","), categorical.split(","))
    drifted = [f.feature for f in report.features if f.breached()]
    print(json.dumps({"seconds": time.perf_counter() - start, "rows": len(window),
                      "drifted": drifted}))


if __name__ == "__main__":
    main(*sys.argv[1:5])
