"""Windows larger than the memory budget (``MLPB_MEMORY_BUDGET``, default 1 GiB of frame).

Such a window is never held whole: the drift statistics stream over it in record batches
(``DriftAccumulator``: exact PSI / KS / W1 on the reference grid, JS), and the frames the
other evidence reads are a systematic 1-in-k sample of it, taken while streaming.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass

import pandas as pd
import pyarrow.compute as pc
import pyarrow.dataset as ds

from playbooks.data.files import Location, filesystem, footer, is_url
from playbooks.errors import MlpbError
from playbooks.stats import DriftReport, DriftThresholds, ReferenceProfile
from playbooks.stats.streaming import DriftAccumulator

__all__ = ["BUDGET_ENV", "WindowStream", "estimated_bytes", "memory_budget", "sample_step"]

BUDGET_ENV = "MLPB_MEMORY_BUDGET"
DEFAULT_BUDGET = 1 << 30
BATCH_ROWS = 131_072
_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kb": 1000, "kib": 1 << 10, "m": 1 << 20, "mb": 10**6,
          "mib": 1 << 20, "g": 1 << 30, "gb": 10**9, "gib": 1 << 30}


def memory_budget() -> int:
    """Bytes of frame a window may take in memory (``MLPB_MEMORY_BUDGET``: '2GiB', '512MB')."""
    raw = os.environ.get(BUDGET_ENV, "").strip()
    if not raw:
        return DEFAULT_BUDGET
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([a-zA-Z]*)", raw)
    if not m or m.group(2).lower() not in _UNITS:
        raise MlpbError(f"{BUDGET_ENV}={raw!r} is not a size",
                        hint="write bytes or a size with a unit, e.g. 2GiB, 512MB, 800m")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


def estimated_bytes(files: list[Location], columns: int) -> int:
    """Upper bound of the frame the rows of ``files`` make: 8 bytes a cell (footers only)."""
    return sum(footer(f).rows for f in files) * columns * 8


@dataclass(frozen=True)
class WindowStream:
    """The current window as batches, re-readable: parquet ``files``, rows with
    ``ts > start``, only ``columns``. ``every`` is the sample step of the frames in memory."""

    files: tuple[Location, ...]
    ts: str
    start: pd.Timestamp
    columns: tuple[str, ...]
    every: int

    def _scanner(self, columns: list[str] | None = None) -> ds.Scanner:
        if self.files and is_url(self.files[0]):  # one source, one store
            fs = filesystem(str(self.files[0]))[0]
            dataset = ds.dataset([filesystem(str(f))[1] for f in self.files], format="parquet",
                                 filesystem=fs)
        else:
            dataset = ds.dataset([str(f) for f in self.files], format="parquet")
        field = dataset.schema.field(self.ts)
        bound = self.start if field.type.tz else self.start.tz_convert(None)
        cols = columns or [c for c in self.columns if c in dataset.schema.names]
        return dataset.scanner(columns=cols, batch_size=BATCH_ROWS,
                               filter=pc.field(self.ts) > bound.to_pydatetime())

    def count_rows(self) -> int:
        return int(self._scanner([self.ts]).count_rows())

    def batches(self) -> Iterator[pd.DataFrame]:
        for batch in self._scanner().to_batches():
            if batch.num_rows:
                yield batch.to_pandas()

    def sample(self) -> pd.DataFrame:
        """Every ``every``-th row of the window, in order: what fits the budget."""
        parts, offset = [], 0
        for batch in self.batches():
            first = (-offset) % self.every
            parts.append(batch.iloc[first::self.every])
            offset += len(batch)
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
            columns=list(self.columns))

    def drift(self, reference: ReferenceProfile, thresholds: DriftThresholds) -> DriftReport:
        acc = DriftAccumulator(reference)
        for batch in self.batches():
            acc.add(batch)
        return acc.report(thresholds)


def sample_step(window_bytes: int, budget: int) -> int:
    """k of the 1-in-k sample: half the budget for the sample, the rest for batches."""
    return max(1, math.ceil(window_bytes / max(budget // 2, 1)))

