"""The run policy for runs a Prefect deployment started (playbooks/run_gate.py): checked
after the inputs load and before the incident opens, so a refusal opens nothing."""

from __future__ import annotations

from typing import Any

from playbooks.engine.lifecycle import Inputs
from playbooks.engine.runtime import Runtime
from playbooks.policy import policy_for, policy_path
from playbooks.run_gate import check_deployment_run

__all__ = ["check_deployment_policy"]


def check_deployment_policy(rt: Runtime, inputs: Inputs, dry_run: bool,
                            trigger: dict[str, Any] | None, dedup_key: str | None) -> None:
    """Raise PolicyRefused (recorded in the ledger) when ``prefect-ui`` may not run this."""
    home = rt.settings.home
    check_deployment_run(rt.ledger, policy_for(home), policy_path(home),
                         playbook=inputs.spec.id, model=inputs.profile.name, dry_run=dry_run,
                         trigger=trigger, dedup_key=dedup_key, now=rt.now())
