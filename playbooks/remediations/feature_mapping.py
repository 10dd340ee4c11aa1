"""Record the known-good feature mapping / pipeline version on the serving model version.

The real fix belongs upstream (the serving code or feature pipeline); this containment makes
the contract explicit and auditable where serving reads its model: tags on the version behind
the alias, ``mlpb.feature_mapping`` (JSON: ``columns`` {model feature: logged column},
``transforms`` {feature: transform that restores it}) and ``mlpb.required_feature_version``.
Verify re-applies the mapping to the current window and measures drift against the reference.
Revert restores the tags' previous values (or clears them); recovery after a run died inside
apply restores those that carry the plan's new values.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import Field

from playbooks.crashpoints import crash_point
from playbooks.engine.plugins import remediation
from playbooks.evidence.skew import INVERSE, VERSION_TAG, apply_mapping
from playbooks.models.common import StrictParams
from playbooks.modelstore import ModelStore
from playbooks.remediations.base import (
    NotApplicable,
    Remediation,
    RemediationContext,
    RevertContext,
)
from playbooks.remediations.swap import require_model
from playbooks.stats import drift_report

__all__ = ["MAPPING_TAG", "RestoreFeatureMapping", "RestoreMappingParams", "mapping_from_evidence"]

MAPPING_TAG = "mlpb.feature_mapping"


class RestoreMappingParams(StrictParams):
    pin_version: bool = Field(
        default=True,
        description="Also pin the expected feature-pipeline version when rows of other "
        "versions were found.")


def mapping_from_evidence(part: dict[str, Any], pin_version: bool = True) -> dict[str, Any]:
    """The corrections the skew evidence implies (empty dict: nothing to restore)."""
    mapping: dict[str, Any] = {}
    if part["swaps"]:
        mapping["columns"] = {s["matches"]: a for a, s in part["swaps"].items()}
    if part["transforms"]:
        mapping["transforms"] = {
            a: INVERSE[s["transform"]] if s["direction"] == "applied_extra" else s["transform"]
            for a, s in part["transforms"].items()}
    v = part["versions"]
    if pin_version and v.get("available") and v.get("features"):
        mapping["required_feature_version"] = v["expected"]
    return mapping


# Not clean-data gated: it changes no weights and learns nothing.
@remediation("restore-feature-mapping", params=RestoreMappingParams, requires_clean_data=False,
             metrics={
    "max_psi_after_mapping": "largest feature PSI of the current window, mapping re-applied, "
                             "against the reference",
    "mapping_tagged": "1 when the serving version carries the mapping tag, else 0",
    "rows_after_mapping": "current rows left once the mapping is applied (stale versions dropped)",
})
class RestoreFeatureMapping(Remediation[RestoreMappingParams]):
    """Tag the serving version with the corrected feature mapping / required pipeline version."""

    def plan(self, ctx: RemediationContext, params: RestoreMappingParams) -> dict[str, Any]:
        store, name, alias = require_model(ctx, "tag with the mapping")
        part = ctx.evidence.parts.get("feature-skew")
        if part is None:
            raise NotApplicable("no feature-skew evidence: add 'feature-skew' to the evidence")
        mapping = mapping_from_evidence(part, params.pin_version)
        if not mapping:
            raise NotApplicable("the evidence implies no mapping correction")
        info = store.get_version(name, alias)
        tags = {MAPPING_TAG: json.dumps(mapping, sort_keys=True)}
        if "required_feature_version" in mapping:
            tags[VERSION_TAG] = mapping["required_feature_version"]
        return {"model": name, "version": info.version, "mapping": mapping,
                "tags": tags, "previous": {k: info.tags.get(k) for k in tags},
                "summary": f"tag {name} v{info.version} with the known-good "
                           f"feature mapping {json.dumps(mapping, sort_keys=True)}; the fix "
                           "itself belongs to the data owner"}

    def apply(self, ctx: RemediationContext, params: RestoreMappingParams,
              plan: dict[str, Any]) -> dict[str, Any]:
        store, _, _ = require_model(ctx, "tag with the mapping")
        for i, (key, value) in enumerate(plan["tags"].items()):
            crash_point(f"restore-feature-mapping:before-tag-{i}")
            store.tag_version(plan["model"], plan["version"], key, value)
        crash_point("restore-feature-mapping:after-tags")
        return {k: plan[k] for k in ("model", "version", "mapping", "tags", "previous")}

    def verify(self, ctx: RemediationContext, params: RestoreMappingParams,
               change: dict[str, Any]) -> dict[str, float]:
        store, _, _ = require_model(ctx, "tag with the mapping")
        prof = ctx.profile
        fixed = apply_mapping(prof, ctx.data.current, ctx.data.reference, change["mapping"])
        rep = drift_report(ctx.data.reference, fixed, prof.features.numeric,
                           prof.features.categorical)
        tags = store.get_version(change["model"], change["version"]).tags
        tagged = tags.get(MAPPING_TAG) == change["tags"][MAPPING_TAG]
        return {"max_psi_after_mapping": rep.max_psi(), "mapping_tagged": 1.0 if tagged else 0.0,
                "rows_after_mapping": float(len(fixed))}

    def revert(self, ctx: RevertContext, change: dict[str, Any]) -> None:
        store, _, _ = require_model(ctx, "tag with the mapping")
        for key, old in change["previous"].items():
            _restore(store, change["model"], change["version"], key, old)

    def recover(self, ctx: RevertContext, plan: dict[str, Any]) -> str:
        """Restore each tag that carries the plan's new value; leave the others."""
        store, _, _ = require_model(ctx, "tag with the mapping")
        name, version = plan["model"], plan["version"]
        tags = store.get_version(name, version).tags
        restored, unset, foreign = [], [], []
        for key, new in plan["tags"].items():
            old, now = plan["previous"].get(key), tags.get(key)
            if now == new and now != old:
                _restore(store, name, version, key, old)
                restored.append(key)
            elif now == old or (old is None and now == ""):
                unset.append(key)
            else:
                foreign.append(f"{key}={now!r}")
        parts = [f"restored {', '.join(restored)}" if restored else "",
                 f"{', '.join(unset)} as before" if unset else "",
                 f"left {', '.join(foreign)} (changed by someone else since)" if foreign else ""]
        return f"{name} v{version} mapping tags: " + "; ".join(p for p in parts if p)


def _restore(store: ModelStore, name: str, version: str, key: str, old: str | None) -> None:
    if old is not None:
        store.tag_version(name, version, key, old)
    elif callable(delete := getattr(store, "delete_version_tag", None)):
        delete(name, version, key)
    else:  # the registry cannot delete tags: an empty value means "not set"
        store.tag_version(name, version, key, "")
