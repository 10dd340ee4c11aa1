"""Remediations: reversible changes with plan → apply → revert, registered by name."""

from playbooks.remediations.base import (
    NotApplicable,
    Remediation,
    RemediationContext,
    RevertContext,
    load_entrypoint,
)

__all__ = ["NotApplicable", "Remediation", "RemediationContext", "RevertContext", "load_entrypoint"]
