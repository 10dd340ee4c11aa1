"""Data-side faults: input drift (data-drift), broken batches (data-quality), late feeds
(data-freshness) and training/serving skew (feature-skew).

Most are row rewrites under the injector contract. Two need the written files themselves
(``post_write``): a renamed column (rows carry the profile's columns only) and a stale
feature-pipeline version (the version column is set by the scoring step). Rows touched by a
partial fault are picked by a hash of the request id (:func:`picked`, salted with the fault's
name), so the injector and its ``post_write`` agree without sharing state.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field, model_validator

from playbooks.engine.plugins import fault
from playbooks.sandbox.faults.base import (
    CategoricalFeature,
    FaultContext,
    FaultParams,
    NumericFeature,
    fresh_applicants,
    picked,
    rewrite_inference,
)
from playbooks.sandbox.simulator import ID, NUMERIC_FEATURES, TIMESTAMP, PopulationShift

__all__ = [
    "CovariateDrift",
    "DoubleTransform",
    "DuplicateRows",
    "MissingPartitions",
    "NoFault",
    "NullSpike",
    "OutOfRange",
    "SchemaBreak",
    "StalePartitions",
    "StalePipeline",
    "SwappedColumns",
    "UnitChange",
    "UnseenCategories",
    "apply_transform",
]

VERSION_COLUMN = "feature_pipeline_version"
Transform = Literal["log1p", "sqrt", "square", "x100", "div100", "standardize"]


# -- families: what a drill expects of each ------------------------------------------------


class DriftFault(FaultParams, playbook="data-drift"):
    """Faults the data-drift playbook owns; a drift monitor names it."""


class QualityFault(FaultParams, playbook="data-quality"):
    """Faults the data-quality playbook owns; a data-quality monitor names it."""


class FreshnessFault(FaultParams, playbook="data-freshness"):
    """Faults the data-freshness playbook owns; a freshness monitor names it."""


class SkewFault(FaultParams, playbook="feature-skew", alert_names_playbook=False):
    """Faults the feature-skew playbook owns; "the model looks wrong" goes through triage."""


# -- data-drift ------------------------------------------------------------------------------


class NoFault(DriftFault, root_cause="no-material-drift", heals=True):
    """Healthy traffic: replaces the window with a fresh normal population (a drill control).
    Injected after other faults it heals the sandbox: new traffic is healthy again."""


class CovariateDrift(DriftFault, root_cause="population-shift", persists=True):
    """The applicant population shifts (younger, more indebted renters, new region mix).
    It persists: new traffic comes from the shifted population too."""

    strength: float = Field(
        default=1.0, gt=0.0, le=3.0, description="1.0 = clearly material drift."
    )
    features: list[str] | None = Field(
        default=None, description="Shift only these features (see SHIFTABLE_FEATURES); None = all."
    )


class UnitChange(DriftFault, root_cause="upstream-unit-change", persists=True):
    """Upstream changes a column's unit (income sent in thousands); nothing else changes.

    The rescaled column is logged as float, so an integer feature changes type too - as it
    would when an upstream system changes its unit. It persists until upstream fixes it.
    """

    feature: NumericFeature = Field(
        default="annual_income", description="Numeric feature whose unit changes."
    )
    factor: float = Field(
        default=0.001, gt=0.0, description="Logged value = true value x factor."
    )


@fault("none", params=NoFault)
def inject_no_fault(params: NoFault, window: pd.DataFrame, ctx: FaultContext) -> pd.DataFrame:
    """Fresh applicants from the normal population."""
    return fresh_applicants(ctx, stream=7, tag="f")


@fault("covariate-drift", params=CovariateDrift)
def inject_covariate_drift(
    params: CovariateDrift, window: pd.DataFrame, ctx: FaultContext
) -> pd.DataFrame:
    """Fresh applicants from a shifted population; the default process is unchanged."""
    shift = PopulationShift(strength=params.strength, features=params.features)
    return fresh_applicants(ctx, stream=7, tag="f", shift=shift)


@fault("unit-change", params=UnitChange)
def inject_unit_change(params: UnitChange, window: pd.DataFrame, ctx: FaultContext) -> pd.DataFrame:
    """The same applicants, with one column logged (and served) in another unit."""
    out = window.copy()
    out[params.feature] = out[params.feature].astype(float) * params.factor
    return out


# -- data-quality ----------------------------------------------------------------------------


class NullSpike(QualityFault, root_cause="null-spike"):
    """An upstream join starts dropping values: a share of some features arrive empty."""

    features: list[str] = Field(default=["credit_score", "employment_years"],
                                description="Features that lose values.")
    share: float = Field(default=0.35, gt=0, le=1, description="Share of rows losing them.")


class SchemaBreak(QualityFault, root_cause="schema-break"):
    """Upstream renames a column: the files carry ``new_name`` instead of ``feature``."""

    feature: NumericFeature = Field(default="annual_income", description="Column that is renamed.")
    new_name: str = Field(default="annual_income_usd", description="Its new name.")

    def post_write(self, ctx: FaultContext, days: list[date]) -> None:
        """Rename in the written files; a file wholly after the onset loses the old column."""

        def rename(frame: pd.DataFrame, after: np.ndarray) -> pd.DataFrame:
            pos = list(frame.columns).index(self.feature)
            new = frame[self.feature].where(after)
            frame[self.feature] = frame[self.feature].where(~after)
            frame.insert(pos + 1, self.new_name, new)
            return frame.drop(columns=[self.feature]) if after.all() else frame

        rewrite_inference(ctx, days, rename)


class OutOfRange(QualityFault, root_cause="out-of-range"):
    """A source starts sending a sentinel (e.g. 9999 for "no bureau hit") for some rows."""

    feature: NumericFeature = Field(default="credit_score", description="Numeric feature affected.")
    value: float = Field(default=9999.0, description="The out-of-range value sent.")
    share: float = Field(default=0.15, gt=0, le=1, description="Share of rows affected.")


class UnseenCategories(QualityFault, root_cause="unseen-categories"):
    """New category codes appear in a categorical feature (an upstream code-list change)."""

    feature: CategoricalFeature = Field(default="region",
                                        description="Categorical feature affected.")
    values: list[str] = Field(default=["north-east", "south-west"], min_length=1,
                              description="The new codes.")
    share: float = Field(default=0.25, gt=0, le=1, description="Share of rows affected.")


class DuplicateRows(QualityFault, root_cause="duplicate-rows"):
    """A retrying producer re-sends requests: rows appear twice with the same request id."""

    share: float = Field(default=0.2, gt=0, le=1, description="Share of rows sent twice.")


@fault("null-spike", params=NullSpike)
def inject_null_spike(params: NullSpike, window: pd.DataFrame, ctx: FaultContext) -> pd.DataFrame:
    """The same applicants; a share of rows lose the named features."""
    out = window.copy()
    rows = picked(out[ID], params.share, ctx.kind)
    for f in params.features:
        out[f] = out[f].astype(float) if f in NUMERIC_FEATURES else out[f].astype(object)
        out.loc[rows, f] = np.nan
    return out


@fault("schema-break", params=SchemaBreak)
def inject_schema_break(params: SchemaBreak, window: pd.DataFrame,
                        ctx: FaultContext) -> pd.DataFrame:
    """Rows are unchanged (the model still got the value); ``post_write`` renames the column."""
    return window.copy()


@fault("out-of-range", params=OutOfRange)
def inject_out_of_range(params: OutOfRange, window: pd.DataFrame,
                        ctx: FaultContext) -> pd.DataFrame:
    """A share of rows carry the sentinel value."""
    out = window.copy()
    out[params.feature] = out[params.feature].astype(float)
    out.loc[picked(out[ID], params.share, ctx.kind), params.feature] = params.value
    return out


@fault("unseen-categories", params=UnseenCategories)
def inject_unseen_categories(params: UnseenCategories, window: pd.DataFrame,
                             ctx: FaultContext) -> pd.DataFrame:
    """A share of rows carry new codes (spread evenly over ``values``)."""
    out = window.copy()
    rows = out.index[picked(out[ID], params.share, ctx.kind)]
    for i, value in enumerate(params.values):
        out.loc[rows[i::len(params.values)], params.feature] = value
    return out


@fault("duplicate-rows", params=DuplicateRows)
def inject_duplicate_rows(params: DuplicateRows, window: pd.DataFrame,
                          ctx: FaultContext) -> pd.DataFrame:
    """A share of requests appear twice (same id, time and features)."""
    dup = window.loc[picked(window[ID], params.share, ctx.kind)]
    return pd.concat([window, dup], ignore_index=True).sort_values(TIMESTAMP, kind="stable")


# -- data-freshness --------------------------------------------------------------------------


class StalePartitions(FreshnessFault, root_cause="stale-feed"):
    """The feed stops: the last ``stale_days`` of daily partitions never arrive."""

    stale_days: int = Field(default=2, ge=1, le=7, description="Days of partitions missing.")


class MissingPartitions(FreshnessFault, root_cause="missing-partitions"):
    """One day's partition is lost in the middle of the window; the feed is otherwise current."""

    days_ago: int = Field(default=3, ge=1, le=6, description="Which day (before now) is lost.")


def _days_before_end(ctx: FaultContext, days: int) -> pd.Timestamp:
    """Midnight ``days`` before the sandbox's "now" (daily partitions come and go whole)."""
    return (pd.Timestamp(ctx.end) - pd.Timedelta(days=days)).floor("D")


@fault("stale-partitions", params=StalePartitions)
def inject_stale_partitions(params: StalePartitions, window: pd.DataFrame,
                            ctx: FaultContext) -> pd.DataFrame:
    """Requests of the last ``stale_days`` are dropped; their day partitions go away."""
    keep = window[TIMESTAMP] < _days_before_end(ctx, params.stale_days)
    return window.loc[keep].reset_index(drop=True)


@fault("missing-partitions", params=MissingPartitions)
def inject_missing_partitions(params: MissingPartitions, window: pd.DataFrame,
                              ctx: FaultContext) -> pd.DataFrame:
    """Requests of one calendar day are dropped; that day's partition goes away."""
    lost = _days_before_end(ctx, params.days_ago)
    keep: pd.Series[bool] = window[TIMESTAMP].dt.floor("D") != lost
    return window.loc[keep].reset_index(drop=True)


# -- feature-skew ----------------------------------------------------------------------------


class SwappedColumns(SkewFault, root_cause="swapped-columns"):
    """A serving-side column mapping swaps two features (positional columns reordered)."""

    columns: tuple[NumericFeature, NumericFeature] = Field(
        default=("loan_amount", "annual_income"), description="The two numeric features swapped.")

    @model_validator(mode="after")
    def _two(self) -> SwappedColumns:
        if self.columns[0] == self.columns[1]:
            raise ValueError("swap two different features")
        return self


class DoubleTransform(SkewFault, root_cause="double-transform"):
    """Serving applies a transformation training did not (or applies it a second time)."""

    feature: NumericFeature = Field(default="annual_income", description="Feature affected.")
    transform: Transform = Field(default="log1p", description="The extra transformation.")


class StalePipeline(SkewFault, root_cause="stale-pipeline"):
    """Part of the traffic is served by an old feature-pipeline version that computes one
    feature in other units (e.g. debt-to-income in percent)."""

    share: float = Field(default=0.4, gt=0, lt=1, description="Share of rows on the old version.")
    old_version: str = Field(default="fp-1.3.0", description="The stale pipeline version.")
    feature: NumericFeature = Field(default="debt_to_income",
                                    description="Feature it computes differently.")
    factor: float = Field(default=100.0, gt=0, description="Old value = current value x factor.")

    @model_validator(mode="after")
    def _visible(self) -> StalePipeline:
        if self.factor == 1.0:
            raise ValueError("factor 1.0 computes the feature the same way; use another factor")
        return self

    def post_write(self, ctx: FaultContext, days: list[date]) -> None:
        """Stamp the old version on the rows the injector rewrote."""

        def stamp(frame: pd.DataFrame, after: np.ndarray) -> pd.DataFrame | None:
            old = picked(frame[ID], self.share, ctx.kind) & after
            if not old.any():
                return None
            frame.loc[old, VERSION_COLUMN] = self.old_version
            return frame

        rewrite_inference(ctx, days, stamp)


@fault("swapped-columns", params=SwappedColumns)
def inject_swapped_columns(params: SwappedColumns, window: pd.DataFrame,
                           ctx: FaultContext) -> pd.DataFrame:
    """The two features' values trade places (the model sees them swapped)."""
    out = window.copy()
    a, b = params.columns
    out[a], out[b] = window[b].astype(float).to_numpy(), window[a].astype(float).to_numpy()
    return out


def apply_transform(values: pd.Series, transform: Transform, reference: pd.Series) -> pd.Series:
    """``transform`` of ``values``; ``standardize`` uses ``reference``'s mean and std."""
    v = values.astype(float)
    if transform == "log1p":
        return v.clip(lower=0).transform(np.log1p)
    if transform == "sqrt":
        return v.clip(lower=0).transform(np.sqrt)
    if transform == "square":
        return v**2
    if transform == "x100":
        return v * 100
    if transform == "div100":
        return v / 100
    return (v - reference.mean()) / (reference.std() or 1.0)


@fault("double-transform", params=DoubleTransform)
def inject_double_transform(params: DoubleTransform, window: pd.DataFrame,
                            ctx: FaultContext) -> pd.DataFrame:
    """The feature reaches the model transformed once more than in training."""
    out = window.copy()
    out[params.feature] = apply_transform(window[params.feature], params.transform,
                                         window[params.feature].astype(float))
    return out


@fault("stale-pipeline", params=StalePipeline)
def inject_stale_pipeline(params: StalePipeline, window: pd.DataFrame,
                          ctx: FaultContext) -> pd.DataFrame:
    """Rows served by the old pipeline get the feature in its old units."""
    out = window.copy()
    old = picked(out[ID], params.share, ctx.kind)
    out[params.feature] = out[params.feature].astype(float)
    out.loc[old, params.feature] = out.loc[old, params.feature] * params.factor
    return out
