"""Team playbooks: a spec that ``extends: data-drift@1`` is the catalog spec plus the team's
changes, merged here before the whole is validated like any spec.

Merge rules (the team file over its base):
- ``id``, ``version`` and ``changelog`` are the team file's own (required, never inherited:
  the team versions its playbook; the base's version is recorded in ``base``);
- mappings merge by key, recursively; a key set to ``null`` drops the base's value (the
  field's default applies);
- lists of named items (every base item has an ``id``: hypotheses, remediations, acceptance
  criteria) merge by id: an item with a base id is merged into that item where it stands,
  a new id is appended; ``remove: {hypotheses: [id], acceptance.pre_check: [id]}`` drops base
  items first (so an id that is removed and listed again is replaced whole, not merged);
- any other list (evidence, signals, severity rules, escalation levels) and every scalar
  is replaced by the team's value.
``extends`` names a catalog playbook and a major version (``@1``) or an exact one (``@1.1.0``).
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from playbooks.errors import SpecError

__all__ = ["OWN_KEYS", "merge_spec", "own_digest", "parse_ref", "version_matches"]

OWN_KEYS = ("id", "version", "changelog")  # never inherited from the base
_REF = re.compile(r"^(?P<id>[a-z0-9]+(?:-[a-z0-9]+)*)@(?P<version>\d+(?:\.\d+\.\d+)?)$")
Problem = tuple[str, str]


def parse_ref(path: Path, ref: object) -> tuple[str, str]:
    """``data-drift@1`` → (``data-drift``, ``1``)."""
    m = _REF.match(ref) if isinstance(ref, str) else None
    if m is None:
        raise SpecError(str(path), [("extends", f"expected PLAYBOOK@MAJOR or PLAYBOOK@X.Y.Z "
                                                f"(e.g. data-drift@1), got {ref!r}")])
    return m["id"], m["version"]


def own_digest(team: dict[str, Any]) -> str:
    """What the team file itself says (its YAML minus the changelog): unchanged while only
    the base moves within the version ``extends`` asks for."""
    body = {k: v for k, v in team.items() if k != "changelog"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()[:16]


def version_matches(wanted: str, version: str) -> bool:
    """``1`` matches every 1.x.y; ``1.1.0`` only itself."""
    return version == wanted or ("." not in wanted and version.split(".")[0] == wanted)


def merge_spec(path: Path, base: dict[str, Any], team: dict[str, Any]) -> dict[str, Any]:
    """The team file ``team`` (at ``path``) merged over the resolved ``base``."""
    problems: list[Problem] = [(k, "required in a spec that extends another (the team's "
                                   "own, never inherited)") for k in ("id", "version")
                               if k not in team]
    if team.get("id") == base.get("id"):
        problems.append(("id", f"'{team['id']}' is the base's id: give the team playbook its "
                               "own (e.g. payments-data-drift)"))
    if "base" in team:
        problems.append(("base", "set at load from 'extends', not written by hand"))
    remove = team.get("remove") or {}
    if not isinstance(remove, dict):
        problems.append(("remove", "expected a mapping of list path -> ids, e.g. "
                                   "{hypotheses: [no-material-drift]}"))
        remove = {}
    inherited = {k: v for k, v in base.items() if k not in (*OWN_KEYS, "extends", "base")}
    inherited = _drop(inherited, remove, problems)
    overlay = {k: v for k, v in team.items() if k not in ("remove", "base")}
    merged: dict[str, Any] = _merge(inherited, overlay, "", problems)
    if problems:
        raise SpecError(str(path), problems, hint="see 'Team playbooks' in the README for the "
                                                  "merge rules")
    return merged


def _drop(base: dict[str, Any], remove: dict[str, Any],
          problems: list[Problem]) -> dict[str, Any]:
    out = dict(base)
    for where, ids in remove.items():
        loc = f"remove.{where}"
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            problems.append((loc, "expected a list of ids"))
            continue
        items = _at(out, str(where).split("."))
        if not _named(items):
            problems.append((loc, f"'{where}' is not a list of named items of the base "
                                  "(hypotheses, remediations, acceptance.pre_check, "
                                  "acceptance.monitoring.criteria)"))
            continue
        known = [i["id"] for i in items]
        stray = [i for i in ids if i not in known]
        if stray:
            problems.append((loc, f"{stray} not in the base's {where} (base ids: {known})"))
        kept = [i for i in items if i["id"] not in ids]
        out = _set(out, str(where).split("."), kept)
    return out


def _at(data: Any, keys: list[str]) -> Any:
    for k in keys:
        data = _as_mapping(k, data.get(k)) if isinstance(data, dict) else None
    return data


def _set(data: dict[str, Any], keys: list[str], value: Any) -> dict[str, Any]:
    head, *rest = keys
    child = _as_mapping(head, data.get(head))
    return {**data, head: _set(child, rest, value) if rest else value}


def _as_mapping(key: str, value: Any) -> Any:
    # `acceptance: [...]` is shorthand for `{pre_check: [...]}`: merge in the long form.
    return {"pre_check": value} if key == "acceptance" and isinstance(value, list) else value


def _named(items: Any) -> bool:
    return isinstance(items, list) and bool(items) and all(
        isinstance(i, dict) and isinstance(i.get("id"), str) for i in items)


def _merge(base: Any, team: Any, loc: str, problems: list[Problem]) -> Any:
    key = loc.rsplit(".", 1)[-1]
    base, team = _as_mapping(key, base), _as_mapping(key, team)
    if isinstance(base, dict) and isinstance(team, dict):
        out = dict(base)
        for k, v in team.items():
            if v is None:
                out.pop(k, None)
            else:
                out[k] = _merge(base.get(k), v, f"{loc}.{k}".lstrip("."), problems)
        return out
    if _named(base) and isinstance(team, list):
        return _merge_named(base, team, loc, problems)
    return team


def _merge_named(base: list[dict[str, Any]], team: list[Any], loc: str,
                 problems: list[Problem]) -> list[Any]:
    out = list(base)
    index = {item["id"]: i for i, item in enumerate(out)}
    for n, item in enumerate(team):
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            problems.append((f"{loc}.{n}.id", "required: items merge with the base's by id "
                                             "(a new id is appended)"))
            continue
        if item["id"] in index:
            i = index[item["id"]]
            out[i] = _merge(out[i], item, f"{loc}.{item['id']}", problems)
        else:
            index[item["id"]] = len(out)
            out.append(item)
    return out
