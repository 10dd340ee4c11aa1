"""Model- and serving-side faults: concept drift, prevalence shift, bad / broken / heavy
releases, saturation and an error spike.

Releases are real: the injector trains a (faulty) version, registers it in the sandbox's
MLflow store and promotes it to champion, so the window is scored by it and a rollback has
something real to move back from. Serving faults rewrite what the log records in
``after_scoring`` (latency, status). Output-anomaly faults also make sure a simple vetted
fallback model is registered under the profile's ``fallback`` alias (:func:`ensure_fallback`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from pydantic import Field
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline

from playbooks.engine.plugins import fault
from playbooks.modelstore import ModelNotFound
from playbooks.sandbox.bootstrap import (
    CHAMPION_ALIAS,
    THRESHOLD,
    Sandbox,
    partition_days,
    read_partitions,
    sub_seed,
    train_scorecard,
)
from playbooks.sandbox.faults.base import (
    FaultContext,
    FaultParams,
    Feature,
    fresh_applicants,
    reference,
)
from playbooks.sandbox.simulator import FEATURES, ID, TARGET, TIMESTAMP

__all__ = ["FALLBACK_ALIAS", "BadRelease", "ConceptDrift", "ErrorSpike", "HeavyRelease",
           "PrevalenceShift", "Saturation", "ScoreCollapse", "ensure_fallback",
           "register_version"]

FALLBACK_ALIAS = "fallback"  # the sandbox profile's model.fallback_alias
EXPERIMENT = "credit-risk-faults"
# The fallback scorecard: few, robust features (what a risk team keeps as a safe default).
_FALLBACK_NUMERIC = ["credit_score", "debt_to_income", "annual_income", "loan_amount"]
_FALLBACK_CATEGORICAL = ["employment_type"]


# -- labelled performance (the alert is a vague "the model looks wrong": via triage) ---------


class ConceptDrift(FaultParams, playbook="performance-decay", root_cause="concept-drift",
                   alert_names_playbook=False, persists=True):
    """What predicts default changes (a new product, a bureau re-scoring): debt load,
    loan-to-income and job type now drive it and the bureau score no longer does. The
    applicants and their features stay exactly as they were; only their outcomes (labels)
    change. The new concept persists in new traffic."""

    strength: float = Field(1.0, gt=0, le=1, description="Share of applicants on the new concept.")
    regions: list[str] | None = Field(
        None, description="Only applicants from these regions change (None: all).")


class PrevalenceShift(FaultParams, playbook="threshold-miscalibration",
                      root_cause="prevalence-shift", alert_names_playbook=False, persists=True):
    """A downturn: many more applicants default. Who defaults still looks the same
    (P(features | default) is unchanged), so ranking holds but the fixed threshold now
    declines far more applicants than the business targets. The downturn persists."""

    prevalence: float = Field(0.5, gt=0.02, lt=0.9, description="Default rate in the window.")


@fault("concept-drift", params=ConceptDrift)
def inject_concept_drift(params: ConceptDrift, window: pd.DataFrame,
                         ctx: FaultContext) -> pd.DataFrame:
    """The same applicants; outcomes follow new drivers (labels rewritten)."""
    out = window.copy()
    rng = np.random.default_rng(sub_seed(ctx.seed, 21))
    new = _new_concept_labels(out, reference(ctx.sandbox), rng)
    old = out[ID].map(_arrived_labels(ctx)).to_numpy(dtype=float)
    affected = rng.random(len(out)) < params.strength
    if params.regions is not None:
        affected &= out["region"].isin(params.regions).to_numpy()
    # Requests whose label never arrived keep no old label: they take the new concept.
    out[TARGET] = np.where(affected | np.isnan(old), new, old).astype(np.int64)
    return out


@fault("prevalence-shift", params=PrevalenceShift)
def inject_prevalence_shift(params: PrevalenceShift, window: pd.DataFrame,
                            ctx: FaultContext) -> pd.DataFrame:
    """Fresh applicants, resampled so ``prevalence`` of them default."""
    p = params.prevalence
    pool = fresh_applicants(ctx, stream=23, tag="p",
                            n=int(ctx.rows * max(p / 0.1, (1 - p) / 0.8) * 1.2) + 50)
    n_pos = round(ctx.rows * p)
    pos, neg = pool[pool[TARGET] == 1], pool[pool[TARGET] == 0]
    if len(pos) < n_pos or len(neg) < ctx.rows - n_pos:
        raise ValueError(f"prevalence {p} needs a bigger applicant pool")
    chosen = pd.concat([pos.sample(n_pos, random_state=ctx.seed),
                        neg.sample(ctx.rows - n_pos, random_state=ctx.seed)])
    return chosen.sort_values(TIMESTAMP, kind="stable").reset_index(drop=True)


# -- releases: the injector promotes a faulty version; the same applicants are scored by it --


class BadRelease(FaultParams, playbook="bad-release", root_cause="regression-after-release"):
    """A new version is promoted that was trained on data where a join bug scrambled one
    feature: it ranks clearly worse than the champion it replaced."""

    scrambled_feature: Feature = Field("credit_score", description="Feature scrambled in training.")


class ScoreCollapse(FaultParams, playbook="output-anomaly", root_cause="score-collapse",
                    alert_names_playbook=False):
    """A broken export is promoted: the weights were scaled down, so every applicant gets
    (almost) the same score and nobody is declined."""

    weight_scale: float = Field(0.002, gt=0, lt=0.5, description="Factor on the weights.")


class HeavyRelease(FaultParams, playbook="serving-latency", root_cause="heavier-version",
                   persists=True):
    """A heavier version is promoted (feature engineering duplicated in several branches):
    as accurate, several times slower per request; the log records the slower serving. It
    persists while that version serves (a rollback ends it)."""

    branches: int = Field(6, ge=2, le=12, description="Feature-engineering branches.")
    latency_factor: float = Field(6.0, gt=1, le=50, description="Logged latency multiplier.")

    def after_scoring(self, scored: pd.DataFrame, ctx: FaultContext) -> pd.DataFrame:
        if ctx.ongoing is not None and ctx.serving_version != ctx.ongoing.model_version:
            return scored  # the heavy version no longer serves
        return scored.assign(latency_ms=(scored["latency_ms"] * self.latency_factor).round(1))


@fault("bad-release", params=BadRelease)
def inject_bad_release(params: BadRelease, window: pd.DataFrame,
                       ctx: FaultContext) -> pd.DataFrame:
    """Promotes a version trained with the feature scrambled."""
    ref = reference(ctx.sandbox)
    rng = np.random.default_rng(sub_seed(ctx.seed, 31))
    ref[params.scrambled_feature] = rng.permutation(ref[params.scrambled_feature].to_numpy())
    _promote(ctx, train_scorecard(ref, seed=ctx.seed))
    return window


@fault("score-collapse", params=ScoreCollapse)
def inject_score_collapse(params: ScoreCollapse, window: pd.DataFrame,
                          ctx: FaultContext) -> pd.DataFrame:
    """Promotes the champion with its weights scaled down (a fallback is registered first)."""
    ensure_fallback(ctx.sandbox)
    model = ctx.sandbox.model_store().load_model(ctx.sandbox.model_name, CHAMPION_ALIAS)
    model.named_steps["classifier"].coef_ *= params.weight_scale
    _promote(ctx, model)
    return window


@fault("heavy-release", params=HeavyRelease)
def inject_heavy_release(params: HeavyRelease, window: pd.DataFrame,
                         ctx: FaultContext) -> pd.DataFrame:
    """Promotes an as-accurate version with the feature engineering run ``branches`` times
    (once: while the fault goes on, the same traffic is served by whatever serves)."""
    if ctx.ongoing is not None:
        return window
    ref = reference(ctx.sandbox)
    ref = ref.sample(min(len(ref), 3000), random_state=ctx.seed)  # keeps the drill quick
    base = train_scorecard(ref)
    heavy = Pipeline([
        ("features", FeatureUnion([(f"branch{i}", clone(base.named_steps["features"]))
                                   for i in range(params.branches)])),
        ("classifier", LogisticRegression(C=1.0 / params.branches, max_iter=2000)),
    ])
    heavy.fit(ref[list(FEATURES)], ref[TARGET].astype(int))
    _promote(ctx, heavy)
    return window


# -- serving ---------------------------------------------------------------------------------


class Saturation(FaultParams, playbook="serving-latency", root_cause="saturation"):
    """Traffic grows beyond capacity: requests queue at busy hours, for every version."""

    volume_factor: float = Field(3.0, ge=1, le=10, description="Requests vs usual.")
    slowdown: float = Field(5.0, gt=0, le=50, description="Extra latency factor at the peak hour.")

    def after_scoring(self, scored: pd.DataFrame, ctx: FaultContext) -> pd.DataFrame:
        hour = scored[TIMESTAMP].dt.floor("h")
        volume = hour.map(hour.value_counts()).astype(float)
        load = volume / volume.max()  # queueing delay grows steeply near capacity
        return scored.assign(latency_ms=(scored["latency_ms"] * (1 + self.slowdown * load**3))
                             .round(1))


class ErrorSpike(FaultParams, playbook="serving-latency", root_cause="error-spike"):
    """The serving stack starts failing a share of requests (timeouts on the way back)."""

    error_rate: float = Field(0.08, gt=0, lt=1, description="Share of failed requests.")

    def after_scoring(self, scored: pd.DataFrame, ctx: FaultContext) -> pd.DataFrame:
        rng = np.random.default_rng(sub_seed(ctx.seed, 41))
        failed = rng.random(len(scored)) < self.error_rate
        return scored.assign(status=np.where(failed, "error", scored["status"]))


@fault("saturation", params=Saturation)
def inject_saturation(params: Saturation, window: pd.DataFrame, ctx: FaultContext) -> pd.DataFrame:
    """More applicants from the usual population (latency rewritten after scoring)."""
    return fresh_applicants(ctx, stream=27, tag="v", n=round(ctx.rows * params.volume_factor))


@fault("error-spike", params=ErrorSpike)
def inject_error_spike(params: ErrorSpike, window: pd.DataFrame, ctx: FaultContext) -> pd.DataFrame:
    """The same applicants (statuses rewritten after scoring)."""
    return window


# -- helpers ---------------------------------------------------------------------------------


def register_version(sandbox: Sandbox, model: Any, *, role: str, tags: dict[str, str],
                     description: str, alias: str | None = None) -> str:
    """Register ``model`` as a new version of the sandbox model (params ``role``; tags: the
    default threshold, ``mlpb.sandbox`` and ``tags``) and point ``alias`` at it."""
    store = sandbox.model_store()
    info = store.register_model(
        sandbox.model_name, model, experiment=EXPERIMENT, params={"role": role}, metrics={},
        tags={"threshold": str(THRESHOLD), "mlpb.sandbox": "true", **tags},
        description=description)
    if alias:
        store.set_alias(sandbox.model_name, alias, info.version)
    return info.version


def _promote(ctx: FaultContext, model: Any) -> str:
    """The fault's version, registered and made champion."""
    return register_version(ctx.sandbox, model, role=ctx.kind, tags={"mlpb.fault": ctx.kind},
                            description=f"sandbox fault '{ctx.kind}'", alias=CHAMPION_ALIAS)


def ensure_fallback(sandbox: Sandbox) -> str:
    """The version behind the ``fallback`` alias, registering a simple vetted scorecard the
    first time. It is tagged ``role=fallback``, not ``known_good``: rollback-model looks for
    earlier champions; switching to the fallback is its own, explicit remediation."""
    try:
        return sandbox.model_store().get_version(sandbox.model_name, FALLBACK_ALIAS).version
    except ModelNotFound:
        pass
    model = train_scorecard(reference(sandbox), numeric=_FALLBACK_NUMERIC,
                            categorical=_FALLBACK_CATEGORICAL)
    return register_version(sandbox, model, role="fallback", tags={"role": "fallback"},
                            description="Simple vetted fallback scorecard (5 features).",
                            alias=FALLBACK_ALIAS)


def _arrived_labels(ctx: FaultContext) -> pd.Series:
    """request id -> label, for labels that have arrived."""
    labels = read_partitions(ctx.sandbox.labels_dir, partition_days(ctx.sandbox.labels_dir))
    if labels.empty:
        return pd.Series(dtype=float)
    return labels.drop_duplicates(ID, keep="last").set_index(ID)[TARGET].astype(float)


def _new_concept_labels(frame: pd.DataFrame, ref: pd.DataFrame,
                        rng: np.random.Generator) -> np.ndarray:
    """Defaults under the new concept: debt, loan size and job drive it; the bureau score
    (the old model's mainstay) no longer predicts it. Standardised against the reference."""

    def z(values: pd.Series, base: pd.Series) -> np.ndarray:
        return np.asarray((values - base.mean()) / base.std(), dtype=float)

    lti, ref_lti = ((f["loan_amount"] / f["annual_income"]).transform(np.log) for f in (frame, ref))
    risky_job = frame["employment_type"].isin(["contract", "self_employed", "unemployed"])
    log_odds = (-2.1 + 1.3 * z(frame["debt_to_income"], ref["debt_to_income"])
                + 0.9 * z(lti, ref_lti) + 0.8 * risky_job.to_numpy(float)
                - 0.6 * z(frame["employment_years"], ref["employment_years"])
                + 0.5 * frame["loan_purpose"].isin(["small_business", "medical"]).to_numpy(float))
    p_default = 1 / (1 + np.exp(-np.asarray(log_odds, dtype=float)))
    return np.asarray(rng.random(len(frame)) < p_default).astype(np.int64)
