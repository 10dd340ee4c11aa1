"""Switch the serving alias to the profile's fallback model (``model.fallback_alias``).

The fallback is a simple, vetted model kept registered for exactly this: when the serving
model's outputs cannot be trusted and there is no good version to roll back to. Revert moves
the alias back (:class:`AliasChange`); verification is shared with rollback-model (``swap``).
The incident is then escalated to the model owner (the spec's outcome says so): a fallback
contains, it does not fix.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from playbooks.engine.plugins import remediation
from playbooks.modelstore import PREVIOUS_ALIAS, ModelNotFound
from playbooks.remediations.base import NotApplicable, RemediationContext
from playbooks.remediations.swap import (
    SWAP_METRICS,
    AliasSwap,
    SwapParams,
    alias_target,
    require_model,
)

__all__ = ["FallbackParams", "SwitchToFallback"]


class FallbackParams(SwapParams):
    alias: str | None = Field(
        None, description="Alias of the fallback version; default: the profile's "
        "model.fallback_alias.")


# Not clean-data gated: the fallback was trained long before this window (see AliasSwap).
@remediation("switch-to-fallback", params=FallbackParams, metrics=SWAP_METRICS,
             requires_clean_data=False)
class SwitchToFallback(AliasSwap[FallbackParams]):
    """Point the serving alias at the version behind the profile's fallback alias."""

    def plan(self, ctx: RemediationContext, params: FallbackParams) -> dict[str, Any]:
        store, name, alias = require_model(ctx)
        assert ctx.profile.model is not None
        fallback = params.alias or ctx.profile.model.fallback_alias
        if not fallback:
            raise NotApplicable("the profile names no fallback model",
                                hint="set model.fallback_alias in the profile and register a "
                                "simple, vetted version under that alias")
        try:
            target = store.get_version(name, fallback).version
        except ModelNotFound:
            raise NotApplicable(f"{name} has no '{fallback}' alias to fall back to",
                                hint=f"register a vetted version and point '{fallback}' at it"
                                ) from None
        current = store.get_version(name, alias).version
        if target == current:
            raise NotApplicable(f"'{alias}' already serves the fallback v{target}")
        return {"model": name, "alias": alias, "current_version": current,
                "target_version": target, "fallback_alias": fallback,
                "previous_alias_was": alias_target(store, name, PREVIOUS_ALIAS),
                "reason": f"'{fallback}' points at v{target}",
                "summary": f"move '{alias}' of {name} from v{current} to the fallback "
                           f"v{target} ('{fallback}')"}

