"""What an audit needs to reconstruct an incident later: a bounded row sample of each data
window the evidence was computed on, and every spec version that ran, by hash."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playbooks.archive.samples import Samples, keep_samples, load_samples, sample_dir
    from playbooks.archive.specs import archive_spec, archived_spec, archived_versions, spec_diff

__all__ = ["Samples", "archive_spec", "archived_spec", "archived_versions", "keep_samples",
           "load_samples", "sample_dir", "spec_diff"]

# Each name from its module on first use: the spec archive is read by quick CLI commands
# (`incidents show`, `validate`) that must not pay for samples' pandas and data sources.
_HOME = {"Samples": "samples", "keep_samples": "samples", "load_samples": "samples",
         "sample_dir": "samples", "archive_spec": "specs", "archived_spec": "specs",
         "archived_versions": "specs", "spec_diff": "specs"}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
