"""Feature-skew evidence and its four competing hypotheses on small synthetic data (pure)."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from playbooks.data.io import DataWindows
from playbooks.evidence.skew import apply_mapping, assess_skew
from playbooks.loader import CATALOG_DIR, load_spec
from playbooks.models import EvidencePackage, HypothesisResult, ModelProfile, Verdict
from playbooks.remediations.feature_mapping import mapping_from_evidence
from playbooks.sandbox.simulator import CATEGORICAL_FEATURES, NUMERIC_FEATURES
from playbooks.stats import drift_report
from tests.unit._support import T0, applications, ranked_hypotheses

SPEC = load_spec(CATALOG_DIR / "feature-skew.yaml")
PROFILE = ModelProfile.model_validate({
    "name": "credit", "data": {"timestamp": "ts", "reference": {"path": "r.csv"},
                               "current": {"path": "c.csv"}, "feature_version": "fpv"},
    "features": {"numeric": NUMERIC_FEATURES, "categorical": CATEGORICAL_FEATURES}})


def _apps(n: int, seed: int, start: datetime = T0, strength: float = 0.0) -> pd.DataFrame:
    out = applications(n, seed, start=start, strength=strength)
    out["fpv"] = "fp-2"
    return out


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return _apps(4000, seed=1)


def _windows(reference: pd.DataFrame, current: pd.DataFrame) -> DataWindows:
    history = _apps(1000, seed=9, start=T0 - timedelta(days=7))
    log = pd.concat([history, current], ignore_index=True)
    return DataWindows(reference=reference, log=log, current=current, labelled=None)


def _diagnose(reference: pd.DataFrame,
              current: pd.DataFrame) -> tuple[dict[str, object], list[HypothesisResult]]:
    info = assess_skew(PROFILE, _windows(reference, current))
    ev = EvidencePackage(incident_id="INC-t", collected_at=T0, parts={"feature-skew": info})
    return info, ranked_hypotheses(SPEC, ev)


def _max_psi_after(reference: pd.DataFrame, current: pd.DataFrame,
                   info: dict[str, object]) -> float:
    fixed = apply_mapping(PROFILE, current, reference, mapping_from_evidence(info))
    return drift_report(reference, fixed, NUMERIC_FEATURES, CATEGORICAL_FEATURES).max_psi()


def test_swapped_columns_are_found_as_a_mutual_pair(reference: pd.DataFrame) -> None:
    cur = _apps(2000, seed=2)
    cur["loan_amount"], cur["annual_income"] = cur["annual_income"], cur["loan_amount"].copy()
    info, ranked = _diagnose(reference, cur)
    assert ranked[0].id == "swapped-columns" and ranked[0].verdict is Verdict.SUPPORTED
    assert {(f.feature, f.detail["matches"]) for f in ranked[0].findings} == {
        ("loan_amount", "annual_income"), ("annual_income", "loan_amount")}
    assert all(f.detail["mutual"] for f in ranked[0].findings)
    assert mapping_from_evidence(info) == {"columns": {"annual_income": "loan_amount",
                                                       "loan_amount": "annual_income"}}
    assert _max_psi_after(reference, cur, info) < 0.2


def test_transform_applied_twice(reference: pd.DataFrame) -> None:
    cur = _apps(2000, seed=2)
    cur["annual_income"] = np.log1p(cur["annual_income"])
    info, ranked = _diagnose(reference, cur)
    assert ranked[0].id == "double-transform"
    (f,) = ranked[0].findings
    assert (f.feature, f.detail["transform"], f.detail["direction"]) == (
        "annual_income", "log1p", "applied_extra")
    assert mapping_from_evidence(info) == {"transforms": {"annual_income": "expm1"}}
    assert _max_psi_after(reference, cur, info) < 0.2


def test_transform_missing_in_serving(reference: pd.DataFrame) -> None:
    ref = reference.copy()
    mean, std = ref["credit_score"].mean(), ref["credit_score"].std()
    ref["credit_score"] = (ref["credit_score"] - mean) / std  # training standardized it
    info, ranked = _diagnose(ref, _apps(2000, seed=2))  # serving sends raw scores
    assert ranked[0].id == "double-transform"
    (f,) = ranked[0].findings
    assert (f.detail["transform"], f.detail["direction"]) == ("standardize", "missing")
    assert mapping_from_evidence(info) == {"transforms": {"credit_score": "standardize"}}
    assert _max_psi_after(ref, _apps(2000, seed=2), info) < 0.2


def test_stale_pipeline_rows_compute_a_feature_differently(reference: pd.DataFrame) -> None:
    cur = _apps(2000, seed=2)
    old = cur.sample(frac=0.3, random_state=0).index
    cur.loc[old, "fpv"] = "fp-1"
    cur.loc[old, "debt_to_income"] = cur.loc[old, "debt_to_income"] * 100
    info, ranked = _diagnose(reference, cur)
    assert ranked[0].id == "stale-pipeline"
    version, feature = ranked[0].findings
    assert version.kind == "stale_feature_version" and version.value == pytest.approx(0.3)
    assert version.detail["expected"] == "fp-2" and "fp-1" in version.detail["stale_versions"]
    assert feature.feature == "debt_to_income"
    assert feature.detail["median_ratio"] == pytest.approx(100, rel=0.05)
    assert mapping_from_evidence(info) == {"required_feature_version": "fp-2"}
    assert _max_psi_after(reference, cur, info) < 0.2


def test_population_shift_is_not_skew(reference: pd.DataFrame) -> None:
    info, ranked = _diagnose(reference, _apps(2000, seed=2, strength=1.0))
    assert ranked[0].id == "no-skew" and ranked[0].verdict is Verdict.SUPPORTED
    assert "data-drift" in ranked[0].summary  # drift without a skew signature is named
    assert all(r.verdict is not Verdict.SUPPORTED for r in ranked[1:])
    assert info["metrics"] == {"skewed_features": 0.0, "skewed_row_share": 0.0,
                               "stale_version_share": 0.0}


def test_version_tag_on_the_model_sets_the_expected_version(reference: pd.DataFrame) -> None:
    info = assess_skew(PROFILE, _windows(reference, _apps(2000, seed=2)),
                       tags={"mlpb.required_feature_version": "fp-3"})
    v = info["versions"]
    assert (v["expected"], v["expected_from"], v["stale_share"]) == ("fp-3", "model tag", 1.0)
