"""Evidence collectors: each returns one part of the evidence package."""

from playbooks.evidence.collect import (
    collect_environment,
    collect_feature_drift,
    collect_label_metrics,
    collect_model_version,
    estimate_onset,
)

__all__ = [
    "collect_environment",
    "collect_feature_drift",
    "collect_label_metrics",
    "collect_model_version",
    "estimate_onset",
]
