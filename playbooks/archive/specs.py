"""Every spec version that ran, kept by hash: ``$MLPB_HOME/specs/<playbook>/<hash>.json``
(the canonical JSON the hash is computed from, so the file proves itself), and a diff of two.

``PLAYBOOK@REF`` names one: REF is a hash (or a unique prefix of one), a semver that ran, or
``current`` (the catalog's spec now)."""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any

import yaml

from playbooks.errors import UnknownNameError
from playbooks.models.spec import PlaybookSpec

__all__ = ["archive_spec", "archived_spec", "archived_versions", "resolve_ref", "spec_diff"]


def _dir(home: Path, playbook: str) -> Path:
    return home / "specs" / playbook


def archive_spec(home: Path, spec: PlaybookSpec) -> Path:
    """Keep ``spec`` under its hash (idempotent: an archived hash is never rewritten)."""
    path = _dir(home, spec.id) / f"{spec.hash}.json"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(spec.model_dump(mode="json"), sort_keys=True, indent=1),
                       encoding="utf-8")
        tmp.replace(path)  # readers never see half a file
    return path


def archived_versions(home: Path, playbook: str) -> list[dict[str, str]]:
    """``hash``, ``version``, ``path`` and ``base`` (a team playbook: the catalog spec it
    extended, ``id version hash``; else "") of each archived spec of ``playbook``, oldest
    first. A team playbook is archived resolved: the base's content is in the file."""
    rows = []
    for p in sorted(_dir(home, playbook).glob("*.json"), key=lambda p: p.stat().st_mtime):
        data = json.loads(p.read_text(encoding="utf-8"))
        base = data.get("base") or {}
        rows.append({"hash": p.stem, "version": str(data.get("version")), "path": str(p),
                     "base": " ".join(str(base.get(k)) for k in ("id", "version", "hash"))
                     if base else ""})
    return rows


def archived_spec(home: Path, playbook: str, hash_: str) -> dict[str, Any]:
    path = _dir(home, playbook) / f"{hash_}.json"
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def resolve_ref(home: Path, ref: str,
                current: PlaybookSpec | None = None) -> tuple[str, dict[str, Any]]:
    """``PLAYBOOK@REF`` → (label, spec content)."""
    playbook, sep, which = ref.partition("@")
    if not sep or not playbook or not which:
        raise UnknownNameError(f"'{ref}' is not PLAYBOOK@REF",
                               hint="e.g. data-drift@1.2.0, data-drift@3f2a9c, data-drift@current")
    if which == "current":
        if current is None or current.id != playbook:
            raise UnknownNameError(f"no current spec given for '{playbook}'")
        return f"{playbook}@current ({current.version}, {current.hash})", current.model_dump(
            mode="json")
    known = archived_versions(home, playbook)
    hits = [k for k in known if k["hash"].startswith(which)] or [
        k for k in known if k["version"] == which]
    if len(hits) != 1:
        listed = ", ".join(f"{k['version']}@{k['hash']}" for k in known) or "none archived yet"
        why = "matches several archived specs" if hits else "matches no archived spec"
        raise UnknownNameError(f"'{ref}' {why} (archived: {listed})",
                               hint=f"use a longer hash prefix; `mlpb spec list {playbook}`")
    hit = hits[-1]
    return f"{playbook}@{hit['version']} ({hit['hash']})", archived_spec(home, playbook,
                                                                         hit["hash"])


def spec_diff(a: tuple[str, dict[str, Any]], b: tuple[str, dict[str, Any]]) -> str:
    """A unified diff of two specs as YAML (keys sorted, so only content differences show)."""
    def lines(data: dict[str, Any]) -> list[str]:
        return yaml.safe_dump(data, sort_keys=True, allow_unicode=True).splitlines(keepends=True)

    return "".join(difflib.unified_diff(lines(a[1]), lines(b[1]), fromfile=a[0], tofile=b[0]))
