"""Triage on data nobody tuned it for (issue 11): every fault scenario of the external set
(scikit-learn's bundled breast-cancer data, bench/external_triage.py) through triage's
evidence, checks and decision. Each single fault comes out as its failure class, both faults
of each concurrent case are reported, the clean window is a false alarm."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.external_triage import FALSE_ALARM, SCENARIOS, build_scenario, correct, run_triage

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_triage_names_the_injected_fault(name: str, tmp_path_factory: pytest.TempPathFactory
                                         ) -> None:
    root: Path = tmp_path_factory.getbasetemp() / "external-triage"
    sc = SCENARIOS[name]
    got = run_triage(build_scenario(name, root))
    assert correct(sc, got), (sc, got)
    if not sc.secondary:  # a single fault (or none): no other distinct fault is reported
        assert not got.secondary, got
    if name == "schema-break":  # the missing column is named, not an exit 3
        assert "schema break: concavity missing" in got.summary


def test_the_scenarios_cover_every_class_triage_hands_over_to() -> None:
    from playbooks.checks.triage import candidate_playbooks

    covered = {s.expected for s in SCENARIOS.values()}
    # bad-release needs a registry to re-score both versions; see the module docstring
    assert set(candidate_playbooks()) - covered == {"bad-release"}
    assert FALSE_ALARM in covered
    assert sum(bool(s.secondary) for s in SCENARIOS.values()) >= 2
