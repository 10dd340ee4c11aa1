"""Policy: who may run which playbooks live, approve which changes, edit which specs.

``policy.yaml`` is looked up in ``$MLPB_POLICY`` (a file), ``$MLPB_HOME/policy.yaml``, then
beside the catalog (``playbooks/policy.yaml``). No file: everything is allowed, as before,
so the sandbox needs no setup. In a file, a section left out is open too; a section written
down grants only what its rules say (its ``default`` covers everyone else).

Identities are plain strings from the channel that carries them: the OS user or ``--as`` on
the CLI, the approver field of a Prefect form, the person a Slack user id maps to (or the id).
The checks are pure: ``*_refusal`` returns why something is refused, or None."""

from __future__ import annotations

import getpass
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator

from playbooks.errors import MlpbError, SpecError, validation_problems
from playbooks.models.common import StrictModel

__all__ = ["ApproveRules", "EditRules", "Identity", "Policy", "PolicyRefused", "Refusal",
           "RunRules", "approval_refusal", "check_run", "cli_identity", "edit_refusal",
           "load_policy", "policy_for", "policy_path", "run_refusal"]

Level = Literal["low", "medium", "high"]
_LEVELS: list[Level] = ["low", "medium", "high"]
_WHO = ("People (a name, an OS user, a Slack user id), 'group:NAME' (a group of this file) "
        "or '*' (anyone).")


class _Grant(StrictModel):
    who: list[str] = Field(min_length=1, description=_WHO)


class RunGrant(_Grant):
    playbooks: list[str] = Field(["*"], description="Playbook ids (globs, e.g. 'data-*').")
    models: list[str] = Field(["*"], description="Model profile names (globs).")
    mode: Literal["live", "dry-run"] = Field(
        "live", description="live: may apply changes; dry-run: may only diagnose and plan.")


class RunRules(StrictModel):
    default: Literal["live", "dry-run", "none"] = Field(
        "dry-run", description="What anyone no grant matches may do.")
    grants: list[RunGrant] = Field(default_factory=list, description="The most permissive "
                                   "matching grant wins.")


class ApproveGrant(_Grant):
    risk: list[Level] = Field(list(_LEVELS), description="Risk levels of the change.")
    criticality: list[Level] = Field(list(_LEVELS), description="Criticalities of the model.")
    models: list[str] = Field(["*"], description="Model profile names (globs).")


class ApproveRules(StrictModel):
    default: Literal["allow", "deny"] = Field(
        "deny", description="Decisions no grant covers. The profile's owners.approvers must "
        "name the person as well: the policy only narrows who may decide.")
    grants: list[ApproveGrant] = Field(default_factory=list)


class EditGrant(_Grant):
    playbooks: list[str] = Field(["*"], description="Playbook ids (globs).")


class EditRules(StrictModel):
    default: Literal["allow", "deny"] = Field(
        "deny", description="Authors no grant covers (the changelog entry's author, checked "
                            "by `mlpb validate`).")
    grants: list[EditGrant] = Field(default_factory=list)


class Policy(StrictModel):
    """Who may do what. Sections left out are open."""

    groups: dict[str, list[str]] = Field(default_factory=dict,
                                         description="Named groups of people ('group:NAME').")
    run: RunRules | None = Field(None, description="Who may run which playbooks live, or "
                                 "dry-run only (`mlpb run`).")
    approve: ApproveRules | None = Field(None, description="Who may approve or reject which "
                                         "risk levels on which model criticalities.")
    edit: EditRules | None = Field(None, description="Who may edit which playbook specs.")

    @model_validator(mode="after")
    def _known_groups(self) -> Policy:
        named = [w for rules in (self.run, self.approve, self.edit) if rules is not None
                 for g in rules.grants for w in g.who]
        unknown = sorted({w[6:] for w in named if w.startswith("group:")} - set(self.groups))
        if unknown:
            raise ValueError(f"unknown group(s) {unknown} (groups: {sorted(self.groups)})")
        return self

    def covers(self, who: str, subjects: list[str]) -> bool:
        for s in subjects:
            if s == "*" or s == who:
                return True
            if s.startswith("group:") and who in self.groups.get(s[6:], []):
                return True
        return False


class PolicyRefused(MlpbError):
    """Something the policy does not allow (same exit code as a refused decision)."""

    exit_code = 4


def _globbed(value: str, patterns: list[str]) -> bool:
    return any(fnmatchcase(value, p) for p in patterns)


def run_refusal(policy: Policy | None, who: str, *, playbook: str, model: str,
                live: bool) -> str | None:
    """Why ``who`` may not run ``playbook`` on ``model`` (live or dry-run), or None."""
    if policy is None or policy.run is None:
        return None
    rules = policy.run
    modes = {g.mode for g in rules.grants if policy.covers(who, g.who)
             and _globbed(playbook, g.playbooks) and _globbed(model, g.models)}
    mode = "live" if "live" in modes else "dry-run" if modes else rules.default
    if mode == "live" or (mode == "dry-run" and not live):
        return None
    if mode == "none":
        return f"{who} may not run '{playbook}' on {model} (policy: no grant, default none)"
    return f"{who} may run '{playbook}' on {model} as a dry run only (policy)"


def approval_refusal(policy: Policy | None, who: str, *, risk: str, criticality: str,
                     model: str) -> str | None:
    """Why ``who`` may not decide on a ``risk`` change to a ``criticality`` model, or None."""
    if policy is None or policy.approve is None:
        return None
    rules = policy.approve
    if any(policy.covers(who, g.who) and risk in g.risk and criticality in g.criticality
           and _globbed(model, g.models) for g in rules.grants) or rules.default == "allow":
        return None
    return (f"the policy does not let {who} decide on a {risk}-risk change to {model} "
            f"(criticality {criticality})")


def edit_refusal(policy: Policy | None, who: str, *, playbook: str) -> str | None:
    """Why ``who`` may not edit the spec of ``playbook``, or None."""
    if policy is None or policy.edit is None:
        return None
    rules = policy.edit
    if any(policy.covers(who, g.who) and _globbed(playbook, g.playbooks)
           for g in rules.grants) or rules.default == "allow":
        return None
    return f"the policy does not let {who} edit the '{playbook}' spec"


@dataclass(frozen=True)
class Identity:
    """Who acts, and where the name came from (recorded with the action). A receiver route
    acts under its name (``source='route'``); a run started from a Prefect deployment whose
    starter Prefect does not tell us acts as ``prefect-ui``."""

    name: str
    source: Literal["--as", "os-user", "route", "prefect-ui"]

    @property
    def channel(self) -> str:
        return {"route": "receiver", "prefect-ui": "prefect-ui"}.get(self.source, "cli")


@dataclass(frozen=True)
class Refusal:
    """A refused action as the ledger keeps it (playbooks/ledger/audit.py)."""

    at: datetime
    who: str
    channel: str  # cli | receiver | prefect-ui
    action: str  # run-live | run
    playbook: str
    model: str
    reason: str
    detail: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(), "who": self.who, "channel": self.channel,
                "action": self.action, "playbook": self.playbook, "model": self.model,
                "reason": self.reason, "detail": dict(self.detail)}


def cli_identity(as_: str | None) -> Identity:
    if as_ and as_.strip():
        return Identity(as_.strip(), "--as")
    return Identity(getpass.getuser(), "os-user")


def check_run(policy: Policy | None, who: Identity, *, playbook: str, model: str,
              live: bool, where: Path | None = None,
              record: Callable[[Refusal], None] | None = None,
              now: datetime | None = None) -> None:
    """Raise PolicyRefused when the run is not allowed (before anything starts); a refusal
    is handed to ``record`` first (the ledger's ``Refusals.record``: nothing else is written)."""
    why = run_refusal(policy, who.name, playbook=playbook, model=model, live=live)
    if why is None:
        return
    if record is not None:
        record(Refusal(at=now or datetime.now(UTC), who=who.name, channel=who.channel,
                       action="run-live" if live else "run", playbook=playbook, model=model,
                       reason=why, detail={"identity": who.source,
                                           "policy": str(where) if where else None}))
    hint = "run it with --dry-run" if "dry run only" in why else "ask for a run grant"
    raise PolicyRefused(f"refused: {why} [{who.name} from {who.source}]",
                        hint=f"{hint}; the policy is {where or 'in effect'}")


_CATALOG_SIDE = Path(__file__).parent / "policy.yaml"


def policy_path(home: Path | None) -> Path | None:
    """The policy file in effect, or None (everything allowed)."""
    explicit = os.environ.get("MLPB_POLICY")
    if explicit:
        return Path(explicit)  # named on purpose: a missing file is an error, not "open"
    for p in ([home / "policy.yaml"] if home else []) + [_CATALOG_SIDE]:
        if p.is_file():
            return p
    return None


def load_policy(path: Path) -> Policy:
    """Validate a policy file; errors name the file and the field path (SpecError)."""
    from playbooks.loader import read_yaml  # the loader imports the engine: only when used

    data = read_yaml(path)
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        raise SpecError(str(path), validation_problems(
            exc, unknown="unknown field (see `mlpb schema policy`)")) from None


def policy_for(home: Path | None) -> Policy | None:
    path = policy_path(home)
    return load_policy(path) if path is not None else None
