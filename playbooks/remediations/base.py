"""The remediation protocol and the context every remediation receives."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel

from playbooks.data.io import DataWindows
from playbooks.errors import MlpbError
from playbooks.models.evidence import EvidencePackage
from playbooks.models.profile import ModelProfile
from playbooks.modelstore.base import ModelStore

__all__ = ["NotApplicable", "Remediation", "RemediationContext", "RevertContext",
           "load_entrypoint"]


class NotApplicable(MlpbError):
    """The remediation cannot be applied here (no model in the profile, too little data...)."""


@dataclass
class RevertContext:
    """What undoing a change needs: enough to rebuild after the applying process died."""

    incident_id: str
    profile: ModelProfile
    model_store: ModelStore | None  # None when the profile names no model
    state_dir: Path


@dataclass
class RemediationContext(RevertContext):
    evidence: EvidencePackage
    data: DataWindows


P_contra = TypeVar("P_contra", bound=BaseModel, contravariant=True)


class Remediation(Protocol[P_contra]):
    """plan() previews, apply() changes and returns a JSON-able Change holding the prior
    state, revert(change) restores it. apply() must be safe to revert at any point.

    The plan is journalled before apply() acts, so it must name everything undoing needs
    (the prior alias target, the prior tag values, each file's source and destination):
    when apply() dies half-way there is no Change, and recover(plan) works from the plan
    alone. Each step boundary of apply() calls ``playbooks.crashpoints.crash_point`` so the
    crash-matrix tests can kill it there.

    Implementations subclass ``Remediation[TheirParams]`` so their methods are checked
    against the params model declared once, in the ``@remediation`` decorator."""

    def plan(self, ctx: RemediationContext, params: P_contra) -> dict[str, Any]: ...

    def apply(self, ctx: RemediationContext, params: P_contra,
              plan: dict[str, Any]) -> dict[str, Any]: ...

    def revert(self, ctx: RevertContext, change: dict[str, Any]) -> None: ...

    def recover(self, ctx: RevertContext, plan: dict[str, Any]) -> str:
        """Undo whatever part of ``plan`` a run that died inside apply() got done.

        There is no Change: look at the world (the alias, the tags, the files, the marks),
        undo exactly what carries this incident's mark or the plan's new values, and leave
        anything someone else changed since. Idempotent. Returns a one-line account of what
        was found and done, for the incident's timeline. Raises only when the world cannot
        be inspected (the registry is down...), so recovery is retried later."""
        raise NotImplementedError(f"{type(self).__name__} has no recover()")

    def verify(self, ctx: RemediationContext, params: P_contra,
               change: dict[str, Any]) -> dict[str, float]:
        """Measure the acceptance metrics on fresh data after the change."""
        ...


def load_entrypoint(spec: str) -> Callable[..., Any]:
    module, _, func = spec.partition(":")
    try:
        fn = getattr(importlib.import_module(module), func)
    except (ImportError, AttributeError) as exc:
        raise MlpbError(f"training entrypoint '{spec}' cannot be imported: {exc}",
                        hint="set training.entrypoint in the profile to 'package.module:function'"
                        ) from None
    if not callable(fn):
        raise MlpbError(f"training entrypoint '{spec}' is not callable")
    return fn  # type: ignore[no-any-return]
