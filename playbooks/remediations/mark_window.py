"""Mark a stale or incomplete data window so retraining and verification can skip it.

The model is kept as is; the mark is a small JSON file, ``<state_dir>/marks/<model>.json``,
listing windows with the incident that marked them, rewritten atomically under a lock (runs on
the same model may mark at once). Revert - and recovery after a run died inside apply -
removes this incident's entries (and the file when it becomes empty).
"""

from __future__ import annotations

import fcntl
import json
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from pydantic import Field

from playbooks.crashpoints import crash_point
from playbooks.engine.plugins import remediation
from playbooks.models.common import StrictParams
from playbooks.remediations.base import (
    NotApplicable,
    Remediation,
    RemediationContext,
    RevertContext,
)

__all__ = ["MarkWindow", "MarkWindowParams", "marks_path", "read_marks"]


class MarkWindowParams(StrictParams):
    reason: str = Field(default="data-freshness", description="Recorded with every marked window.")


def marks_path(state_dir: Path, model: str) -> Path:
    return state_dir / "marks" / f"{model}.json"


def read_marks(state_dir: Path, model: str) -> list[dict[str, Any]]:
    """Every window marked for ``model`` (empty when none)."""
    return _read(marks_path(state_dir, model))


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold the marks file's lock: read-modify-write cycles of concurrent runs serialize
    (an exclusive ``flock`` on a sibling lock file, released when the process dies)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(f".{path.name}.lock"), "a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _write(path: Path, model: str, windows: list[dict[str, Any]]) -> None:
    """Replace the marks file atomically (the caller holds the lock)."""
    for stale in path.parent.glob(f".{path.name}.*.tmp"):  # left by a writer that died
        stale.unlink(missing_ok=True)
    if not windows:
        path.unlink(missing_ok=True)
        return
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(json.dumps({"model": model, "windows": windows}, indent=2) + "\n",
                   encoding="utf-8")
    crash_point("mark-window:tmp-written")
    os.replace(tmp, path)


def _update(path: Path, model: str,
            edit: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]) -> None:
    """Read, edit and write the marks of ``model`` under the lock."""
    with _locked(path):
        windows = _read(path)
        _write(path, model, edit(windows))


def _read(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return list(json.loads(path.read_text(encoding="utf-8")).get("windows", []))


def _windows(part: dict[str, Any]) -> list[dict[str, str]]:
    """The stale span (newest row -> now) and every empty or thin day."""
    out = []
    if part["staleness_hours"] > part["max_staleness_hours"]:
        out.append({"start": part["newest"], "end": part["now"], "kind": "stale"})
    for day in [*part["missing_days"], *part["volume_drops"]]:
        end = (date.fromisoformat(day) + timedelta(days=1)).isoformat()
        out.append({"start": f"{day}T00:00:00+00:00", "end": f"{end}T00:00:00+00:00",
                    "kind": "missing" if day in part["missing_days"] else "thin"})
    return out


# Not clean-data gated: marking is about the data, not learning from it.
@remediation("mark-window", params=MarkWindowParams, requires_clean_data=False, metrics={
    "window_marked": "1 when this incident's windows are recorded in the marks file, else 0",
})
class MarkWindow(Remediation[MarkWindowParams]):
    """Record the stale or incomplete window in ``<state>/marks/<model>.json``."""

    def plan(self, ctx: RemediationContext, params: MarkWindowParams) -> dict[str, Any]:
        part = ctx.evidence.parts.get("freshness")
        if not part or not part.get("available"):
            raise NotApplicable("no freshness evidence: add 'freshness' to the spec's evidence")
        windows = _windows(part)
        if not windows:
            raise NotApplicable("nothing stale or missing to mark")
        path = marks_path(ctx.state_dir, ctx.profile.name)
        return {"path": str(path), "windows": windows,
                "summary": f"mark {len(windows)} window(s) of {ctx.profile.name} as unusable in "
                           f"{path} (the model is kept)"}

    def apply(self, ctx: RemediationContext, params: MarkWindowParams,
              plan: dict[str, Any]) -> dict[str, Any]:
        path = Path(plan["path"])
        entries = [w | {"incident_id": ctx.incident_id, "reason": params.reason}
                   for w in plan["windows"]]
        crash_point("mark-window:before-write")
        _update(path, ctx.profile.name, lambda windows: [*windows, *entries])
        crash_point("mark-window:after-write")
        return {"path": str(path), "entries": entries}

    def verify(self, ctx: RemediationContext, params: MarkWindowParams,
               change: dict[str, Any]) -> dict[str, float]:
        mine = [w for w in read_marks(ctx.state_dir, ctx.profile.name)
                if w.get("incident_id") == ctx.incident_id]
        return {"window_marked": 1.0 if len(mine) == len(change["entries"]) else 0.0}

    def revert(self, ctx: RevertContext, change: dict[str, Any]) -> None:
        _unmark(ctx, Path(change["path"]))

    def recover(self, ctx: RevertContext, plan: dict[str, Any]) -> str:
        """Remove this incident's windows from the marks file if the write got there."""
        path = Path(plan["path"])
        removed = _unmark(ctx, path)
        if not removed:
            return f"no window marked by this incident in {path}: nothing to remove"
        return f"removed the {removed} window(s) this incident had marked in {path}"


def _unmark(ctx: RevertContext, path: Path) -> int:
    """Drop the incident's entries (and the file when it becomes empty); how many went."""
    removed = 0

    def edit(windows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        nonlocal removed
        keep = [w for w in windows if w.get("incident_id") != ctx.incident_id]
        removed = len(windows) - len(keep)
        return keep

    _update(path, ctx.profile.name, edit)
    return removed
