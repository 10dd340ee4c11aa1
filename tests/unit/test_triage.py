"""Triage's candidates come from the catalog: every other playbook is a signature to test,
and the false-alarm / unexplained checks look at all of them by default."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from playbooks.checks.triage import (
    SIGNATURE_CHECK,
    NothingMatchesParams,
    SignatureParams,
    candidate_playbooks,
    check_nothing_matches,
    check_playbook_signature,
    check_unexplained_symptoms,
    signature_hypotheses,
)
from playbooks.errors import SpecError
from playbooks.loader import CATALOG_DIR, catalog_ids, load_spec
from playbooks.models import EvidencePackage, Verdict

S, R = Verdict.SUPPORTED, Verdict.REFUTED
ERROR_SPIKE = {"error_rate": 0.08, "error_rate_slo_ratio": 4.0, "latency_p95_ms": 40.0,
               "latency_p95_slo_ratio": 0.4}


def _ev(**metrics: float) -> EvidencePackage:
    return EvidencePackage(incident_id="INC-t", collected_at=datetime.now(UTC), metrics=metrics)


def test_every_other_catalog_playbook_is_a_candidate() -> None:
    assert candidate_playbooks() == [p for p in catalog_ids() if p != "triage"]


def test_triage_spec_tests_one_signature_per_candidate_in_weight_order() -> None:
    spec = load_spec(CATALOG_DIR / "triage.yaml")
    assert spec.signatures is not None
    listed = [h for h in spec.hypotheses if h.check == SIGNATURE_CHECK]
    expected = signature_hypotheses(spec.signatures)
    assert [(h.id, h.params, h.on_supported) for h in listed] == [
        (h.id, h.params, h.on_supported) for h in expected]
    assert [h.id for h in listed] == [h.id for h in spec.hypotheses[: len(listed)]]
    assert {h.id for h in listed} == set(candidate_playbooks())  # generated from the catalog
    # upstream, more specific causes first (skew before quality before drift)
    order = [h.id for h in expected]
    assert order.index("feature-skew") < order.index("data-quality") < order.index("data-drift")


def test_a_signature_weight_for_a_playbook_not_in_the_catalog_is_an_error(
        tmp_path: Path) -> None:
    raw = yaml.safe_load((CATALOG_DIR / "triage.yaml").read_text(encoding="utf-8"))
    raw["signatures"]["no-such-playbook"] = 0.5
    path = tmp_path / "triage-typo.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert info.value.problems[0][0] == "signatures"
    assert "no-such-playbook" in info.value.problems[0][1]


def test_a_new_playbook_gets_a_signature_hypothesis_after_the_weighted_ones() -> None:
    hyps = signature_hypotheses({"serving-latency": 0.9})
    assert [h.id for h in hyps] == ["serving-latency",
                                    *sorted(p for p in candidate_playbooks()
                                            if p != "serving-latency")]
    assert hyps[-1].params["weight"] < 0.9
    assert all(h.on_supported.handover_to == h.id for h in hyps)


def test_a_quiet_system_matches_no_candidate_and_is_a_false_alarm() -> None:
    ev = _ev()
    assert check_nothing_matches(ev, NothingMatchesParams()).verdict is S
    assert check_unexplained_symptoms(ev, NothingMatchesParams()).verdict is R
    nothing = check_nothing_matches(ev, NothingMatchesParams())
    assert f"none of {len(candidate_playbooks())} failure signatures" in nothing.summary


def test_a_signature_is_found_among_the_default_candidates() -> None:
    ev = _ev(**ERROR_SPIKE)
    res = check_nothing_matches(ev, NothingMatchesParams())
    assert res.verdict is R and "serving-latency" in res.summary
    assert check_unexplained_symptoms(ev, NothingMatchesParams()).verdict is R
    own = check_playbook_signature(ev, SignatureParams(playbook="serving-latency", weight=0.89))
    assert own.verdict is S and own.confidence == 0.89
    assert check_playbook_signature(ev, SignatureParams(playbook="data-drift")).verdict is R
    # an explicit list narrows the candidates
    narrowed = NothingMatchesParams(playbooks=["data-drift"])
    assert check_nothing_matches(ev, narrowed).verdict is S


def test_symptoms_without_a_signature_need_a_human() -> None:
    ev = _ev(labelled_auc_drop=0.1)
    assert check_unexplained_symptoms(ev, NothingMatchesParams()).verdict is S
    assert check_nothing_matches(ev, NothingMatchesParams()).verdict is R
