"""Triage's candidates come from the catalog (every other playbook is a signature to test, with
a prior from triage.yaml); classes are ranked by posterior (Jeffreys band, specificity,
posterior) and every supported class is reported."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from playbooks.checks.strength import posterior, strength
from playbooks.checks.triage import (
    DEFAULT_PRIOR,
    SIGNATURE_CHECK,
    NothingMatchesParams,
    SignatureParams,
    candidate_playbooks,
    check_nothing_matches,
    check_playbook_signature,
    check_unexplained_symptoms,
    rank_classes,
    signature_hypotheses,
)
from playbooks.errors import SpecError
from playbooks.loader import CATALOG_DIR, catalog_ids, load_spec
from playbooks.models import EvidencePackage, Verdict
from playbooks.stats.significance import p_share_above

S, R, INC = Verdict.SUPPORTED, Verdict.REFUTED, Verdict.INCONCLUSIVE
SPEC = load_spec(CATALOG_DIR / "triage.yaml")
PRIORS = SPEC.signatures or {}
ERROR_SPIKE = {"error_rate": 0.08, "error_rate_slo_ratio": 4.0, "latency_p95_ms": 40.0,
               "latency_p95_slo_ratio": 0.4, "recent_requests": 2000.0}


def _ev(parts: dict[str, dict[str, Any]] | None = None, /, **metrics: float
        ) -> EvidencePackage:
    return EvidencePackage(incident_id="INC-t", collected_at=datetime.now(UTC), metrics=metrics,
                           parts=parts or {})


def _nulls(feature: str, current: float, rows: int) -> dict[str, dict[str, Any]]:
    """A data-quality part whose only failed test is a null spike in ``feature``."""
    issue = {"kind": "missing_values", "feature": feature, "statistic": "null_rate_increase",
             "value": current, "threshold": 0.05, "breached": True,
             "detail": {"reference": 0.0, "current": current}, "row_share": current}
    return {"data-quality": {"rows": rows, "issues": [issue], "columns": {feature: {}}}}


def _sig(ev: EvidencePackage, playbook: str) -> Any:
    return check_playbook_signature(ev, SignatureParams(playbook=playbook, priors=PRIORS))


def test_every_other_catalog_playbook_is_a_candidate() -> None:
    assert candidate_playbooks() == [p for p in catalog_ids() if p != "triage"]


def test_triage_spec_tests_one_signature_per_candidate_with_every_prior() -> None:
    listed = [h for h in SPEC.hypotheses if h.check == SIGNATURE_CHECK]
    expected = signature_hypotheses(PRIORS)
    assert [(h.id, h.params, h.on_supported) for h in listed] == [
        (h.id, h.params, h.on_supported) for h in expected]
    assert [h.id for h in listed] == [h.id for h in SPEC.hypotheses[: len(listed)]]
    assert {h.id for h in listed} == set(candidate_playbooks())  # generated from the catalog
    assert all(h.params["priors"] == listed[0].params["priors"] for h in listed)
    # the false-alarm checks judge "nothing matches" with the same priors
    own = {h.id: h.params for h in SPEC.hypotheses if h.check != SIGNATURE_CHECK}
    assert own["nothing-wrong"]["priors"] == listed[0].params["priors"]
    assert sum(PRIORS.values()) < 1  # the rest is the false-alarm share


def test_a_signature_prior_for_a_playbook_not_in_the_catalog_is_an_error(
        tmp_path: Path) -> None:
    raw = yaml.safe_load((CATALOG_DIR / "triage.yaml").read_text(encoding="utf-8"))
    raw["signatures"]["no-such-playbook"] = 0.5
    path = tmp_path / "triage-typo.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert info.value.problems[0][0] == "signatures"
    assert "no-such-playbook" in info.value.problems[0][1]


def test_a_playbook_without_a_stated_prior_gets_the_default() -> None:
    hyps = signature_hypotheses({"serving-latency": 0.2})
    assert hyps[0].id == "serving-latency"
    assert hyps[0].params["priors"]["data-drift"] == DEFAULT_PRIOR
    assert all(h.on_supported.handover_to == h.id for h in hyps)


def test_a_quiet_system_matches_no_candidate_and_is_a_false_alarm() -> None:
    ev = _ev()
    params = NothingMatchesParams(priors=PRIORS)
    nothing = check_nothing_matches(ev, params)
    assert nothing.verdict is S
    assert f"none of {len(candidate_playbooks())} failure signatures" in nothing.summary
    assert check_unexplained_symptoms(ev, params).verdict is R


def test_a_signature_is_supported_with_its_posterior() -> None:
    ev = _ev(**ERROR_SPIKE)
    params = NothingMatchesParams(priors=PRIORS)
    res = check_nothing_matches(ev, params)
    assert res.verdict is R and "serving-latency" in res.summary
    assert check_unexplained_symptoms(ev, params).verdict is R
    own = _sig(ev, "serving-latency")
    # the error-spike check's strength (8% errors of 2000 vs a 2% SLO), times the prior
    expected = posterior(strength(p_share_above(0.08, 2000, 0.02)), PRIORS["serving-latency"])
    assert own.verdict is S and own.confidence == pytest.approx(expected, abs=1e-4)
    posterior_finding = own.findings[0]
    assert posterior_finding.statistic == "posterior" and posterior_finding.breached
    assert _sig(ev, "data-drift").verdict is R
    # an explicit list narrows the candidates
    narrowed = NothingMatchesParams(playbooks=["data-drift"], priors=PRIORS)
    assert check_nothing_matches(ev, narrowed).verdict is S


def test_the_same_breach_on_too_few_requests_is_too_weak_to_count() -> None:
    ev = _ev(**{**ERROR_SPIKE, "error_rate": 0.04, "error_rate_slo_ratio": 2.0,
                "recent_requests": 50.0})
    res = _sig(ev, "serving-latency")
    assert res.verdict is INC and "too weak" in res.summary
    assert check_nothing_matches(ev, NothingMatchesParams(priors=PRIORS)).verdict is S


def test_two_faults_rank_by_specificity_and_the_top_carries_the_other() -> None:
    ev = _ev(_nulls("income", 0.4, 2000), **ERROR_SPIKE)
    ranked = [c for c in rank_classes(ev, PRIORS) if c.supported]
    assert [c.playbook for c in ranked] == ["data-quality", "serving-latency"]
    assert ranked[0].band == ranked[1].band == 3  # both decisive: the mechanism ranks first
    top, other = _sig(ev, "data-quality"), _sig(ev, "serving-latency")
    assert top.verdict is S and other.verdict is S and top.confidence > other.confidence
    second = [f for f in top.findings if f.kind == "secondary_cause"]
    assert [f.detail["playbook"] for f in second] == ["serving-latency"]
    assert "also: serving-latency" in top.summary
    assert not [f for f in other.findings if f.kind == "secondary_cause"]  # only the top's


def test_symptoms_without_a_signature_need_a_human() -> None:
    ev = _ev(labelled_auc_drop=0.1)
    params = NothingMatchesParams(priors=PRIORS)
    assert check_unexplained_symptoms(ev, params).verdict is S
    assert check_nothing_matches(ev, params).verdict is R
