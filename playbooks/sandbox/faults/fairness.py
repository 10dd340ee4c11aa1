"""A fault whose obvious fix harms one group: the population shifts (data-drift retrains) while
one region's repaid loans are recorded as defaults (a collections-system bug in that region).
The retrained version learns the bad labels - the region looks riskier - so it passes the AUC
criteria on the (equally mislabelled) holdout but declines that region's applicants far more
often than the version it replaces: the group criterion must revert it and escalate.

The sandbox's sensitive attribute is the applicant's ``area`` (rural / urban, logged with each
request, not a model feature; it follows from the region, so no random stream changes). The
mislabelled region is rural: the retrained version declines rural applicants far more often.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import Field

from playbooks.engine.plugins import fault
from playbooks.sandbox.faults.base import FaultContext, fresh_applicants, picked
from playbooks.sandbox.faults.data import DriftFault
from playbooks.sandbox.simulator import ID, TARGET, PopulationShift

__all__ = ["BiasedRetrain"]


class BiasedRetrain(DriftFault, root_cause="population-shift", persists=True,
                    precheck_outcome="reverted"):
    """The population shifts (as covariate-drift) and, in ``region``, a share of the loans
    that were repaid are labelled defaulted. It persists: new traffic and labels too."""

    strength: float = Field(1.0, gt=0.0, le=3.0, description="Population shift (1 = material).")
    region: str = Field("central", description="Region whose repaid loans are mislabelled.")
    mislabelled_share: float = Field(
        0.35, gt=0.0, le=1.0, description="Share of that region's repaid loans recorded as "
        "defaulted.")


@fault("biased-retrain", params=BiasedRetrain)
def inject_biased_retrain(params: BiasedRetrain, window: pd.DataFrame,
                          ctx: FaultContext) -> pd.DataFrame:
    """Fresh applicants of the shifted population; one region's repaid loans mislabelled."""
    out = fresh_applicants(ctx, stream=7, tag="f", shift=PopulationShift(strength=params.strength))
    flip = ((out["region"] == params.region).to_numpy() & (out[TARGET] == 0).to_numpy()
            & picked(out[ID], params.mislabelled_share, "biased-retrain"))
    out[TARGET] = np.where(flip, 1, out[TARGET]).astype(np.int64)
    return out
