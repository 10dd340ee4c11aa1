"""Issue 14: what a closed incident leaves in MLflow (a real sandbox store, SQLite with local
artifacts under an absolute path). Closed by the controller after live monitoring, the
versions it changed carry the post-mortem link and one run per incident in
``mlpb-incidents`` holds its evidence package; an MLflow outage costs a warning, not the
close."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from mlflow import MlflowClient

from playbooks.archive.samples import keep_samples
from playbooks.data.io import load_windows
from playbooks.engine.diagnosis import evidence_path
from playbooks.engine.incident_mlflow import INCIDENT_EXPERIMENT, record_close_in_mlflow
from playbooks.engine.runtime import Runtime
from playbooks.loader import load_profile
from playbooks.models.evidence import EvidencePackage
from playbooks.models.incident import Incident, IncidentStatus, Monitoring
from playbooks.modelstore import POSTMORTEM_TAG, MlflowModelStore
from playbooks.report.context import chart_dir
from playbooks.sandbox import Sandbox, bootstrap_sandbox

pytestmark = pytest.mark.integration
ROWS_OK = {"id": "enough-traffic", "metric": "rows", "op": ">=", "value": 1.0}


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Sandbox:
    return bootstrap_sandbox(tmp_path_factory.mktemp("inc-mlflow") / "sb", seed=4,
                             rows_per_day=200, history_days=10, reference_rows=1500,
                             now=datetime(2026, 3, 2, 12, tzinfo=UTC))


def _monitoring_incident(rt: Runtime, sb: Sandbox, incident_id: str) -> tuple[Incident, str]:
    """An incident whose change (an alias on v1, tagged with its id) is under watch, with
    its evidence and window samples kept as a run would have kept them."""
    prof = load_profile(sb.profile_path)
    data = load_windows(prof)
    assert data.now is not None
    change = MlflowModelStore(sb.tracking_uri).set_alias(sb.model_name, f"watch-{incident_id}",
                                                         "1", incident_id=incident_id)
    inc = Incident(id=incident_id, playbook="bad-release", playbook_version="1.0.0",
                   playbook_hash="h", model=prof.name, dedup_key=incident_id,
                   status=IncidentStatus.MONITORING, profile_path=str(sb.profile_path))
    rt.ledger.open_incident(inc)
    seq = rt.ledger.journal_intent(inc.id, prof.name, "rollback", "rollback-model", {})
    body = {"alias_change": change.to_dict(), "target_version": "1", "previous_version": None}
    rt.ledger.journal_update(seq, "kept", body, closed=True)
    inc = rt.ledger.save(inc.model_copy(update={"monitoring": Monitoring(
        remediation_id="rollback", action="rollback-model", journal_seq=seq, change=body,
        version="1", started_at=data.now - timedelta(days=3, hours=12),
        window=timedelta(days=1), count=3, failure_limit=1, inconclusive_limit=1, min_rows=20,
        criteria=[ROWS_OK])}))
    path = evidence_path(rt, inc.id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(EvidencePackage(incident_id=inc.id, collected_at=data.now,
                                    metrics={"max_psi": 0.41}).model_dump_json(),
                    encoding="utf-8")
    assert keep_samples(rt.settings.home, inc.id, data, prof) is not None
    return inc, data.now.isoformat()


def _artifacts(client: MlflowClient, run_id: str, folder: str) -> list[str]:
    return sorted(Path(a.path).name for a in client.list_artifacts(run_id, folder))


def test_a_controller_close_links_the_postmortem_and_logs_the_evidence_run(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from playbooks.engine.monitor import advance_all

    home = tmp_path / "home"
    monkeypatch.setenv("MLPB_HOME", str(home))
    rt = Runtime.from_env(str(home), quiet=True)
    inc, now = _monitoring_incident(rt, sandbox, "INC-mlflow-ctl")
    monkeypatch.setenv("MLPB_CLOCK", now)

    steps = advance_all(Runtime.from_env(str(home), quiet=True))
    after = rt.ledger.get(inc.id)
    assert after.status is IncidentStatus.RESOLVED, steps
    assert after.postmortem_path and Path(after.postmortem_path).is_file()

    store = MlflowModelStore(sandbox.tracking_uri)
    assert store.get_version(sandbox.model_name, "1").tags[POSTMORTEM_TAG] == \
        after.postmortem_path
    client = MlflowClient(sandbox.tracking_uri)
    exp = client.get_experiment_by_name(INCIDENT_EXPERIMENT)
    assert exp is not None
    runs = client.search_runs([exp.experiment_id],
                              filter_string=f"tags.`mlpb.incident_id` = '{inc.id}'")
    assert len(runs) == 1
    run = runs[0]
    assert run.info.status == "FINISHED" and run.info.run_name == inc.id
    tags = run.data.tags
    assert (tags["mlpb.playbook"], tags["mlpb.model"], tags["mlpb.status"]) == (
        "bad-release", after.model, "resolved")
    assert tags["mlpb.postmortem"] == after.postmortem_path
    assert _artifacts(client, run.info.run_id, "evidence") == [f"{inc.id}.json", "samples"]
    assert _artifacts(client, run.info.run_id, "evidence/samples") == [
        "baseline.parquet", "current.parquet", "reference.parquet", "samples.json"]
    assert _artifacts(client, run.info.run_id, "postmortem") == [f"{inc.id}.md"]
    charts = sorted(p.name for p in chart_dir(Path(after.postmortem_path), inc.id).glob("*.png"))
    assert charts  # drawn from the kept samples
    assert _artifacts(client, run.info.run_id, "charts") == charts

    # Logged again (a second close path), it is still one run per incident.
    assert record_close_in_mlflow(rt, load_profile(sandbox.profile_path), after) == \
        run.info.run_id
    assert len(client.search_runs([exp.experiment_id],
                                  filter_string=f"tags.`mlpb.incident_id` = '{inc.id}'")) == 1


def test_an_mlflow_outage_is_a_warning_and_the_close_stands(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("MLPB_HOME", str(home))
    rt = Runtime.from_env(str(home), quiet=True)
    inc, _ = _monitoring_incident(rt, sandbox, "INC-mlflow-down")
    prof = load_profile(sandbox.profile_path)
    assert prof.model is not None
    broken = tmp_path / "not-a-store.db"
    broken.write_text("this is not an MLflow database\n")
    down = prof.model_copy(update={"model": prof.model.model_copy(
        update={"tracking_uri": f"sqlite:///{broken}"})})
    closed = inc.model_copy(update={"status": IncidentStatus.RESOLVED,
                                    "postmortem_path": str(tmp_path / f"{inc.id}.md")})
    with caplog.at_level(logging.WARNING, logger="playbooks.engine.incident_mlflow"):
        assert record_close_in_mlflow(rt, down, closed) is None
    text = caplog.text
    assert "could not tag INC-mlflow-down's versions" in text
    assert "evidence of INC-mlflow-down not logged to MLflow" in text


def test_a_close_by_hand_records_with_the_profile_the_incident_ran_with(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture
) -> None:
    from playbooks.engine.incident_mlflow import record_close_of

    home = tmp_path / "home"
    monkeypatch.setenv("MLPB_HOME", str(home))
    rt = Runtime.from_env(str(home), quiet=True)
    inc, _ = _monitoring_incident(rt, sandbox, "INC-mlflow-hand")
    pm = tmp_path / f"{inc.id}.md"
    pm.write_text("# post-mortem\n", encoding="utf-8")
    closed = inc.model_copy(update={"status": IncidentStatus.RESOLVED,
                                    "postmortem_path": str(pm)})
    run_id = record_close_of(rt, closed)
    assert run_id is not None
    client = MlflowClient(sandbox.tracking_uri)
    assert _artifacts(client, run_id, "postmortem") == [pm.name]
    assert MlflowModelStore(sandbox.tracking_uri).get_version(
        sandbox.model_name, "1").tags[POSTMORTEM_TAG] == str(pm)
    gone = closed.model_copy(update={"profile_path": str(tmp_path / "gone.yaml")})
    with caplog.at_level(logging.WARNING, logger="playbooks.engine.incident_mlflow"):
        assert record_close_of(rt, gone) is None
    assert "INC-mlflow-hand not recorded in MLflow: its profile" in caplog.text
