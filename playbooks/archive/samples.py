"""A bounded, seeded row sample of each evidence window, kept as parquet per incident.

The evidence package names its windows by file and hash; the files move on (logs rotate,
the sandbox is rebuilt), so the sample is what the charts and an audit can still read.
``$MLPB_HOME/evidence/INC-…/{reference,current}.parquet`` plus ``samples.json``: the column
roles (features, score, latency, ...), each file's sha256 and the rows it was drawn from."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from pyarrow import ArrowException

from playbooks.data.io import DataWindows
from playbooks.models.profile import ModelProfile

__all__ = ["MAX_ROWS", "Samples", "keep_samples", "load_samples", "sample_dir"]

log = logging.getLogger(__name__)

MAX_ROWS = 2000  # per window: enough for a histogram, small enough to keep for every incident


@dataclass(frozen=True)
class Samples:
    """The kept windows and what their columns mean."""

    frames: dict[str, pd.DataFrame]
    roles: dict[str, Any] = field(default_factory=dict)

    @property
    def numeric(self) -> list[str]:
        return list(self.roles.get("numeric", []))

    @property
    def categorical(self) -> list[str]:
        return list(self.roles.get("categorical", []))

    def role(self, name: str) -> str | None:
        value = self.roles.get(name)
        return value if isinstance(value, str) else None


def sample_dir(home: Path, incident_id: str) -> Path:
    return home / "evidence" / incident_id


def roles_of(profile: ModelProfile) -> dict[str, Any]:
    p, d = profile.prediction, profile.data
    return {"numeric": profile.features.numeric, "categorical": profile.features.categorical,
            "timestamp": d.timestamp, "score": p.score, "latency": p.latency,
            "status": p.status, "error_value": p.error_value, "target": profile.target,
            "threshold": profile.model.threshold if profile.model else None}


def keep_samples(home: Path, incident_id: str, data: DataWindows, profile: ModelProfile, *,
                 max_rows: int = MAX_ROWS, seed: int = 0) -> Path | None:
    """Write the samples of the reference, the current window and the log before it;
    returns the directory, or None when they could not be written (logged: an audit copy
    must never stop a playbook). Written once: a second call for the same incident keeps
    the first (evidence is immutable once collected)."""
    try:
        return _keep(home, incident_id, data, profile, max_rows=max_rows, seed=seed)
    except (OSError, ValueError, TypeError, ArrowException) as exc:
        log.warning("row samples of %s not kept: %s: %s", incident_id, type(exc).__name__, exc)
        return None


def _keep(home: Path, incident_id: str, data: DataWindows, profile: ModelProfile, *,
          max_rows: int, seed: int) -> Path:
    out = sample_dir(home, incident_id)
    manifest = out / "samples.json"
    if manifest.exists():
        return out
    out.mkdir(parents=True, exist_ok=True)
    roles = roles_of(profile)
    wanted = [*profile.features.all,
              *(c for c in (roles["timestamp"], roles["score"], roles["latency"],
                            roles["status"]) if c)]
    files: dict[str, Any] = {}
    for name, frame in (("reference", data.reference), ("current", data.current),
                        ("baseline", _baseline(data.log, data.current, roles["timestamp"]))):
        cols = [c for c in dict.fromkeys(wanted) if c in frame.columns]
        part = _bounded(frame[cols], max_rows, seed)
        mixed = [c for c in part.columns if part[c].dtype == object]
        part[mixed] = part[mixed].astype("string")  # broken feeds mix types in a column
        path = out / f"{name}.parquet"
        part.to_parquet(path, index=False)
        files[name] = {"file": path.name, "rows": len(part), "of_rows": len(frame),
                       "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    manifest.write_text(json.dumps({"roles": roles, "files": files, "max_rows": max_rows,
                                    "seed": seed}, indent=2), encoding="utf-8")
    return out


def _baseline(log: pd.DataFrame, current: pd.DataFrame, ts: str | None) -> pd.DataFrame:
    """The log in the span just before the current window, as long as it: the "before" of a
    score distribution (the reference is training data, without scores) and of first-signal
    dating (a sample spread over the whole log would be too thin per day)."""
    if not ts or ts not in log or ts not in current or current.empty:
        return log.iloc[:0]
    start, end = current[ts].min(), current[ts].max()
    before: pd.DataFrame = log[(log[ts] < start) & (log[ts] >= start - (end - start))]
    return before


def load_samples(home: Path, incident_id: str) -> Samples | None:
    """The kept samples of an incident, or None when none were kept."""
    out = sample_dir(home, incident_id)
    manifest = out / "samples.json"
    if not manifest.exists():
        return None
    meta = json.loads(manifest.read_text(encoding="utf-8"))
    frames = {name: pd.read_parquet(out / f["file"]) for name, f in meta["files"].items()
              if (out / f["file"]).exists()}
    return Samples(frames=frames, roles=meta.get("roles", {}))


def samples_from_windows(evidence_windows: dict[str, Any], roles: dict[str, Any], *,
                         max_rows: int = MAX_ROWS, seed: int = 0) -> Samples | None:
    """Samples re-read from the files an evidence package names (for incidents whose run kept
    none): each window cut to its recorded span. None when a file is gone."""
    from playbooks.data.io import read_frame

    frames: dict[str, pd.DataFrame] = {}
    ts = roles.get("timestamp")
    for name in ("reference", "current"):
        ref = evidence_windows.get(name)
        if ref is None:
            continue
        paths = [Path(f) for f in ref.files]
        if not paths or not all(p.exists() for p in paths):
            return None
        frame = read_frame(paths)
        if name == "current" and ts and ts in frame.columns and ref.start and ref.end:
            t = pd.to_datetime(frame[ts], utc=True, format="mixed")
            window = (t >= pd.Timestamp(ref.start)) & (t <= pd.Timestamp(ref.end))
            start, end = pd.Timestamp(ref.start), pd.Timestamp(ref.end)
            frames["baseline"] = _bounded(frame[(t < start) & (t >= start - (end - start))],
                                          max_rows, seed)
            frame = frame[window]
        frames[name] = _bounded(frame, max_rows, seed)
    return Samples(frames=frames, roles=roles) if frames else None


def _bounded(frame: pd.DataFrame, max_rows: int, seed: int) -> pd.DataFrame:
    if len(frame) > max_rows:
        frame = frame.sample(n=max_rows, random_state=seed).sort_index()
    out: pd.DataFrame = frame.reset_index(drop=True)
    return out
