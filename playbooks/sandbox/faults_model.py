"""Model- and serving-side faults: concept drift, prevalence shift, bad / broken / heavy
releases, saturation and an error spike.

Releases are real: ``before_scoring`` trains a (faulty) version, registers it in the
sandbox's MLflow store and promotes it to champion, so the window is scored by it and a
rollback has something real to move back from. Serving faults rewrite what the log records
in ``after_scoring`` (latency, status). Output-anomaly faults also make sure a simple vetted
fallback model is registered under the profile's ``fallback`` alias (:func:`ensure_fallback`).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
from pydantic import Field, field_validator
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline

from playbooks.modelstore import ModelNotFound
from playbooks.sandbox import model as credit_model
from playbooks.sandbox.bootstrap import (
    CHAMPION_ALIAS,
    THRESHOLD,
    Sandbox,
    partition_days,
    read_partitions,
    sub_seed,
)
from playbooks.sandbox.faults import FaultContext, _FaultParams, fault_injector
from playbooks.sandbox.simulator import (
    CATEGORICAL_FEATURES,
    FEATURES,
    ID,
    NUMERIC_FEATURES,
    TARGET,
    TIMESTAMP,
    simulate_applications,
)

__all__ = ["FALLBACK_ALIAS", "BadRelease", "ConceptDrift", "ErrorSpike", "HeavyRelease",
           "PrevalenceShift", "Saturation", "ScoreCollapse", "ensure_fallback",
           "register_version"]

FALLBACK_ALIAS = "fallback"  # the sandbox profile's model.fallback_alias
EXPERIMENT = "credit-risk-faults"
# The fallback scorecard: few, robust features (what a risk team keeps as a safe default).
_FALLBACK_NUMERIC = ["credit_score", "debt_to_income", "annual_income", "loan_amount"]
_FALLBACK_CATEGORICAL = ["employment_type"]


# -- params ----------------------------------------------------------------------------------


class ConceptDrift(_FaultParams):
    """What predicts default changes (a new product, a bureau re-scoring): debt load,
    loan-to-income and job type now drive it and the bureau score no longer does. The
    applicants and their features stay exactly as they were; only their outcomes (labels)
    change."""

    kind: Literal["concept-drift"] = "concept-drift"
    playbook: ClassVar[str] = "performance-decay"
    root_cause: ClassVar[str] = "concept-drift"
    alert_names_playbook: ClassVar[bool] = False
    strength: float = Field(1.0, gt=0, le=1, description="Share of applicants on the new concept.")
    regions: list[str] | None = Field(
        None, description="Only applicants from these regions change (None: all).")


class PrevalenceShift(_FaultParams):
    """A downturn: many more applicants default. Who defaults still looks the same
    (P(features | default) is unchanged), so ranking holds but the fixed threshold now
    declines far more applicants than the business targets."""

    kind: Literal["prevalence-shift"] = "prevalence-shift"
    playbook: ClassVar[str] = "threshold-miscalibration"
    root_cause: ClassVar[str] = "prevalence-shift"
    alert_names_playbook: ClassVar[bool] = False
    prevalence: float = Field(0.5, gt=0.02, lt=0.9, description="Default rate in the window.")


class BadRelease(_FaultParams):
    """A new version is promoted that was trained on data where a join bug scrambled one
    feature: it ranks clearly worse than the champion it replaced."""

    kind: Literal["bad-release"] = "bad-release"
    playbook: ClassVar[str] = "bad-release"
    root_cause: ClassVar[str] = "regression-after-release"
    alert_names_playbook: ClassVar[bool] = True
    scrambled_feature: str = Field("credit_score", description="Feature scrambled in training.")

    @field_validator("scrambled_feature")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in FEATURES:
            raise ValueError(f"'{v}' is not a feature; choose from {FEATURES}")
        return v

    def before_scoring(self, ctx: FaultContext) -> None:
        ref = _reference(ctx.sandbox)
        rng = np.random.default_rng(sub_seed(ctx.seed, 31))
        ref[self.scrambled_feature] = rng.permutation(ref[self.scrambled_feature].to_numpy())
        model = credit_model.train(ref, numeric=list(NUMERIC_FEATURES),
                                   categorical=list(CATEGORICAL_FEATURES), target=TARGET,
                                   seed=ctx.seed)
        register_version(ctx.sandbox, model, role="bad-release", promote=True)


class ScoreCollapse(_FaultParams):
    """A broken export is promoted: the weights were scaled down, so every applicant gets
    (almost) the same score and nobody is declined."""

    kind: Literal["score-collapse"] = "score-collapse"
    playbook: ClassVar[str] = "output-anomaly"
    root_cause: ClassVar[str] = "score-collapse"
    alert_names_playbook: ClassVar[bool] = False
    weight_scale: float = Field(0.002, gt=0, lt=0.5, description="Factor on the weights.")

    def before_scoring(self, ctx: FaultContext) -> None:
        ensure_fallback(ctx.sandbox)
        reg = ctx.sandbox.model_store()
        model = reg.load_model(ctx.sandbox.model_name, CHAMPION_ALIAS)
        model.named_steps["classifier"].coef_ *= self.weight_scale
        register_version(ctx.sandbox, model, role="score-collapse", promote=True)


class HeavyRelease(_FaultParams):
    """A heavier version is promoted (feature engineering duplicated in several branches):
    as accurate, several times slower per request; the log records the slower serving."""

    kind: Literal["heavy-release"] = "heavy-release"
    playbook: ClassVar[str] = "serving-latency"
    root_cause: ClassVar[str] = "heavier-version"
    alert_names_playbook: ClassVar[bool] = True
    branches: int = Field(6, ge=2, le=12, description="Feature-engineering branches.")
    latency_factor: float = Field(6.0, gt=1, le=50, description="Logged latency multiplier.")

    def before_scoring(self, ctx: FaultContext) -> None:
        ref = _reference(ctx.sandbox)
        ref = ref.sample(min(len(ref), 3000), random_state=ctx.seed)  # keeps the drill quick
        base = credit_model.train(ref, numeric=list(NUMERIC_FEATURES),
                                  categorical=list(CATEGORICAL_FEATURES), target=TARGET)
        heavy = Pipeline([
            ("features", FeatureUnion([(f"branch{i}", clone(base.named_steps["features"]))
                                       for i in range(self.branches)])),
            ("classifier", LogisticRegression(C=1.0 / self.branches, max_iter=2000)),
        ])
        heavy.fit(ref[list(FEATURES)], ref[TARGET].astype(int))
        register_version(ctx.sandbox, heavy, role="heavy-release", promote=True)

    def after_scoring(self, scored: pd.DataFrame, ctx: FaultContext) -> pd.DataFrame:
        return scored.assign(latency_ms=(scored["latency_ms"] * self.latency_factor).round(1))


class Saturation(_FaultParams):
    """Traffic grows beyond capacity: requests queue at busy hours, for every version."""

    kind: Literal["saturation"] = "saturation"
    playbook: ClassVar[str] = "serving-latency"
    root_cause: ClassVar[str] = "saturation"
    alert_names_playbook: ClassVar[bool] = True
    volume_factor: float = Field(3.0, ge=1, le=10, description="Requests vs usual.")
    slowdown: float = Field(5.0, gt=0, le=50, description="Extra latency factor at the peak hour.")

    def after_scoring(self, scored: pd.DataFrame, ctx: FaultContext) -> pd.DataFrame:
        hour = scored[TIMESTAMP].dt.floor("h")
        volume = hour.map(hour.value_counts()).astype(float)
        load = volume / volume.max()  # queueing delay grows steeply near capacity
        return scored.assign(latency_ms=(scored["latency_ms"] * (1 + self.slowdown * load**3))
                             .round(1))


class ErrorSpike(_FaultParams):
    """The serving stack starts failing a share of requests (timeouts on the way back)."""

    kind: Literal["error-spike"] = "error-spike"
    playbook: ClassVar[str] = "serving-latency"
    root_cause: ClassVar[str] = "error-spike"
    alert_names_playbook: ClassVar[bool] = True
    error_rate: float = Field(0.08, gt=0, lt=1, description="Share of failed requests.")

    def after_scoring(self, scored: pd.DataFrame, ctx: FaultContext) -> pd.DataFrame:
        rng = np.random.default_rng(sub_seed(ctx.seed, 41))
        failed = rng.random(len(scored)) < self.error_rate
        return scored.assign(status=np.where(failed, "error", scored["status"]))


# -- injectors -------------------------------------------------------------------------------


@fault_injector(ConceptDrift)
def inject_concept_drift(fault: ConceptDrift, window: pd.DataFrame,
                         ctx: FaultContext) -> pd.DataFrame:
    """The same applicants; outcomes follow new drivers (labels rewritten)."""
    out = window.copy()
    rng = np.random.default_rng(sub_seed(ctx.seed, 21))
    new = _new_concept_labels(out, _reference(ctx.sandbox), rng)
    old = out[ID].map(_arrived_labels(ctx)).to_numpy(dtype=float)
    affected = rng.random(len(out)) < fault.strength
    if fault.regions is not None:
        affected &= out["region"].isin(fault.regions).to_numpy()
    # Requests whose label never arrived keep no old label: they take the new concept.
    out[TARGET] = np.where(affected | np.isnan(old), new, old).astype(np.int64)
    return out


@fault_injector(PrevalenceShift)
def inject_prevalence_shift(fault: PrevalenceShift, window: pd.DataFrame,
                            ctx: FaultContext) -> pd.DataFrame:
    """Fresh applicants, resampled so ``prevalence`` of them default."""
    pool_n = int(ctx.rows * max(fault.prevalence / 0.1, (1 - fault.prevalence) / 0.8) * 1.2) + 50
    pool = simulate_applications(pool_n, ctx.start, ctx.end, seed=sub_seed(ctx.seed, 23),
                                 id_prefix=f"p{ctx.seed}-{ctx.start:%Y%m%d%H}")
    n_pos = round(ctx.rows * fault.prevalence)
    pos, neg = pool[pool[TARGET] == 1], pool[pool[TARGET] == 0]
    if len(pos) < n_pos or len(neg) < ctx.rows - n_pos:
        raise ValueError(f"prevalence {fault.prevalence} needs a bigger applicant pool")
    picked = pd.concat([pos.sample(n_pos, random_state=ctx.seed),
                        neg.sample(ctx.rows - n_pos, random_state=ctx.seed)])
    return picked.sort_values(TIMESTAMP, kind="stable").reset_index(drop=True)


@fault_injector(BadRelease)
def inject_bad_release(fault: BadRelease, window: pd.DataFrame, ctx: FaultContext) -> pd.DataFrame:
    """The same applicants, scored by the promoted bad version."""
    return window


@fault_injector(ScoreCollapse)
def inject_score_collapse(fault: ScoreCollapse, window: pd.DataFrame,
                          ctx: FaultContext) -> pd.DataFrame:
    """The same applicants, scored by the promoted broken version."""
    return window


@fault_injector(HeavyRelease)
def inject_heavy_release(fault: HeavyRelease, window: pd.DataFrame,
                         ctx: FaultContext) -> pd.DataFrame:
    """The same applicants, served by the promoted heavier version."""
    return window


@fault_injector(Saturation)
def inject_saturation(fault: Saturation, window: pd.DataFrame, ctx: FaultContext) -> pd.DataFrame:
    """More applicants from the usual population (latency rewritten after scoring)."""
    return simulate_applications(round(ctx.rows * fault.volume_factor), ctx.start, ctx.end,
                                 seed=sub_seed(ctx.seed, 27),
                                 id_prefix=f"v{ctx.seed}-{ctx.start:%Y%m%d%H}")


@fault_injector(ErrorSpike)
def inject_error_spike(fault: ErrorSpike, window: pd.DataFrame, ctx: FaultContext) -> pd.DataFrame:
    """The same applicants (statuses rewritten after scoring)."""
    return window


# -- helpers ---------------------------------------------------------------------------------


def register_version(sandbox: Sandbox, model: Any, *, role: str, promote: bool,
                     tags: dict[str, str] | None = None) -> str:
    """Register ``model`` as a new version of the sandbox model (and make it champion)."""
    reg = sandbox.model_store()
    info = reg.register_model(
        sandbox.model_name, model, experiment=EXPERIMENT, params={"role": role}, metrics={},
        tags={"threshold": str(THRESHOLD), "mlpb.sandbox": "true", "mlpb.fault": role,
              **(tags or {})},
        description=f"sandbox fault '{role}'")
    if promote:
        reg.set_alias(sandbox.model_name, CHAMPION_ALIAS, info.version)
    return info.version


def ensure_fallback(sandbox: Sandbox) -> str:
    """The version behind the ``fallback`` alias, registering a simple vetted scorecard the
    first time. It is tagged ``role=fallback``, not ``known_good``: rollback-model looks for
    earlier champions; switching to the fallback is its own, explicit remediation."""
    reg = sandbox.model_store()
    try:
        return reg.get_version(sandbox.model_name, FALLBACK_ALIAS).version
    except ModelNotFound:
        pass
    model = credit_model.train(_reference(sandbox), numeric=_FALLBACK_NUMERIC,
                               categorical=_FALLBACK_CATEGORICAL, target=TARGET)
    info = reg.register_model(
        sandbox.model_name, model, experiment=EXPERIMENT, params={"role": "fallback"},
        metrics={}, tags={"threshold": str(THRESHOLD), "mlpb.sandbox": "true",
                          "role": "fallback"},
        description="Simple vetted fallback scorecard (5 features).")
    reg.set_alias(sandbox.model_name, FALLBACK_ALIAS, info.version)
    return info.version


def _reference(sandbox: Sandbox) -> pd.DataFrame:
    return pd.read_parquet(sandbox.reference_path)


def _arrived_labels(ctx: FaultContext) -> pd.Series:
    """request id -> label, for labels that have arrived."""
    labels = read_partitions(ctx.sandbox.labels_dir, partition_days(ctx.sandbox.labels_dir))
    if labels.empty:
        return pd.Series(dtype=float)
    return labels.drop_duplicates(ID, keep="last").set_index(ID)[TARGET].astype(float)


def _new_concept_labels(frame: pd.DataFrame, reference: pd.DataFrame,
                        rng: np.random.Generator) -> np.ndarray:
    """Defaults under the new concept: debt, loan size and job drive it; the bureau score
    (the old model's mainstay) no longer predicts it. Standardised against the reference."""

    def z(values: pd.Series, ref: pd.Series) -> np.ndarray:
        return np.asarray((values - ref.mean()) / ref.std(), dtype=float)

    lti, ref_lti = (np.log(f["loan_amount"] / f["annual_income"]) for f in (frame, reference))
    risky_job = frame["employment_type"].isin(["contract", "self_employed", "unemployed"])
    log_odds = (-2.1 + 1.3 * z(frame["debt_to_income"], reference["debt_to_income"])
                + 0.9 * z(lti, ref_lti) + 0.8 * risky_job.to_numpy(float)
                - 0.6 * z(frame["employment_years"], reference["employment_years"])
                + 0.5 * frame["loan_purpose"].isin(["small_business", "medical"]).to_numpy(float))
    p_default = 1 / (1 + np.exp(-np.asarray(log_odds, dtype=float)))
    return np.asarray(rng.random(len(frame)) < p_default).astype(np.int64)
