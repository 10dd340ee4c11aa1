"""The data-drift playbook end to end in the Prefect harness, on the real sandbox (real MLflow
store, parquet inference log, SQLite ledger)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from flows.engine import run_playbook
from playbooks.config import load_settings
from playbooks.ledger import Ledger
from playbooks.loader import CATALOG_DIR
from playbooks.modelstore import MlflowModelStore
from playbooks.sandbox import (
    CovariateDrift,
    NoFault,
    UnitChange,
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


def _run(sb: Any, home: Path, **kw: Any) -> dict[str, Any]:
    return run_playbook(playbook=kw.pop("playbook", "data-drift"), profile=str(sb.profile_path),
                        home=str(home), quiet=True, **kw)


def test_population_shift_is_retrained_promoted_and_verified(home: Path) -> None:
    sb = _sandbox(home, CovariateDrift(strength=1.0))
    assert _champion(sb) == "1"
    res = _run(sb, home)
    assert res["status"] == "resolved", res
    assert res["root_cause"]["hypothesis_id"] == "population-shift"
    (rem,) = res["remediations"]
    assert rem["applied"] and not rem["reverted"] and rem["change"]["previous_version"] == "1"
    assert _champion(sb) == rem["change"]["new_version"] == "2"
    assert res["verification"]["passed"] and len(res["verification"]["criteria"]) == 4
    assert Path(res["postmortem_path"]).read_text().count("population-shift") >= 1
    assert res["mttd_seconds"] is not None and res["mttr_seconds"] is not None
    tags = MlflowModelStore(sb.tracking_uri).get_version(sb.model_name, "2").tags
    assert tags.get("mlpb.incident_id") == res["id"]
    led = Ledger(load_settings(home).ledger_url)
    (entry,) = led.journal(incident_id=res["id"])
    assert entry.phase == "kept" and entry.closed
    kinds = [e.kind for e in led.get(res["id"]).timeline]
    assert kinds[0] == "opened" and kinds[-1] == "closed" and "evidence" in kinds


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
    spec["acceptance"][0]["value"] = 0.999  # an AUC no model reaches here
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
    spec = yaml.safe_load((CATALOG_DIR / "data-drift.yaml").read_text())
    spec["escalation"]["max_remediations"] = 1
    guarded = tmp_path / "guarded-drift.yaml"
    guarded.write_text(yaml.safe_dump(spec))
    first = _run(sb, home, playbook=str(guarded))
    assert first["status"] == "resolved" and _champion(sb) == "2"
    # The profile's reference is still the old population, so the alert fires again.
    second = _run(sb, home, playbook=str(guarded))
    assert second["status"] == "escalated"
    assert second["root_cause"]["hypothesis_id"] == "population-shift"
    assert all(not r["applied"] and "loop guard" in r["error"] for r in second["remediations"])
    assert _champion(sb) == "2"
    assert len(MlflowModelStore(sb.tracking_uri).list_versions(sb.model_name)) == 2


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
