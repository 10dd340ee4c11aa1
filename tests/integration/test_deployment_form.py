"""The run-playbook deployments on a real `prefect server`: the form the UI renders (a choice
of catalog ids, a profile name, dry_run; no plumbing), what the server accepts, and a
deployment run executed the way a worker does (Prefect's Runner, a subprocess) that shows its
incident in its name, its outcome in its final state and tags, and its decision in its logs."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from playbooks.loader import catalog_ids
from tests.integration._receiver_support import drain_prefect_workers, prefect_server

pytestmark = pytest.mark.integration
ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from deployments.serve import build_deployments

    with prefect_server(tmp_path_factory.mktemp("prefect-home")) as url:
        with temporary_settings({PREFECT_API_URL: url}):
            for dep in build_deployments():
                if dep.flow_name == "run-playbook":
                    dep.apply()
        yield url
        drain_prefect_workers()  # while the server is up: nothing queued outlives it


def _execute(api: str, run_id: Any, home: Path) -> None:
    """What a process worker does with a scheduled run: `python -m prefect.engine <id>`."""
    env = {**os.environ, "PREFECT_API_URL": api, "MLPB_HOME": str(home),
           "PREFECT_LOGGING_LEVEL": "INFO"}
    subprocess.run([sys.executable, "-m", "prefect.engine", str(run_id)], cwd=ROOT, env=env,
                   timeout=300, check=False, capture_output=True)


def _client(api: str) -> Any:
    from prefect.client.orchestration import SyncPrefectClient

    return SyncPrefectClient(api)


def test_the_form_has_the_playbook_choice_and_no_plumbing(api: str) -> None:
    from flows.params import HIDDEN_PARAMETERS

    with _client(api) as client:
        dep = client.read_deployment_by_name("run-playbook/data-drift")
    assert dep.parameter_openapi_schema["type"] == "object"  # else the UI shows JSON
    props = dep.parameter_openapi_schema["properties"]
    assert list(props) == ["playbook", "profile", "dry_run"]
    assert not set(HIDDEN_PARAMETERS) & set(props)
    assert props["playbook"]["enum"] == catalog_ids()
    assert all(p.get("description") for p in props.values())
    assert dep.parameters == {"playbook": "data-drift"}


def test_the_server_takes_the_receivers_plumbing_and_refuses_a_spec_path(api: str) -> None:
    from prefect.exceptions import PrefectHTTPStatusError

    with _client(api) as client:
        dep = client.read_deployment_by_name("run-playbook/data-drift")
        run = client.create_flow_run_from_deployment(dep.id, parameters={
            "playbook": "data-drift", "profile": "credit-risk", "dry_run": True,
            "drill": False, "dedup_key": "k1", "trigger": {"source": "alertmanager"}})
        assert run.parameters["dedup_key"] == "k1"
        with pytest.raises(PrefectHTTPStatusError) as refused:
            client.create_flow_run_from_deployment(dep.id, parameters={
                "playbook": "/tmp/my-spec.yaml", "profile": "credit-risk"})
    assert refused.value.response.status_code in (409, 422)


@pytest.mark.slow
def test_a_deployment_run_is_named_for_its_incident_and_says_how_it_ended(
    api: str, tmp_path: Path
) -> None:
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    from playbooks.sandbox import bootstrap_sandbox

    home = tmp_path / "home"
    bootstrap_sandbox(home, seed=3, rows_per_day=200, history_days=7, reference_rows=1000,
                      now=datetime(2026, 3, 2, 12, tzinfo=UTC))
    with _client(api) as client:
        dep = client.read_deployment_by_name("run-playbook/data-drift")
        run = client.create_flow_run_from_deployment(dep.id, parameters={
            "playbook": "data-drift", "profile": "credit-risk", "dry_run": True})
        _execute(api, run.id, home)
        done = client.read_flow_run(run.id)
        logs = client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run.id])))
    assert done.state is not None and done.state.is_completed(), done.state
    incident_id = done.name.split(" · ")[0]
    assert incident_id.startswith("INC-") and done.name.endswith(" · data-drift")
    message = done.state.message or ""
    word = message.split(":")[0].replace(" ", "_")
    assert f"outcome:{word}" in done.tags and incident_id in done.tags
    assert incident_id in message and "(data-drift)" in message
    text = "\n".join(log.message for log in logs)
    assert f"{incident_id} root cause:" in text and f"{incident_id} decision:" in text


def test_a_deployment_run_refuses_a_profile_path_outside_the_profile_dirs(
    api: str, tmp_path: Path
) -> None:
    (tmp_path / "outside.yaml").write_text("name: x\n")
    with _client(api) as client:
        dep = client.read_deployment_by_name("run-playbook/data-drift")
        run = client.create_flow_run_from_deployment(dep.id, parameters={
            "playbook": "data-drift", "profile": str(tmp_path / "outside.yaml")})
        _execute(api, run.id, tmp_path / "home")
        done = client.read_flow_run(run.id)
    assert done.state is not None and done.state.is_failed()
    assert "not a profile name or a file inside" in (done.state.message or "")
