"""Roll the serving alias back to the last known-good version.

"Last known-good" is, by default, the version seen serving just before the current one (from
the inference log's model-version column), else the newest version tagged ``known_good=true``
(``prefer`` swaps the order). A candidate that no longer exists in the store is skipped and
reported - never point the alias at a version that is not there. Revert moves the alias back
(:class:`AliasChange`); verification is shared with switch-to-fallback (see ``swap``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from playbooks.engine.plugins import remediation
from playbooks.evidence.frames import previous_version
from playbooks.modelstore import PREVIOUS_ALIAS
from playbooks.remediations.base import NotApplicable, RemediationContext
from playbooks.remediations.swap import (
    SWAP_METRICS,
    AliasSwap,
    SwapParams,
    alias_target,
    require_model,
)

__all__ = ["RollbackModel", "RollbackParams", "rollback_candidates"]


class RollbackParams(SwapParams):
    prefer: Literal["previous-serving", "known-good"] = Field(
        "previous-serving", description="Which candidate to try first.")
    known_good_tag: str = Field(
        "known_good", description="Version tag marking vetted versions (value 'true').")


def _previous_serving(ctx: RemediationContext, current: str) -> list[tuple[str, str]]:
    prof, log = ctx.profile, ctx.data.log
    ts, vcol = prof.data.timestamp, prof.prediction.model_version
    if not ts or not vcol or vcol not in log.columns or log.empty:
        return []
    prev, first = previous_version(log, ts, vcol, current)
    when = f" (v{current} first served {first:%Y-%m-%d %H:%M})" if first else ""
    return [(prev, f"v{prev} served before v{current}{when}")] if prev else []


def _known_good(ctx: RemediationContext, p: RollbackParams, current: str) -> list[tuple[str, str]]:
    store, name, _ = require_model(ctx)
    tagged = [v for v in store.list_versions(name)
              if v.tags.get(p.known_good_tag, "").lower() == "true" and v.version != current]
    return [(v.version, f"v{v.version} is tagged {p.known_good_tag}=true")
            for v in sorted(tagged, key=lambda v: -int(v.version))]


def rollback_candidates(ctx: RemediationContext, p: RollbackParams,
                        current: str) -> list[tuple[str, str]]:
    """(version, why) in the order to try; may name versions that no longer exist."""
    prev, good = _previous_serving(ctx, current), _known_good(ctx, p, current)
    ordered = [*prev, *good] if p.prefer == "previous-serving" else [*good, *prev]
    out: list[tuple[str, str]] = []
    for version, why in ordered:
        if version != current and version not in {v for v, _ in out}:
            out.append((version, why))
    return out


# Not clean-data gated: it restores a version trained before this window (see AliasSwap).
@remediation("rollback-model", params=RollbackParams, metrics=SWAP_METRICS,
             requires_clean_data=False)
class RollbackModel(AliasSwap[RollbackParams]):
    """Point the serving alias back at the last known-good version."""

    def plan(self, ctx: RemediationContext, params: RollbackParams) -> dict[str, Any]:
        store, name, alias = require_model(ctx)
        current = store.get_version(name, alias).version
        skipped = []
        for version, why in rollback_candidates(ctx, params, current):
            if not store.version_exists(name, version):
                skipped.append(f"v{version} ({why}) no longer exists in the registry")
                continue
            return {"model": name, "alias": alias, "current_version": current,
                    "target_version": version, "reason": why, "skipped": skipped,
                    # apply moves PREVIOUS_ALIAS to current; recovery puts it back here
                    "previous_alias_was": alias_target(store, name, PREVIOUS_ALIAS),
                    "summary": f"move '{alias}' of {name} from v{current} back to "
                               f"v{version}: {why}"}
        raise NotApplicable(
            f"no version to roll {name} back to from v{current}"
            + (f": {'; '.join(skipped)}" if skipped else ": none served before it and none is "
               f"tagged {params.known_good_tag}=true"),
            hint=f"tag a vetted version with {params.known_good_tag}=true, or use the fallback")

