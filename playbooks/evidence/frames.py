"""Shared views of the inference log for the model-side collectors and remediations.

No collectors live here: these are the slices several of them need (the current window and
what came before it, labelled rows, the serving version and its threshold), computed one way.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import Field

from playbooks.data.io import DataWindows, SourceFile
from playbooks.models.common import Duration, StrictParams
from playbooks.models.profile import ModelProfile
from playbooks.modelstore.base import ModelStore, ModelVersionInfo

__all__ = [
    "LogView",
    "RecentParams",
    "SourceFrames",
    "as_timestamp",
    "ece",
    "frame_source",
    "log_view",
    "newest_value",
    "ok_rows",
    "previous_version",
    "safe_auc",
    "serving_version_info",
    "version_threshold",
    "window_files",
]

SourceFrames = list[tuple[SourceFile, pd.DataFrame]]  # a raw file and its rows


@dataclass(frozen=True)
class LogView:
    """The log split at the start of the current window (``before`` is the baseline)."""

    ts: str
    log: pd.DataFrame
    window: pd.DataFrame
    before: pd.DataFrame
    labelled_window: pd.DataFrame
    labelled_before: pd.DataFrame
    window_start: pd.Timestamp
    now: pd.Timestamp

    def recent(self, span: timedelta, frame: pd.DataFrame | None = None) -> pd.DataFrame:
        """Rows of ``frame`` (default: the whole log) newer than ``now - span``."""
        rows = self.log if frame is None else frame
        return rows[rows[self.ts] > self.now - span]


class RecentParams(StrictParams):
    """Params of collectors that judge the newest span of the log as 'now'."""

    # A duration string is what specs write; validate_default parses it to a timedelta.
    recent: Duration = Field("24h", description="Newest span of the log judged as 'now'.")  # type: ignore[assignment]


def log_view(profile: ModelProfile, data: DataWindows) -> LogView | None:
    """None when the profile has no timestamp or the log is empty (nothing to split)."""
    ts = profile.data.timestamp
    if not ts or data.log.empty or data.current.empty:
        return None
    start = pd.Timestamp(data.current[ts].min())
    now = pd.Timestamp(data.log[ts].max())
    lab = data.labelled if data.labelled is not None else data.log.iloc[0:0]
    return LogView(ts=ts, log=data.log, window=data.current,
                   before=data.log[data.log[ts] < start],
                   labelled_window=lab[lab[ts] >= start] if len(lab) else lab,
                   labelled_before=lab[lab[ts] < start] if len(lab) else lab,
                   window_start=start, now=now)


def frame_source(frame: pd.DataFrame, name: str) -> SourceFile:
    """``frame`` described as if it were one raw file called ``name`` (its own schema)."""
    return SourceFile(path=Path(name), rows=len(frame),
                      dtypes={str(c): str(t) for c, t in frame.dtypes.items()})


def window_files(profile: ModelProfile, data: DataWindows) -> tuple[SourceFrames, set[str]]:
    """(file, its rows inside the current window) for files reaching into the window, and
    the columns of the files before it (the schema the feed had). Without a file list that
    adds up to the log, the current window stands as one file."""
    ts, log = profile.data.timestamp, data.log
    if not data.log_files or sum(f.rows for f in data.log_files) != len(log):
        return [(frame_source(data.current, "<current>"), data.current)], set()
    start = data.current[ts].min() if ts and len(data.current) else None
    out: SourceFrames = []
    history: set[str] = set()
    offset = 0
    for sf in data.log_files:
        part = log.iloc[offset:offset + sf.rows]
        offset += sf.rows
        if start is not None and ts:
            inside = part[part[ts] >= start]
            if inside.empty:
                history |= set(sf.dtypes)
                continue
            part = inside
        out.append((sf, part))
    return out, history


def ok_rows(profile: ModelProfile, frame: pd.DataFrame) -> pd.DataFrame:
    """Rows the model actually answered (serving errors carry no meaningful score)."""
    col = profile.prediction.status
    if not col or col not in frame.columns:
        return frame
    return frame[frame[col] != profile.prediction.error_value]


def safe_auc(y: pd.Series | np.ndarray, s: pd.Series | np.ndarray) -> float | None:
    """ROC AUC, or None with one class or no finite score."""
    y_arr, s_arr = np.asarray(y, dtype=float), np.asarray(s, dtype=float)
    keep = np.isfinite(s_arr) & np.isfinite(y_arr)
    y_arr, s_arr = y_arr[keep], s_arr[keep]
    if len(np.unique(y_arr)) < 2:
        return None
    from sklearn.metrics import roc_auc_score  # ~0.7 s to import: only when scoring

    return float(roc_auc_score(y_arr.astype(int), s_arr))


def ece(y: pd.Series | np.ndarray, s: pd.Series | np.ndarray, bins: int = 10) -> float | None:
    """Expected calibration error over score-quantile bins (equal-count bins keep every bin
    populated when scores bunch near zero, as credit scores do)."""
    y_arr, s_arr = np.asarray(y, dtype=float), np.asarray(s, dtype=float)
    keep = np.isfinite(s_arr) & np.isfinite(y_arr)
    y_arr, s_arr = y_arr[keep], s_arr[keep]
    if len(y_arr) < bins:
        return None
    order = np.argsort(s_arr, kind="stable")
    total = 0.0
    for idx in np.array_split(order, bins):
        total += len(idx) * abs(float(s_arr[idx].mean()) - float(y_arr[idx].mean()))
    return total / len(y_arr)


def serving_version_info(profile: ModelProfile,
                         store: ModelStore | None) -> ModelVersionInfo | None:
    """The registry's version behind the profile's alias, or None without a model/registry."""
    if profile.model is None or store is None:
        return None
    return store.get_version(profile.model.registry_name, profile.model.alias)


def version_threshold(profile: ModelProfile, info: ModelVersionInfo | None) -> float:
    """The decision threshold: the serving version's ``threshold`` tag (it travels with the
    version, set by recalibrate-threshold), else the profile's, else 0.5."""
    default = profile.model.threshold if profile.model is not None else 0.5
    raw = info.tags.get("threshold") if info is not None else None
    try:
        return float(raw) if raw is not None else default
    except ValueError:
        return default


def previous_version(log: pd.DataFrame, ts: str, version_col: str,
                     serving: str) -> tuple[str | None, datetime | None]:
    """(the version seen serving just before ``serving`` first appeared, that first time).

    When ``serving`` never served, the newest other version in the log is the previous one.
    """
    versions = log[version_col].astype(str)
    mine = log[versions == serving]
    first = pd.Timestamp(mine[ts].min()).to_pydatetime() if len(mine) else None
    others = log[versions != serving]
    if first is not None:
        others = others[others[ts] < pd.Timestamp(first)]
    if others.empty:
        return None, first
    return newest_value(others, ts, version_col), first


def newest_value(frame: pd.DataFrame, ts: str, column: str) -> str:
    """``column`` of the newest row of ``frame`` (the first such row on a tie), as text."""
    return str(frame[column].iloc[int(frame[ts].argmax())])


def as_timestamp(label: Hashable) -> pd.Timestamp:
    """A group label or index entry of a datetime key as a Timestamp (pandas types them only
    as Hashable)."""
    if not isinstance(label, datetime | np.datetime64 | str):
        raise TypeError(f"expected a datetime label, got {label!r}")
    return pd.Timestamp(label)
