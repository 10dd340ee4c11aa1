"""The data-side playbooks (data-quality, data-freshness, feature-skew) end to end in the
Prefect harness: one small sandbox per module (real MLflow store, parquet log), reset to its
pristine log before each fault, a fresh ledger per test."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from flows.engine import run_playbook
from playbooks.loader import CATALOG_DIR
from playbooks.modelstore import MlflowModelStore
from playbooks.remediations.feature_mapping import MAPPING_TAG
from playbooks.remediations.mark_window import read_marks
from playbooks.sandbox import FAULTS, Sandbox, bootstrap_sandbox, inject_fault, make_fault

pytestmark = pytest.mark.flows

SMALL = {"rows_per_day": 300, "history_days": 14, "reference_rows": 4000}
_LOGS = ("inference", "labels")


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    state = tmp_path_factory.mktemp("data-playbooks")
    sb = bootstrap_sandbox(state, seed=3, **SMALL)
    for d in _LOGS:
        shutil.copytree(sb.root / d, state / "pristine" / d)
    yield sb


def _inject(sb: Sandbox, kind: str) -> None:
    for d in _LOGS:  # every test starts from the same healthy log
        shutil.rmtree(sb.root / d)
        shutil.copytree(sb.state_dir / "pristine" / d, sb.root / d)
    inject_fault(sb, make_fault(kind), days=7, seed=5)


def _run(sb: Sandbox, home: Path, playbook: str) -> dict[str, Any]:
    return run_playbook(playbook=playbook, profile=str(sb.profile_path), home=str(home),
                        quiet=True)


def _registry(sb: Sandbox) -> MlflowModelStore:
    return MlflowModelStore(sb.tracking_uri)


def _assert_model_untouched(sb: Sandbox) -> None:
    reg = _registry(sb)
    assert reg.get_version(sb.model_name, "champion").version == "1"
    assert len(reg.list_versions(sb.model_name)) == 1


def _findings(res: dict[str, Any], hid: str) -> list[dict[str, Any]]:
    return next(h for h in res["hypotheses"] if h["id"] == hid)["findings"]


@pytest.mark.parametrize(("kind", "feature"), [
    ("schema-break", "annual_income"), ("null-spike", "credit_score"),
    ("out-of-range", "credit_score"), ("unseen-categories", "region"),
    ("duplicate-rows", "request_id")])
def test_quality_fault_is_quarantined_and_escalated(sandbox: Sandbox, home: Path, kind: str,
                                                    feature: str) -> None:
    _inject(sandbox, kind)
    fault = FAULTS.get(kind).params
    res = _run(sandbox, home, "data-quality")
    assert fault.playbook == "data-quality"  # type: ignore[attr-defined]
    assert res["root_cause"]["hypothesis_id"] == fault.root_cause == kind  # type: ignore[attr-defined]
    assert feature in {f["feature"] for f in _findings(res, kind)}
    assert res["status"] == "escalated" and res["escalated_to"] == "data-platform"
    assert res["severity"] in ("SEV1", "SEV2")  # high-criticality model: raised a level
    (rem,) = res["remediations"]
    assert rem["id"] == "quarantine-batch" and rem["applied"] and not rem["reverted"]
    assert res["verification"]["passed"]
    moved = rem["change"]["moves"]
    assert len(moved) >= 6  # the faulty days of the 7-day window
    for m in moved:
        assert not Path(m["src"]).exists() and Path(m["dst"]).is_file()
        assert Path(m["dst"]).is_relative_to(home / "quarantine" / res["id"] / "inference")
    _assert_model_untouched(sandbox)


def test_schema_break_names_the_renamed_column(sandbox: Sandbox, home: Path) -> None:
    _inject(sandbox, "schema-break")
    res = run_playbook(playbook="data-quality", profile=str(sandbox.profile_path),
                       home=str(home), quiet=True, dry_run=True)
    assert res["status"] == "diagnosed" and res["root_cause"]["hypothesis_id"] == "schema-break"
    (f,) = _findings(res, "schema-break")
    assert f["kind"] == "schema_change" and f["detail"]["renamed_to"] == "annual_income_usd"
    assert not res["remediations"][0]["applied"]
    assert not (home / "quarantine").exists()


def test_failed_verification_moves_the_batch_back(sandbox: Sandbox, home: Path,
                                                  tmp_path: Path) -> None:
    _inject(sandbox, "null-spike")
    before = sorted(p.relative_to(sandbox.root) for p in sandbox.inference_dir.rglob("*.parquet"))
    spec = yaml.safe_load((CATALOG_DIR / "data-quality.yaml").read_text())
    spec["acceptance"][1]["value"] = 999  # no batch is that large: verification must fail
    strict = tmp_path / "strict-quality.yaml"
    strict.write_text(yaml.safe_dump(spec))
    res = _run(sandbox, home, str(strict))
    (rem,) = res["remediations"]
    assert rem["applied"] and rem["reverted"] and res["verification"]["passed"] is False
    assert res["status"] == "escalated"
    after = sorted(p.relative_to(sandbox.root) for p in sandbox.inference_dir.rglob("*.parquet"))
    assert after == before
    assert not (home / "quarantine" / res["id"]).exists()


def test_quality_false_alarm_applies_nothing(sandbox: Sandbox, home: Path) -> None:
    _inject(sandbox, "none")
    res = _run(sandbox, home, "data-quality")
    assert res["status"] == "false_alarm"
    assert res["root_cause"]["hypothesis_id"] == "no-quality-issue"
    assert res["remediations"] == [] and not (home / "quarantine").exists()


@pytest.mark.parametrize(("kind", "window_kind"), [("stale-partitions", "stale"),
                                                   ("missing-partitions", "missing")])
def test_freshness_fault_marks_the_window_and_escalates(sandbox: Sandbox, home: Path, kind: str,
                                                        window_kind: str) -> None:
    _inject(sandbox, kind)
    fault = FAULTS.get(kind).params
    res = _run(sandbox, home, "data-freshness")
    assert res["root_cause"]["hypothesis_id"] == fault.root_cause  # type: ignore[attr-defined]
    assert res["status"] == "escalated" and res["escalated_to"] == "data-platform"
    (rem,) = res["remediations"]
    assert rem["id"] == "mark-window" and rem["applied"] and not rem["reverted"]
    marks = read_marks(home, "credit-risk")
    assert [m["kind"] for m in marks] == [window_kind]
    assert marks[0]["incident_id"] == res["id"]
    _assert_model_untouched(sandbox)


def test_fresh_feed_is_a_false_alarm(sandbox: Sandbox, home: Path) -> None:
    _inject(sandbox, "none")
    res = _run(sandbox, home, "data-freshness")
    assert res["status"] == "false_alarm" and res["root_cause"]["hypothesis_id"] == "fresh"
    assert res["remediations"] == [] and read_marks(home, "credit-risk") == []


@pytest.mark.parametrize(("kind", "mapping"), [
    ("swapped-columns", {"columns": {"annual_income": "loan_amount",
                                     "loan_amount": "annual_income"}}),
    ("double-transform", {"transforms": {"annual_income": "expm1"}}),
    ("stale-pipeline", {"required_feature_version": "fp-1.4.2"})])
def test_skew_fault_records_the_known_good_mapping(sandbox: Sandbox, home: Path, kind: str,
                                                   mapping: dict[str, Any]) -> None:
    _inject(sandbox, kind)
    fault = FAULTS.get(kind).params
    assert fault.alert_names_playbook is False  # type: ignore[attr-defined]
    res = _run(sandbox, home, "feature-skew")
    assert res["root_cause"]["hypothesis_id"] == fault.root_cause == kind  # type: ignore[attr-defined]
    assert res["status"] == "escalated" and res["escalated_to"] == "data-platform"
    (rem,) = res["remediations"]
    assert rem["id"] == "restore-feature-mapping" and rem["applied"] and not rem["reverted"]
    assert rem["change"]["mapping"] == mapping
    psi = next(c for c in res["verification"]["criteria"] if c["metric"] == "max_psi_after_mapping")
    assert psi["passed"] and psi["observed"] <= 0.2
    tags = _registry(sandbox).get_version(sandbox.model_name, "champion").tags
    assert json.loads(tags[MAPPING_TAG]) == mapping
    _assert_model_untouched(sandbox)  # tags only: same version, same alias


def test_no_skew_is_a_false_alarm(sandbox: Sandbox, home: Path) -> None:
    _inject(sandbox, "none")
    res = _run(sandbox, home, "feature-skew")
    assert res["status"] == "false_alarm" and res["root_cause"]["hypothesis_id"] == "no-skew"
    assert res["remediations"] == []
