"""The three competing data-drift hypotheses on synthetic evidence (pure, no I/O)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from playbooks.checks.drift import (
    NoMaterialDriftParams,
    PopulationShiftParams,
    UnitChangeParams,
    check_no_material_drift,
    check_population_shift,
    check_upstream_unit_change,
)
from playbooks.engine.decide import decide, rank
from playbooks.engine.plugins import default_plugins
from playbooks.loader import CATALOG_DIR, load_spec
from playbooks.models import EvidencePackage, HypothesisResult, ModelProfile, Verdict
from playbooks.models.spec import PlaybookSpec
from playbooks.stats import drift_report
from playbooks.stats.jsonable import to_jsonable

NUM = ["age", "income", "score", "dti"]
CAT = ["region"]


def _frame(
    n: int,
    rng: np.random.Generator,
    *,
    shift: float = 0.0,
    income_factor: float = 1.0,
    new_region: bool = False,
) -> pd.DataFrame:
    regions = np.array(["north", "south", "east", "west"])
    df = pd.DataFrame(
        {
            "age": rng.normal(40 - 8 * shift, 10, n),
            "income": rng.lognormal(10.8 - 0.3 * shift, 0.4, n) * income_factor,
            "score": rng.normal(680 - 60 * shift, 50, n),
            "dti": rng.beta(2, 5 + -2 * shift, n),
            "region": rng.choice(regions, n),
        }
    )
    if new_region:
        df.loc[: n // 2, "region"] = "NORTH-EAST"
    return df


def _evidence(*, shift: float = 0.0, income_factor: float = 1.0, new_region: bool = False,
              seed: int = 1) -> EvidencePackage:
    rng = np.random.default_rng(seed)
    ref = _frame(5000, rng)
    cur = _frame(5000, rng, shift=shift, income_factor=income_factor, new_region=new_region)
    rep = drift_report(ref, cur, NUM, CAT)
    return EvidencePackage(
        incident_id="INC-t",
        collected_at=datetime.now(UTC),
        feature_drift=[to_jsonable(dataclasses.asdict(f)) for f in rep.features],
    )


def _results(ev: EvidencePackage) -> list[HypothesisResult]:
    out = []
    for hid, r in (
        ("upstream-unit-change", check_upstream_unit_change(ev, UnitChangeParams())),
        ("population-shift", check_population_shift(ev, PopulationShiftParams())),
        ("no-material-drift", check_no_material_drift(ev, NoMaterialDriftParams())),
    ):
        out.append(
            HypothesisResult(
                id=hid,
                check=hid,
                verdict=r.verdict,
                confidence=r.confidence,
                summary=r.summary,
                findings=r.findings,
            )
        )
    return out


@pytest.fixture(scope="module")
def spec() -> PlaybookSpec:
    return load_spec(CATALOG_DIR / "data-drift.yaml", default_plugins())


@pytest.fixture(scope="module")
def profile() -> ModelProfile:
    return ModelProfile.model_validate(
        {
            "name": "m",
            "owners": {"data": "data-team", "oncall": "oncall"},
            "data": {"reference": {"path": "r.csv"}, "current": {"path": "c.csv"}},
            "features": {"numeric": NUM, "categorical": CAT},
        }
    )


def test_population_shift_is_root_cause(spec: PlaybookSpec, profile: ModelProfile) -> None:
    res = _results(_evidence(shift=1.0))
    by = {r.id: r for r in res}
    assert by["population-shift"].verdict is Verdict.SUPPORTED
    assert by["upstream-unit-change"].verdict is Verdict.REFUTED
    assert by["no-material-drift"].verdict is Verdict.REFUTED
    d = decide(rank(res, spec), spec, profile)
    assert d.action == "remediate" and d.remediations == ["retrain"]
    assert d.root_cause is not None and d.root_cause.hypothesis_id == "population-shift"
    drifted = {f.feature for f in by["population-shift"].findings if f.breached}
    assert {"age", "score"} <= drifted


def test_unit_change_escalates_to_data_owner(spec: PlaybookSpec, profile: ModelProfile) -> None:
    res = _results(_evidence(income_factor=0.001))
    by = {r.id: r for r in res}
    unit = by["upstream-unit-change"]
    assert unit.verdict is Verdict.SUPPORTED
    (finding,) = unit.findings
    assert finding.feature == "income" and finding.kind == "unit_change"
    assert finding.value == pytest.approx(0.001, rel=0.05)
    assert finding.detail["nearest_unit_factor"] == pytest.approx(0.001)
    assert by["population-shift"].verdict is Verdict.REFUTED
    d = decide(rank(res, spec), spec, profile)
    assert d.action == "escalate" and d.escalate_to == "data-team" and d.remediations == []


def test_reencoded_category_is_an_encoding_change() -> None:
    ev = _evidence(new_region=True)
    r = check_upstream_unit_change(ev, UnitChangeParams())
    assert r.verdict is Verdict.SUPPORTED
    assert (
        r.findings[0].kind == "encoding_change"
        and "NORTH-EAST" in r.findings[0].detail["unseen_values"]
    )


def test_no_drift_is_a_false_alarm(spec: PlaybookSpec, profile: ModelProfile) -> None:
    res = _results(_evidence())
    by = {r.id: r for r in res}
    assert by["no-material-drift"].verdict is Verdict.SUPPORTED
    assert by["population-shift"].verdict is Verdict.REFUTED
    d = decide(rank(res, spec), spec, profile)
    assert d.action == "close" and d.remediations == []


def test_scale_that_is_not_a_unit_factor_is_not_a_unit_change() -> None:
    # Incomes 30% lower with the same shape: a population change, not a unit bug.
    ev = _evidence(income_factor=0.7)
    assert check_upstream_unit_change(ev, UnitChangeParams()).verdict is Verdict.REFUTED


def test_nothing_supported_escalates(spec: PlaybookSpec, profile: ModelProfile) -> None:
    res = [
        HypothesisResult(
            id=h.id, check=h.check, verdict=Verdict.INCONCLUSIVE, confidence=0.3, summary="?"
        )
        for h in spec.hypotheses
    ]
    d = decide(res, spec, profile)
    assert d.action == "escalate" and d.root_cause is None and d.escalate_to == "oncall"
