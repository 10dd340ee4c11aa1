"""The reference follows the champion: drift is judged against the data the *serving*
version learned from. A retrain tags its new version with its training window
(``REFERENCE_TAG``); while that version serves, the reference is the inference log's rows in
that window. A version without the tag (the original one, or after a rollback to it) uses
the profile's reference files."""

from __future__ import annotations

import dataclasses
from datetime import datetime

import pandas as pd

from playbooks.data.io import DataWindows
from playbooks.models.evidence import DataWindowRef
from playbooks.models.profile import ModelProfile
from playbooks.modelstore.base import REFERENCE_TAG, ModelStore

__all__ = ["REFERENCE_TAG", "reference_window", "serving_reference"]


def reference_window(tags: dict[str, str]) -> tuple[datetime, datetime] | None:
    raw = tags.get(REFERENCE_TAG, "")
    start, sep, end = raw.partition("/")
    if not sep:
        return None
    try:
        return datetime.fromisoformat(start), datetime.fromisoformat(end)
    except ValueError:
        return None  # a hand-edited tag: fall back to the profile's reference


def serving_reference(profile: ModelProfile, data: DataWindows,
                      store: ModelStore | None) -> DataWindows:
    """``data`` with the serving version's reference (unchanged when it has none)."""
    ts = profile.data.timestamp
    if profile.model is None or store is None or ts is None:
        return data
    info = store.get_version(profile.model.registry_name, profile.model.alias)
    span = reference_window(info.tags)
    if span is None:
        return data
    t = data.log[ts]
    rows = data.log[(t >= pd.Timestamp(span[0])) & (t < pd.Timestamp(span[1]))]
    if len(rows) < 100:  # the window left the log (retention): keep the profile's files
        return data
    ref = DataWindowRef(name=f"reference (v{info.version} training window)",
                        files=data.refs["current"].files if "current" in data.refs else [],
                        rows=len(rows), start=span[0], end=span[1],
                        sha256=data.refs["current"].sha256 if "current" in data.refs else "")
    return dataclasses.replace(data, reference=rows.reset_index(drop=True),
                               refs={**data.refs, "reference": ref})
