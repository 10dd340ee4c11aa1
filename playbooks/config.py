"""Where state lives, and what the operator allows. One state directory holds the ledger,
the MLflow store, the sandbox and post-mortems; ``MLPB_HOME`` moves it, ``MLPB_LEDGER_URL``
moves only the ledger. ``MLPB_TRAINING_MODULES`` lists the modules a profile's training
entrypoint may come from (a profile names code; anyone who can write one must not choose it).
"""

from __future__ import annotations

import os
import re
from collections.abc import MutableMapping
from dataclasses import dataclass
from pathlib import Path

from playbooks.errors import ConfigError

__all__ = ["DEFAULT_TRAINING_MODULES", "HARDENED_ENV", "PROFILE_NAME", "TRAINING_MODULES_ENV",
           "Settings", "check_training_entrypoint", "harden_env", "load_settings", "profile_dirs",
           "resolve_profile", "training_modules"]

TRAINING_MODULES_ENV = "MLPB_TRAINING_MODULES"
# The project's own trainers; an operator widens the list with MLPB_TRAINING_MODULES.
DEFAULT_TRAINING_MODULES = ("playbooks.sandbox.model",)
# Set in every process we start: MLflow must never unpickle an artifact (we load skops only).
HARDENED_ENV = {"MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "false"}


@dataclass(frozen=True)
class Settings:
    home: Path
    ledger_url: str

    @property
    def postmortem_dir(self) -> Path:
        return self.home / "postmortems"

    @property
    def sandbox_dir(self) -> Path:
        return self.home / "sandbox"

    def ensure(self) -> Settings:
        self.home.mkdir(parents=True, exist_ok=True)
        self.postmortem_dir.mkdir(parents=True, exist_ok=True)
        return self


def load_settings(home: str | Path | None = None) -> Settings:
    """Read settings from the environment; ``home`` overrides ``MLPB_HOME``."""
    root = Path(home or os.environ.get("MLPB_HOME") or ".mlpb").expanduser().resolve()
    url = os.environ.get("MLPB_LEDGER_URL") or f"sqlite:///{root / 'ledger.db'}"
    return Settings(home=root, ledger_url=url)


def harden_env(env: MutableMapping[str, str] | None = None) -> MutableMapping[str, str]:
    """Force :data:`HARDENED_ENV` into ``env`` (default: this process's environment)."""
    target: MutableMapping[str, str] = os.environ if env is None else env
    target.update(HARDENED_ENV)
    return target


def training_modules() -> tuple[str, ...]:
    """Module prefixes training entrypoints may come from (``MLPB_TRAINING_MODULES``,
    comma-separated; default :data:`DEFAULT_TRAINING_MODULES`)."""
    raw = os.environ.get(TRAINING_MODULES_ENV)
    if raw is None or not raw.strip():
        return DEFAULT_TRAINING_MODULES
    return tuple(m.strip() for m in raw.split(",") if m.strip())


def check_training_entrypoint(entrypoint: str) -> None:
    """Refuse a ``module:function`` whose module is not under an allowed prefix."""
    module = entrypoint.partition(":")[0]
    allowed = training_modules()
    if any(module == m or module.startswith(m + ".") for m in allowed):
        return
    raise ConfigError(
        f"training entrypoint '{entrypoint}' is not in an allowed module ({', '.join(allowed)})",
        hint=f"the operator allows training modules with {TRAINING_MODULES_ENV}="
        f"'{','.join((*allowed, module))}' (comma-separated module prefixes) where playbooks "
        "run; a profile alone cannot choose the code a retrain runs")


PROFILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def profile_dirs(home: Path) -> tuple[Path, Path]:
    """Where a profile *name* is looked up: ``<home>/profiles/<name>.yaml``, then the
    sandbox's ``<home>/sandbox/<name>/profile.yaml``."""
    return home / "profiles", home / "sandbox"


def resolve_profile(ref: str, home: Path) -> Path:
    """A profile name, or a path inside :func:`profile_dirs` (what the alert receiver's
    routes produce), as the profile file; anything else is refused. Deployment runs come from
    anyone who can create a Prefect run, and a profile names code (its training entrypoint)."""
    profiles, sandbox = (d.resolve() for d in profile_dirs(home))

    def inside(path: Path) -> bool:  # ``path`` resolved: a symlink out of the dirs is refused
        return path.is_file() and any(path.is_relative_to(d) for d in (profiles, sandbox))

    if PROFILE_NAME.fullmatch(ref) and ".." not in ref:
        for candidate in (profiles / f"{ref}.yaml", profiles / f"{ref}.yml",
                          sandbox / ref / "profile.yaml"):
            if inside(candidate.resolve()):
                return candidate.resolve()
        known = sorted({p.stem for p in profiles.glob("*.y*ml")}
                       | {p.parent.name for p in sandbox.glob("*/profile.yaml")})
        raise ConfigError(f"no model profile named '{ref}' in {profiles} or {sandbox}",
                          hint=f"profiles there: {', '.join(known) or '(none)'}; put the "
                          f"profile at {profiles}/{ref}.yaml (`mlpb profile init`)")
    path = Path(ref).expanduser().resolve()
    if not inside(path):
        raise ConfigError(
            f"profile '{ref}' is not a profile name or a file inside {profiles} or {sandbox}",
            hint="deployment runs take a profile name (e.g. 'credit-risk' for "
            f"{profiles}/credit-risk.yaml), never an arbitrary path")
    return path
