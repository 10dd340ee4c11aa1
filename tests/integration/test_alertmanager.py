"""A real Prometheus Alertmanager (Debian's prometheus-alertmanager) in front of the receiver:
alerts posted to Alertmanager's API are grouped by it and delivered to our webhook with its
own bearer-token configuration. One group of three per-feature drift alerts is one incident
and one run; an alert for a model without a profile is a needs_triage incident and a
notification. Skips with the reason when the binary is missing, except in CI (CI=true) where
it must run (.ci/run installs it)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.harness import free_port, running_server
from deployments.receiver import ReceiverConfig, create_app
from playbooks.models.incident import IncidentStatus
from playbooks.notify import Notification
from tests.integration._receiver_support import TOKEN, ReceiverServer, credentials, write_routes

pytestmark = pytest.mark.integration
BINARY = "prometheus-alertmanager"


class RecordingLauncher:
    """The dispatch loop's Launcher, local: records each launch and signals it."""

    def __init__(self) -> None:
        self.launched: list[tuple[str, dict[str, Any]]] = []
        self.event = threading.Event()

    def launch(self, deployment: str, parameters: dict[str, Any], idempotency_key: str) -> str:
        self.launched.append((deployment, parameters))
        self.event.set()
        return f"run-{idempotency_key}"

    def run_states(self, run_ids: list[str]) -> dict[str, str]:
        return {}


class RecordingNotifier:
    def __init__(self) -> None:
        self.sent: list[Notification] = []
        self.event = threading.Event()

    def send(self, note: Notification) -> None:
        self.sent.append(note)
        self.event.set()


@pytest.fixture
def alertmanager_binary() -> str:
    found = shutil.which(BINARY) or (f"/usr/bin/{BINARY}"
                                     if Path(f"/usr/bin/{BINARY}").exists() else None)
    if found is None:
        why = (f"{BINARY} is not installed (Debian package prometheus-alertmanager; "
               ".ci/run installs it)")
        if os.environ.get("CI") == "true":
            pytest.fail(why + " — required in CI")
        pytest.skip(why)
    return found


CONFIG = """\
route:
  receiver: mlpb
  group_by: [alertname, model]
  group_wait: 300ms
  group_interval: 5m
  repeat_interval: 4h
receivers:
  - name: mlpb
    webhook_configs:
      - url: {url}/alerts/alertmanager
        send_resolved: true
        max_alerts: 100
        http_config:
          authorization: {{type: Bearer, credentials: {token}}}
"""


@contextlib.contextmanager
def alertmanager(binary: str, root: Path, receiver_url: str) -> Iterator[str]:
    """Alertmanager on a free port, clustering off, delivering to ``receiver_url``."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "alertmanager.yml").write_text(CONFIG.format(url=receiver_url, token=TOKEN))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [binary, f"--config.file={root / 'alertmanager.yml'}",
           f"--storage.path={root / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
           "--cluster.listen-address=", "--log.level=warn"]
    with running_server(cmd, name="alertmanager", health_url=f"{url}/-/ready",
                        log=root / "alertmanager.log", env=dict(os.environ), timeout_s=30):
        yield url


def _alert(model: str, feature: str) -> dict[str, Any]:
    return {"labels": {"alertname": "FeatureDrift", "model": model, "feature": feature,
                       "severity": "warning"},
            "annotations": {"summary": f"PSI above 0.2 on {feature}"},
            "generatorURL": "http://prometheus:9090/graph"}


def test_alertmanager_groups_become_one_incident_and_unknown_models_need_triage(
        tmp_path: Path, alertmanager_binary: str) -> None:
    launcher, notifier = RecordingLauncher(), RecordingNotifier()
    app = create_app(ReceiverConfig(
        ledger_url=f"sqlite:///{tmp_path / 'ledger.db'}", home=tmp_path,
        rules=write_routes(tmp_path), credentials=credentials(), launcher=launcher,
        notifier=notifier, poll=0.2))
    store = app.state.store
    with ReceiverServer(app) as srv, alertmanager(alertmanager_binary, tmp_path / "am",
                                                  srv.url) as am:
        three = [_alert("credit-risk", f) for f in ("age", "income", "region")]
        r = httpx.post(f"{am}/api/v2/alerts", json=three, timeout=10)
        assert r.status_code == 200, r.text
        assert launcher.event.wait(30), "Alertmanager's notification never reached a run"
        r = httpx.post(f"{am}/api/v2/alerts", json=[_alert("fraud", "age")], timeout=10)
        assert r.status_code == 200, r.text
        assert notifier.event.wait(30), "no needs_triage notification"
    incidents = store.ledger.list()
    (drift,) = [i for i in incidents if i.model == "credit-risk"]
    (triage,) = [i for i in incidents if i.model == "fraud"]
    # one group of three → one incident, its three members, one run
    assert drift.status is IncidentStatus.OPEN and drift.playbook == "data-drift"
    assert drift.dedup_key.startswith("group:data-drift:credit-risk:")
    members = store.members(drift.id)
    assert sorted(m.labels["feature"] for m in members) == ["age", "income", "region"]
    assert all(m.fingerprint for m in members)  # Alertmanager's own fingerprints
    assert len(drift.trigger["alerts"]) == 3
    assert [d for d, _ in launcher.launched] == ["run-playbook/data-drift"]
    assert launcher.launched[0][1]["dedup_key"] == drift.dedup_key
    rows = store.alerts(incident_id=drift.id)
    assert len(rows) == 3 and len({json.dumps(r.payload["groupKey"]) for r in rows}) == 1
    # a model with no profile → needs_triage, a notification, no run
    assert triage.status is IncidentStatus.NEEDS_TRIAGE
    (note,) = notifier.sent
    assert note.incident.id == triage.id and "needs triage" in note.title
    assert "fraud.yaml" in " ".join(note.lines)
    assert store.dispatch(triage.id) is None
    metrics = app.state.metrics
    assert metrics.value("mlpb_receiver_requests_total", endpoint="alertmanager",
                         code="202") == 2  # one notification per group
