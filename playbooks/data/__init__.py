"""Reading the data a profile points at: CSV/parquet globs, time windows, label joins."""

from playbooks.data.handoff import hand_off_loads
from playbooks.data.io import (
    DataWindows,
    SourceFile,
    hash_files,
    load_windows,
    read_frame,
    resolve_files,
    span,
)
from playbooks.data.needs import WindowNeeds, default_needs, needs_for

__all__ = ["DataWindows", "SourceFile", "WindowNeeds", "default_needs", "hand_off_loads",
           "hash_files", "load_windows", "needs_for", "read_frame", "resolve_files", "span"]
