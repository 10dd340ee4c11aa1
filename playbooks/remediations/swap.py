"""What rollback-model and switch-to-fallback share: both point the serving alias at a version
that already exists, undo through the :class:`AliasChange` (or, when the run died before one
was journalled, :func:`recover_swap` from the plan), and verify the same way.

Verification compares the restored version with the one it replaced:

* quality on the newest labelled requests served by the replaced version (neither version
  was trained on them), overall and per profile segment - :func:`measure`;
* output health of the restored version's scores on the recent requests (spread against the
  baseline's logged scores, range, decision rate against the baseline's);
* latency, two ways: *in process* - both versions score the same sample of single requests
  here and the ratio of their lower-quartile times is reported (real, relative: a heavier
  artifact is slower on any machine); and *logged* - the restored version's p95 from the
  inference log when it served (absolute, on the real serving stack), against the SLO.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import numpy as np
import pandas as pd
from pydantic import Field

from playbooks.crashpoints import crash_point
from playbooks.evidence.frames import log_view, ok_rows, version_threshold
from playbooks.evidence.outputs import decision_rate, score_profile
from playbooks.models.common import Duration, StrictParams
from playbooks.modelstore import PREVIOUS_ALIAS, AliasChange, ModelNotFound, ModelStore
from playbooks.remediations.base import (
    NotApplicable,
    Remediation,
    RemediationContext,
    RevertContext,
)
from playbooks.remediations.windows import HOLDOUT_METRICS

__all__ = ["SWAP_METRICS", "AliasSwap", "SwapParams", "alias_target", "apply_swap", "holdout_rows",
           "inference_ms", "recover_alias", "recover_swap", "require_model", "revert_swap",
           "verify_swap"]

SWAP_METRICS = {
    **HOLDOUT_METRICS,
    "restored_score_std_ratio": "restored version's recent score std / the baseline's logged std",
    "restored_out_of_range_share": "share of the restored version's recent scores outside [0, 1]",
    "restored_decision_rate_shift": "|restored version's recent positive-decision rate - the "
                                    "baseline's|",
    "latency_ratio_vs_replaced": "in-process per-request time (lower quartile), restored / "
                                 "replaced",
    "restored_latency_p95_ms": "logged p95 latency of the restored version when it served",
    "restored_latency_slo_ratio": "restored_latency_p95_ms / the profile's p95 latency SLO",
}


class SwapParams(StrictParams):
    holdout: Duration = Field(  # type: ignore[assignment]  # str default; Duration parses it
        "7d", description="Newest labelled span the two versions are compared on.")
    min_holdout_rows: int = Field(200, ge=10, description="Refuse to verify on fewer rows.")
    recent: Duration = Field(  # type: ignore[assignment]  # str default; Duration parses it
        "24h", description="Newest span of the log the restored version's outputs are judged on.")
    latency_sample_rows: int = Field(
        40, ge=0, le=1000, description="Single requests timed per version in process (0: skip).")


def require_model(ctx: RemediationContext | RevertContext,
                  nothing_to: str = "switch") -> tuple[ModelStore, str, str]:
    """(registry, registered model name, serving alias), or NotApplicable without a model
    (saying there is nothing to ``nothing_to``)."""
    prof = ctx.profile
    if prof.model is None or ctx.model_store is None:
        raise NotApplicable(f"the profile names no MLflow model: nothing to {nothing_to} "
                            "(add a `model:` section to apply remediations)")
    return ctx.model_store, prof.model.registry_name, prof.model.alias


def alias_target(store: ModelStore, name: str, alias: str) -> str | None:
    """The version ``alias`` points at, or None when it points nowhere."""
    try:
        return str(store.get_version(name, alias).version)
    except ModelNotFound:
        return None


def apply_swap(ctx: RemediationContext, plan: dict[str, Any]) -> dict[str, Any]:
    """Move the serving alias to the plan's target; like a promotion, the replaced version
    gets PREVIOUS_ALIAS (the change remembers where that alias was, so revert puts it back)."""
    store, name, alias = require_model(ctx)
    crash_point("alias-swap:before-set-alias")
    change = store.set_alias(name, alias, plan["target_version"], incident_id=ctx.incident_id,
                             previous_alias=PREVIOUS_ALIAS)
    crash_point("alias-swap:after-set-alias")
    return {"alias_change": change.to_dict(), "new_version": change.new_version,
            "previous_version": change.previous_version, "reason": plan.get("reason", "")}


def revert_swap(ctx: RevertContext, change: dict[str, Any]) -> None:
    store, _, _ = require_model(ctx)
    store.revert_alias(AliasChange.from_dict(change["alias_change"]))


def recover_alias(ctx: RevertContext, prior: str, mine: Callable[[str], bool]) -> str:
    """Point the serving alias back at ``prior`` when it now points at a version this
    incident's apply moved it to (``mine``); leave it when it still points at ``prior`` or
    someone else moved it since. Returns the account."""
    store, name, alias = require_model(ctx, "recover")
    try:
        now = store.get_version(name, alias).version
    except ModelNotFound:
        return f"'{alias}' of {name} points nowhere (removed since): left as is"
    if now == prior:
        return f"'{alias}' of {name} is on v{prior}, as before: nothing to undo"
    if not mine(now):
        return (f"'{alias}' of {name} is on v{now}, which this incident did not set: "
                "left as is (someone moved it since)")
    store.revert_alias(AliasChange(name=name, alias=alias, previous_version=prior,
                                   new_version=now, incident_id=ctx.incident_id,
                                   changed_at=datetime.now(UTC)))
    return f"'{alias}' of {name} had moved to v{now}: moved back to v{prior}"


def recover_swap(ctx: RevertContext, plan: dict[str, Any]) -> str:
    """Serving alias back (see recover_alias), and PREVIOUS_ALIAS back to where the plan saw
    it while it still names the plan's current version (what the dead apply set it to)."""
    target, prior = str(plan["target_version"]), str(plan["current_version"])
    account = recover_alias(ctx, prior, lambda v: v == target)
    store, name, _ = require_model(ctx, "recover")
    if "previous_alias_was" in plan and store.restore_alias(
            name, PREVIOUS_ALIAS, plan["previous_alias_was"], only_if=prior):
        account += f"; '{PREVIOUS_ALIAS}' put back"
    return account


def holdout_rows(ctx: RemediationContext, p: SwapParams, replaced: str | None) -> pd.DataFrame:
    """Newest labelled rows; those the replaced version served when it served any."""
    prof, lab = ctx.profile, ctx.data.labelled
    ts = prof.data.timestamp
    if lab is None or lab.empty or ts is None or prof.target is None:
        return pd.DataFrame()
    rows = ok_rows(prof, lab[lab[ts] >= lab[ts].max() - p.holdout])
    vcol = prof.prediction.model_version
    if replaced and vcol and vcol in rows.columns:
        mine = rows[rows[vcol].astype(str) == str(replaced)]
        rows = mine if len(mine) >= p.min_holdout_rows else rows
    return rows.reset_index(drop=True)


def inference_ms(models: dict[str, Any], frame: pd.DataFrame, rows: int) -> dict[str, float]:
    """In-process time (ms) of a single-request ``predict_proba`` per model: the lower
    quartile over ``rows`` requests, interleaved so machine load hits every model alike
    (interruptions only ever add time, so the low quantile tracks the model's own work)."""
    sample = frame.head(rows)
    times: dict[str, list[float]] = {k: [] for k in models}
    for m in models.values():  # warm-up: first calls pay for lazy imports and caches
        m.predict_proba(sample.iloc[[0]])
    for i in range(len(sample)):
        one = sample.iloc[[i]]
        for key, m in models.items():
            t0 = time.perf_counter()
            m.predict_proba(one)
            times[key].append((time.perf_counter() - t0) * 1000)
    return {k: float(np.quantile(v, 0.25)) for k, v in times.items() if v}


def _output_health(ctx: RemediationContext, p: SwapParams, model: Any,
                   threshold: float) -> dict[str, float]:
    prof = ctx.profile
    view, score = log_view(prof, ctx.data), prof.prediction.score
    if view is None or not score:
        return {}
    recent = ok_rows(prof, view.log[view.log[view.ts] > view.now - p.recent])
    before = ok_rows(prof, view.before)
    if recent.empty or before.empty:
        return {}
    s = np.asarray(model.predict_proba(recent[prof.features.all])[:, 1], dtype=float)
    cur, base = score_profile(s), score_profile(before[score].to_numpy())
    out = {"restored_out_of_range_share": cur["out_of_range_share"]}
    if base.get("std"):
        out["restored_score_std_ratio"] = cur["std"] / base["std"]
    if (base_rate := decision_rate(prof, before, threshold)) is not None:
        out["restored_decision_rate_shift"] = abs(float((s >= threshold).mean()) - base_rate)
    return out


def _logged_latency(ctx: RemediationContext, version: str) -> dict[str, float]:
    prof = ctx.profile
    lat, vcol = prof.prediction.latency, prof.prediction.model_version
    log = ctx.data.log
    if not lat or not vcol or lat not in log.columns or vcol not in log.columns:
        return {}
    mine = ok_rows(prof, log[log[vcol].astype(str) == str(version)])
    if len(mine) < 20:
        return {}
    p95 = float(mine[lat].astype(float).quantile(0.95))
    out = {"restored_latency_p95_ms": p95}
    if prof.slo.max_latency_p95_ms:
        out["restored_latency_slo_ratio"] = p95 / prof.slo.max_latency_p95_ms
    return out


def verify_swap(ctx: RemediationContext, p: SwapParams, change: dict[str, Any]) -> dict[str, float]:
    """Acceptance metrics of the restored version against the one it replaced."""
    from playbooks.engine.verify import measure

    store, name, _ = require_model(ctx)
    prof = ctx.profile
    restored_v, replaced_v = change["new_version"], change.get("previous_version")
    restored = store.load_model(name, restored_v)
    replaced = store.load_model(name, replaced_v) if replaced_v else None
    hold = holdout_rows(ctx, p, replaced_v)
    metrics: dict[str, float] = {"holdout_rows": float(len(hold))}
    if len(hold) >= p.min_holdout_rows:
        metrics |= measure(prof, hold, serving=restored, previous=replaced,
                           reference=ctx.data.reference)
    threshold = version_threshold(prof, store.get_version(name, restored_v))
    metrics |= _output_health(ctx, p, restored, threshold)
    metrics |= _logged_latency(ctx, restored_v)
    if p.latency_sample_rows and replaced is not None and len(ctx.data.current):
        ms = inference_ms({"restored": restored, "replaced": replaced},
                          ctx.data.current[prof.features.all], p.latency_sample_rows)
        metrics |= {"inference_ms_restored": ms["restored"],
                    "inference_ms_replaced": ms["replaced"],
                    "latency_ratio_vs_replaced": ms["restored"] / ms["replaced"]}
    return metrics


SP = TypeVar("SP", bound=SwapParams)


class AliasSwap(Remediation[SP]):
    """apply / verify / revert shared by every remediation that moves the serving alias;
    subclasses write ``plan`` (which version to move to). Register them with
    ``requires_clean_data=False``: they point at a version that already exists and learn
    nothing from the current window, so dirty data there is no reason to refuse."""

    def apply(self, ctx: RemediationContext, params: SP, plan: dict[str, Any]) -> dict[str, Any]:
        return apply_swap(ctx, plan)

    def verify(self, ctx: RemediationContext, params: SP,
               change: dict[str, Any]) -> dict[str, float]:
        return verify_swap(ctx, params, change)

    def revert(self, ctx: RevertContext, change: dict[str, Any]) -> None:
        revert_swap(ctx, change)

    def recover(self, ctx: RevertContext, plan: dict[str, Any]) -> str:
        """Alias back to the plan's current version if it now points at the plan's target."""
        return recover_swap(ctx, plan)
