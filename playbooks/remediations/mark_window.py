"""Mark a stale or incomplete data window so retraining and verification can skip it.

The model is kept as is; the mark is a small JSON file, ``<state_dir>/marks/<model>.json``,
listing windows with the incident that marked them. Revert removes this incident's entries
(and the file when it becomes empty).
"""

from __future__ import annotations

import json
import os
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from pydantic import Field

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
    path = marks_path(state_dir, model)
    if not path.is_file():
        return []
    return list(json.loads(path.read_text(encoding="utf-8")).get("windows", []))


def _write(path: Path, model: str, windows: list[dict[str, Any]]) -> None:
    if not windows:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(json.dumps({"model": model, "windows": windows}, indent=2) + "\n",
                   encoding="utf-8")
    os.replace(tmp, path)


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
        _write(path, ctx.profile.name, [*read_marks(ctx.state_dir, ctx.profile.name), *entries])
        return {"path": str(path), "entries": entries}

    def verify(self, ctx: RemediationContext, params: MarkWindowParams,
               change: dict[str, Any]) -> dict[str, float]:
        mine = [w for w in read_marks(ctx.state_dir, ctx.profile.name)
                if w.get("incident_id") == ctx.incident_id]
        return {"window_marked": 1.0 if len(mine) == len(change["entries"]) else 0.0}

    def revert(self, ctx: RevertContext, change: dict[str, Any]) -> None:
        path = Path(change["path"])
        keep = [w for w in read_marks(ctx.state_dir, ctx.profile.name)
                if w.get("incident_id") != ctx.incident_id]
        _write(path, ctx.profile.name, keep)
