"""Data-quality schema tests: features missing, renamed or retyped in the current files, and
columns nobody declared, read from the raw file schemas (a lenient load hides them)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import pandas as pd

from playbooks.evidence.frames import SourceFrames
from playbooks.evidence.quality_issues import QualityParams, issue
from playbooks.stats.categorical import fit_categorical
from playbooks.stats.numeric import ks_statistic
from playbooks.stats.quality import Baseline, dtype_kind

__all__ = ["schema_issues"]

_MIN_RENAME_VALUES = 20  # fewer values cannot tell a renamed column from a new one
_MIN_KNOWN_SHARE = 0.9  # share of a candidate's rows in known categories for a rename


def schema_issues(base: Baseline, frame: pd.DataFrame, files: SourceFrames,
                  known: Collection[str], history: Collection[str], coerced: dict[str, int],
                  p: QualityParams) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Missing / renamed / retyped features and new columns. ``known`` are the profile's
    non-feature columns, ``history`` the columns the feed had before the window."""
    feats = [*base.numeric, *base.categorical]
    n_files = max(len(files), 1)
    lacking = {c: [sf for sf, _ in files if c not in sf.dtypes] for c in feats}
    seen = {c for sf, _ in files for c in sf.dtypes}
    extra = sorted(seen - set(history) - base.columns - set(known))
    issues, missing = [], {}
    for c in feats:
        if not lacking[c]:
            continue
        rows = sum(len(part) for sf, part in files if c not in sf.dtypes)
        renamed = _renamed_to(base, c, frame, extra, p)
        missing[c] = {"files_missing": len(lacking[c]), "files": len(files), "renamed_to": renamed}
        issues.append(issue("schema_change", c, "files_missing_share", len(lacking[c]) / n_files,
                            0.0, True, row_share=rows / max(len(frame), 1),
                            change="renamed" if renamed else "missing", renamed_to=renamed,
                            files_missing=len(lacking[c]), files=len(files),
                            example_file=str(lacking[c][0].path)))
    retyped = {}
    for c in feats:
        if c in missing:
            continue
        kinds = {dtype_kind(sf.dtypes[c]) for sf, part in files
                 if c in sf.dtypes and part[c].notna().any()}
        if c in coerced:
            kinds.add("text")
        if kinds - {base.kinds[c]}:
            retyped[c] = {"reference": base.kinds[c], "current": sorted(kinds)}
            issues.append(issue("schema_change", c, "type", 1.0, 0.0, True,
                                row_share=coerced.get(c, len(frame)) / max(len(frame), 1),
                                change="dtype", reference=base.kinds[c], current=sorted(kinds),
                                non_numeric_values=coerced.get(c, 0)))
    return issues, {"missing": missing, "retyped": retyped, "added": extra}


def _renamed_to(base: Baseline, col: str, frame: pd.DataFrame, extra: list[str],
                p: QualityParams) -> str | None:
    """The new column distributed like the reference's ``col``, if any."""
    for cand in extra:
        if cand not in frame.columns or frame[cand].notna().sum() < _MIN_RENAME_VALUES:
            continue
        values = frame[cand].dropna()
        if col in base.samples:
            v = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
            if ks_statistic(v, base.samples[col]) <= p.rename_max_ks:
                return cand
        elif col in base.categories:
            labels = fit_categorical(values.to_frame(), cand).frequencies
            if sum(s for k, s in labels.items() if k in base.categories[col]) >= _MIN_KNOWN_SHARE:
                return cand
    return None
