"""Quarantine the bad batch: move the current-window files that fail quality checks out of the
inference log, into ``<state_dir>/quarantine/<incident-id>/`` (relative paths kept), so no
retraining, verification or report reads them. Nothing about the model changes.

Only regular files inside the inference log's directory are moved: a failing file that is a
symbolic link, or whose real path lies outside that directory, makes the plan not applicable
(moving it would move whatever the link points at).

Revert moves every file back; recovery after a run died inside apply moves back those found in
the quarantine folder. Verify re-runs the quality assessment on what remains.
"""

from __future__ import annotations

import glob
import os
import shutil
from pathlib import Path
from typing import Any

from pydantic import Field

from playbooks.crashpoints import crash_point
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

__all__ = ["QuarantineBatch", "QuarantineParams", "data_root", "outside_root",
           "quarantine_target"]


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


def data_root(profile: ModelProfile) -> Path:
    """The inference log's directory (real path): the only place files are moved out of."""
    return _static_root(str(profile.resolve(profile.data.current.path))).resolve()


def outside_root(profile: ModelProfile, path: Path) -> str | None:
    """Why ``path`` must not be moved (a symlink, or a real path outside the data
    directory), else None. Moving what a symlink points at would move a file that is not
    the log's - possibly anything the runner can write."""
    if path.is_symlink():
        return f"{path} is a symbolic link"
    root = data_root(profile)
    if not path.resolve().is_relative_to(root):
        return f"{path} is not inside the data directory {root} (its real path: {path.resolve()})"
    return None


def _move(src: Path, dst: Path) -> None:
    if dst.exists() or dst.is_symlink():
        raise MlpbError(f"cannot move {src} to {dst}: the destination exists",
                        hint="move or delete the file at the destination, then retry")
    if src.is_symlink():
        raise MlpbError(f"refusing to move {src}: it is a symbolic link")
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
        refused = [why for f in bad if (why := outside_root(ctx.profile, Path(f["path"])))]
        if refused:
            raise NotApplicable(f"refusing to quarantine: {'; '.join(refused)}",
                                hint="a failing file that leads out of the data directory is "
                                "for a person to look at: escalate to the data owner")
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
            for i, m in enumerate(plan["moves"]):
                src = Path(m["src"])
                if why := outside_root(ctx.profile, src):  # the plan may be old: look again
                    raise MlpbError(f"refusing to quarantine: {why}")
                crash_point(f"quarantine-batch:before-move-{i}")
                _move(src, Path(m["dst"]))
                done.append(m)
                crash_point(f"quarantine-batch:after-move-{i}")
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
                _move_back(ctx, src, dst)
        _tidy(ctx)

    def recover(self, ctx: RevertContext, plan: dict[str, Any]) -> str:
        """Move back every planned file found in the quarantine folder."""
        back, untouched, dropped, lost, both = 0, 0, 0, [], []
        for m in reversed(plan["moves"]):
            src, dst = Path(m["src"]), Path(m["dst"])
            if dst.exists() and src.exists():
                if _partial_copy(src, dst):
                    dst.unlink()
                    dropped += 1
                else:
                    both.append(str(src))
            elif dst.exists():
                _move_back(ctx, src, dst)
                back += 1
            elif src.exists():
                untouched += 1
            else:
                lost.append(str(src))
        _tidy(ctx)
        total = len(plan["moves"])
        account = (f"{back} of {total} file(s) found in quarantine and moved back, "
                   f"{untouched} still in place")
        if dropped:
            account += f", {dropped} half-copied duplicate(s) dropped (originals in place)"
        if both:
            account += (f"; {', '.join(both)} exist(s) in both places and differ: both kept, "
                        "check by hand")
        if lost:
            account += f"; MISSING from both places: {', '.join(lost)}"
        return account


def _partial_copy(src: Path, dst: Path) -> bool:
    """Whether ``dst`` is a (possibly half-written) copy of ``src``: a move across file
    systems copies, then deletes the source, so dying in between leaves the intact original
    in place and a copy to drop. Anything else is someone's file: keep it."""
    if dst.stat().st_size > src.stat().st_size:
        return False
    with src.open("rb") as a, dst.open("rb") as b:
        while chunk := b.read(1 << 20):
            if a.read(len(chunk)) != chunk:
                return False
    return True


def _move_back(ctx: RevertContext, src: Path, dst: Path) -> None:
    """Quarantined ``dst`` back to ``src``, never through a link out of the data directory."""
    parent = next((p for p in (src.parent, *src.parent.parents) if p.exists()), src.parent)
    if not parent.resolve().is_relative_to(data_root(ctx.profile)):
        raise MlpbError(f"refusing to move {dst} back to {src}: {parent} now leads out of the "
                        f"data directory {data_root(ctx.profile)}",
                        hint="the quarantined file stays where it is; restore it by hand")
    _move(dst, src)


def _tidy(ctx: RevertContext) -> None:
    """Remove the incident's quarantine folders once empty."""
    qdir = ctx.state_dir / "quarantine" / ctx.incident_id
    for d in sorted((p for p in qdir.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        if not any(d.iterdir()):
            d.rmdir()
    if qdir.is_dir() and not any(qdir.iterdir()):
        os.rmdir(qdir)
