"""Drills through the alert entry point: faults whose alerts are vague go through triage,
which must hand over to the owning playbook and reach the outcome its spec prescribes.
(Faults whose alerts name their playbook are covered per playbook in the other flow tests.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.drill import run_drill
from playbooks.config import load_settings
from playbooks.ledger import DrillStore, Ledger
from playbooks.sandbox import FAULTS

pytestmark = [pytest.mark.flows, pytest.mark.slow]

VIA_TRIAGE = [k for k in FAULTS.kinds() if not FAULTS.get(k).params.alert_names_playbook]


def test_some_faults_go_through_triage() -> None:
    assert len(VIA_TRIAGE) >= 3


@pytest.mark.parametrize("fault", [*VIA_TRIAGE, "none"])
def test_drill_scores_correct_top1_and_outcome(fault: str, home: Path) -> None:
    res = run_drill(fault=fault, seed=1, home=str(home), rows_per_day=800, history_days=21)
    assert res["correct_root_cause"], res
    assert res["outcome"] == res["expected_outcome"], res
    assert res["passed"], res
    if fault in VIA_TRIAGE:
        assert res["detail"]["entry_playbook"] == "triage" and res["detail"]["children"]
    stored = DrillStore(Ledger(load_settings(home).ledger_url)).list()
    assert [d.fault for d in stored] == [fault] and stored[0].drill
