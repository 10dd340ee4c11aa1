"""ModelProfile: one monitored model and where its data lives."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from playbooks.models.common import Duration, StrictModel, parse_duration

__all__ = [
    "ApprovalPolicy",
    "Audience",
    "ChannelAudience",
    "DataSource",
    "DataSources",
    "Fairness",
    "FeatureSet",
    "LabelSource",
    "ModelProfile",
    "ModelRef",
    "Owners",
    "PredictionColumns",
    "ProfileCommunication",
    "ServiceLevels",
    "TrainingConfig",
]


_DOTTED = re.compile(r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)+")


class DataSource(StrictModel):
    path: str = Field(
        "", description="File or glob (CSV or parquet), relative to the profile file. Empty "
        "for a SQL source (table or query with url).")
    format: Literal["auto", "csv", "parquet"] = Field(
        "auto", description="File format; 'auto' picks by extension."
    )
    window: Duration | None = Field(
        None, description="Only the last span of data (by the timestamp column), e.g. '7d'."
    )
    table: str | None = Field(
        None, description="SQL table ('schema.table' or 'table') read instead of files; the "
        "window is pushed into the query on the timestamp column. Needs url.")
    query: str | None = Field(
        None, description="SQL SELECT read instead of files (wrapped as a subquery so the "
        "window is pushed into it). Needs url.")
    url: str | None = Field(
        None, description="SQLAlchemy URL of the database of table/query, e.g. "
        "'postgresql+psycopg://user@host/db'; ${VAR} is read from the environment (keep "
        "passwords out of the file).")

    @model_validator(mode="after")
    def _one_kind(self) -> DataSource:
        sql = self.table is not None or self.query is not None
        if self.table is not None and self.query is not None:
            raise ValueError("give table or query, not both")
        if sql and not self.url:
            raise ValueError("table/query need url: (a SQLAlchemy database URL)")
        if self.url and not sql:
            raise ValueError("url is for SQL sources: add table: or query:")
        if sql and self.path:
            raise ValueError("give path (files) or table/query (SQL), not both")
        if not sql and not self.path:
            raise ValueError("give path (a file or glob), or table/query with url")
        return self

class LabelSource(DataSource):
    column: str = Field(description="Label column in the label files.")
    delay: Duration = Field(
        parse_duration("1d"), description="How long after a prediction its label arrives.")


class DataSources(StrictModel):
    timestamp: str | None = Field(None, description="Event-time column in reference/current.")
    id: str | None = Field(None, description="Request id column, used to join labels.")
    reference: DataSource = Field(description="Data the model was trained on / known-good.")
    current: DataSource = Field(description="Recent production data (the inference log).")
    labels: LabelSource | None = Field(None, description="Delayed ground-truth labels.")
    feature_version: str | None = Field(
        None, description="Column with the feature-pipeline version that produced each row."
    )


class FeatureSet(StrictModel):
    numeric: list[str] = Field(default_factory=list, description="Numeric feature columns.")
    categorical: list[str] = Field(default_factory=list, description="Categorical columns.")

    @property
    def all(self) -> list[str]:
        return [*self.numeric, *self.categorical]

    @model_validator(mode="after")
    def _disjoint(self) -> FeatureSet:
        both = set(self.numeric) & set(self.categorical)
        if both:
            raise ValueError(f"features listed as both numeric and categorical: {sorted(both)}")
        if not self.numeric and not self.categorical:
            raise ValueError("at least one numeric or categorical feature is required")
        return self


class PredictionColumns(StrictModel):
    score: str | None = Field(None, description="Model score / probability column.")
    decision: str | None = Field(None, description="Decision column (e.g. approve/decline).")
    positive_decision: str | None = Field(
        None, description="Decision value meaning the positive class (e.g. 'decline')."
    )
    latency: str | None = Field(None, description="Serving latency column, in milliseconds.")
    model_version: str | None = Field(None, description="Column with the serving model version.")
    status: str | None = Field(None, description="Serving outcome column (e.g. ok / error).")
    error_value: str = Field("error", description="Value of the status column meaning failure.")


class ModelRef(StrictModel):
    registry_name: str = Field(description="MLflow registered model name.")
    alias: str = Field("champion", description="Alias that serves production traffic.")
    tracking_uri: str | None = Field(
        None, description="MLflow tracking URI; default is the local store in the state dir."
    )
    threshold: float = Field(0.5, ge=0, le=1, description="Decision threshold on the score.")
    fallback_alias: str | None = Field(
        None, description="Alias of a safe fallback model (e.g. a simpler, known-good one)."
    )
    trusted_types: list[str] = Field(
        default_factory=list,
        description="Extra types skops may load for this model, e.g. 'mypkg.features.Binner' "
        "(besides scikit-learn's and ML Playbooks' own). Each one is code the loader runs: "
        "list only your own vetted classes. Models not in the skops format are refused.",
    )

    @field_validator("trusted_types")
    @classmethod
    def _dotted_names(cls, v: list[str]) -> list[str]:
        bad = [t for t in v if not _DOTTED.fullmatch(t)]
        if bad:
            raise ValueError(f"expected dotted type names like 'package.module.Class': {bad}")
        return v


class TrainingConfig(StrictModel):
    entrypoint: str = Field(
        description="'module:function' called as f(frame, numeric=, categorical=, target=, seed=)."
    )
    lookback: Duration = Field(
        parse_duration("14d"), description="How much recent labelled data to train on.")

    @field_validator("entrypoint")
    @classmethod
    def _entrypoint_shape(cls, v: str) -> str:
        if v.count(":") != 1 or not all(v.split(":")):
            raise ValueError("expected 'package.module:function'")
        return v


class Owners(StrictModel):
    model: str = Field("unassigned", description="Team owning the model.")
    data: str = Field("unassigned", description="Team owning the upstream data.")
    oncall: str = Field("unassigned", description="Who is paged for incidents.")
    approvers: list[str] = Field(
        default_factory=list, description="Who may approve or reject changes to this model: "
        "people ('alice') and groups ('group:ml-leads', members in 'groups').")
    groups: dict[str, list[str]] = Field(
        default_factory=dict, description="Group name -> members, for 'group:NAME' entries.")
    slack_ids: dict[str, str] = Field(
        default_factory=dict, description="Person -> Slack user id (U…): mentions in Slack, "
        "and who a Slack button press comes from.")

    @model_validator(mode="after")
    def _groups_known(self) -> Owners:
        unknown = [a for a in self.approvers
                   if a.startswith("group:") and a.removeprefix("group:") not in self.groups]
        if unknown:
            raise ValueError(f"owners.approvers names unknown group(s) {unknown}: list their "
                             "members under owners.groups")
        return self

    def members(self, entry: str) -> list[str]:
        """The people an approver entry or escalation target stands for."""
        if entry.startswith("group:"):
            return list(self.groups.get(entry.removeprefix("group:"), []))
        return [entry]


class ApprovalPolicy(StrictModel):
    """Which changes wait for a person (see playbooks/engine/approvals.py)."""

    required_at_risk: Literal["low", "medium", "high"] = Field(
        "high", description="Remediations of this risk or above need an approval; on a "
        "criticality: high model, one level lower (high -> medium -> low).")


class ServiceLevels(StrictModel):
    min_roc_auc: float | None = Field(None, ge=0, le=1, description="Lowest acceptable ROC AUC.")
    max_latency_p95_ms: float | None = Field(None, gt=0, description="p95 latency SLO in ms.")
    max_error_rate: float | None = Field(None, ge=0, le=1, description="Serving error-rate SLO.")
    target_approval_rate: float | None = Field(
        None, ge=0, le=1, description="Intended share of negative decisions (e.g. approvals)."
    )
    approval_rate_tolerance: float = Field(
        0.05, ge=0, le=1, description="Allowed absolute deviation from target_approval_rate."
    )
    min_precision: float | None = Field(None, ge=0, le=1, description="Precision floor.")
    min_recall: float | None = Field(None, ge=0, le=1, description="Recall floor.")
    max_staleness: Duration | None = Field(
        None, description="Newest data older than this (vs now) means the feed is stale."
    )


Audience = Literal["engineering", "stakeholders"]


def _check_locale(v: str | None) -> str | None:
    from playbooks.i18n import normalize_locale  # Babel's data: only when a locale is set

    if v is not None and normalize_locale(v) is None:
        raise ValueError(f"unknown locale {v!r}: use a code like 'en', 'de', 'es', 'de_AT'")
    return v


class ChannelAudience(StrictModel):
    """Who reads a channel, and so which status template it gets."""

    channel: str = Field(description="Slack channel name, e.g. '#ml-exec'.")
    audience: Audience = Field(
        "engineering", description="'engineering': evidence, hypotheses and every step; "
        "'stakeholders': a three-line summary (impact, what users see, next update) on each "
        "status change and on the status cadence, no evidence.")
    locale: str | None = Field(None, description="Language of this channel, e.g. 'de'; "
                               "default: communication.locale.")

    @field_validator("locale")
    @classmethod
    def _known_locale(cls, v: str | None) -> str | None:
        return _check_locale(v)


class ProfileCommunication(StrictModel):
    """How this model's incidents are told: language and audiences per channel."""

    locale: str | None = Field(
        None, description="Language of this model's messages ('en', 'de', 'es', or a regional "
        "variant such as 'de_AT' for formatting); default: MLPB_LOCALE, else English.")
    channels: list[ChannelAudience] = Field(
        default_factory=list, description="Per channel: its audience and language; a channel "
        "not listed is an engineering channel in communication.locale.")
    impact: str = Field(
        "", description="What a failure of this model means in business terms, for "
        "stakeholders, e.g. 'loan decisions may be wrong'; default: the description.")
    user_impact: str = Field(
        "", description="What users see while the model misbehaves, e.g. 'applicants may be "
        "declined wrongly'.")

    @field_validator("locale")
    @classmethod
    def _known_locale(cls, v: str | None) -> str | None:
        return _check_locale(v)

    def for_channel(self, channel: str) -> ChannelAudience:
        """The channel's entry (by name, with or without '#'); engineering when not listed."""
        name = channel.lstrip("#")
        found = next((c for c in self.channels if c.channel.lstrip("#") == name), None)
        return found or ChannelAudience(channel=channel, locale=None)


class Fairness(StrictModel):
    """Groups whose outcomes a change must not move apart (group metrics in acceptance)."""

    sensitive_attributes: list[str] = Field(
        default_factory=list, description="Columns naming the group of each row (e.g. region, "
        "age band); they need not be model features. Group metrics (demographic parity, "
        "equalized odds) are measured per attribute in the pre-check and every live window.")
    min_group_rows: int = Field(
        50, ge=1, description="Fewer rows in any group of an attribute: that attribute's group "
        "metrics are inconclusive (a failed pre-check, an inconclusive live window), never a "
        "pass.")
    confidence: float = Field(
        0.95, ge=0.5, lt=1, description="One-sided confidence of the bootstrap bounds a group "
        "criterion is judged on: it fails only when the bound nearest to passing is past its "
        "limit (e.g. 'widen the gap by at most 5 points' fails when the gap widened by more "
        "than 5 points with this confidence), so a day's sampling noise does not revert a "
        "good change. Higher: fewer false reverts, slower to catch real harm on few rows.")

    @field_validator("sensitive_attributes")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        dupes = sorted({a for a in v if v.count(a) > 1})
        if dupes:
            raise ValueError(f"sensitive attributes listed twice: {dupes}")
        return v


class ModelProfile(StrictModel):
    """What we watch. Paths are resolved relative to the profile file (``base_dir``)."""

    name: str = Field(description="Short model name used in incidents and alerts.")
    description: str = Field("", description="What the model does, for humans.")
    criticality: Literal["low", "medium", "high"] = Field(
        "medium", description="Business criticality; raises incident severity when high."
    )
    owners: Owners = Field(default_factory=Owners)
    approvals: ApprovalPolicy = Field(default_factory=ApprovalPolicy)
    data: DataSources
    features: FeatureSet
    target: str | None = Field(None, description="Label column (in reference and label files).")
    prediction: PredictionColumns = Field(default_factory=PredictionColumns)
    model: ModelRef | None = Field(
        None, description="The MLflow model; without it playbooks diagnose but apply nothing."
    )
    training: TrainingConfig | None = Field(None, description="How to retrain the model.")
    segments: list[str] = Field(default_factory=list, description="Slice columns to compare.")
    fairness: Fairness = Field(default_factory=Fairness)
    slo: ServiceLevels = Field(default_factory=ServiceLevels)
    communication: ProfileCommunication = Field(default_factory=ProfileCommunication)
    base_dir: Path = Field(
        Path("."),
        exclude=True,
        description="Directory relative paths resolve against (set on load).",
    )

    def resolve(self, path: str) -> Path:
        p = Path(path).expanduser()
        return p if p.is_absolute() else (self.base_dir / p)

    @property
    def can_remediate(self) -> bool:
        return self.model is not None
