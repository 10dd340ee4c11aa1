"""`mlpb playbook new NAME`: the files of a new playbook, from templates.

A playbook is a spec plus the plugins it names; plugin modules and catalog files are found
by walking their directories, so a new playbook is these four files and nothing else:

* ``playbooks/catalog/NAME.yaml``: the spec, three hypotheses wired to the new checks;
* ``playbooks/checks/SNAKE.py``: the three checks, each with its typed ``*Params`` model;
* ``playbooks/evidence/SNAKE.py``: the collector the checks read;
* ``tests/unit/test_SNAKE_playbook.py``: loads the spec, runs each check, asserts verdicts.

The template is a working data playbook (missing feature values vs a window too thin to
judge vs a false alarm; it quarantines the bad files through the built-in
``quarantine-batch``), meant to be edited into the failure class it is for.
``render_playbook`` is pure; ``write_playbook`` refuses names or files that exist.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from string import Template

from playbooks.errors import MlpbError

__all__ = ["DEFAULT_ROOT", "MAX_NAME", "Scaffold", "ScaffoldError", "render_playbook",
           "snake_name", "write_playbook"]

DEFAULT_ROOT = Path(__file__).resolve().parent.parent  # the checkout this package is in
MAX_NAME = 30  # keeps the generated lines within 100 columns
_KEBAB = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


class ScaffoldError(MlpbError):
    """The playbook name is malformed or taken."""

    exit_code = 2


@dataclass(frozen=True)
class Scaffold:
    """What ``render_playbook`` produces: file texts by path relative to the root."""

    name: str
    files: dict[Path, str]
    checks: tuple[str, ...]  # registered check names
    collector: str  # registered collector name
    metrics: tuple[str, ...]  # metrics the collector produces

    @property
    def spec_path(self) -> Path:
        return Path("playbooks", "catalog", f"{self.name}.yaml")

    @property
    def test_path(self) -> Path:
        return Path("tests", "unit", f"test_{snake_name(self.name)}_playbook.py")


def snake_name(name: str) -> str:
    """The Python identifier of a kebab-case name; ScaffoldError when it is not one."""
    if not _KEBAB.fullmatch(name):
        raise ScaffoldError(
            f"'{name}' is not a kebab-case playbook name",
            hint="lower-case letters and digits in dash-separated words, starting with a "
                 "letter, e.g. label-delay")
    if len(name) > MAX_NAME:
        raise ScaffoldError(f"'{name}' is longer than {MAX_NAME} characters",
                            hint="a playbook id is typed on command lines; keep it short")
    snake = name.replace("-", "_")
    if keyword.iskeyword(snake) or keyword.issoftkeyword(snake):
        raise ScaffoldError(f"'{name}' is a Python keyword and cannot name a module",
                            hint="choose another name")
    return snake


def render_playbook(name: str) -> Scaffold:
    """The four files of playbook ``name`` (pure: nothing is read or written)."""
    snake = snake_name(name)
    words = {
        "name": name,
        "snake": snake,
        "title": name.replace("-", " ").capitalize(),
    }
    checks = (f"{name}-missing-values", f"{name}-thin-window", f"{name}-healthy")
    files = {
        Path("playbooks", "catalog", f"{name}.yaml"): _SPEC.substitute(words),
        Path("playbooks", "checks", f"{snake}.py"): _CHECKS.substitute(words),
        Path("playbooks", "evidence", f"{snake}.py"): _EVIDENCE.substitute(words),
        Path("tests", "unit", f"test_{snake}_playbook.py"): _TEST.substitute(words),
    }
    return Scaffold(name, files, checks, name, (f"{snake}_rows", f"{snake}_null_share"))


def write_playbook(plan: Scaffold, root: Path = DEFAULT_ROOT, *,
                   registered_checks: Iterable[str] = (),
                   registered_collectors: Iterable[str] = (),
                   registered_metrics: Iterable[str] = ()) -> list[Path]:
    """Write ``plan`` under ``root``; nothing is written when any file or name is taken.

    ``registered_*``: names the running plugin table already has (the CLI passes them), so
    a collision with a plugin defined anywhere else is refused too."""
    for sub in ("catalog", "checks", "evidence"):
        if not (root / "playbooks" / sub).is_dir():
            raise ScaffoldError(f"{root} has no playbooks/{sub}/ directory",
                                hint="run it from a checkout of ml-playbooks or pass --root")
    taken = [str(p) for p in plan.files if (root / p).exists()]
    taken += [f"check '{c}'" for c in set(plan.checks) & set(registered_checks)]
    if plan.collector in set(registered_collectors):
        taken.append(f"collector '{plan.collector}'")
    taken += [f"metric '{m}'" for m in set(plan.metrics) & set(registered_metrics)]
    if taken:
        raise ScaffoldError(f"playbook '{plan.name}' would overwrite what exists: "
                            f"{', '.join(sorted(taken))}", hint="choose another name")
    written = []
    for rel, text in plan.files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


_SPEC = Template('''\
# $title: generated by `mlpb playbook new $name`. The template tells missing feature values
# from a window too thin to judge and from a false alarm; edit it into the failure class it
# is for. Checks: playbooks/checks/$snake.py; evidence: playbooks/evidence/$snake.py.
# Every field is documented in the JSON Schema (`mlpb schema spec`).
id: $name
version: 0.1.0                   # semver; bump on any change to hypotheses or remediations
title: $title
description: >
  Fires when a monitor reports missing feature values. Tells values missing beyond the
  tolerance from a current window too thin to judge and from a false alarm; quarantines the
  files that fail quality checks and escalates to the data owner.
taxonomy: {category: data, failure_class: $snake}
signals:                         # what typically fires it
  - a missing-value monitor on the model's features
evidence: [data-windows, data-quality, $name]  # collectors run concurrently
severity:                        # first match wins
  - {severity: SEV2, metric: ${snake}_null_share, op: ">=", value: 0.2}
  - {severity: SEV3, metric: ${snake}_null_share, op: ">", value: 0.05}
  - {severity: SEV4, metric: ${snake}_rows, op: ">=", value: 0}
hypotheses:                      # listed most specific first: ties go to the earlier one
  - id: missing-values
    title: Feature values are missing beyond the tolerance.
    check: $name-missing-values
    params: {max_null_share: 0.05}
    on_supported: {remediate: [quarantine-batch], escalate_to: data}
  - id: thin-window
    title: The current window has too few rows to judge.
    check: $name-thin-window
    params: {min_rows: 100}
    on_supported: {escalate_to: oncall}
  - id: no-issue
    title: Enough rows and no missing values beyond the tolerance; the alert was a false alarm.
    check: $name-healthy
    params: {max_null_share: 0.05, min_rows: 100}
    on_supported: {close_as: false-alarm}
remediations:                    # the menu; every entry is reversible
  - id: quarantine-batch
    action: quarantine-batch     # built-in (playbooks/remediations/quarantine.py)
    params: {max_files: 100, min_failed_checks: 1}
    risk: low                    # moves data files only; the model is untouched
    effort: low
    requires_approval: false
    rollback: every quarantined file moves back to its original path (journal lists each move)
acceptance:                      # measured on the data left after the change
  - id: remaining-data-clean
    metric: quality_failed_checks_after
    op: "=="
    value: 0
    description: what is left in the current window passes every quality check
escalation: {default_owner: data, after: 1h, max_remediations: 3, loop_window: 24h}
communication: {channel: "#ml-incidents", status_every: 30m}
''')

_CHECKS = Template('''\
"""Competing hypotheses of the $name playbook, read from its evidence.

* $name-missing-values: values missing beyond the tolerance.
* $name-thin-window: too few rows in the current window to judge.
* $name-healthy: enough rows, few missing values: a false alarm.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from playbooks.checks.base import CheckResult
from playbooks.checks.evidence_gate import reads_part
from playbooks.engine.plugins import check
from playbooks.models.common import StrictParams
from playbooks.models.evidence import EvidencePackage
from playbooks.models.incident import Finding, Verdict

__all__ = [
    "HealthyParams",
    "MissingValuesParams",
    "ThinWindowParams",
    "check_${snake}_healthy",
    "check_${snake}_missing_values",
    "check_${snake}_thin_window",
]

# The collector in playbooks/evidence/$snake.py.
EVIDENCE = "$name"


class MissingValuesParams(StrictParams):
    max_null_share: float = Field(
        default=0.05, ge=0, le=1,
        description="Share of missing feature values above which the data is broken.")


class ThinWindowParams(StrictParams):
    min_rows: int = Field(
        default=100, ge=1, description="Fewer rows in the current window are too few to judge.")


class HealthyParams(StrictParams):
    max_null_share: float = Field(
        default=0.05, ge=0, le=1, description="As the missing-values check's tolerance.")
    min_rows: int = Field(default=100, ge=1, description="As the thin-window check's minimum.")


def _part(evidence: EvidencePackage) -> dict[str, Any] | None:
    part = evidence.parts.get(EVIDENCE)
    return part if part and part.get("available") else None


# Each check gets the part; without it (the collector did not run) the answer is INCONCLUSIVE.
_reads_part = reads_part(_part, f"no '{EVIDENCE}' evidence: add the collector to the spec's "
                         "evidence")


def _nulls(part: dict[str, Any], limit: float) -> Finding:
    share = float(part["null_share"])
    return Finding(kind="missing_values", statistic="null_share", value=share, threshold=limit,
                   breached=share > limit, detail={"worst_columns": part["worst_columns"]})


def _rows(part: dict[str, Any], minimum: int) -> Finding:
    rows = int(part["rows"])
    return Finding(kind="window_rows", statistic="rows", value=rows, threshold=minimum,
                   breached=rows < minimum)


@check("$name-missing-values", params=MissingValuesParams)
@_reads_part
def check_${snake}_missing_values(
    part: dict[str, Any], params: MissingValuesParams
) -> CheckResult:
    """Feature values are missing beyond the tolerance."""
    f = _nulls(part, params.max_null_share)
    if not f.breached:
        return CheckResult(Verdict.REFUTED, 0.85, f"{f.value:.1%} of feature values missing, "
                           f"within {params.max_null_share:.1%}", [f])
    worst = ", ".join(part["worst_columns"])
    return CheckResult(Verdict.SUPPORTED, 0.85, f"{f.value:.1%} of feature values missing "
                       f"(tolerance {params.max_null_share:.1%}), most in: {worst}", [f])


@check("$name-thin-window", params=ThinWindowParams)
@_reads_part
def check_${snake}_thin_window(
    part: dict[str, Any], params: ThinWindowParams
) -> CheckResult:
    """The current window has too few rows to judge."""
    f = _rows(part, params.min_rows)
    if not f.breached:
        return CheckResult(Verdict.REFUTED, 0.8, f"{f.value:.0f} rows in the current window",
                           [f])
    return CheckResult(Verdict.SUPPORTED, 0.8, f"only {f.value:.0f} rows in the current "
                       f"window (at least {params.min_rows} needed to judge)", [f])


@check("$name-healthy", params=HealthyParams)
@_reads_part
def check_${snake}_healthy(
    part: dict[str, Any], params: HealthyParams
) -> CheckResult:
    """Enough rows and no missing values beyond the tolerance: the alert was a false alarm."""
    findings = [_nulls(part, params.max_null_share), _rows(part, params.min_rows)]
    if any(f.breached for f in findings):
        return CheckResult(Verdict.REFUTED, 0.9, "values are missing or the window is thin",
                           findings)
    return CheckResult(Verdict.SUPPORTED, 0.8, f"{part['rows']} rows, "
                       f"{part['null_share']:.1%} of feature values missing", findings)
''')

_EVIDENCE = Template('''\
"""Evidence of the $name playbook: the rows of the current window
and the share of the profile's feature values that are missing."""

from __future__ import annotations

from typing import Any

import pandas as pd
from pydantic import Field

from playbooks.engine.plugins import collector
from playbooks.evidence.base import CollectContext, EvidencePart
from playbooks.models.common import StrictParams
from playbooks.models.profile import ModelProfile

__all__ = [
    "METRICS",
    "NAME",
    "EvidenceParams",
    "assess_missing_values",
    "collect_${snake}_part",
]

NAME = "$name"
METRICS = {
    "${snake}_rows": "rows in the current window",
    "${snake}_null_share": "missing share of the features' values",
}


class EvidenceParams(StrictParams):
    worst_columns: int = Field(
        default=3, ge=1, description="How many of the emptiest feature columns to name.")


def assess_missing_values(
    profile: ModelProfile, current: pd.DataFrame, params: EvidenceParams
) -> dict[str, Any]:
    """Rows and missing-value shares of the profile's features in ``current`` (pure)."""
    columns = [c for c in profile.features.all if c in current.columns]
    if current.empty or not columns:
        return {"available": False, "reason": "no rows, or none of the profile's features"}
    shares = current[columns].isna().mean()
    worst = shares[shares > 0].sort_values(ascending=False).head(params.worst_columns)
    return {
        "available": True,
        "rows": len(current),
        "null_share": float(shares.mean()),
        "null_share_by_column": {str(c): float(v) for c, v in shares.items()},
        "worst_columns": [str(c) for c in worst.index],
    }


@collector(NAME, params=EvidenceParams, metrics=METRICS)
def collect_${snake}_part(
    ctx: CollectContext, params: EvidenceParams
) -> EvidencePart:
    """Rows and missing feature values in the current window."""
    info = assess_missing_values(ctx.profile, ctx.data.current, params)
    if not info["available"]:
        return EvidencePart(data=info, summary=info["reason"])
    metrics = {
        "${snake}_rows": float(info["rows"]),
        "${snake}_null_share": float(info["null_share"]),
    }
    return EvidencePart(data=info, metrics=metrics, summary=f"{info['rows']} rows, "
                        f"{info['null_share']:.1%} of feature values missing")
''')

_TEST = Template('''\
"""The $name playbook (generated by `mlpb playbook new`): the spec loads
and names its plugins, the collector measures a small window, and each check decides
on a small evidence package. Grow it with the checks."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from playbooks.data.io import DataWindows
from playbooks.engine.plugins import default_plugins
from playbooks.evidence import $snake as evidence
from playbooks.evidence.base import CollectContext
from playbooks.loader import CATALOG_DIR, load_spec
from playbooks.models import EvidencePackage, ModelProfile, Verdict

SPEC = load_spec(CATALOG_DIR / "$name.yaml")
PROFILE = ModelProfile.model_validate({
    "name": "model", "data": {"reference": {"path": "r.csv"}, "current": {"path": "c.csv"}},
    "features": {"numeric": ["x", "y"], "categorical": ["segment"]}})
S, R = Verdict.SUPPORTED, Verdict.REFUTED


def _window(rows: int, missing: float = 0.0) -> pd.DataFrame:
    """``rows`` rows; the first ``missing`` share of them lacks ``x``."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=rows), "y": rng.normal(size=rows),
                          "segment": rng.choice(["a", "b"], rows)})
    frame.loc[frame.index < int(rows * missing), "x"] = np.nan
    return frame


def _evidence(current: pd.DataFrame) -> EvidencePackage:
    part = evidence.assess_missing_values(PROFILE, current, evidence.EvidenceParams())
    return EvidencePackage(incident_id="INC-test", collected_at=datetime.now(UTC),
                           parts={evidence.NAME: part})


def _verdicts(package: EvidencePackage) -> dict[str, Verdict]:
    plugins = default_plugins()
    return {h.id: plugins.get("check", h.check).run_check(package, h.params).verdict
            for h in SPEC.hypotheses}


def test_spec_names_the_generated_checks_and_collector() -> None:
    assert [h.check for h in SPEC.hypotheses] == [
        "$name-missing-values",
        "$name-thin-window",
        "$name-healthy",
    ]
    assert evidence.NAME in SPEC.evidence


def test_collector_measures_rows_and_missing_values(tmp_path: Path) -> None:
    current = _window(400, missing=0.5)
    data = DataWindows(reference=current, log=current, current=current, labelled=None)
    ctx = CollectContext(incident_id="INC-test", profile=PROFILE, spec=SPEC, data=data,
                         model_store=None, state_dir=tmp_path)
    part = default_plugins().get("collector", evidence.NAME).run_collector(ctx)
    assert part.metrics["${snake}_rows"] == 400
    assert part.metrics["${snake}_null_share"] == pytest.approx(1 / 6)
    assert part.data["worst_columns"] == ["x"]


@pytest.mark.parametrize(("rows", "missing", "expected"), [
    (500, 0.0, {"missing-values": R, "thin-window": R, "no-issue": S}),
    (500, 0.4, {"missing-values": S, "thin-window": R, "no-issue": R}),
    (20, 0.0, {"missing-values": R, "thin-window": S, "no-issue": R}),
])
def test_each_check_decides_on_a_small_evidence_package(
        rows: int, missing: float, expected: dict[str, Verdict]) -> None:
    assert _verdicts(_evidence(_window(rows, missing))) == expected


def test_without_its_evidence_every_check_is_inconclusive() -> None:
    empty = EvidencePackage(incident_id="INC-test", collected_at=datetime.now(UTC))
    assert set(_verdicts(empty).values()) == {Verdict.INCONCLUSIVE}
''')
