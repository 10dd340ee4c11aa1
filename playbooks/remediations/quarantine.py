"""Quarantine the bad batch: move the current-window files that fail quality checks out of the
inference log, into ``<state_dir>/quarantine/<incident-id>/`` (relative paths kept), so no
retraining, verification or report reads them. Nothing about the model changes.

Revert moves every file back. Verify re-runs the quality assessment on what remains.
"""

from __future__ import annotations

import glob
import os
import shutil
from pathlib import Path
from typing import Any

from pydantic import Field

from playbooks.data.io import load_windows
from playbooks.engine.plugins import remediation
from playbooks.errors import DataError, MlpbError
from playbooks.evidence.quality import assess_windows
from playbooks.models.common import StrictParams
from playbooks.models.profile import ModelProfile
from playbooks.remediations.base import (
    NotApplicable,
    Remediation,
    RemediationContext,
    RevertContext,
)

__all__ = ["QuarantineBatch", "QuarantineParams", "quarantine_target"]


class QuarantineParams(StrictParams):
    max_files: int = Field(
        default=100, ge=1,
        description="Refuse to move more files than this (a sign the whole source, "
        "not a batch, is broken: escalate instead).")
    min_failed_checks: int = Field(
        default=1, ge=1,
        description="A file is quarantined when at least this many checks fail on it.")


def _static_root(pattern: str) -> Path:
    """The directory part of a glob before its first wildcard."""
    parts = Path(pattern).parts
    cut = next((i for i, part in enumerate(parts) if glob.has_magic(part)), len(parts))
    root = Path(*parts[:cut]) if cut else Path(".")
    return root if root.is_dir() else root.parent


def quarantine_target(profile: ModelProfile, state_dir: Path, incident_id: str,
                      path: Path) -> Path:
    """Where ``path`` goes: relative to the profile's directory when under it, else to the
    current source's fixed directory."""
    path = path.resolve()
    for base in (profile.base_dir.resolve(),
                 _static_root(str(profile.resolve(profile.data.current.path))).resolve()):
        if path.is_relative_to(base):
            return state_dir / "quarantine" / incident_id / path.relative_to(base)
    return state_dir / "quarantine" / incident_id / path.name


def _move(src: Path, dst: Path) -> None:
    if dst.exists():
        raise MlpbError(f"cannot move {src} to {dst}: the destination exists",
                        hint="move or delete the file at the destination, then retry")
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(src), str(dst))
    if "=" in src.parent.name and not any(src.parent.iterdir()):  # an emptied hive partition
        src.parent.rmdir()


# Not clean-data gated: it exists to act on dirty data.
@remediation("quarantine-batch", params=QuarantineParams, requires_clean_data=False, metrics={
    "quality_failed_checks_after": "failed data-quality checks on the data left after the move",
    "quarantined_files": "files moved out of the inference log",
    "remaining_current_rows": "rows left in the current window after the move",
})
class QuarantineBatch(Remediation[QuarantineParams]):
    """Move the failing files of the current window into the incident's quarantine folder."""

    def plan(self, ctx: RemediationContext, params: QuarantineParams) -> dict[str, Any]:
        part = ctx.evidence.parts.get("data-quality")
        if part is None:
            raise NotApplicable("no data-quality evidence to pick the bad files from; add "
                                "'data-quality' to the spec's evidence")
        bad = [f for f in part.get("files", []) if f["failed_checks"] >= params.min_failed_checks
               and Path(f["path"]).is_file()]
        if not bad:
            raise NotApplicable("no file of the current window fails a quality check on its "
                                "own; the problem is spread thin - escalate to the data owner")
        if len(bad) > params.max_files:
            raise NotApplicable(f"{len(bad)} files fail (max_files={params.max_files}): the "
                                "source, not a batch, is broken - escalate instead of moving "
                                "it all")
        moves = [{"src": str(Path(f["path"]).resolve()),
                  "dst": str(quarantine_target(ctx.profile, ctx.state_dir, ctx.incident_id,
                                               Path(f["path"]))),
                  "rows": f["rows"], "start": f["start"], "end": f["end"], "kinds": f["kinds"]}
                 for f in bad]
        starts = [m["start"] for m in moves if m["start"]]
        ends = [m["end"] for m in moves if m["end"]]
        return {"moves": moves, "window": {"start": min(starts, default=None),
                                           "end": max(ends, default=None)},
                "summary": f"move {len(moves)} file(s) ({sum(m['rows'] for m in moves)} rows) "
                           f"failing quality checks to quarantine/{ctx.incident_id}/"}

    def apply(self, ctx: RemediationContext, params: QuarantineParams,
              plan: dict[str, Any]) -> dict[str, Any]:
        done: list[dict[str, Any]] = []
        try:
            for m in plan["moves"]:
                _move(Path(m["src"]), Path(m["dst"]))
                done.append(m)
        except Exception:
            self.revert(ctx, {"moves": done})  # all or nothing
            raise
        return {"moves": done, "window": plan["window"],
                "quarantine_dir": str(ctx.state_dir / "quarantine" / ctx.incident_id)}

    def verify(self, ctx: RemediationContext, params: QuarantineParams,
               change: dict[str, Any]) -> dict[str, float]:
        """Quality of what is left: reload the profile's data and assess it again."""
        moved = float(len(change["moves"]))
        try:
            data = load_windows(ctx.profile, lenient=True)
        except DataError:  # nothing left to read: nothing bad left either
            return {"quality_failed_checks_after": 0.0, "quarantined_files": moved,
                    "remaining_current_rows": 0.0}
        report, _ = assess_windows(ctx.profile, data)
        return {"quality_failed_checks_after": report.metrics["quality_failed_checks"],
                "quarantined_files": moved, "remaining_current_rows": float(len(data.current))}

    def revert(self, ctx: RevertContext, change: dict[str, Any]) -> None:
        for m in reversed(change["moves"]):
            src, dst = Path(m["src"]), Path(m["dst"])
            if dst.exists():
                _move(dst, src)
        qdir = ctx.state_dir / "quarantine" / ctx.incident_id
        for d in sorted((p for p in qdir.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
            if not any(d.iterdir()):
                d.rmdir()
        if qdir.is_dir() and not any(qdir.iterdir()):
            os.rmdir(qdir)
