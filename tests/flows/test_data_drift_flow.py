"""The data-drift playbook end to end in the Prefect harness, on the real sandbox (real MLflow
store, parquet inference log, SQLite ledger)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from flows.engine import run_playbook
from playbooks.config import load_settings
from playbooks.drills.live import approve_waiting
from playbooks.ledger import Ledger
from playbooks.loader import CATALOG_DIR
from playbooks.modelstore import MlflowModelStore
from playbooks.sandbox import (
    CovariateDrift,
    NoFault,
    UnitChange,
    advance_sandbox,
    bootstrap_sandbox,
    inject_fault,
    make_fault,
)

pytestmark = pytest.mark.flows

SMALL = {"rows_per_day": 400, "history_days": 21}


def _sandbox(home: Path, fault: Any) -> Any:
    sb = bootstrap_sandbox(home / "sb", seed=3, **SMALL)
    inject_fault(sb, fault, days=7, seed=5)
    return sb


def _champion(sb: Any) -> str:
    reg = MlflowModelStore(sb.tracking_uri)
    return reg.get_version(sb.model_name, "champion").version


def _run(sb: Any, home: Path, *, approve: bool = True, **kw: Any) -> dict[str, Any]:
    """Run the playbook; the retrain of the criticality: high sandbox model waits for an
    approval, which alice (an approver in its profile) gives unless ``approve`` is False."""
    res: dict[str, Any] = run_playbook(playbook=kw.pop("playbook", "data-drift"),
                                       profile=str(sb.profile_path), home=str(home),
                                       quiet=True, **kw)
    if approve and res["status"] == "awaiting_approval":
        (after,) = approve_waiting(str(home), [res["id"]], approver="alice", channel="cli")
        res = after.to_contract()
    return res


def test_population_shift_is_retrained_promoted_and_watched_live(home: Path) -> None:
    sb = _sandbox(home, CovariateDrift(strength=1.0))
    assert _champion(sb) == "1"
    asked = _run(sb, home, approve=False)  # nothing changes before a person says yes
    assert asked["status"] == "awaiting_approval" and asked["remediations"] == []
    req = asked["approval"]
    assert req["remediation_id"] == "retrain" and req["plan_hash"].startswith("sha256:")
    assert "criticality: high" in req["why"] and req["state"] == "pending"
    assert _champion(sb) == "1"
    advance_sandbox(sb.state_dir, 1)  # a day of new labelled traffic: the plan moves
    (void,) = approve_waiting(str(home), [asked["id"]], approver="bob", channel="cli")
    assert void.status.value == "awaiting_approval" and void.timeline[-1].kind == "approval_void"
    assert void.approval is not None and void.approval.plan_hash != req["plan_hash"]
    assert void.remediations == [] and _champion(sb) == "1"  # nothing applied on a stale yes
    req = void.approval.model_dump(mode="json")
    (after,) = approve_waiting(str(home), [asked["id"]], approver="bob", channel="cli")
    res = after.to_contract()
    assert res["approval"]["state"] == "applied" and res["approval"]["plan_hash"] == req[
        "plan_hash"]
    assert res["remediations"][0]["plan"] == req["plan"]  # exactly the pinned plan
    # Passing the pre-check is not closure: the incident waits for live windows.
    assert res["status"] == "monitoring", res
    assert res["root_cause"]["hypothesis_id"] == "population-shift"
    (rem,) = res["remediations"]
    assert rem["applied"] and not rem["reverted"] and rem["change"]["previous_version"] == "1"
    assert _champion(sb) == rem["change"]["new_version"] == "2"
    assert res["verification"]["passed"] and len(res["verification"]["criteria"]) == 5
    mon = res["monitoring"]
    assert mon["version"] == "2" and mon["count"] == 3 and mon["windows"] == []
    assert {c["metric"] for c in mon["criteria"]} == {"max_psi", "estimated_roc_auc", "roc_auc",
                                                      "demographic_parity_difference"}
    assert res["resolved_at"] is None and res["mttr_seconds"] is None
    assert res["postmortem_path"] is None  # written when the controller closes it
    store = MlflowModelStore(sb.tracking_uri)
    tags = store.get_version(sb.model_name, "2").tags
    assert tags.get("mlpb.incident_id") == res["id"]
    start, _, end = tags["mlpb.reference_window"].partition("/")
    assert start == rem["change"]["windows"]["train_start"] and end
    led = Ledger(load_settings(home).ledger_url)
    (entry,) = led.journal(incident_id=res["id"])
    assert entry.phase == "kept" and entry.closed
    kinds = [e.kind for e in led.get(res["id"]).timeline]
    assert kinds[0] == "opened" and kinds[-1] == "monitoring" and "evidence" in kinds
    assert "closed" not in kinds


def _without_monitoring(tmp_path: Path, **escalation: Any) -> Path:
    spec = yaml.safe_load((CATALOG_DIR / "data-drift.yaml").read_text())
    spec["acceptance"].pop("monitoring")
    spec["escalation"].update(escalation)
    path = tmp_path / "drift-no-monitoring.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_a_second_alert_after_a_verified_retrain_is_a_false_alarm(home: Path,
                                                                   tmp_path: Path) -> None:
    sb = _sandbox(home, CovariateDrift(strength=1.0))
    spec = _without_monitoring(tmp_path)  # closes on the pre-check, so it can be re-run now
    first = _run(sb, home, playbook=str(spec))
    assert first["status"] == "resolved" and _champion(sb) == "2"
    # The reference follows the champion: v2 is judged against what it was trained on.
    second = _run(sb, home, playbook=str(spec))
    assert second["status"] == "false_alarm", second
    assert second["root_cause"]["hypothesis_id"] == "no-material-drift"
    assert second["remediations"] == [] and _champion(sb) == "2"
    assert len(MlflowModelStore(sb.tracking_uri).list_versions(sb.model_name)) == 2


def test_unit_change_is_escalated_not_retrained(home: Path) -> None:
    sb = _sandbox(home, UnitChange(feature="annual_income", factor=0.001))
    res = _run(sb, home)
    assert res["root_cause"]["hypothesis_id"] == "upstream-unit-change"
    assert res["status"] == "escalated" and res["escalated_to"] == "data-platform"
    assert res["remediations"] == []
    assert _champion(sb) == "1"
    assert len(MlflowModelStore(sb.tracking_uri).list_versions(sb.model_name)) == 1
    unit = next(h for h in res["hypotheses"] if h["id"] == "upstream-unit-change")
    assert unit["findings"][0]["feature"] == "annual_income"


def test_false_alarm_applies_nothing(home: Path) -> None:
    sb = _sandbox(home, NoFault())
    res = _run(sb, home)
    assert res["status"] == "false_alarm"
    assert res["root_cause"]["hypothesis_id"] == "no-material-drift"
    assert res["remediations"] == [] and res["verification"] is None
    assert _champion(sb) == "1"
    assert len(MlflowModelStore(sb.tracking_uri).list_versions(sb.model_name)) == 1


def test_dry_run_changes_nothing(home: Path) -> None:
    sb = _sandbox(home, CovariateDrift(strength=1.0))
    res = _run(sb, home, dry_run=True)
    assert res["status"] == "diagnosed" and res["dry_run"]
    (rem,) = res["remediations"]
    assert rem["dry_run"] and not rem["applied"] and "move 'champion'" in rem["plan"]["summary"]
    assert _champion(sb) == "1"
    assert len(MlflowModelStore(sb.tracking_uri).list_versions(sb.model_name)) == 1
    assert Ledger(load_settings(home).ledger_url).journal(incident_id=res["id"]) == []


def test_failed_verification_reverts_alias_and_escalates(home: Path, tmp_path: Path) -> None:
    sb = _sandbox(home, CovariateDrift(strength=1.0))
    spec = yaml.safe_load((CATALOG_DIR / "data-drift.yaml").read_text())
    spec["acceptance"]["pre_check"][0]["value"] = 0.999  # an AUC no model reaches here
    strict = tmp_path / "strict-drift.yaml"
    strict.write_text(yaml.safe_dump(spec))
    res = _run(sb, home, playbook=str(strict))
    assert res["status"] == "escalated"
    (rem,) = res["remediations"]
    assert rem["applied"] and rem["reverted"]
    assert res["verification"]["passed"] is False
    failed = [c["id"] for c in res["verification"]["criteria"] if not c["passed"]]
    assert "auc-floor" in failed
    assert _champion(sb) == "1"  # alias moved back; the new version exists but serves nothing
    led = Ledger(load_settings(home).ledger_url)
    (entry,) = led.journal(incident_id=res["id"])
    assert entry.phase == "reverted" and entry.closed
    assert "reverted" in [e.kind for e in led.get(res["id"]).timeline]


def test_loop_guard_escalates_instead_of_retraining_again(home: Path, tmp_path: Path) -> None:
    sb = _sandbox(home, CovariateDrift(strength=1.0))
    guarded = _without_monitoring(tmp_path, max_remediations=1)
    first = _run(sb, home, playbook=str(guarded))
    assert first["status"] == "resolved" and _champion(sb) == "2"
    # Without its training-window tag v2 is judged against the old reference again, so the
    # alert fires again: the loop guard, not the reference, must stop a second retrain.
    store = MlflowModelStore(sb.tracking_uri)
    store.tag_version(sb.model_name, "2", "mlpb.reference_window", "")
    second = _run(sb, home, playbook=str(guarded))
    assert second["status"] == "escalated"
    assert second["root_cause"]["hypothesis_id"] == "population-shift"
    assert all(not r["applied"] and "loop guard" in r["error"] for r in second["remediations"])
    assert _champion(sb) == "2"
    assert len(store.list_versions(sb.model_name)) == 2


def test_no_retraining_on_data_that_failed_quality_checks(home: Path) -> None:
    sb = _sandbox(home, CovariateDrift(strength=1.0))
    inject_fault(sb, make_fault("null-spike"), days=7, seed=6)  # shifted *and* broken
    res = _run(sb, home)
    assert res["root_cause"]["hypothesis_id"] == "population-shift"
    assert res["status"] == "escalated"
    (rem,) = res["remediations"]
    assert not rem["applied"] and "failed" in rem["error"] and "quality check" in rem["error"]
    assert _champion(sb) == "1"
    assert len(MlflowModelStore(sb.tracking_uri).list_versions(sb.model_name)) == 1


def _follow(home: Path, incident_id: str, *, max_days: int = 8) -> Any:
    """Advance the sandbox a day at a time with a controller pass after each, until the
    incident leaves monitoring (no sleeping: the sandbox moves the engine clock)."""
    from playbooks.engine.monitor import advance_all
    from playbooks.engine.runtime import Runtime
    from playbooks.sandbox import advance_sandbox

    led = Ledger(load_settings(home).ledger_url)
    for _ in range(max_days):
        advance_sandbox(home, 1)
        advance_all(Runtime.from_env(str(home), quiet=True))
        inc = led.get(incident_id)
        if inc.status.value != "monitoring":
            return inc
    return led.get(incident_id)


def test_retrain_resolves_only_after_three_passing_live_windows(home: Path) -> None:
    sb = bootstrap_sandbox(home, seed=3, **SMALL)  # sandbox clock = the engine's clock
    inject_fault(sb, CovariateDrift(strength=1.0), days=7, seed=5)
    res = _run(sb, home)
    assert res["status"] == "monitoring"
    inc = _follow(home, res["id"])
    assert inc.status.value == "resolved", [w.reason for w in inc.monitoring.windows]
    windows = inc.monitoring.windows
    assert [w.verdict for w in windows] == ["pass", "pass", "pass"]
    assert all(w.rows >= 200 and "roc_auc" in w.metrics for w in windows)  # labels arrived
    assert windows[0].start == inc.monitoring.started_at
    assert _champion(sb) == "2"
    # MTTR runs to the verified close, in sandbox time: days, not the seconds of a script.
    assert inc.mttr_seconds is not None and inc.mttr_seconds >= 3 * 86400
    assert inc.resolved_at >= windows[-1].end
    text = Path(inc.postmortem_path).read_text(encoding="utf-8")
    assert "## Live monitoring" in text and "3/3 passed" in text


def test_a_population_that_keeps_moving_is_reverted_and_escalated_live(home: Path) -> None:
    sb = bootstrap_sandbox(home, seed=3, **SMALL)
    inject_fault(sb, make_fault("shift-keeps-moving"), days=7, seed=5)
    res = _run(sb, home)
    assert res["status"] == "monitoring"  # the holdout said yes
    assert _champion(sb) == "2"
    inc = _follow(home, res["id"])
    assert inc.status.value == "escalated", [w.reason for w in inc.monitoring.windows]
    assert inc.monitoring.windows[-1].verdict == "fail"
    assert _champion(sb) == "1"  # the live failure moved the alias back
    (rem,) = inc.remediations
    assert rem.applied and rem.reverted
    kinds = [e.kind for e in inc.timeline]
    assert kinds.index("window") < kinds.index("reverted") < kinds.index("escalated")
    (entry,) = Ledger(load_settings(home).ledger_url).journal(incident_id=res["id"])
    assert entry.phase == "reverted" and entry.closed
