"""The incident controller on a real sandbox: four `mlpb tick` processes started together
measure each monitoring window exactly once and act once (SQLite and PostgreSQL); a failing
window reverts the change in MLflow and escalates."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from playbooks.data.io import load_windows
from playbooks.engine.runtime import Runtime
from playbooks.loader import load_profile
from playbooks.models.incident import Incident, IncidentStatus, Monitoring
from playbooks.modelstore import MlflowModelStore
from playbooks.sandbox import bootstrap_sandbox

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).parents[2]
PSI_OK = {"id": "inputs-stable", "metric": "max_psi", "op": "<=", "value": 5.0}
ROWS_OK = {"id": "enough-traffic", "metric": "rows", "op": ">=", "value": 1.0}


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    return bootstrap_sandbox(tmp_path_factory.mktemp("ctl") / "sb", seed=4, rows_per_day=300,
                             history_days=14, reference_rows=3000)


def _monitoring_incident(rt: Runtime, profile_path: Path, criteria: list[dict[str, object]],
                         change: dict[str, object]) -> tuple[Incident, str]:
    prof = load_profile(profile_path)
    end = load_windows(prof).now
    assert end is not None
    inc = Incident(
        id="INC-ctl", playbook="bad-release", playbook_version="1.0.0", playbook_hash="h",
        model=prof.name, dedup_key="ctl", status=IncidentStatus.MONITORING,
        profile_path=str(profile_path))
    rt.ledger.open_incident(inc)
    seq = rt.ledger.journal_intent(inc.id, prof.name, "rollback", "rollback-model", {})
    rt.ledger.journal_update(seq, "kept", change, closed=True)
    inc = rt.ledger.save(inc.model_copy(update={"monitoring": Monitoring(
        remediation_id="rollback", action="rollback-model", journal_seq=seq, change=change,
        version="1", started_at=end - timedelta(days=3, hours=12), window=timedelta(days=1),
        count=3, failure_limit=1, inconclusive_limit=1, min_rows=50, criteria=criteria)}))
    return inc, end.isoformat()


def _ticks(n: int, env: dict[str, str]) -> list[subprocess.CompletedProcess[str]]:
    procs = [subprocess.Popen([sys.executable, "-m", "cli.main", "tick", "--json"], cwd=ROOT,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(n)]
    outs = [p.communicate(timeout=300) for p in procs]
    return [subprocess.CompletedProcess(p.args, p.returncode, o, e)
            for p, (o, e) in zip(procs, outs, strict=True)]


def test_four_controllers_measure_each_window_once(sandbox, ledger_url: str,  # type: ignore[no-untyped-def]
                                                   tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {**os.environ, "MLPB_HOME": str(home), "MLPB_LEDGER_URL": ledger_url}
    os.environ["MLPB_LEDGER_URL"] = ledger_url
    try:
        rt = Runtime.from_env(str(home), quiet=True)
        inc, now = _monitoring_incident(rt, sandbox.profile_path, [PSI_OK, ROWS_OK], {})
        env["MLPB_CLOCK"] = now
        runs = _ticks(4, env)
        assert all(r.returncode == 0 for r in runs), [r.stderr[-2000:] for r in runs]
        after = rt.ledger.get(inc.id)
    finally:
        os.environ.pop("MLPB_LEDGER_URL", None)
    kinds = [e.kind for e in after.timeline]
    assert after.status is IncidentStatus.RESOLVED
    assert [w.index for w in rt.ledger.windows.of(inc.id)] == [0, 1, 2]
    assert kinds.count("window") == 3 and kinds.count("resolved") == 1
    assert kinds.count("closed") == 1
    assert after.monitoring is not None and [w.verdict for w in after.monitoring.windows] == [
        "pass", "pass", "pass"]
    assert after.monitoring.windows[0].rows >= 50
    assert after.postmortem_path and Path(after.postmortem_path).exists()
    text = Path(after.postmortem_path).read_text(encoding="utf-8")
    assert "## Live monitoring" in text and "3/3 passed" in text
    assert after.mttr_seconds is not None and after.resolved_at is not None


def test_a_failing_window_reverts_the_change_and_escalates(sandbox, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("MLPB_HOME", str(home))
    store = MlflowModelStore(sandbox.tracking_uri)
    name = sandbox.model_name
    # The change under watch: 'fallback' moved to v1 (so reverting it is observable).
    change = store.set_alias(name, "watch", "1", incident_id="INC-ctl")
    rt = Runtime.from_env(str(home), quiet=True)
    impossible = {"id": "impossible", "metric": "max_psi", "op": "<", "value": 0.0}
    inc, now = _monitoring_incident(
        rt, sandbox.profile_path, [impossible],
        {"alias_change": change.to_dict(), "target_version": "1", "previous_version": None})
    monkeypatch.setenv("MLPB_CLOCK", now)
    from playbooks.engine.monitor import advance_all

    steps = advance_all(Runtime.from_env(str(home), quiet=True))
    after = rt.ledger.get(inc.id)
    assert after.status is IncidentStatus.ESCALATED, steps
    assert [w.verdict for w in rt.ledger.windows.of(inc.id)] == ["fail"]
    kinds = [e.kind for e in after.timeline]
    assert kinds.index("window") < kinds.index("reverted") < kinds.index("escalated")
    assert "watch" not in {a for v in store.list_versions(name) for a in v.aliases}
    assert rt.ledger.journal(incident_id=inc.id)[0].phase == "reverted"


def test_recovery_waits_for_a_live_holders_lease(sandbox, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A change in progress under another worker's lease is never taken for a dead run;
    once that lease has expired (the worker died), recovery reverts it."""
    from playbooks.engine.lifecycle import recover_unfinished

    home = tmp_path / "home"
    monkeypatch.setenv("MLPB_HOME", str(home))
    rt = Runtime.from_env(str(home), quiet=True)
    prof = load_profile(sandbox.profile_path)
    store = MlflowModelStore(sandbox.tracking_uri)
    inc = Incident(id="INC-lease", playbook="bad-release", playbook_version="1.0.0",
                   playbook_hash="h", model=prof.name, dedup_key="lease",
                   status=IncidentStatus.REMEDIATING, profile_path=str(sandbox.profile_path))
    rt.ledger.open_incident(inc)
    seq = rt.ledger.journal_intent(inc.id, prof.name, "rollback", "rollback-model", {})
    change = store.set_alias(sandbox.model_name, "held", "1", incident_id=inc.id)
    rt.ledger.journal_update(seq, "applied", {"alias_change": change.to_dict(),
                                              "target_version": "1", "previous_version": None})
    worker = "other-host:4242:abcd"
    assert rt.ledger.leases.try_acquire(prof.name, worker, "rollback for INC-lease")

    assert recover_unfinished(rt, prof) == []  # its holder is alive: hands off
    assert len(rt.ledger.journal(unfinished=True)) == 1
    assert "held" in {a for v in store.list_versions(sandbox.model_name) for a in v.aliases}

    # The worker dies: it stops renewing and its lease runs out.
    assert rt.ledger.leases.renew(prof.name, worker, ttl=timedelta(seconds=-1))
    assert recover_unfinished(rt, prof) == ["INC-lease"]
    assert "held" not in {a for v in store.list_versions(sandbox.model_name) for a in v.aliases}
    assert rt.ledger.journal(unfinished=True) == []
    assert rt.ledger.get(inc.id).status is IncidentStatus.ESCALATED


def test_the_controller_reminds_the_thread_while_an_incident_waits_in_monitoring(
        sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from pydantic import SecretStr

    from playbooks.config import load_settings
    from playbooks.engine.monitor import finish_pass, start_monitoring
    from playbooks.models.common import parse_duration
    from playbooks.models.incident import utcnow
    from playbooks.models.spec import MonitoringPlan
    from playbooks.notify import SlackNotifier, SlackSettings
    from tests.integration.fake_slack import FakeSlack

    home = tmp_path / "home"
    monkeypatch.setenv("MLPB_HOME", str(home))
    with FakeSlack() as slack:
        settings = load_settings(str(home)).ensure()
        rt = Runtime(settings)
        rt.notifier = SlackNotifier(SlackSettings(token=SecretStr(slack.token), api_url=slack.url),
                                    rt.ledger, postmortem_dir=settings.postmortem_dir)
        inc = Incident(id="INC-remind", playbook="data-drift", playbook_version="1.0.0",
                       playbook_hash="h", model="credit-risk", dedup_key="remind",
                       status=IncidentStatus.REMEDIATING)
        rt.ledger.open_incident(inc)
        plan = MonitoringPlan(window=parse_duration("1d"), criteria=[PSI_OK])  # type: ignore[list-item]  # validated from a dict
        start_monitoring(rt, inc, plan, remediation_id="retrain", action="retrain", seq=1,
                         change={"new_version": "2"})
        assert finish_pass(rt) == 0  # just started waiting
        assert finish_pass(rt, now=utcnow() + timedelta(minutes=31)) == 1  # status_every 30m
        texts = [str(r.body) for r in slack.accepted("chat.postMessage")]
        assert any("live monitoring windows" in t for t in texts[-1:]), texts[-1]
