"""Seeded simulator of consumer-loan applications for the credit-risk sandbox.

Two things are kept apart on purpose:

* the applicant *population* (who applies: ages, incomes, debt, regions, ...), which a
  :class:`PopulationShift` can move, and
* the *ground-truth default process*, which never changes.

Every applicant has a hidden creditworthiness that depends only on observed features plus
private noise, so ``P(default | features)`` is the same function before and after any shift:
a shift is pure covariate drift with a stable concept. Retraining still genuinely helps after
a shift because the credit score is a *noisy* reading of creditworthiness whose reliability
grows with credit-history length (age): thin-file young applicants' scores say little. The
reference population is mostly older, so a model fitted on it trusts the credit score; the
shifted population is young, and a model refitted on it learns to lean on debt-to-income,
income and employment instead (checked in ``tests/unit/test_simulator.py``). On top of that the
default process is convex in debt-to-income and has a renter x high-DTI interaction, both more
common after the shift.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "AREA",
    "CATEGORICAL_FEATURES",
    "FEATURES",
    "ID",
    "NUMERIC_FEATURES",
    "SHIFTABLE_FEATURES",
    "TARGET",
    "TIMESTAMP",
    "PopulationShift",
    "area_of",
    "simulate_applications",
]

NUMERIC_FEATURES: Final = [
    "age",
    "annual_income",
    "loan_amount",
    "credit_score",
    "debt_to_income",
    "employment_years",
    "num_open_accounts",
    "loan_term_months",
]
CATEGORICAL_FEATURES: Final = ["home_ownership", "loan_purpose", "region", "employment_type"]
FEATURES: Final = [*NUMERIC_FEATURES, *CATEGORICAL_FEATURES]
TARGET: Final = "defaulted"
TIMESTAMP: Final = "ts"
ID: Final = "request_id"

# Features a shift moves directly. The credit score is deliberately not among them: moving it
# without moving creditworthiness would change P(default | features), i.e. the concept. It
# still drifts, through age, income and employment.
SHIFTABLE_FEATURES: Final = [
    "age",
    "annual_income",
    "debt_to_income",
    "loan_amount",
    "loan_term_months",
    "home_ownership",
    "loan_purpose",
    "region",
    "employment_type",
]

# Category levels with (reference weights, fully shifted weights). A shift of strength s uses
# ref + s * (shifted - ref), clipped at zero and renormalised, so s > 1 extrapolates.
_HOME = {"mortgage": (0.40, 0.22), "own": (0.22, 0.08), "rent": (0.35, 0.66), "other": (0.03, 0.04)}
_PURPOSE = {
    "debt_consolidation": (0.34, 0.36),
    "credit_card": (0.20, 0.26),
    "home_improvement": (0.13, 0.05),
    "auto": (0.13, 0.08),
    "medical": (0.06, 0.09),
    "small_business": (0.05, 0.10),
    "education": (0.09, 0.06),
}
_REGION = {
    "north": (0.22, 0.10),
    "south": (0.25, 0.12),
    "east": (0.20, 0.18),
    "west": (0.23, 0.25),
    "central": (0.10, 0.35),
}
# The sandbox's sensitive attribute: the area an applicant lives in, logged with each request
# but not a model feature. It follows from the region (no random draw, so every seeded frame
# stays as it was); the model sees the region, a proxy for it, as lenders' models do.
AREA: Final = "area"
_AREA_OF_REGION = {"north": "rural", "central": "rural", "south": "urban", "east": "urban",
                   "west": "urban"}


def area_of(region: pd.Series) -> pd.Series:
    """The area (rural / urban) of each applicant's region; unknown regions: missing."""
    return region.astype(str).map(_AREA_OF_REGION).rename(AREA)


_EMPLOYMENT = {
    "salaried": (0.68, 0.50),
    "self_employed": (0.13, 0.16),
    "contract": (0.12, 0.26),
    "unemployed": (0.03, 0.06),
    "retired": (0.04, 0.02),
}
_TERMS = np.array([12, 24, 36, 48, 60])
_TERM_WEIGHTS = (np.array([0.08, 0.17, 0.40, 0.15, 0.20]), np.array([0.04, 0.10, 0.30, 0.18, 0.38]))

# Location shifts at strength 1 (income and loan-to-income on the log scale).
_SHIFT = {
    "age": -12.0,
    "log_income": -0.15,
    "debt_to_income": 0.06,
    "log_loan_ratio": 0.10,
}

# Ground truth: creditworthiness drivers and default log-odds contributions (stable concept).
_EMPLOYMENT_WORTH = {
    "salaried": 0.2,
    "self_employed": 0.0,
    "contract": -0.3,
    "unemployed": -0.8,
    "retired": 0.1,
}
_PURPOSE_RISK = {
    "debt_consolidation": 0.10,
    "credit_card": 0.15,
    "home_improvement": -0.25,
    "auto": -0.30,
    "medical": 0.25,
    "small_business": 0.55,
    "education": 0.0,
}
_EMPLOYMENT_RISK = {
    "salaried": 0.0,
    "self_employed": 0.12,
    "contract": 0.18,
    "unemployed": 0.5,
    "retired": 0.05,
}
_REGION_RISK = {"north": -0.05, "south": 0.10, "east": 0.0, "west": -0.05, "central": 0.05}
_INTERCEPT = -2.75
_WORTH_WEIGHT = 2.5  # log-odds per standard deviation of creditworthiness


class PopulationShift(BaseModel):
    """A change in *who applies* (covariate drift); the default process stays the same.

    At ``strength=1`` applicants are ~12 years younger (thin credit files), earn ~14% less,
    carry ~0.06 more debt-to-income, are more often renters and contract workers, prefer
    longer terms and come from a different region mix: age, income, DTI, home ownership,
    region and employment type then have PSI > 0.2, and the default rate roughly doubles.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    strength: float = Field(
        default=1.0, ge=0.0, le=3.0, description="0 = no shift, 1 = clearly material."
    )
    features: list[str] | None = Field(
        default=None,
        description="Only shift these features directly (see SHIFTABLE_FEATURES); None shifts "
        "all. Correlated features still move a little (younger -> fewer employment years).",
    )

    @field_validator("features")
    @classmethod
    def _known(cls, v: list[str] | None) -> list[str] | None:
        if v is not None:
            unknown = sorted(set(v) - set(SHIFTABLE_FEATURES))
            if unknown:
                raise ValueError(f"cannot shift {unknown}; shiftable: {SHIFTABLE_FEATURES}")
        return v

    def on(self, feature: str) -> float:
        """Strength applied to ``feature`` (0 when it is not selected)."""
        return self.strength if self.features is None or feature in self.features else 0.0


def simulate_applications(
    n: int,
    start: datetime,
    end: datetime,
    *,
    seed: int,
    shift: PopulationShift | None = None,
    id_prefix: str | None = None,
) -> pd.DataFrame:
    """``n`` loan applications with timestamps in ``[start, end)``, sorted by time.

    Columns: ``request_id``, ``ts`` (UTC), the 12 features and ``defaulted`` (0/1). Same
    arguments, same frame. ``id_prefix`` (default ``s<seed>``) keeps request ids unique across
    separately simulated windows. Traffic follows a daily cycle (busier in the afternoon).
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    start, end = _utc(start), _utc(end)
    if end <= start:
        raise ValueError(f"end ({end.isoformat()}) must be after start ({start.isoformat()})")
    rng = np.random.default_rng(seed)
    sh = shift or PopulationShift(strength=0.0)

    age = np.clip(rng.normal(44.0 + _SHIFT["age"] * sh.on("age"), 12.0, n), 18, 80).round()
    employment = _categorical(rng, n, _EMPLOYMENT, sh.on("employment_type"))
    employment = np.where((age >= 65) & (rng.random(n) < 0.7), "retired", employment)
    employment_years = np.minimum(age - 18, rng.gamma(2.0, 3.5, n)).round(1)
    history_years = age - 18  # length of the credit file

    log_income = (
        np.log(58_000.0)
        + _SHIFT["log_income"] * sh.on("annual_income")
        + 0.012 * np.clip(age - 43.0, -20, 15)
        + rng.normal(0.0, 0.45, n)
    )
    log_income += np.where(employment == "unemployed", np.log(0.4), 0.0)
    annual_income = np.clip(np.exp(log_income), 8_000, 750_000).round(-2)

    # Hidden creditworthiness (higher is better), standardised-ish: observed drivers + noise.
    worth = (
        0.35 * np.log(annual_income / 58_000.0) / 0.45
        + 0.30 * np.clip(age - 44.0, -26, 20) / 12.0
        + 0.05 * np.minimum(employment_years, 10.0)
        + _lookup(employment, _EMPLOYMENT_WORTH)
        + rng.normal(0.0, 1.0, n)
    ) / 1.1
    # The bureau score reads creditworthiness reliably only for long credit files; thin files
    # also score lower on average.
    reliability = 0.95 * (1.0 - np.exp(-history_years / 14.0))
    noise = rng.normal(0.0, 1.0, n)
    credit_score = (
        685.0
        - 45.0 * (1.0 - reliability)
        + 70.0 * (reliability * worth + np.sqrt(1.0 - reliability**2) * noise)
    )
    credit_score = np.clip(credit_score, 300, 850).round()

    dti = rng.beta(2.4, 6.0, n) + _SHIFT["debt_to_income"] * sh.on("debt_to_income")
    dti = np.clip(dti, 0.0, 0.95).round(3)
    loan_ratio = np.exp(
        rng.normal(np.log(0.17) + _SHIFT["log_loan_ratio"] * sh.on("loan_amount"), 0.5, n)
    )
    loan_amount = np.clip(annual_income * loan_ratio, 1_000, 60_000).round(-2)
    num_open_accounts = rng.poisson(1.0 + 0.08 * history_years + 4.0 * dti, n) + 1
    loan_term = rng.choice(_TERMS, size=n, p=_mix(*_TERM_WEIGHTS, sh.on("loan_term_months")))

    frame = pd.DataFrame(
        {
            "age": age.astype(np.int64),
            "annual_income": annual_income,
            "loan_amount": loan_amount,
            "credit_score": credit_score.astype(np.int64),
            "debt_to_income": dti,
            "employment_years": employment_years,
            "num_open_accounts": num_open_accounts.astype(np.int64),
            "loan_term_months": loan_term.astype(np.int64),
            "home_ownership": _categorical(rng, n, _HOME, sh.on("home_ownership")),
            "loan_purpose": _categorical(rng, n, _PURPOSE, sh.on("loan_purpose")),
            "region": _categorical(rng, n, _REGION, sh.on("region")),
            "employment_type": employment,
        }
    )
    for col in CATEGORICAL_FEATURES:
        frame[col] = frame[col].astype(str)
    p_default = 1.0 / (1.0 + np.exp(-_default_log_odds(frame, worth)))
    frame[TARGET] = (rng.random(n) < p_default).astype(np.int64)

    prefix = id_prefix if id_prefix is not None else f"s{seed}"
    frame.insert(0, TIMESTAMP, _timestamps(rng, n, start, end))
    frame.insert(0, ID, [f"{prefix}-{i:07d}" for i in range(n)])
    return frame


def _default_log_odds(frame: pd.DataFrame, worth: np.ndarray) -> np.ndarray:
    dti = frame["debt_to_income"].to_numpy(float)
    lti = frame["loan_amount"].to_numpy(float) / frame["annual_income"].to_numpy(float)
    renter = (frame["home_ownership"].to_numpy() == "rent").astype(float)
    return np.asarray(
        _INTERCEPT
        - _WORTH_WEIGHT * worth
        + 1.0 * (dti - 0.30)
        + 8.0 * np.maximum(0.0, dti - 0.40) ** 1.2  # over-indebtedness bites late, then hard
        + 2.0 * renter * np.maximum(0.0, dti - 0.35)  # renters with high DTI have no buffer
        + 0.45 * np.log(np.clip(lti, 0.02, 3.0) / 0.17)
        + 0.04 * (frame["loan_term_months"].to_numpy(float) - 36.0) / 12.0
        + _lookup(frame["loan_purpose"].to_numpy(), _PURPOSE_RISK)
        + _lookup(frame["employment_type"].to_numpy(), _EMPLOYMENT_RISK)
        + _lookup(frame["region"].to_numpy(), _REGION_RISK),
        dtype=float,
    )


def _timestamps(rng: np.random.Generator, n: int, start: datetime, end: datetime) -> pd.Series:
    """Sorted event times in [start, end) with a daily cycle (quiet at night, peak ~14:00)."""
    hours = pd.date_range(pd.Timestamp(start).floor("h"), end, freq="h", inclusive="left")
    hours = hours.as_unit("us")
    weight = 0.35 + 0.65 * np.clip(np.sin((hours.hour.to_numpy() - 8) / 24 * 2 * np.pi), 0, None)
    bin_start = np.maximum(hours.asi8, _us(start))  # microseconds since the epoch
    bin_end = np.minimum((hours + pd.Timedelta(hours=1)).asi8, _us(end))
    weight = weight * (bin_end - bin_start)  # partial first/last hour get fewer requests
    pick = rng.choice(len(hours), size=n, p=weight / weight.sum())
    us = bin_start[pick] + (rng.random(n) * (bin_end[pick] - bin_start[pick])).astype(np.int64)
    return pd.Series(pd.to_datetime(np.sort(us), unit="us", utc=True), name=TIMESTAMP)


def _us(value: datetime) -> int:
    return int((value - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(microseconds=1))


def _categorical(
    rng: np.random.Generator, n: int, levels: dict[str, tuple[float, float]], s: float
) -> np.ndarray:
    names = np.array(list(levels), dtype=object)
    ref = np.array([w[0] for w in levels.values()])
    shifted = np.array([w[1] for w in levels.values()])
    return rng.choice(names, size=n, p=_mix(ref, shifted, s))


def _mix(ref: np.ndarray, shifted: np.ndarray, s: float) -> np.ndarray:
    w = np.clip(ref + s * (shifted - ref), 0.0, None)
    return np.asarray(w / w.sum(), dtype=float)


def _lookup(values: np.ndarray, table: dict[str, float]) -> np.ndarray:
    return np.asarray(pd.Series(values).map(table).fillna(0.0), dtype=float)


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"timestamps must be timezone-aware (UTC), got naive {value!r}")
    return value.astimezone(UTC)
