"""How much of the inference log a run reads: the playbook's evidence and remediation menu,
with the profile, decide it. Nothing reads the whole log unless the profile has no window.

Collectors that judge the current window alone (against the reference) need only the window;
the others compare it with what came before (labelled baselines, daily volumes, the previous
serving version) or train on recent rows, and get ``history`` before the newest row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from playbooks.models.profile import ModelProfile
from playbooks.models.spec import PlaybookSpec

__all__ = ["WINDOW_ONLY", "WindowNeeds", "default_needs", "needs_for"]

# Collectors that read only data.current (and the reference / the registry). data-quality's
# "columns the feed had before" comes from the footers of the files before the window.
WINDOW_ONLY = frozenset({"data-windows", "data-quality", "feature-drift", "model-version"})
HISTORY_WINDOWS = 8  # the default history: this many current windows ...
MIN_HISTORY = timedelta(days=56)  # ... and at least this (baselines, retraining, monitoring)


@dataclass(frozen=True)
class WindowNeeds:
    """``history``: the span before the log's newest row that is read (None: all of it)."""

    history: timedelta | None
    reason: str


def default_needs(profile: ModelProfile) -> WindowNeeds:
    """Enough for every collector and remediation: baselines before the window, the training
    lookback plus its holdout, the live windows of monitoring after a change."""
    window = profile.data.current.window
    if window is None:
        return WindowNeeds(None, "the profile's current source has no window: the whole log")
    history = max(HISTORY_WINDOWS * window, MIN_HISTORY)
    if profile.training is not None:
        history = max(history, 2 * profile.training.lookback + window)
    return WindowNeeds(history, f"history of {history} before the newest row")


def needs_for(spec: PlaybookSpec, profile: ModelProfile) -> WindowNeeds:
    """The window alone when every collector of ``spec`` judges only the window and nothing
    can be applied (no model, or no remediation); else ``default_needs``."""
    window = profile.data.current.window
    if window is None:
        return default_needs(profile)
    evidence = set(spec.evidence)
    if profile.data.labels is None:
        evidence.discard("label-metrics")  # without labels it reads nothing
    applies = profile.model is not None and bool(spec.remediations)
    if evidence <= WINDOW_ONLY and not applies:
        return WindowNeeds(window, f"the current window ({window}) only")
    return default_needs(profile)
