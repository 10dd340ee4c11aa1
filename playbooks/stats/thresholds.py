"""Drift thresholds: configuration only (no numpy/pandas), so specs validate without the
statistics stack loaded (``mlpb validate`` and ``--help`` stay fast)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["DriftThresholds"]


class DriftThresholds(BaseModel):
    """When a feature counts as drifted. PSI decides alone; KS and normed Wasserstein only
    together, so a large sample cannot turn a tiny but 'significant' shift into drift."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    psi_warn: float = Field(default=0.1, gt=0, description="PSI at which a feature is 'warn'.")
    psi_act: float = Field(default=0.2, gt=0, description="PSI at which a feature is 'drift'.")
    ks_act: float = Field(
        default=0.1, gt=0, le=1,
        description="KS statistic (largest ECDF gap, not a p-value) that, together with "
        "wasserstein_act, makes a numeric feature 'drift'.",
    )
    wasserstein_act: float = Field(
        default=0.1, gt=0,
        description="Wasserstein-1 distance divided by the reference std (IQR, or 1, when the "
        "std is 0) that, together with ks_act, makes a numeric feature 'drift'.",
    )
    js_act: float = Field(
        default=0.1, gt=0, le=1,
        description="Jensen-Shannon distance (base 2) at which a categorical feature is 'drift'.",
    )
    bins: int = Field(
        default=10, ge=2, le=100,
        description="Reference-quantile bins for numeric PSI; fixed when the reference is fitted.",
    )
    min_rows: int = Field(
        default=100, ge=1,
        description="Fewer non-missing rows than this on either side gives 'insufficient_data'.",
    )

    @model_validator(mode="after")
    def _warn_below_act(self) -> DriftThresholds:
        if self.psi_warn > self.psi_act:
            raise ValueError(f"psi_warn ({self.psi_warn}) must not exceed psi_act ({self.psi_act})")
        return self
