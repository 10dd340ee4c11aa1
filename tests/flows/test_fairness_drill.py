"""The fairness drill: a population shift plus one region's repaid loans labelled defaulted
(the sandbox's sensitive attribute is the area, rural or urban, that region belongs to).
data-drift retrains; the new version passes every AUC criterion on the (equally mislabelled)
holdout but declines that region far more often than the version it replaced, so its group
criterion reverts it and the incident is escalated; the post-mortem names the group and gap."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.drill import run_drill
from playbooks.config import load_settings
from playbooks.ledger import Ledger
from playbooks.modelstore import MlflowModelStore

pytestmark = [pytest.mark.flows, pytest.mark.slow]


def test_a_retrain_that_harms_one_group_is_reverted_by_its_group_criterion(home: Path) -> None:
    res = run_drill(fault="biased-retrain", seed=1, home=str(home), rows_per_day=800,
                    history_days=21)
    assert res["passed"], res
    assert (res["outcome"], res["expected_outcome"]) == ("escalated", "escalated")
    assert res["remediation"] == "retrain" and not res["detail"]["remediation_verified"]
    assert res["detail"]["live"] is None  # undone before it was ever served

    inc = Ledger(load_settings(home).ledger_url).get(res["incident_id"])
    assert inc.verification is not None
    verdicts = {c.id: c.passed for c in inc.verification.criteria}
    # AUC says the retrain is fine; only the group criterion says it is not.
    assert verdicts["auc-floor"] and verdicts["no-regression"] and verdicts["no-slice-harm"]
    assert verdicts["no-group-harm"] is False
    gap = next(c for c in inc.verification.criteria if c.id == "no-group-harm")
    assert gap.observed is not None and gap.observed > 0.05  # the gap widened past the limit
    [retrain] = [r for r in inc.remediations if r.id == "retrain"]
    assert retrain.applied and retrain.reverted
    store = MlflowModelStore.local(home / "drills" / "biased-retrain-seed1")
    assert store.get_version("credit-risk", "champion").version == "1"

    assert inc.postmortem_path is not None
    text = Path(inc.postmortem_path).read_text(encoding="utf-8")
    section = text[text.index("## Fairness"):]
    assert "Decided by **no-group-harm** (pre-check)" in section
    assert "Most affected group: **area=rural**" in section
    assert f"{gap.observed:.4g}" in section


def test_live_windows_whose_group_is_too_small_are_inconclusive_never_a_pass(home: Path) -> None:
    from flows.engine import run_playbook
    from playbooks.drills.live import approve_waiting
    from playbooks.engine.monitor import advance_all
    from playbooks.engine.runtime import Runtime
    from playbooks.sandbox import advance_sandbox, bootstrap_sandbox, inject_fault, make_fault

    sb = bootstrap_sandbox(home, seed=3, rows_per_day=400, history_days=21)
    inject_fault(sb, make_fault("covariate-drift"), days=7, seed=5)
    # The 2-day holdout has ~350 rural rows, a live day ~180: judged once, never live.
    text = sb.profile_path.read_text(encoding="utf-8")
    sb.profile_path.write_text(text.replace("min_group_rows: 100", "min_group_rows: 250"),
                               encoding="utf-8")
    res = run_playbook(playbook="data-drift", profile=str(sb.profile_path), home=str(home),
                       quiet=True)
    (inc,) = approve_waiting(str(home), [res["id"]], approver="alice", channel="cli")
    assert inc.status.value == "monitoring", inc.timeline[-1].message
    assert inc.verification is not None and inc.verification.passed
    led = Ledger(load_settings(home).ledger_url)
    for _ in range(6):
        advance_sandbox(home, 1)
        advance_all(Runtime.from_env(str(home), quiet=True))
        if (inc := led.get(res["id"])).status.value != "monitoring":
            break
    assert inc.monitoring is not None
    windows = inc.monitoring.windows
    assert [w.verdict for w in windows] == ["inconclusive"] * 3
    assert all("fewer than 250 rows" in w.reason and "no-group-harm-live" in w.reason
               for w in windows)
    assert inc.status.value == "escalated"  # cannot verify: never resolved on a guess
