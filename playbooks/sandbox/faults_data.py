"""Data-side faults: broken batches (data-quality), late feeds (data-freshness) and
training/serving skew (feature-skew).

Most are row rewrites under the injector contract. Two need the written files themselves
(``post_write``): a renamed column (rows carry the profile's columns only) and a stale
feature-pipeline version (the version column is set by the scoring step). Rows touched by a
partial fault are picked by a hash of the request id, so the injector and its ``post_write``
agree without sharing state.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, ClassVar, Literal

import numpy as np
import pandas as pd
from pydantic import AfterValidator, Field, field_validator, model_validator

from playbooks.sandbox.bootstrap import partition_path, write_parquet
from playbooks.sandbox.faults import FaultContext, _FaultParams, fault_injector
from playbooks.sandbox.simulator import CATEGORICAL_FEATURES, ID, NUMERIC_FEATURES, TIMESTAMP

__all__ = [
    "DoubleTransform",
    "DuplicateRows",
    "MissingPartitions",
    "NullSpike",
    "OutOfRange",
    "SchemaBreak",
    "StalePartitions",
    "StalePipeline",
    "SwappedColumns",
    "UnseenCategories",
    "picked",
]

VERSION_COLUMN = "feature_pipeline_version"
Transform = Literal["log1p", "sqrt", "square", "x100", "div100", "standardize"]


def picked(ids: pd.Series, share: float, salt: str) -> np.ndarray:
    """Deterministic ~``share`` of rows, chosen by a hash of their request id."""
    h = pd.util.hash_pandas_object(ids.astype(str) + salt, index=False).to_numpy()
    return np.asarray((h % 10_000) < round(share * 10_000))


def _numeric(v: str) -> str:
    if v not in NUMERIC_FEATURES:
        raise ValueError(f"'{v}' is not a numeric feature; choose from {NUMERIC_FEATURES}")
    return v


NumericFeature = Annotated[str, AfterValidator(_numeric)]


class _Quality(_FaultParams):
    playbook: ClassVar[str] = "data-quality"
    alert_names_playbook: ClassVar[bool] = True  # a data-quality monitor names its playbook


class NullSpike(_Quality):
    """An upstream join starts dropping values: a share of some features arrive empty."""

    kind: Literal["null-spike"] = "null-spike"
    root_cause: ClassVar[str] = "null-spike"
    features: list[str] = Field(default=["credit_score", "employment_years"],
                                description="Features that lose values.")
    share: float = Field(default=0.35, gt=0, le=1, description="Share of rows losing them.")


class SchemaBreak(_Quality):
    """Upstream renames a column: the files carry ``new_name`` instead of ``feature``."""

    kind: Literal["schema-break"] = "schema-break"
    root_cause: ClassVar[str] = "schema-break"
    feature: NumericFeature = Field(default="annual_income", description="Column that is renamed.")
    new_name: str = Field(default="annual_income_usd", description="Its new name.")

    def post_write(self, ctx: FaultContext, days: list[date]) -> None:
        """Rename in the written files; a file wholly after the onset loses the old column."""
        onset = pd.Timestamp(ctx.start)
        for day in days:
            path = partition_path(ctx.sandbox.inference_dir, day)
            if not path.is_file():
                continue
            frame = pd.read_parquet(path)
            after = frame[TIMESTAMP] >= onset
            if not after.any():
                continue
            pos = list(frame.columns).index(self.feature)
            new = frame[self.feature].where(after)
            frame[self.feature] = frame[self.feature].where(~after)
            frame.insert(pos + 1, self.new_name, new)
            if after.all():
                frame = frame.drop(columns=[self.feature])
            write_parquet(frame, path)


class OutOfRange(_Quality):
    """A source starts sending a sentinel (e.g. 9999 for "no bureau hit") for some rows."""

    kind: Literal["out-of-range"] = "out-of-range"
    root_cause: ClassVar[str] = "out-of-range"
    feature: NumericFeature = Field(default="credit_score", description="Numeric feature affected.")
    value: float = Field(default=9999.0, description="The out-of-range value sent.")
    share: float = Field(default=0.15, gt=0, le=1, description="Share of rows affected.")


class UnseenCategories(_Quality):
    """New category codes appear in a categorical feature (an upstream code-list change)."""

    kind: Literal["unseen-categories"] = "unseen-categories"
    root_cause: ClassVar[str] = "unseen-categories"
    feature: str = Field(default="region", description="Categorical feature affected.")
    values: list[str] = Field(default=["north-east", "south-west"], min_length=1,
                              description="The new codes.")
    share: float = Field(default=0.25, gt=0, le=1, description="Share of rows affected.")

    @field_validator("feature")
    @classmethod
    def _categorical(cls, v: str) -> str:
        if v not in CATEGORICAL_FEATURES:
            raise ValueError(f"'{v}' is not categorical; choose from {CATEGORICAL_FEATURES}")
        return v


class DuplicateRows(_Quality):
    """A retrying producer re-sends requests: rows appear twice with the same request id."""

    kind: Literal["duplicate-rows"] = "duplicate-rows"
    root_cause: ClassVar[str] = "duplicate-rows"
    share: float = Field(default=0.2, gt=0, le=1, description="Share of rows sent twice.")


class _Freshness(_FaultParams):
    playbook: ClassVar[str] = "data-freshness"
    alert_names_playbook: ClassVar[bool] = True  # a freshness monitor names its playbook


class StalePartitions(_Freshness):
    """The feed stops: the last ``stale_days`` of daily partitions never arrive."""

    kind: Literal["stale-partitions"] = "stale-partitions"
    root_cause: ClassVar[str] = "stale-feed"
    stale_days: int = Field(default=2, ge=1, le=7, description="Days of partitions missing.")


class MissingPartitions(_Freshness):
    """One day's partition is lost in the middle of the window; the feed is otherwise current."""

    kind: Literal["missing-partitions"] = "missing-partitions"
    root_cause: ClassVar[str] = "missing-partitions"
    days_ago: int = Field(default=3, ge=1, le=6, description="Which day (before now) is lost.")


class _Skew(_FaultParams):
    playbook: ClassVar[str] = "feature-skew"
    alert_names_playbook: ClassVar[bool] = False  # "the model looks wrong": goes via triage


class SwappedColumns(_Skew):
    """A serving-side column mapping swaps two features (positional columns reordered)."""

    kind: Literal["swapped-columns"] = "swapped-columns"
    root_cause: ClassVar[str] = "swapped-columns"
    columns: tuple[NumericFeature, NumericFeature] = Field(
        default=("loan_amount", "annual_income"), description="The two numeric features swapped.")

    @model_validator(mode="after")
    def _two(self) -> SwappedColumns:
        if self.columns[0] == self.columns[1]:
            raise ValueError("swap two different features")
        return self


class DoubleTransform(_Skew):
    """Serving applies a transformation training did not (or applies it a second time)."""

    kind: Literal["double-transform"] = "double-transform"
    root_cause: ClassVar[str] = "double-transform"
    feature: NumericFeature = Field(default="annual_income", description="Feature affected.")
    transform: Transform = Field(default="log1p", description="The extra transformation.")


class StalePipeline(_Skew):
    """Part of the traffic is served by an old feature-pipeline version that computes one
    feature in other units (e.g. debt-to-income in percent)."""

    kind: Literal["stale-pipeline"] = "stale-pipeline"
    root_cause: ClassVar[str] = "stale-pipeline"
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
        onset = pd.Timestamp(ctx.start)
        for day in days:
            path = partition_path(ctx.sandbox.inference_dir, day)
            if not path.is_file():
                continue
            frame = pd.read_parquet(path)
            old = picked(frame[ID], self.share, self.kind) & (frame[TIMESTAMP] >= onset).to_numpy()
            if old.any():
                frame.loc[old, VERSION_COLUMN] = self.old_version
                write_parquet(frame, path)


# -- injectors -------------------------------------------------------------------------------


@fault_injector(NullSpike)
def inject_null_spike(fault: NullSpike, window: pd.DataFrame, ctx: FaultContext) -> pd.DataFrame:
    """The same applicants; a share of rows lose the named features."""
    out = window.copy()
    rows = picked(out[ID], fault.share, fault.kind)
    for f in fault.features:
        out[f] = out[f].astype(float) if f in NUMERIC_FEATURES else out[f].astype(object)
        out.loc[rows, f] = np.nan
    return out


@fault_injector(SchemaBreak)
def inject_schema_break(fault: SchemaBreak, window: pd.DataFrame,
                        ctx: FaultContext) -> pd.DataFrame:
    """Rows are unchanged (the model still got the value); ``post_write`` renames the column."""
    return window.copy()


@fault_injector(OutOfRange)
def inject_out_of_range(fault: OutOfRange, window: pd.DataFrame, ctx: FaultContext) -> pd.DataFrame:
    """A share of rows carry the sentinel value."""
    out = window.copy()
    out[fault.feature] = out[fault.feature].astype(float)
    out.loc[picked(out[ID], fault.share, fault.kind), fault.feature] = fault.value
    return out


@fault_injector(UnseenCategories)
def inject_unseen_categories(fault: UnseenCategories, window: pd.DataFrame,
                             ctx: FaultContext) -> pd.DataFrame:
    """A share of rows carry new codes (spread evenly over ``values``)."""
    out = window.copy()
    rows = np.flatnonzero(picked(out[ID], fault.share, fault.kind))
    col = out.columns.get_loc(fault.feature)
    for i, value in enumerate(fault.values):
        out.iloc[rows[i::len(fault.values)], col] = value
    return out


@fault_injector(DuplicateRows)
def inject_duplicate_rows(fault: DuplicateRows, window: pd.DataFrame,
                          ctx: FaultContext) -> pd.DataFrame:
    """A share of requests appear twice (same id, time and features)."""
    dup = window.loc[picked(window[ID], fault.share, fault.kind)]
    return pd.concat([window, dup], ignore_index=True).sort_values(TIMESTAMP, kind="stable")


@fault_injector(StalePartitions)
def inject_stale_partitions(fault: StalePartitions, window: pd.DataFrame,
                            ctx: FaultContext) -> pd.DataFrame:
    """Requests of the last ``stale_days`` are dropped; their day partitions go away."""
    cutoff = pd.Timestamp(ctx.end) - pd.Timedelta(days=fault.stale_days)
    cutoff = cutoff.floor("D")  # whole daily partitions stop arriving
    return window.loc[window[TIMESTAMP] < cutoff].reset_index(drop=True)


@fault_injector(MissingPartitions)
def inject_missing_partitions(fault: MissingPartitions, window: pd.DataFrame,
                              ctx: FaultContext) -> pd.DataFrame:
    """Requests of one calendar day are dropped; that day's partition goes away."""
    day = (pd.Timestamp(ctx.end) - pd.Timedelta(days=fault.days_ago)).floor("D")
    keep = window[TIMESTAMP].dt.floor("D") != day
    return window.loc[keep].reset_index(drop=True)


@fault_injector(SwappedColumns)
def inject_swapped_columns(fault: SwappedColumns, window: pd.DataFrame,
                           ctx: FaultContext) -> pd.DataFrame:
    """The two features' values trade places (the model sees them swapped)."""
    out = window.copy()
    a, b = fault.columns
    out[a], out[b] = window[b].astype(float).to_numpy(), window[a].astype(float).to_numpy()
    return out


def apply_transform(values: pd.Series, transform: Transform, reference: pd.Series) -> pd.Series:
    """``transform`` of ``values``; ``standardize`` uses ``reference``'s mean and std."""
    v = values.astype(float)
    if transform == "log1p":
        return np.log1p(v.clip(lower=0))
    if transform == "sqrt":
        return np.sqrt(v.clip(lower=0))
    if transform == "square":
        return v**2
    if transform == "x100":
        return v * 100
    if transform == "div100":
        return v / 100
    return (v - reference.mean()) / (reference.std() or 1.0)


@fault_injector(DoubleTransform)
def inject_double_transform(fault: DoubleTransform, window: pd.DataFrame,
                            ctx: FaultContext) -> pd.DataFrame:
    """The feature reaches the model transformed once more than in training."""
    out = window.copy()
    out[fault.feature] = apply_transform(window[fault.feature], fault.transform,
                                         window[fault.feature].astype(float))
    return out


@fault_injector(StalePipeline)
def inject_stale_pipeline(fault: StalePipeline, window: pd.DataFrame,
                          ctx: FaultContext) -> pd.DataFrame:
    """Rows served by the old pipeline get the feature in its old units."""
    out = window.copy()
    old = picked(out[ID], fault.share, fault.kind)
    out[fault.feature] = out[fault.feature].astype(float)
    out.loc[old, fault.feature] = out.loc[old, fault.feature] * fault.factor
    return out
