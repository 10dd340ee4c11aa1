"""Spec change management: a spec whose content changed must not keep its version.

A spec is compared with what came before it: (a) the archive of the versions that ran
(``$MLPB_HOME/specs/<id>/<hash>.json``, written at each close) and (b) git, the spec at a
base ref (HEAD by default: the uncommitted edits) against the file now. Rules:
- same version, other content hash: refused (bump the version);
- a new version needs a changelog entry for it, and may not go backwards;
- the author of a new changelog entry must be allowed to edit the spec (``policy.edit``).
The content hash leaves the changelog out, so the entry of a bump changes nothing else."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from playbooks.archive.specs import archived_versions
from playbooks.errors import SpecError, UnknownNameError
from playbooks.models.spec import ChangelogEntry, PlaybookSpec
from playbooks.policy import Policy, edit_refusal

__all__ = ["Baseline", "archive_baselines", "base_problems", "changelog_problems",
           "edit_problems", "git_baseline", "new_entries", "source_digest"]

_SEMVER = re.compile(r"\d+\.\d+\.\d+")
Problem = tuple[str, str]  # (field path, message), as SpecError takes them


@dataclass(frozen=True)
class Baseline:
    """One earlier state of a spec. ``hash`` is its content hash under today's model, or None
    when it no longer loads (then ``source``, a digest of its parsed YAML, is compared)."""

    label: str
    version: str
    hash: str | None
    source: str
    changelog: frozenset[str]
    own: str | None = None  # a team spec: digest of its own file (``SpecBase.own_hash``)


def source_digest(raw: dict[str, Any]) -> str:
    body = {k: v for k, v in raw.items() if k != "changelog"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _semver(v: str) -> tuple[int, ...]:
    return tuple(int(p) for p in v.split("."))


def _bump(v: str) -> str:
    major, minor, patch = _semver(v)
    return f"{major}.{minor}.{patch + 1}"


def changelog_problems(spec: PlaybookSpec) -> list[Problem]:
    """The changelog on its own: one entry per version, none ahead of the spec's version."""
    versions = [e.version for e in spec.changelog]
    dupes = sorted({v for v in versions if versions.count(v) > 1})
    problems = [("changelog", f"several entries for version(s) {dupes}")] if dupes else []
    ahead = [v for v in versions if _semver(v) > _semver(spec.version)]
    if ahead:
        problems.append(("changelog", f"entries for {ahead}, newer than the spec's version "
                                      f"{spec.version}"))
    return problems


def archive_baselines(home: Path, spec_id: str) -> list[Baseline]:
    """Every archived version of ``spec_id``, rehashed under today's model so a field added
    to PlaybookSpec since (with its default) does not count as an edit."""
    out = []
    for row in archived_versions(home, spec_id):
        data = json.loads(Path(row["path"]).read_text(encoding="utf-8"))
        try:
            content_hash: str | None = PlaybookSpec.model_validate(data).hash
        except ValidationError:
            content_hash = None  # the model moved on: compare the stored content as it is
        out.append(Baseline(
            label=f"the archive (ran as {row['version']}, hash {row['hash']}: {row['path']})",
            version=row["version"], hash=content_hash, source=source_digest(data),
            changelog=frozenset(str(e.get("version")) for e in data.get("changelog") or []),
            own=(data.get("base") or {}).get("own_hash")))
    return out


def base_problems(spec: PlaybookSpec, raw: dict[str, Any], base: Baseline) -> list[Problem]:
    """What ``spec`` (parsed from ``raw``) breaks against one earlier state."""
    same = (spec.hash == base.hash) if base.hash is not None else (
        source_digest(raw) == base.source)
    # A team spec whose own file is unchanged: only its base moved, within the version its
    # `extends` asks for (recorded in `base`), which is no edit of the team's.
    same = same or (spec.base is not None and spec.base.own_hash == base.own)
    if spec.version == base.version:
        if same:
            return []
        was = f", was {base.hash}" if base.hash else ""
        return [("version", f"'{spec.id}' changed since {base.label} (content hash now "
                            f"{spec.hash}{was}) but its version is still {spec.version}: bump it "
                            f"(e.g. to {_bump(spec.version)}) and add a changelog entry for "
                            "the new version")]
    if not _SEMVER.fullmatch(base.version):  # unreadable or no version then: nothing to hold
        return []
    if _semver(spec.version) < _semver(base.version):
        return [("version", f"'{spec.id}' version {spec.version} is older than "
                            f"{base.version} in {base.label}")]
    if spec.version not in {e.version for e in spec.changelog}:
        return [("changelog", f"'{spec.id}' is now version {spec.version} ({base.label} has "
                              f"{base.version}) but the changelog has no entry for "
                              f"{spec.version}: add {{version: {spec.version}, date, author, "
                              "changes}")]
    return []


def new_entries(spec: PlaybookSpec, bases: list[Baseline]) -> list[ChangelogEntry]:
    """The changelog entries no earlier state had (the current version's without one)."""
    if not bases:
        return [e for e in spec.changelog if e.version == spec.version]
    seen = frozenset().union(*(b.changelog for b in bases))
    return [e for e in spec.changelog if e.version not in seen]


def edit_problems(spec: PlaybookSpec, policy: Policy | None,
                  entries: list[ChangelogEntry]) -> list[Problem]:
    problems = []
    for e in entries:
        why = edit_refusal(policy, e.author, playbook=spec.id)
        if why is not None:
            i = spec.changelog.index(e)
            problems.append((f"changelog.{i}.author", f"{why} (entry for {e.version})"))
    return problems


def _git(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, text=True,
                          check=False, timeout=30)


def git_baseline(path: Path, ref: str) -> tuple[Baseline | None, str]:
    """The spec at ``path`` as of git ``ref``, or None and why there is none (not in a
    repository, or the file is new since ``ref``). An unknown ref is an error."""
    path = path.resolve()
    top = _git(path.parent, "rev-parse", "--show-toplevel")
    if top.returncode != 0:
        return None, "not in a git repository: git check skipped"
    if _git(path.parent, "rev-parse", "--verify", "-q", f"{ref}^{{commit}}").returncode != 0:
        raise UnknownNameError(f"git ref '{ref}' is not a commit of {top.stdout.strip()}",
                               hint="pass --against a branch, tag or commit (e.g. origin/main, "
                                    "HEAD~1), or --no-git")
    rel = path.relative_to(Path(top.stdout.strip()).resolve()).as_posix()
    shown = _git(path.parent, "show", f"{ref}:{rel}")
    if shown.returncode != 0:
        return None, f"new since {ref}: no earlier version in git"
    return _baseline_from_text(path.name, shown.stdout, f"git {ref}"), ""


def _baseline_from_text(name: str, text: str, label: str) -> Baseline:
    from playbooks.loader import load_spec, read_yaml  # loads plugins: only when used

    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / name
        p.write_text(text, encoding="utf-8")
        try:
            raw = read_yaml(p)
        except SpecError:
            return Baseline(label, "", None, "", frozenset())  # unreadable then: all is new
        try:
            then = load_spec(p)
            content_hash: str | None = then.hash
            own = then.base.own_hash if then.base else None
        except SpecError:  # it names a plugin or field that is gone: compare the YAML
            content_hash, own = None, None
    return Baseline(label=label, version=str(raw.get("version", "")), hash=content_hash,
                    source=source_digest(raw), own=own,
                    changelog=frozenset(str(e.get("version")) for e in raw.get("changelog")
                                        or [] if isinstance(e, dict)))
