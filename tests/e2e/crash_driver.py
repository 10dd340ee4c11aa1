"""The child side of the crash matrix: apply one remediation the way the runner does (under the
model's lease, through ``apply_step``, which journals "applied") with ``MLPB_CRASH_AT`` set,
so the process SIGKILLs itself at that kill point.

Children are forked from a forkserver that imported this module once (mlflow, sklearn and
the engine take seconds to import), so each case costs a fork, not an interpreter start.
"""

from __future__ import annotations

import multiprocessing
import os
from dataclasses import dataclass
from multiprocessing.context import ForkServerContext
from typing import Any

import mlflow  # preloaded in the forkserver: the store imports it lazily
import mlflow.sklearn  # noqa: F401  # idem

from playbooks.crashpoints import CRASH_ENV, crash_point
from playbooks.engine.lifecycle import load_inputs
from playbooks.engine.revert import Undo
from playbooks.engine.runner import apply_step
from playbooks.engine.runtime import Runtime
from playbooks.models.evidence import EvidencePackage
from playbooks.modelstore import INCIDENT_TAG, MlflowModelStore
from playbooks.remediations.base import RemediationContext

__all__ = ["ApplyCase", "KillableStore", "context", "run_apply"]

# Kill points outside the remediations' own code: inside the store's set_alias (the alias
# has moved, the incident tag is not written yet) and after the runner journalled "applied".
SET_ALIAS_BEFORE_TAG = "set-alias:before-incident-tag"
AFTER_JOURNAL = "runner:after-journal-applied"


class KillableStore(MlflowModelStore):
    """The real MLflow store with one more kill point: between moving an alias and tagging
    its target with the incident (both inside ``set_alias``)."""

    def tag_version(self, name: str, version: str, key: str, value: str) -> None:
        if key == INCIDENT_TAG:
            crash_point(SET_ALIAS_BEFORE_TAG)
        super().tag_version(name, version, key, value)


@dataclass(frozen=True)
class ApplyCase:
    """Plain data for the child (pickled across the fork)."""

    home: str
    playbook: str
    profile_path: str
    remediation_id: str
    incident_id: str
    seq: int
    plan: dict[str, Any]
    evidence_json: str
    crash_at: str


def run_apply(case: ApplyCase) -> None:
    """Apply the case's remediation; dies at ``case.crash_at`` (exit code 0 means the kill
    point was never reached)."""
    os.environ[CRASH_ENV] = case.crash_at
    rt = Runtime.from_env(case.home, quiet=True)
    inputs = load_inputs(case.playbook, case.profile_path)
    entry = inputs.spec.remediation(case.remediation_id)
    evidence = EvidencePackage.model_validate_json(case.evidence_json)
    ctx = context(rt, inputs.profile, case.incident_id, evidence, inputs.data)
    undo = Undo(case.incident_id, entry.id, entry.action, case.seq, inputs.profile,
                rt.settings.home)
    with rt.ledger.leases.hold(inputs.profile.name, f"{entry.id} for {case.incident_id}"):
        apply_step(rt, inputs, ctx, entry, case.plan, undo)
        crash_point(AFTER_JOURNAL)


def context(rt: Runtime, profile: Any, incident_id: str, evidence: EvidencePackage,
            data: Any) -> RemediationContext:
    base = rt.model_store(profile)
    assert isinstance(base, MlflowModelStore)
    store = KillableStore(base.tracking_uri, base.registry_uri, base.artifact_location)
    return RemediationContext(incident_id=incident_id, profile=profile, model_store=store,
                              state_dir=rt.settings.home, evidence=evidence, data=data)


def forkserver() -> ForkServerContext:
    """The forkserver context, preloading this module (set before its first use)."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload([__name__])
    return ctx
