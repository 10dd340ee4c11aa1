"""Recalibrate the decision threshold on a recent labelled window to meet the profile's target.

The threshold lives with the model version, as the version tag ``threshold`` on the serving
version (consumers read it there, see :func:`version_threshold`): the change records the
previous value, so it is reversible and the registry shows who decides with what.

The newest ``holdout`` of labelled data is kept out of the choice; verification measures the
targets there. Targets come from the profile: the approval rate within its tolerance
(``slo.target_approval_rate`` / ``approval_rate_tolerance``) and the precision / recall floors
(``slo.min_precision`` / ``min_recall``). Among thresholds meeting all of them the one nearest
the approval target wins (else the one nearest the current threshold: the smallest change).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from pydantic import Field

from playbooks.crashpoints import crash_point
from playbooks.engine.plugins import remediation
from playbooks.errors import MlpbError
from playbooks.evidence.frames import ok_rows, version_threshold
from playbooks.models.common import Duration, StrictParams
from playbooks.models.profile import ServiceLevels
from playbooks.modelstore import ModelStore
from playbooks.remediations.base import (
    NotApplicable,
    Remediation,
    RemediationContext,
    RevertContext,
)
from playbooks.remediations.swap import require_model
from playbooks.remediations.windows import labelled_spans, require_rows

__all__ = ["RecalibrateParams", "RecalibrateThreshold", "ThresholdConflict", "choose_threshold",
           "threshold_outcomes"]


class ThresholdConflict(MlpbError):
    """The threshold tag changed since we set it; reverting would clobber someone's change."""


class RecalibrateParams(StrictParams):
    window: Duration = Field(  # type: ignore[assignment]  # str default; Duration parses it
        "4d", description="Labelled span (before the holdout) the threshold is chosen on.")
    holdout: Duration = Field(  # type: ignore[assignment]  # str default; Duration parses it
        "1d", description="Newest labelled span kept out of the choice, used to verify.")
    min_rows: int = Field(200, ge=20, description="Refuse to choose on fewer labelled rows.")
    min_holdout_rows: int = Field(100, ge=20, description="Refuse to verify on fewer rows.")
    grid: int = Field(399, ge=20, le=5000, description="Candidate thresholds (score quantiles).")
    min_slice_rows: int = Field(50, ge=10, description="Smallest segment value compared.")
    tag: str = Field("threshold", description="Version tag holding the threshold.")


def threshold_outcomes(scores: np.ndarray, y: np.ndarray, t: float) -> dict[str, float | None]:
    """Approval rate (score < t), precision and recall of positive decisions (score >= t)."""
    pos = scores >= t
    tp = float((pos & (y == 1)).sum())
    return {"approval_rate": float(1 - pos.mean()),
            "precision": tp / float(pos.sum()) if pos.sum() else None,
            "recall": tp / (y == 1).sum() if (y == 1).sum() else None}


def _meets(o: dict[str, float | None], slo: ServiceLevels) -> bool:
    if slo.target_approval_rate is not None and abs(
            (o["approval_rate"] or 0.0) - slo.target_approval_rate) > slo.approval_rate_tolerance:
        return False
    for floor, key in ((slo.min_precision, "precision"), (slo.min_recall, "recall")):
        value = o[key]
        if floor is not None and (value is None or value < floor):
            return False
    return True


def choose_threshold(scores: np.ndarray, y: np.ndarray, slo: ServiceLevels, current: float,
                     grid: int = 399) -> tuple[float, dict[str, float | None]]:
    """The threshold meeting every profile target (see the module doc); NotApplicable when the
    profile sets none or no threshold meets them all."""
    if slo.target_approval_rate is None and slo.min_precision is None and slo.min_recall is None:
        raise NotApplicable("the profile sets no target to recalibrate to",
                            hint="set slo.target_approval_rate or slo.min_precision/min_recall")
    cands = np.unique(np.round(np.quantile(scores, np.linspace(0.0025, 0.9975, grid)), 6))
    feasible = [(float(t), o) for t in cands if _meets(o := threshold_outcomes(scores, y, t), slo)]
    if not feasible:
        raise NotApplicable("no threshold meets every target of the profile on the recent window "
                            "(approval rate tolerance vs precision/recall floors conflict)",
                            hint="the targets need a better model, not a threshold: escalate")
    target = slo.target_approval_rate

    def cost(item: tuple[float, dict[str, float | None]]) -> tuple[float, float]:
        t, o = item
        gap = abs((o["approval_rate"] or 0.0) - target) if target is not None else 0.0
        return gap, abs(t - current)

    return min(feasible, key=cost)


def _windows(ctx: RemediationContext, p: RecalibrateParams) -> dict[str, str]:
    ts, lab = ctx.profile.data.timestamp, ctx.data.labelled
    if lab is None or lab.empty or ts is None or ctx.profile.target is None:
        raise NotApplicable("recalibration needs labelled data (data.labels, data.id, "
                            "data.timestamp, target) and none has arrived yet")
    end = lab[ts].max()
    hold = end - p.holdout
    return {"choose_start": (hold - p.window).isoformat(), "holdout_start": hold.isoformat(),
            "end": end.isoformat()}


def _choose_holdout(ctx: RemediationContext,
                    w: dict[str, str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    choose, hold = labelled_spans(ctx, w["choose_start"], w["holdout_start"], w["end"])
    return ok_rows(ctx.profile, choose), ok_rows(ctx.profile, hold)


def _scored(ctx: RemediationContext, version: str,
            frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    store, name, _ = require_model(ctx, "recalibrate")
    model = store.load_model(name, version)
    s = np.asarray(model.predict_proba(frame[ctx.profile.features.all])[:, 1], dtype=float)
    assert ctx.profile.target is not None
    return s, frame[ctx.profile.target].astype(int).to_numpy()


def _slice_gap_change(ctx: RemediationContext, frame: pd.DataFrame, s: np.ndarray, old: float,
                      new: float, min_rows: int) -> float:
    """Largest widening of a segment's approval-rate gap to the overall rate (new vs old)."""
    worst = 0.0
    all_old, all_new = float((s < old).mean()), float((s < new).mean())
    for seg in ctx.profile.segments:
        if seg not in frame.columns:
            continue
        for _, idx in frame.groupby(seg, observed=True).indices.items():
            if len(idx) >= min_rows:
                gap_old = abs(float((s[idx] < old).mean()) - all_old)
                gap_new = abs(float((s[idx] < new).mean()) - all_new)
                worst = max(worst, gap_new - gap_old)
    return worst


# The threshold is learned from the window: never from one that failed quality checks.
@remediation("recalibrate-threshold", params=RecalibrateParams, requires_clean_data=True, metrics={
    "holdout_approval_rate": "approval rate at the new threshold on the labelled holdout",
    "holdout_approval_gap_beyond_tolerance": "|holdout approval rate - target| minus the "
                                             "tolerance, floored at 0 (0: within tolerance)",
    "holdout_precision": "precision of positive decisions at the new threshold on the holdout",
    "holdout_recall": "recall of positive decisions at the new threshold on the holdout",
    "holdout_precision_floor_gap": "slo.min_precision minus holdout precision, floored at 0",
    "holdout_recall_floor_gap": "slo.min_recall minus holdout recall, floored at 0",
    "worst_slice_approval_gap_change": "largest widening of a segment's approval-rate gap to the "
                                       "overall rate, new vs old threshold (collateral effect)",
})
class RecalibrateThreshold(Remediation[RecalibrateParams]):
    """Choose a threshold meeting the profile's targets; store it as the version's tag."""

    def plan(self, ctx: RemediationContext, params: RecalibrateParams) -> dict[str, Any]:
        store, name, alias = require_model(ctx, "recalibrate")
        info = store.get_version(name, alias)
        current = version_threshold(ctx.profile, info)
        w = _windows(ctx, params)
        choose, hold = _choose_holdout(ctx, w)
        require_rows(choose, params.min_rows, "to choose a threshold on")
        require_rows(hold, params.min_holdout_rows, "in the holdout")
        s, y = _scored(ctx, info.version, choose)
        new, outcome = choose_threshold(s, y, ctx.profile.slo, current, params.grid)
        return {"model": name, "version": info.version, "tag": params.tag,
                "current_threshold": current, "previous_tag": info.tags.get(params.tag),
                "new_threshold": new, "expected": outcome, "windows": w,
                "choose_rows": len(choose), "holdout_rows": len(hold),
                "summary": f"set tag {params.tag} of {name} v{info.version} from {current:g} to "
                           f"{new:g} (approval rate {outcome['approval_rate']:.1%} on "
                           f"{len(choose)} recent labelled requests)"}

    def apply(self, ctx: RemediationContext, params: RecalibrateParams,
              plan: dict[str, Any]) -> dict[str, Any]:
        store, name, _ = require_model(ctx, "recalibrate")
        crash_point("recalibrate-threshold:before-tag")
        store.tag_version(name, plan["version"], plan["tag"], str(plan["new_threshold"]))
        crash_point("recalibrate-threshold:after-tag")
        return {"model": name, "version": plan["version"], "tag": plan["tag"],
                "previous": plan["previous_tag"], "new": str(plan["new_threshold"]),
                "previous_threshold": plan["current_threshold"], "windows": plan["windows"],
                "incident_id": ctx.incident_id}

    def verify(self, ctx: RemediationContext, params: RecalibrateParams,
               change: dict[str, Any]) -> dict[str, float]:
        """The profile's targets at the new threshold on the holdout, and the segments."""
        slo = ctx.profile.slo
        _, hold = _choose_holdout(ctx, change["windows"])
        s, y = _scored(ctx, change["version"], hold)
        new, old = float(change["new"]), float(change["previous_threshold"])
        o = threshold_outcomes(s, y, new)
        m: dict[str, float] = {"holdout_rows": float(len(hold)),
                               "holdout_approval_rate": o["approval_rate"] or 0.0,
                               "worst_slice_approval_gap_change":
                                   _slice_gap_change(ctx, hold, s, old, new, params.min_slice_rows)}
        if slo.target_approval_rate is not None:
            gap = abs(m["holdout_approval_rate"] - slo.target_approval_rate)
            m["holdout_approval_gap_beyond_tolerance"] = max(0.0, gap - slo.approval_rate_tolerance)
        for key, floor in (("precision", slo.min_precision), ("recall", slo.min_recall)):
            if (value := o[key]) is not None:
                m[f"holdout_{key}"] = value
                m[f"holdout_{key}_floor_gap"] = max(0.0, floor - value) if floor else 0.0
        return m

    def revert(self, ctx: RevertContext, change: dict[str, Any]) -> None:
        """Restore the previous tag value (or remove the tag when there was none)."""
        store, name, _ = require_model(ctx, "recalibrate")
        now = store.get_version(name, change["version"]).tags.get(change["tag"])
        if now == change["previous"]:
            return  # already reverted (idempotent)
        if now != change["new"]:
            raise ThresholdConflict(
                f"tag {change['tag']} of {name} v{change['version']} is now {now!r}, not "
                f"{change['new']!r} as set by incident {change.get('incident_id')}",
                hint="someone changed it since; check with the model owners before reverting")
        _restore_tag(store, name, change["version"], change["tag"], change["previous"],
                     change["previous_threshold"])

    def recover(self, ctx: RevertContext, plan: dict[str, Any]) -> str:
        """Restore the prior tag value if the tag carries the plan's new threshold."""
        store, name, _ = require_model(ctx, "recalibrate")
        version, tag, prior = plan["version"], plan["tag"], plan["previous_tag"]
        new = str(plan["new_threshold"])
        now = store.get_version(name, version).tags.get(tag)
        where = f"tag {tag} of {name} v{version}"
        if now == prior:
            return f"{where} is {prior!r}, as before: nothing to undo"
        if prior is None and now == str(plan["current_threshold"]) and now != new:
            return f"{where} is {now!r}, the value it fell back to: already restored"
        if now != new:
            return (f"{where} is {now!r}, neither the prior {prior!r} nor this incident's "
                    f"{new!r}: left as is (someone changed it since)")
        _restore_tag(store, name, version, tag, prior, plan["current_threshold"])
        return f"{where} had been set to {new!r}: restored to {prior!r}"


def _restore_tag(store: ModelStore, name: str, version: str, tag: str, previous: str | None,
                 fallback: float) -> None:
    """Write the tag's prior value back, or remove it when it had none."""
    if previous is not None:
        store.tag_version(name, version, tag, previous)
    elif callable(delete := getattr(store, "delete_version_tag", None)):
        delete(name, version, tag)
    else:  # registry cannot delete tags: write the value consumers fell back to before
        store.tag_version(name, version, tag, str(fallback))
