"""Load and validate YAML specs and profiles. Every error names the file, the field path and
what was expected (DESIGN.md §5)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from playbooks.engine.live_metrics import LIVE_METRICS
from playbooks.engine.plugins import PluginTable, default_plugins
from playbooks.errors import SpecError, UnknownNameError, validation_problems
from playbooks.models.common import SpecBase
from playbooks.models.profile import ModelProfile
from playbooks.models.spec import PlaybookSpec
from playbooks.spec_extends import merge_spec, own_digest, parse_ref, version_matches

__all__ = [
    "CATALOG_DIR",
    "catalog_ids",
    "detect_kind",
    "load_profile",
    "load_spec",
    "read_yaml",
    "resolve_spec_path",
]

CATALOG_DIR = Path(__file__).parent / "catalog"
M = TypeVar("M", bound=BaseModel)
# libyaml's safe loader when PyYAML was built with it: ~10x faster on the catalog.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise SpecError(str(path), [("", "file not found")], hint="check the path")
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_SAFE_LOADER)
    except UnicodeDecodeError as exc:
        raise SpecError(str(path), [("", f"not UTF-8 text ({exc.reason})")]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecError(str(path), [("", f"invalid YAML at {where}: {problem}")]) from None
    if not isinstance(data, dict):
        raise SpecError(
            str(path), [("", f"expected a mapping at the top, got {type(data).__name__}")]
        )
    return data


def _validate(path: Path, data: dict[str, Any], model: type[M]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        unknown = "unknown field (check the spelling; see the JSON Schema for allowed fields)"
        raise SpecError(str(path), validation_problems(exc, unknown=unknown)) from None


def load_spec(path: Path, registry: PluginTable | None = None, *,
              catalog: Path | None = None) -> PlaybookSpec:
    """Load a PlaybookSpec and check every check/remediation name and params. A spec that
    ``extends`` a playbook of ``catalog`` (default: the standard one) is merged over it first
    (playbooks/spec_extends.py) and then validated as a whole."""
    registry = registry or default_plugins()
    spec, _ = _load(path, read_yaml(path), registry, catalog or CATALOG_DIR, ())
    return spec


def _load(path: Path, raw: dict[str, Any], registry: PluginTable, catalog: Path,
          chain: tuple[Path, ...]) -> tuple[PlaybookSpec, dict[str, Any]]:
    """The spec at ``path`` and its resolved YAML (what a team spec extending it merges over)."""
    if raw.get("extends") is None:
        if "base" in raw:
            raise SpecError(str(path), [("base", "set at load from 'extends', not written by "
                                                 "hand")])
        return _checked(path, raw, registry), raw
    base_path = _base_path(path, raw, catalog, (*chain, path.resolve()))
    base, base_raw = _load(base_path, read_yaml(base_path), registry, catalog,
                           (*chain, path.resolve()))
    merged = merge_spec(path, base_raw, raw)
    merged["base"] = SpecBase(id=base.id, version=base.version, hash=base.hash,
                              own_hash=own_digest(raw)).model_dump()
    try:
        return _checked(path, merged, registry), merged
    except SpecError as exc:  # name list items by id: the team file has no merged indices
        try:
            named = _with_signatures(path, merged)  # triage: indices count generated ones
        except SpecError:
            named = merged
        raise SpecError(str(path), [(_by_id(named, loc), msg) for loc, msg in exc.problems],
                        hint=f"this spec merged over {base.id} {base.version} ({base_path}) "
                             "is validated as a whole") from None


def _base_path(path: Path, raw: dict[str, Any], catalog: Path,
               chain: tuple[Path, ...]) -> Path:
    base_id, wanted = parse_ref(path, raw["extends"])
    base_path = catalog / f"{base_id}.yaml"
    known = sorted(p.stem for p in catalog.glob("*.yaml"))
    if not base_path.is_file():
        raise SpecError(str(path), [("extends", f"unknown base playbook '{base_id}' "
                                                f"(catalog: {', '.join(known)})")])
    if base_path.resolve() in chain:
        cycle = " -> ".join(p.name for p in (*chain, base_path.resolve()))
        raise SpecError(str(chain[0]), [("extends", f"extends cycle: {cycle}")],
                        hint="a spec may not extend itself, directly or through its bases")
    version = str(read_yaml(base_path).get("version"))
    if not version_matches(wanted, version):
        major = version.split(".")[0]
        raise SpecError(str(path), [("extends", f"{raw['extends']}: the catalog has "
                                                f"{base_id} {version} only (available: "
                                                f"{version})")],
                        hint=f"extend {base_id}@{major} (any {major}.x) or {base_id}@{version}")
    return base_path


def _by_id(raw: dict[str, Any], loc: str) -> str:
    """``hypotheses.4.params.x`` -> ``hypotheses.team-check.params.x`` in a merged spec."""
    node: Any = raw
    out = []
    for part in loc.split("."):
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
            out.append(str(node.get("id", part)) if isinstance(node, dict) else part)
        else:
            node = node.get(part) if isinstance(node, dict) else None
            out.append(part)
    return ".".join(out)


def _checked(path: Path, raw_file: dict[str, Any], registry: PluginTable) -> PlaybookSpec:
    raw = _with_signatures(path, raw_file)
    spec = _validate(path, raw, PlaybookSpec)
    # Name fields as the file spells them: a plain acceptance list is the pre-check.
    pre = "acceptance" if isinstance(raw.get("acceptance"), list) else "acceptance.pre_check"
    problems: list[tuple[str, str]] = []
    for i, h in enumerate(spec.hypotheses):
        for loc, msg in registry.validate("check", h.check, h.params):
            field = "check" if not loc and "unknown" in msg else f"params.{loc}".rstrip(".")
            problems.append((f"hypotheses.{i}.{field}", msg))
    for i, r in enumerate(spec.remediations):
        for loc, msg in registry.validate("remediation", r.action, r.params):
            field = "action" if not loc and "unknown" in msg else f"params.{loc}".rstrip(".")
            problems.append((f"remediations.{i}.{field}", msg))
    for i, name in enumerate(spec.evidence):
        for _, msg in registry.validate("collector", name, {}):
            problems.append((f"evidence.{i}", msg))
    known = registry.metrics()
    metric_refs = [(f"severity.{i}.metric", r.metric) for i, r in enumerate(spec.severity)]
    metric_refs += [(f"{pre}.{i}.metric", c.metric)
                    for i, c in enumerate(spec.acceptance.pre_check)]
    for loc, metric in metric_refs:
        if metric not in known:
            problems.append(
                (loc, f"unknown metric '{metric}'; known metrics: {', '.join(sorted(known))}")
            )
    if spec.acceptance.monitoring is not None:  # live windows: what the monitor measures
        for i, c in enumerate(spec.acceptance.monitoring.criteria):
            if c.metric not in LIVE_METRICS:
                problems.append((f"acceptance.monitoring.criteria.{i}.metric",
                                 f"unknown live metric '{c.metric}'; measured on live windows: "
                                 f"{', '.join(sorted(LIVE_METRICS))}"))
    handovers = [
        (i, h.on_supported.handover_to)
        for i, h in enumerate(spec.hypotheses)
        if h.on_supported.handover_to
    ]
    for i, target in handovers:
        if target not in catalog_ids() or target == spec.id:
            problems.append(
                (
                    f"hypotheses.{i}.on_supported.handover_to",
                    f"'{target}' is not another catalog playbook "
                    f"(catalog: {', '.join(catalog_ids())})",
                )
            )
    if problems:
        raise SpecError(str(path), problems)
    return spec


def _with_signatures(path: Path, raw: dict[str, Any]) -> dict[str, Any]:
    """Triage specs (``signatures:``, the prior of each failure class) get one handover
    hypothesis per candidate playbook of the catalog, generated here so the catalog is the
    only list of playbooks; triage's own checks that rank classes get the priors too."""
    priors = raw.get("signatures")
    if not isinstance(priors, dict):
        return raw
    from playbooks.checks.triage import (
        SIGNATURE_CHECK,
        candidate_playbooks,
        signature_hypotheses,
    )

    stray = sorted(set(priors) - set(candidate_playbooks()))
    if stray:
        raise SpecError(str(path), [("signatures", f"not candidate catalog playbooks: {stray} "
                                     f"(candidates: {', '.join(candidate_playbooks())})")])
    generated = [h.model_dump(mode="json") for h in signature_hypotheses(priors)]
    full = generated[0]["params"]["priors"] if generated else {}
    own = []
    for h in raw.get("hypotheses") or []:
        if isinstance(h, dict) and h.get("check") != SIGNATURE_CHECK and isinstance(
                h.get("params", {}), dict) and h.get("check") in _RANKS_CLASSES:
            h = {**h, "params": {"priors": full, **(h.get("params") or {})}}
        own.append(h)
    return {**raw, "hypotheses": [*generated, *own]}


_RANKS_CLASSES = ("nothing-matches", "unexplained-symptoms")  # triage checks that need priors


def load_profile(path: Path) -> ModelProfile:
    profile = _validate(path, read_yaml(path), ModelProfile)
    return profile.model_copy(update={"base_dir": path.resolve().parent})


def catalog_ids() -> list[str]:
    return sorted(p.stem for p in CATALOG_DIR.glob("*.yaml"))


def resolve_spec_path(playbook: str) -> Path:
    """A catalog id (``data-drift``) or a path to a spec file."""
    candidate = Path(playbook)
    if candidate.suffix in (".yaml", ".yml") and candidate.exists():
        return candidate
    path = CATALOG_DIR / f"{playbook}.yaml"
    if not path.exists():
        raise UnknownNameError(
            f"unknown playbook '{playbook}'",
            hint=f"catalog playbooks: {', '.join(catalog_ids())}; or pass a path to a spec file",
        )
    return path


def detect_kind(data: dict[str, Any]) -> str:
    """Tell a spec from a profile by its keys (for `mlpb validate PATH...`)."""
    if "hypotheses" in data or "acceptance" in data or "extends" in data:
        return "spec"
    if "features" in data or "data" in data:
        return "profile"
    return "unknown"
