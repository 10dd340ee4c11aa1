"""Retrain on recent labelled data, register the version, promote it via the alias.

The most recent ``holdout`` of labelled data is kept out of training: verification measures
the acceptance criteria there (fresh data neither model was trained on). Revert moves the
alias back to the version it pointed at before. The new version is registered already tagged
with the incident (``mlpb.incident_id``), so a run that died after promoting it is recovered
from the plan alone: the alias goes back if it points at a version this incident registered.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pandas as pd
from pydantic import Field

from playbooks.config import check_training_entrypoint
from playbooks.crashpoints import crash_point
from playbooks.engine.plugins import remediation
from playbooks.errors import ConfigError
from playbooks.models.common import Duration, StrictParams
from playbooks.modelstore import (
    INCIDENT_TAG,
    PREVIOUS_ALIAS,
    REFERENCE_TAG,
    AliasChange,
    ModelNotFound,
)
from playbooks.remediations.base import (
    NotApplicable,
    Remediation,
    RemediationContext,
    RevertContext,
    load_entrypoint,
)
from playbooks.remediations.swap import recover_alias, require_model
from playbooks.remediations.windows import HOLDOUT_METRICS, labelled_spans, require_rows

__all__ = ["REMEDIATION_TAG", "TRAINING_WINDOW_TAG", "Retrain", "RetrainParams",
           "retrain_windows"]

REMEDIATION_TAG = "mlpb.remediation"  # on versions a remediation registered: which one
TRAINING_WINDOW_TAG = "training_window"  # "<start>/<end>", as the sandbox's v1 carries it


class RetrainParams(StrictParams):
    lookback: Duration | None = Field(
        None, description="Labelled history to train on; default: the profile's training.lookback."
    )
    holdout: Duration = Field(  # type: ignore[assignment]  # str default; Duration parses it
        "2d", description="Most recent labelled span kept out of training, used to verify."
    )
    min_train_rows: int = Field(500, ge=10, description="Refuse to train on fewer rows.")
    min_holdout_rows: int = Field(200, ge=10, description="Refuse to verify on fewer rows.")
    since_onset: bool = Field(
        True, description="Start training no earlier than the estimated drift onset, so the "
        "new version learns the new population only (lookback still caps it).")
    seed: int = Field(0, description="Seed passed to the training entrypoint.")


def retrain_windows(ctx: RemediationContext, p: RetrainParams) -> dict[str, Any]:
    """Training and holdout spans on the labelled log (pure; used by plan and verify)."""
    prof = ctx.profile
    ts = prof.data.timestamp
    if ctx.data.labelled is None or ts is None or ctx.data.labelled.empty:
        raise NotApplicable("retrain needs labelled data: the profile has no labels "
                            "(data.labels, data.id, data.timestamp) or none have arrived yet")
    assert prof.training is not None
    end = ctx.data.labelled[ts].max()
    holdout_start = end - p.holdout
    lookback: timedelta = p.lookback or prof.training.lookback
    train_start = holdout_start - lookback
    onset = ctx.evidence.drift_onset
    if p.since_onset and onset is not None and pd.Timestamp(onset) > train_start:
        train_start = pd.Timestamp(onset)
    return {"train_start": train_start.isoformat(), "holdout_start": holdout_start.isoformat(),
            "end": end.isoformat()}


def _training_span(w: dict[str, Any]) -> str:
    """What the new version learned from: drift is judged against it while it serves."""
    return f"{w['train_start']}/{w['holdout_start']}"


def _alias_target(store: Any, name: str, alias: str) -> str | None:
    try:
        return str(store.get_version(name, alias).version)
    except ModelNotFound:
        return None


def _train_holdout(ctx: RemediationContext,
                   w: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    return labelled_spans(ctx, w["train_start"], w["holdout_start"], w["end"])


# Never learn from a window that failed quality checks.
@remediation("retrain", params=RetrainParams, metrics=HOLDOUT_METRICS, requires_clean_data=True)
class Retrain(Remediation[RetrainParams]):
    """Train on recent labelled data through the profile's entrypoint; promote via the alias."""

    def plan(self, ctx: RemediationContext, params: RetrainParams) -> dict[str, Any]:
        store, name, alias = require_model(ctx, "retrain")
        prof = ctx.profile
        if prof.training is None or prof.target is None:
            raise NotApplicable("the profile has no training entrypoint or target")
        try:
            check_training_entrypoint(prof.training.entrypoint)
        except ConfigError as exc:  # refused: the next option (or escalation) says why
            raise NotApplicable(exc.message, hint=exc.hint) from None
        w = retrain_windows(ctx, params)
        train, holdout = _train_holdout(ctx, w)
        require_rows(train, params.min_train_rows, "in the training window")
        require_rows(holdout, params.min_holdout_rows, "in the holdout")
        current = store.get_version(name, alias)
        return {
            "model": name, "alias": alias,
            "current_version": current.version, "entrypoint": prof.training.entrypoint,
            # promotion moves PREVIOUS_ALIAS to current_version; recovery puts it back here
            "previous_alias_was": _alias_target(store, name, PREVIOUS_ALIAS),
            "windows": w, "train_rows": len(train), "holdout_rows": len(holdout),
            "summary": (f"train {name} on {len(train)} labelled rows "
                        f"({w['train_start'][:10]} → {w['holdout_start'][:10]}), register a new "
                        f"version and move '{alias}' from v{current.version} to it"),
        }

    def apply(self, ctx: RemediationContext, params: RetrainParams,
              plan: dict[str, Any]) -> dict[str, Any]:
        store, name, alias = require_model(ctx, "retrain")
        prof = ctx.profile
        assert prof.model is not None and prof.training is not None and prof.target is not None
        train, _ = _train_holdout(ctx, plan["windows"])
        check_training_entrypoint(prof.training.entrypoint)  # the plan may predate a change
        fit = load_entrypoint(prof.training.entrypoint)
        crash_point("retrain:before-train")
        model = fit(train, numeric=prof.features.numeric, categorical=prof.features.categorical,
                    target=prof.target, seed=params.seed)
        crash_point("retrain:before-register")
        version = store.register_model(
            name, model, experiment=f"mlpb-{prof.name}",
            params={"train_rows": len(train), **plan["windows"], "seed": params.seed},
            metrics={}, tags={INCIDENT_TAG: ctx.incident_id, REMEDIATION_TAG: "retrain",
                              "threshold": str(prof.model.threshold),
                              REFERENCE_TAG: _training_span(plan["windows"]),
                              TRAINING_WINDOW_TAG: _training_span(plan["windows"])},
            description=f"retrained by ML Playbooks incident {ctx.incident_id}",
            signature_frame=train[prof.features.all])
        crash_point("retrain:after-register")
        change = store.set_alias(name, alias, version.version, incident_id=ctx.incident_id,
                                 previous_alias=PREVIOUS_ALIAS)
        crash_point("retrain:after-set-alias")
        return {"alias_change": change.to_dict(), "new_version": version.version,
                "previous_version": change.previous_version, "windows": plan["windows"]}

    def verify(self, ctx: RemediationContext, params: RetrainParams,
               change: dict[str, Any]) -> dict[str, float]:
        """Acceptance metrics on the holdout: serving (new) vs the version it replaced."""
        from playbooks.engine.verify import measure

        store, name, alias = require_model(ctx, "retrain")
        train, holdout = _train_holdout(ctx, change["windows"])
        serving = store.load_model(name, alias)
        previous = (store.load_model(name, change["previous_version"])
                    if change.get("previous_version") else None)
        metrics = measure(ctx.profile, holdout, serving=serving, previous=previous,
                          reference=train)
        return {**metrics, "holdout_rows": float(len(holdout))}

    def revert(self, ctx: RevertContext, change: dict[str, Any]) -> None:
        store, _, _ = require_model(ctx, "retrain")
        store.revert_alias(AliasChange.from_dict(change["alias_change"]))

    def recover(self, ctx: RevertContext, plan: dict[str, Any]) -> str:
        """Alias back to the plan's current version if it points at a version this incident
        registered; a version registered but never promoted is reported and left (unserved)."""
        store, name, _ = require_model(ctx, "retrain")
        mine = {v.version for v in store.list_versions(name)
                if v.tags.get(INCIDENT_TAG) == ctx.incident_id
                and v.tags.get(REMEDIATION_TAG) == "retrain"}
        prior = str(plan["current_version"])
        account = recover_alias(ctx, prior, lambda v: v in mine)
        if "previous_alias_was" in plan and store.restore_alias(
                name, PREVIOUS_ALIAS, plan["previous_alias_was"], only_if=prior):
            account += f"; '{PREVIOUS_ALIAS}' put back"
        if not mine:
            return f"no version registered by this incident; {account}"
        listed = ", ".join(f"v{v}" for v in sorted(mine, key=int))
        return f"{listed} registered by this incident (left in the registry); {account}"
