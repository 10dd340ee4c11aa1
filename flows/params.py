"""The typed parameters of the playbook deployments: what anyone who can create a Prefect run
may choose. A playbook *id* from the catalog (an enum: a choice list in the UI form) and a
profile *name* looked up in the profiles directories, never a spec or profile path: a spec
names checks to run and a profile names a training entrypoint, i.e. code.

The flow's other parameters (trigger, dedup_key, drill, home, quiet) are plumbing for the
receiver, the CLI and drills; deployments/serve.py leaves them out of the form.
"""

from __future__ import annotations

from enum import Enum
from functools import cache
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

from playbooks.config import load_settings, resolve_profile
from playbooks.errors import ConfigError
from playbooks.loader import CATALOG_DIR, catalog_ids

__all__ = ["HIDDEN_PARAMETERS", "PlaybookId", "RunPlaybookParams", "catalog_titles",
           "deployment_inputs"]

# Flow parameters the custom-run form does not show (the receiver and drills still pass them).
HIDDEN_PARAMETERS = ("trigger", "dedup_key", "drill", "home", "quiet")


@cache
def catalog_titles() -> dict[str, str]:
    """Catalog id -> its title (read as plain YAML: the form must not need the plugins)."""
    out = {}
    for pid in catalog_ids():
        raw = yaml.safe_load((CATALOG_DIR / f"{pid}.yaml").read_text(encoding="utf-8")) or {}
        out[pid] = str(raw.get("title") or pid)
    return out


if TYPE_CHECKING:  # to mypy a str; at run time an enum of the catalog's ids
    PlaybookId = str
else:
    PlaybookId = Enum("PlaybookId", {pid: pid for pid in catalog_ids()}, type=str,
                      module=__name__)
    PlaybookId.__doc__ = "A playbook of the catalog."


def _playbook_help() -> str:
    # Markdown (the UI renders descriptions so; it joins lines split by one newline): one
    # short item per choice, as one long line would not wrap and would widen the whole form.
    return "Which playbook to run:\n\n" + "\n\n".join(
        f"- {pid} ({title})" for pid, title in catalog_titles().items())


class RunPlaybookParams(BaseModel):
    """The form of a ``run-playbook/<id>`` deployment."""

    model_config = ConfigDict(extra="forbid", use_enum_values=True)

    playbook: PlaybookId = Field(description=_playbook_help())
    profile: str = Field(
        min_length=1, max_length=512,
        description="Model profile name NAME: `$MLPB_HOME/profiles/NAME.yaml`, else the "
        "sandbox model NAME (`$MLPB_HOME/sandbox/NAME/profile.yaml`), e.g. `credit-risk`. "
        "Paths outside those directories are refused.")
    dry_run: bool = Field(
        False, description="Diagnose and recommend only: open the incident, gather evidence, "
        "test hypotheses, plan the remediation, change nothing.")


def deployment_inputs(playbook: Any, profile: str, dry_run: bool,
                      home: str | None) -> tuple[str, str]:
    """Validate a deployment run's choices; returns (catalog id, profile file path)."""
    if home is not None:
        raise ConfigError("a deployment run cannot choose the state dir ('home')",
                          hint="the worker's MLPB_HOME decides it; leave 'home' out")
    params = RunPlaybookParams(playbook=playbook, profile=profile, dry_run=dry_run)
    return str(params.playbook), str(resolve_profile(params.profile, load_settings().home))
