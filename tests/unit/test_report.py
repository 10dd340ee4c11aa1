"""`mlpb report` over a ledger with production incidents, a drill, a dry run and drill
results: MTTx by group with drills excluded, one self-contained HTML file, actions, spec diff."""

from __future__ import annotations

import html
import json
import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from playbooks.archive import archive_spec
from playbooks.config import load_settings
from playbooks.ledger import ActionStore, DrillStore, Ledger
from playbooks.ledger.actions import NewAction
from playbooks.ledger.drills import DrillResult
from playbooks.loader import CATALOG_DIR, load_spec
from playbooks.models.incident import (
    Incident,
    IncidentStatus,
    RootCause,
    Severity,
    TimelineEvent,
)
from playbooks.report.build import collect_report
from tests.unit._support import T0

NOW = T0 + timedelta(days=40)


def _inc(iid: str, playbook: str, model: str, status: IncidentStatus, detected: datetime, *,
         onset_h: float | None = None, applied_h: float | None = None,
         resolved_h: float | None = None, ack_h: float | None = None,
         severity: Severity = Severity.SEV2, **kw: object) -> Incident:
    events = [TimelineEvent(at=detected, kind="opened", message="opened")]
    if applied_h is not None:
        events.append(TimelineEvent(at=detected + timedelta(hours=applied_h), kind="applied",
                                    message="'retrain' applied"))
    return Incident.model_validate({
        "id": iid, "playbook": playbook, "playbook_version": "1.0.0", "playbook_hash": "h",
        "model": model, "dedup_key": f"k-{iid}", "status": status, "severity": severity,
        "detected_at": detected, "timeline": events,
        "onset_at": detected - timedelta(hours=onset_h) if onset_h is not None else None,
        "resolved_at": detected + timedelta(hours=resolved_h) if resolved_h is not None
        else None,
        "acknowledged_at": detected + timedelta(hours=ack_h) if ack_h is not None else None,
        "root_cause": RootCause(hypothesis_id="population-shift", confidence=0.9,
                                summary="shift"), **kw})


def seed_history(ledger: Ledger) -> None:
    """Three production incidents over two months, a drill's incident, a dry run, two drill
    results and one overdue action item."""
    for inc in (
        _inc("INC-A", "data-drift", "credit-risk", IncidentStatus.RESOLVED, T0, onset_h=2,
             applied_h=1, resolved_h=24, ack_h=0.5),
        _inc("INC-B", "serving-latency", "fraud", IncidentStatus.ESCALATED,
             T0 + timedelta(days=35), onset_h=1, severity=Severity.SEV1),
        _inc("INC-C", "data-drift", "credit-risk", IncidentStatus.FALSE_ALARM,
             T0 + timedelta(days=3)),
        _inc("INC-DRILL", "data-drift", "credit-risk", IncidentStatus.RESOLVED,
             T0 + timedelta(days=1), onset_h=100, resolved_h=1, drill=True),
        _inc("INC-DRY", "data-drift", "credit-risk", IncidentStatus.DIAGNOSED,
             T0 + timedelta(days=2), onset_h=100, dry_run=True),
    ):
        ledger.open_incident(inc)
    for n, (passed, at) in enumerate([(True, T0 + timedelta(days=1)),
                                      (False, T0 + timedelta(days=33))]):
        DrillStore(ledger).record(DrillResult(
            id=f"D{n}", at=at, incident_id="INC-DRILL", playbook="data-drift",
            fault="covariate-drift", seed=n, detected=True, expected_root_cause="population-shift",
            root_cause="population-shift" if passed else "no-material-drift",
            correct_root_cause=passed, outcome="resolved", expected_outcome="resolved",
            remediation="retrain", time_to_detect_s=60.0, time_to_resolve_s=3600.0,
            passed=passed, detail={}))
    ActionStore(ledger).upsert("INC-A", model="credit-risk", playbook="data-drift", drill=False,
                               items=[NewAction("review", "Review it", "ml-credit",
                                                T0 + timedelta(days=7))])


def test_mttx_by_group_excludes_drills_and_dry_runs(tmp_path: Path) -> None:
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    seed_history(ledger)
    report = collect_report(ledger, since=timedelta(days=90), now=NOW).report

    prod = report["production"]
    assert prod["overall"]["incidents"] == 3
    assert report["excluded"] == {"drill_incidents": 1, "dry_runs": 1}
    drift = prod["by_playbook"]["data-drift"]
    assert drift["incidents"] == 2
    assert drift["mttd_s"] == 7200  # INC-A only (INC-C has no onset); the drill's 100 h ignored
    assert drift["mtta_s"] == 1800
    assert drift["mttr_s"] == 86400  # to the verified close: the false alarm is not resolved
    assert drift["time_to_remediation_s"] == 3600
    assert drift["outcomes"] == {"resolved": 1, "false_alarm": 1}
    assert set(prod["by_month"]) == {"2026-01", "2026-02"}
    assert prod["by_severity"]["SEV1"]["mttr_s"] is None
    assert prod["by_model"]["fraud"]["outcomes"] == {"escalated": 1}
    drills = report["drills"]
    assert drills["overall"]["drills"] == 2 and drills["overall"]["top1_rate"] == 0.5
    assert [m for m in drills["by_month"]] == ["2026-01", "2026-02"]
    assert [a["overdue"] for a in report["open_actions"]] == [True]


def test_html_is_one_file_with_inline_charts_and_a_section_per_incident(tmp_path: Path) -> None:
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    seed_history(ledger)
    page = collect_report(ledger, since=timedelta(days=90), now=NOW).html()
    assert len(re.findall(r'<img alt="[^"]*" src="data:image/png;base64,', page)) >= 3
    # Nothing to fetch: every src is inline; links go to anchors or out (Prefect, MLflow).
    assert not re.search(r'src="(?!data:)', page)
    assert not re.search(r'href="(?!#|https?://)', page)
    for iid in ("INC-A", "INC-B", "INC-C", "INC-DRILL", "INC-DRY"):
        assert f'<section class="incident" id="{iid}">' in page
    assert html.escape("'retrain' applied") in page  # the incident's timeline


@pytest.fixture()
def cli_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MLPB_HOME", str(tmp_path))
    monkeypatch.setenv("MLPB_CLOCK", NOW.isoformat())
    seed_history(Ledger(load_settings(tmp_path).ensure().ledger_url))
    return tmp_path


def test_cli_report_json_html_and_actions(cli_home: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["report", "--json", "--html", str(cli_home / "out.html")])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["production"]["overall"]["incidents"] == 3
    assert (cli_home / "out.html").read_text(encoding="utf-8").startswith("<!doctype html>")

    listed = json.loads(runner.invoke(app, ["actions", "list", "--json"]).stdout)
    assert [(a["id"], a["overdue"]) for a in listed] == [("ACT-1", True)]
    done = runner.invoke(app, ["actions", "done", "ACT-1", "--by", "alice"])
    assert done.exit_code == 0 and "done by alice" in done.stdout
    assert json.loads(runner.invoke(app, ["actions", "list", "--json"]).stdout) == []
    missing = runner.invoke(app, ["actions", "done", "ACT-99"])
    assert missing.exit_code == 2 and "ACT-99" in missing.output


def test_cli_spec_diff_between_an_archived_version_and_the_catalog(cli_home: Path) -> None:
    spec = load_spec(CATALOG_DIR / "data-drift.yaml")
    old = spec.model_copy(update={"version": "0.9.0", "title": "Old drift"})
    archive_spec(cli_home, old)
    runner = CliRunner()
    res = runner.invoke(app, ["spec", "diff", f"data-drift@{old.hash[:8]}", "data-drift@current"])
    assert res.exit_code == 1, res.output  # they differ
    assert "-title: Old drift" in res.stdout and f"+title: {spec.title}" in res.stdout
    same = runner.invoke(app, ["spec", "diff", "data-drift@0.9.0", f"data-drift@{old.hash}"])
    assert same.exit_code == 0
    bad = runner.invoke(app, ["spec", "diff", "data-drift@ffff", "data-drift@current"])
    assert bad.exit_code == 2 and "matches no archived spec" in bad.output


def test_cli_lessons_gathers_closed_incidents_of_a_playbook(cli_home: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["lessons", "data-drift", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["closed_incidents"] == 4  # A, C, the drill and the dry run: all closed
    [cause] = data["causes"]
    assert cause["root_cause"] == "population-shift" and cause["drills"] == 1
    assert cause["open_actions"] == ["ACT-1 (ml-credit, due 2026-01-08): Review it"]
    text = runner.invoke(app, ["lessons", "data-drift"]).stdout
    assert "permanent fix: schedule retraining" in text
    unknown = runner.invoke(app, ["lessons", "no-such-playbook"])
    assert unknown.exit_code == 2 and "data-drift" in unknown.output
