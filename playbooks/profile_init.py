"""`mlpb profile init`: write a ModelProfile for data a user already has.

Features are the reference's columns minus everything that is not a model input: the columns
the options name (``--timestamp``, ``--target``, ``--prediction``, ``--id``), columns whose
name says they are a prediction, score, label, id, timestamp or serving field, identifiers
and free text - never silently: every exclusion is a note, and so is a feature the current
data lacks (kept: a renamed column is data-quality's finding; if it is the label, pass
--target). Paths may be files, globs or (partitioned) directories.
"""

from __future__ import annotations

import glob
import os
import re
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from pandas.api import types as ptypes

from playbooks.data.io import read_frame
from playbooks.errors import DataError
from playbooks.models.profile import ModelProfile

__all__ = ["infer_profile", "write_profile"]


# Column names that are outputs, labels, keys or serving fields, never model inputs.
_NOT_INPUT = {
    "prediction": r"(y_?)?preds?|predictions?|predicted(_\w+)?|\w*_pred|y_hat|yhat",
    "score": r"scores?|\w*_score|proba(bility)?|\w*_proba(bility)?|probabilities",
    "decision": r"decisions?|\w*_decision",
    "label": r"labels?|targets?|y|y_true|ground_truth|outcome|\w*_label",
    "id": r"ids?|\w+_id|uuid",
    "timestamp": r"timestamps?|ts|time|date|datetime|event_time|created_at|\w+_at|\w+_ts",
    "serving field": r"latency(_ms)?|\w*_latency(_ms)?|status|model_version|version",
}
_NOT_INPUT_RE = {what: re.compile(rf"^(?:{pat})$", re.IGNORECASE)
                 for what, pat in _NOT_INPUT.items()}


def not_an_input(column: str) -> str | None:
    """What ``column``'s name says it is when that is not a model input, else None."""
    return next((what for what, rx in _NOT_INPUT_RE.items() if rx.match(column)), None)


def resolve_data_path(path: Path) -> tuple[list[Path], str]:
    """(files, the path to write in the profile) for a file, a glob or a directory (its
    parquet files, else its CSV files, recursively: hive partitions ``date=.../``)."""
    if path.is_file():
        return [path], str(path)
    if path.is_dir():
        for ext in ("parquet", "csv"):
            files = sorted(p for p in path.rglob(f"*.{ext}") if p.is_file())
            if files:
                return files, str(path / "**" / f"*.{ext}")
        raise DataError(f"no parquet or CSV files under {path}",
                        hint="pass a file, a glob (quoted) or a directory of data files")
    files = sorted(Path(p) for p in glob.glob(str(path), recursive=True) if Path(p).is_file())
    if not files:
        raise DataError(f"no file at {path}",
                        hint="pass an existing CSV or parquet file, a glob or a directory")
    return files, str(path)


def _infer_features(frame: pd.DataFrame, skip: set[str]) -> tuple[list[str], list[str], list[str]]:
    numeric, categorical, ignored = [], [], []
    for col in frame.columns:
        if col in skip:
            continue
        s = frame[col]
        if ptypes.is_bool_dtype(s):
            categorical.append(col)
        elif ptypes.is_numeric_dtype(s):
            numeric.append(col)
        elif ptypes.is_datetime64_any_dtype(s):
            ignored.append(col)
        else:
            coerced = pd.to_numeric(s, errors="coerce")
            if s.notna().sum() and coerced.notna().sum() / s.notna().sum() > 0.95:
                numeric.append(col)  # numbers stored as text, with a few stray values
                continue
            uniq = s.nunique(dropna=True)
            # Near-unique text is an identifier or free text, not a categorical feature.
            if uniq > 50 and uniq > 0.5 * max(len(s), 1):
                ignored.append(col)
            else:
                categorical.append(col)
    return numeric, categorical, ignored


def _rel(path: Path, base: Path) -> str:
    try:
        return os.path.relpath(path.resolve(), base.resolve())
    except ValueError:  # different drive
        return str(path.resolve())


def infer_profile(
    name: str,
    reference: Path,
    current: Path,
    *,
    output: Path,
    timestamp: str | None = None,
    target: str | None = None,
    prediction: str | None = None,
    id_column: str | None = None,
    features: list[str] | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """Return (profile dict, notes). Columns named by options must exist; ``features``, when
    given, is the explicit list of model inputs (their kinds are inferred)."""
    ref_files, ref_path = resolve_data_path(reference)
    cur_files, cur_path = resolve_data_path(current)
    ref = read_frame(ref_files)
    cur = read_frame(cur_files)
    named = {
        "--timestamp": timestamp,
        "--target": target,
        "--prediction": prediction,
        "--id": id_column,
    }
    for opt, col in named.items():
        if col and col not in ref.columns and col not in cur.columns:
            raise DataError(
                f"{opt} column '{col}' is in neither file",
                hint=f"columns: {list(ref.columns)[:30]}",
            )
    notes: list[str] = []
    if target and target not in cur.columns:
        notes.append(f"--target '{target}' is not in the current data: labels must come from "
                     "a separate source (add data.labels: path, column, delay to the profile), "
                     "otherwise label-based checks (performance, thresholds) cannot run")
    skip = {c for c in named.values() if c}
    if features is not None:
        unknown = [c for c in features if c not in ref.columns]
        if unknown:
            raise DataError(f"features not in the reference: {unknown}",
                            hint=f"columns: {list(ref.columns)[:30]}")
        skip |= set(ref.columns) - set(features)
    else:
        for col in ref.columns:
            if col not in skip and (what := not_an_input(str(col))):
                skip.add(col)
                notes.append(f"not a feature: '{col}' (its name says {what}; list it under "
                             "features: in the profile if the model does read it)")
    numeric, categorical, ignored = _infer_features(ref, skip)
    notes += [f"ignored column '{c}' (identifier, free text or datetime)" for c in ignored]
    only_ref = [c for c in numeric + categorical if c not in cur.columns]
    if only_ref:  # kept (a renamed or dropped feed column is what data-quality must report)
        notes.append(f"WARNING: {only_ref} are only in the reference: kept as features, so "
                     "every run will report them missing (a schema break) until the current "
                     "data has them; if one is the label pass --target, if one is not a model "
                     "input remove it from features: in the profile")
    if not numeric and not categorical:
        raise DataError("no feature columns left to monitor",
                        hint="check --target/--prediction/--id, or write features: by hand")
    base = output.resolve().parent
    data: dict[str, Any] = {
        "reference": {"path": _rel_pattern(ref_path, base)},
        "current": {"path": _rel_pattern(cur_path, base)},
    }
    if timestamp:
        data["timestamp"] = timestamp
    if id_column:
        data["id"] = id_column
    profile: dict[str, Any] = {
        "name": name,
        "description": f"Profile for {name}, generated by `mlpb profile init`.",
        "criticality": "medium",
        "data": data,
        "features": {"numeric": numeric, "categorical": categorical},
    }
    if target:
        profile["target"] = target
    if prediction:
        profile["prediction"] = {"score": prediction}
    ModelProfile.model_validate(profile)  # what we write must load
    return profile, notes


def _rel_pattern(path: str, base: Path) -> str:
    """A file or glob relative to the profile's directory (globs keep their wildcards)."""
    wild = [i for i in (path.find(c) for c in "*?[") if i >= 0]
    if not wild:
        return _rel(Path(path), base)
    prefix = path[:min(wild)]
    anchor = prefix.rsplit(os.sep, 1)[0] if os.sep in prefix else "."
    rest = path[len(anchor):].lstrip(os.sep) if anchor != "." else path
    return str(Path(_rel(Path(anchor), base)) / rest)


def write_profile(profile: dict[str, Any], output: Path) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    header = (
        "# Model profile written by `mlpb profile init`. Add a `model:` section (MLflow\n"
        "# registered name + alias) and `training:` to let playbooks apply remediations.\n"
    )
    output.write_text(header + yaml.safe_dump(profile, sort_keys=False), encoding="utf-8")
