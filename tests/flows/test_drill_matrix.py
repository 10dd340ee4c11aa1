"""Drills through the alert entry point: faults whose alerts are vague go through triage,
which must hand over to the owning playbook and reach the outcome its spec prescribes; faults
whose fix is monitored live must end as the drill expects after the sandbox advances (verified
over three windows, or - when the first fix passes its pre-check but fails live - reverted
and escalated). (Other faults whose alerts name their playbook are covered per playbook in
the other flow tests.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.drill import run_drill
from playbooks.config import load_settings
from playbooks.ledger import DrillStore, Ledger
from playbooks.modelstore import MlflowModelStore
from playbooks.sandbox import FAULTS

pytestmark = [pytest.mark.flows, pytest.mark.slow]

VIA_TRIAGE = [k for k in FAULTS.kinds() if not FAULTS.get(k).params.alert_names_playbook]
FAILS_LIVE = [k for k in FAULTS.kinds() if FAULTS.get(k).params.live_outcome == "reverted"]


def test_some_faults_go_through_triage_and_some_fail_live() -> None:
    assert len(VIA_TRIAGE) >= 3
    assert {"shift-keeps-moving", "release-degrades-live"} <= set(FAILS_LIVE)


@pytest.mark.parametrize("fault", [*VIA_TRIAGE, "none", "covariate-drift", *FAILS_LIVE])
def test_drill_scores_correct_top1_and_outcome(fault: str, home: Path) -> None:
    res = run_drill(fault=fault, seed=1, home=str(home), rows_per_day=800, history_days=21)
    assert res["correct_root_cause"], res
    assert res["outcome"] == res["expected_outcome"], res
    assert res["detail"]["live"] == res["detail"]["expected_live"], res
    assert res["passed"], res
    if fault in VIA_TRIAGE:
        assert res["detail"]["entry_playbook"] == "triage" and res["detail"]["children"]
    if res["detail"]["expected_live"] == "verified":
        assert res["detail"]["windows"] == ["pass", "pass", "pass"]
        assert res["time_to_resolve_s"] >= 3 * 86400  # three live days, in simulated time
    if fault in FAILS_LIVE:
        assert res["detail"]["remediation_verified"]  # the pre-check passed...
        assert res["detail"]["windows"][-1] == "fail"  # ...live traffic did not
        store = MlflowModelStore.local(home / "drills" / f"{fault}-seed1")
        assert store.get_version("credit-risk", "champion").version == "1"  # reverted
    stored = DrillStore(Ledger(load_settings(home).ledger_url)).list()
    assert [d.fault for d in stored] == [fault] and stored[0].drill
