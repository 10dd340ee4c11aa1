"""Faults that only show under live traffic after the fix: the first fix passes its pre-check
on the holdout and must then fail live monitoring (reverted + escalated).

Both persist (``advance_sandbox`` re-runs the injector on every new span of traffic, with
``ctx.ongoing`` set); the drill expects ``live_outcome="reverted"``.
"""

from __future__ import annotations

import pandas as pd
from pydantic import Field

from playbooks.engine.plugins import fault
from playbooks.sandbox.faults.base import FaultContext, NumericFeature, fresh_applicants
from playbooks.sandbox.faults.data import DriftFault
from playbooks.sandbox.simulator import PopulationShift

__all__ = ["ReleaseDegradesLive", "ShiftKeepsMoving"]

_MAX_STRENGTH = 3.0  # PopulationShift's bound


class ShiftKeepsMoving(DriftFault, root_cause="population-shift", persists=True,
                       live_outcome="reverted"):
    """The population shifts and keeps moving after the retrain: a version fitted to where it
    was passes its holdout, then each new day's applicants have moved further (``growth``
    strength per day), so live drift against its training data fails monitoring."""

    strength: float = Field(1.0, gt=0.0, le=_MAX_STRENGTH,
                            description="Shift while the fault is injected (1.0 = material).")
    growth: float = Field(0.75, gt=0.0, le=_MAX_STRENGTH,
                          description="Strength added per simulated day after the injection.")
    features: list[str] | None = Field(
        None, description="Shift only these features (see SHIFTABLE_FEATURES); None = all.")

    def continued(self, days: float) -> ShiftKeepsMoving:
        grown = min(_MAX_STRENGTH, self.strength + self.growth * max(days, 0.0))
        return self.model_copy(update={"strength": grown})


class ReleaseDegradesLive(DriftFault, root_cause="population-shift", persists=True,
                          live_outcome="reverted"):
    """A release that degrades only under live traffic: the population shifts (retraining is
    right), but a version released after the shift is served by a new serving build whose
    feature mapping sends ``feature`` x ``factor``. Offline, on the logged holdout, the new
    version looks fine; live it sees the rescaled feature, while the version it replaced
    does not (reverting heals it)."""

    strength: float = Field(1.0, gt=0.0, le=_MAX_STRENGTH, description="The population shift.")
    feature: NumericFeature = Field("annual_income",
                                    description="Feature the new serving build rescales.")
    factor: float = Field(0.001, gt=0.0, description="Served value = true value x factor.")


@fault("shift-keeps-moving", params=ShiftKeepsMoving)
def inject_shift_keeps_moving(params: ShiftKeepsMoving, window: pd.DataFrame,
                              ctx: FaultContext) -> pd.DataFrame:
    """Fresh applicants from a shifted population (``continued`` grows it day by day)."""
    shift = PopulationShift(strength=params.strength, features=params.features)
    return fresh_applicants(ctx, stream=51, tag="m", shift=shift)


@fault("release-degrades-live", params=ReleaseDegradesLive)
def inject_release_degrades_live(params: ReleaseDegradesLive, window: pd.DataFrame,
                                 ctx: FaultContext) -> pd.DataFrame:
    """Fresh applicants from a shifted population; rows served by a version other than the
    one serving at injection get the rescaled feature."""
    out = fresh_applicants(ctx, stream=53, tag="r", shift=PopulationShift(strength=params.strength))
    released = ctx.ongoing is not None and ctx.serving_version != ctx.ongoing.model_version
    if released:
        out[params.feature] = out[params.feature].astype(float) * params.factor
    return out
