"""`mlpb validate`: specs, profiles and the policy load; a spec whose content changed has a
new version with a changelog entry by an author the policy lets edit it (against the archive
of the versions that ran, and against git when the file is in a repository)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cli.output import err, out
from playbooks.config import load_settings
from playbooks.errors import MlpbError, SpecError

__all__ = ["validate_files"]

_POLICY_KEYS = {"groups", "run", "approve", "edit"}


def _is_policy(path: Path, data: dict[str, Any]) -> bool:
    return path.name.endswith("policy.yaml") or (bool(data) and set(data) <= _POLICY_KEYS)


def validate_files(paths: list[Path] | None, *, against: str | None, use_git: bool,
                   home: str | None) -> None:
    """Print one line per file; exit 2 when any fails."""
    import typer

    from playbooks.loader import CATALOG_DIR, detect_kind, load_profile, read_yaml
    from playbooks.policy import Policy, load_policy, policy_path

    root = load_settings(home).home
    targets = list(paths or sorted(CATALOG_DIR.glob("*.yaml")))
    in_effect = policy_path(root)
    if in_effect is not None:  # first: the edit rules apply to the specs below
        targets = [in_effect, *(t for t in targets if t.resolve() != in_effect.resolve())]
    policy: Policy | None = None
    failed, notes = 0, set()
    for path in targets:
        try:
            data = read_yaml(path)
            kind = "policy" if _is_policy(path, data) else detect_kind(data)
            if kind == "policy":
                loaded = load_policy(path)
                policy = loaded if path == in_effect else policy
            elif kind == "profile":
                load_profile(path)
            elif kind == "spec":
                notes.update(_check_spec(path, root, policy, against, use_git))
            else:
                raise MlpbError(
                    f"{path}: neither a playbook spec, a model profile nor a policy",
                    hint="a spec has 'hypotheses'; a profile has 'features' and 'data'; "
                         "a policy has 'run', 'approve' or 'edit'")
            out.print(f"[green]✓[/] {path} ({kind})", highlight=False)
        except MlpbError as exc:
            failed += 1
            out.print(f"[red]✗[/] {exc.message}", highlight=False, soft_wrap=True)
            if exc.hint:
                out.print(f"  hint: {exc.hint}", highlight=False, soft_wrap=True)
    for note in sorted(notes):
        err.print(f"[dim]{note}[/]", highlight=False)
    if failed:
        err.print(f"[red]{failed} of {len(targets)} file(s) failed validation[/]")
        raise typer.Exit(2)


def _check_spec(path: Path, home: Path, policy: Any, against: str | None,
                use_git: bool) -> list[str]:
    """Load the spec and hold it to what came before it; returns notes (skipped checks)."""
    from playbooks.loader import load_spec, read_yaml
    from playbooks.spec_changes import (
        archive_baselines,
        base_problems,
        changelog_problems,
        edit_problems,
        git_baseline,
        new_entries,
    )

    spec = load_spec(path)  # a SpecError (load problems) goes to the caller
    raw = read_yaml(path)
    notes: list[str] = []
    bases = archive_baselines(home, spec.id)
    if use_git:
        base, why = git_baseline(path, against or "HEAD")
        bases += [base] if base is not None else []
        if why and "not in a git repository" in why:
            notes.append(f"{path.parent}: {why}")
    problems = changelog_problems(spec)
    for b in bases:
        problems += [p for p in base_problems(spec, raw, b) if p not in problems]
    problems += edit_problems(spec, policy, new_entries(spec, bases))
    if problems:
        hints = []
        if any(loc == "version" for loc, _ in problems):
            hints.append(f"what changed: `git diff {against or 'HEAD'} -- {path}`, or against "
                         f"a version that ran `mlpb spec diff {spec.id}@HASH {spec.id}@current`"
                         f" (hashes: `mlpb spec list {spec.id}`)")
        if any(loc.endswith(".author") for loc, _ in problems):
            hints.append("the policy's `edit` grants name who may edit which specs: an editor "
                         "writes (or signs) the entry")
        raise SpecError(str(path), problems, hint="; ".join(hints) or None)
    return notes
