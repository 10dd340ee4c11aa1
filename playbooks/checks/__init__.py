"""Hypothesis checks: pure functions (evidence, params) -> CheckResult, registered by name."""

from playbooks.checks.base import CheckResult, FeatureDriftView, drift_view

__all__ = ["CheckResult", "FeatureDriftView", "drift_view"]
