"""Reading the data a profile points at: CSV/parquet globs, time windows, label joins."""

from playbooks.data.io import DataWindows, hash_files, load_windows, read_frame, resolve_files

__all__ = ["DataWindows", "hash_files", "load_windows", "read_frame", "resolve_files"]
