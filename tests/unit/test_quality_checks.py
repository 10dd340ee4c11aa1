"""Data-quality evidence, its six competing hypotheses and the quarantine remediation, on small
synthetic data (pure; the quarantine test moves files in a temp dir)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from playbooks.data.io import SourceFile, load_windows
from playbooks.errors import DataError
from playbooks.evidence.quality import assess_quality, assess_windows, baseline_for
from playbooks.loader import CATALOG_DIR, load_spec
from playbooks.models import EvidencePackage, HypothesisResult, ModelProfile, Verdict
from playbooks.remediations.base import RemediationContext
from playbooks.remediations.quarantine import QuarantineBatch, QuarantineParams
from playbooks.sandbox.simulator import CATEGORICAL_FEATURES, NUMERIC_FEATURES
from playbooks.stats.jsonable import to_jsonable
from tests.unit._support import T0, applications, ranked_hypotheses

SPEC = load_spec(CATALOG_DIR / "data-quality.yaml")


def _profile(base: Path = Path(".")) -> ModelProfile:
    return ModelProfile.model_validate({
        "name": "credit", "data": {"timestamp": "ts", "id": "request_id",
                                   "reference": {"path": "ref.csv"},
                                   "current": {"path": "cur/day=*/*.csv"}},
        "features": {"numeric": NUMERIC_FEATURES, "categorical": CATEGORICAL_FEATURES},
        "model": {"registry_name": "credit"}}).model_copy(update={"base_dir": base})


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return applications(4000, seed=1)


def _diagnose(reference: pd.DataFrame, current: pd.DataFrame,
              **kw: Any) -> tuple[dict[str, float], list[HypothesisResult]]:
    report = assess_quality(baseline_for(_profile(), reference), current, **kw)
    ev = EvidencePackage(incident_id="INC-t", collected_at=T0, metrics=report.metrics,
                         parts={"data-quality": to_jsonable({"issues": report.issues})})
    return report.metrics, ranked_hypotheses(SPEC, ev)


def test_population_shift_is_not_a_quality_failure(reference: pd.DataFrame) -> None:
    metrics, ranked = _diagnose(reference, applications(3000, seed=2, strength=1.0))
    assert metrics["quality_failed_checks"] == 0
    assert ranked[0].id == "no-quality-issue" and ranked[0].verdict is Verdict.SUPPORTED
    assert all(r.verdict is Verdict.REFUTED for r in ranked[1:])


def test_null_spike_names_the_columns(reference: pd.DataFrame) -> None:
    cur = applications(3000, seed=2)
    cur.loc[cur.sample(frac=0.3, random_state=0).index, ["credit_score", "home_ownership"]] = np.nan
    metrics, ranked = _diagnose(reference, cur)
    assert ranked[0].id == "null-spike" and ranked[0].verdict is Verdict.SUPPORTED
    assert {f.feature for f in ranked[0].findings} == {"credit_score", "home_ownership"}
    assert all(f.kind == "missing_values" and f.breached for f in ranked[0].findings)
    assert metrics["quality_failed_checks"] == 2
    assert metrics["max_null_rate_increase"] == pytest.approx(0.3, abs=0.01)


def test_renamed_column_is_a_schema_break_not_nulls(reference: pd.DataFrame) -> None:
    cur = applications(3000, seed=2).rename(columns={"annual_income": "income_usd"})
    cur["annual_income"] = np.nan  # what a lenient load leaves behind
    files = [(_source(cur.drop(columns=["annual_income"])), cur)]
    metrics, ranked = _diagnose(reference, cur, files=files)
    assert ranked[0].id == "schema-break"
    (f,) = ranked[0].findings
    assert (f.kind, f.feature, f.detail["renamed_to"]) == ("schema_change", "annual_income",
                                                           "income_usd")
    assert next(r for r in ranked if r.id == "null-spike").verdict is Verdict.REFUTED
    assert metrics["schema_changes"] == 1


def test_text_in_a_numeric_column_is_a_type_change(reference: pd.DataFrame) -> None:
    cur = applications(3000, seed=2)
    _, ranked = _diagnose(reference, cur, coerced={"loan_amount": 120})
    assert ranked[0].id == "schema-break"
    assert ranked[0].findings[0].detail["change"] == "dtype"


def test_sentinel_values_are_out_of_range(reference: pd.DataFrame) -> None:
    cur = applications(3000, seed=2)
    cur["credit_score"] = cur["credit_score"].astype(float)
    cur.loc[:299, "credit_score"] = 9999.0
    _, ranked = _diagnose(reference, cur)
    assert ranked[0].id == "out-of-range"
    (f,) = ranked[0].findings
    assert f.feature == "credit_score" and f.value == pytest.approx(0.1)
    assert 9999.0 in f.detail["examples"]


def test_unit_change_is_out_of_range_by_scale(reference: pd.DataFrame) -> None:
    cur = applications(3000, seed=2)
    cur["annual_income"] = cur["annual_income"] / 1000
    _, ranked = _diagnose(reference, cur)
    assert ranked[0].id == "out-of-range"
    (f,) = ranked[0].findings
    assert f.statistic == "scale_ratio" and f.detail["nearest_unit_factor"] == pytest.approx(0.001)


def test_unseen_categories_are_listed(reference: pd.DataFrame) -> None:
    cur = applications(3000, seed=2)
    cur.loc[:599, "region"] = "atlantis"
    metrics, ranked = _diagnose(reference, cur)
    assert ranked[0].id == "unseen-categories"
    (f,) = ranked[0].findings
    assert f.kind == "unseen_category" and f.detail["unseen_values"] == ["atlantis"]
    assert metrics["unseen_category_share"] == pytest.approx(0.2)


def test_repeated_request_ids_are_duplicates(reference: pd.DataFrame) -> None:
    cur = applications(3000, seed=2)
    cur = pd.concat([cur, cur.head(300)], ignore_index=True)
    metrics, ranked = _diagnose(reference, cur)
    assert ranked[0].id == "duplicate-rows"
    assert ranked[0].findings[0].detail["duplicated_ids"][0] == cur.loc[0, "request_id"]
    assert metrics["duplicate_share"] == pytest.approx(300 / 3300)


def _source(frame: pd.DataFrame) -> SourceFile:
    return SourceFile(Path("cur.csv"), len(frame),
                      {str(c): str(t) for c, t in frame.dtypes.items()})


# -- lenient loading and the quarantine round trip on real files ------------------------------


def _write_days(base: Path, reference: pd.DataFrame, broken: dict[str, pd.DataFrame]) -> None:
    reference.to_csv(base / "ref.csv", index=False)
    for day in range(3):
        frame = broken.get(f"day={day}", applications(500, seed=10 + day))
        (base / "cur" / f"day={day}").mkdir(parents=True)
        frame.to_csv(base / "cur" / f"day={day}" / "part.csv", index=False)


def test_lenient_load_keeps_a_missing_column_as_a_finding(tmp_path: Path,
                                                          reference: pd.DataFrame) -> None:
    _write_days(tmp_path, reference, {f"day={d}": applications(500, seed=30 + d).drop(
        columns=["loan_purpose"]) for d in range(3)})
    prof = _profile(tmp_path)
    with pytest.raises(DataError, match=r"missing column\(s\) \['loan_purpose'\]"):
        load_windows(prof)
    data = load_windows(prof, lenient=True)
    assert data.missing_columns == ["loan_purpose"] and data.current["loan_purpose"].isna().all()
    report, files = assess_windows(prof, data)
    (issue,) = report.failed
    assert (issue["kind"], issue["feature"], issue["detail"]["change"]) == (
        "schema_change", "loan_purpose", "missing")
    assert [f["failed_checks"] for f in files] == [1, 1, 1]


def test_quarantine_moves_only_failing_files_and_reverts(tmp_path: Path,
                                                         reference: pd.DataFrame) -> None:
    bad = applications(500, seed=21)
    bad.loc[:200, "employment_years"] = np.nan
    _write_days(tmp_path, reference, {"day=2": bad})
    prof, state = _profile(tmp_path), tmp_path / "state"
    data = load_windows(prof, lenient=True)
    report, files = assess_windows(prof, data)
    part = to_jsonable({"issues": report.issues, "files": files})
    ev = EvidencePackage(incident_id="INC-q", collected_at=T0, metrics=report.metrics,
                         parts={"data-quality": part})
    ctx = RemediationContext(incident_id="INC-q", profile=prof, model_store=None, state_dir=state,
                             evidence=ev, data=data)
    q, params = QuarantineBatch(), QuarantineParams()
    plan = q.plan(ctx, params)
    assert [Path(m["src"]).parent.name for m in plan["moves"]] == ["day=2"]
    change = q.apply(ctx, params, plan)
    target = state / "quarantine" / "INC-q" / "cur" / "day=2" / "part.csv"
    assert target.is_file() and not (tmp_path / "cur" / "day=2").exists()
    metrics = q.verify(ctx, params, change)
    assert metrics == {"quality_failed_checks_after": 0.0, "quarantined_files": 1.0,
                       "remaining_current_rows": 1000.0}
    q.revert(ctx, change)
    assert (tmp_path / "cur" / "day=2" / "part.csv").is_file()
    assert not (state / "quarantine" / "INC-q").exists()
