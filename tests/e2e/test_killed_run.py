"""A run killed mid-remediation leaves the registry at a version that exists, and recovery
reverts what it left half-done."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from playbooks.config import load_settings
from playbooks.crashpoints import CRASH_ENV
from playbooks.data.io import load_windows
from playbooks.engine.lifecycle import recover_unfinished
from playbooks.engine.runtime import Runtime
from playbooks.ledger import Ledger
from playbooks.loader import load_profile
from playbooks.models import EvidencePackage
from playbooks.models.incident import IncidentStatus, utcnow
from playbooks.modelstore import MlflowModelStore
from playbooks.remediations.base import RemediationContext
from playbooks.remediations.retrain import Retrain, RetrainParams
from playbooks.sandbox import CovariateDrift, Sandbox, bootstrap_sandbox, inject_fault

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
ROOT = Path(__file__).parents[2]


SMALL: dict[str, Any] = {"seed": 3, "rows_per_day": 300, "history_days": 14,
                         "reference_rows": 3000}


def _sandbox(home: Path, entrypoint: str | None = None) -> Sandbox:
    sb = bootstrap_sandbox(home / "sb", **SMALL)
    inject_fault(sb, CovariateDrift(strength=1.0), days=7, seed=5)
    prof = yaml.safe_load(sb.profile_path.read_text())
    # These runs are killed mid-change: the retrain must run unattended (a criticality: high
    # model would wait for an approval first; tests/e2e/test_demo_arc.py covers that path).
    prof["criticality"] = "medium"
    if entrypoint:
        prof["training"]["entrypoint"] = entrypoint
    sb.profile_path.write_text(yaml.safe_dump(prof))
    return sb


def _run(sb: Sandbox, env: dict[str, str], **kw: Any) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "cli.main", "run", "data-drift", "--profile",
         str(sb.profile_path), "--json"],
        cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, **kw)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the run and whatever it started (its Prefect server...)."""
    with contextlib.suppress(ProcessLookupError):  # the group may be gone already
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def _recover_cli(sb: Sandbox, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "recover", "--profile", str(sb.profile_path)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_sigkill_during_retrain_leaves_existing_version_and_recovers(tmp_path: Path) -> None:
    home = tmp_path / "home"
    sb = _sandbox(home, "tests.e2e.slow_training:train")
    started, w = os.pipe()  # training writes a byte here once it has started
    env = {**os.environ, "MLPB_HOME": str(home), "MLPB_TEST_TRAINING_FD": str(w),
           "MLPB_TRAINING_MODULES": "playbooks.sandbox.model,tests.e2e.slow_training"}
    proc = _run(sb, env, pass_fds=(w,))
    os.close(w)  # the run holds the only write end: EOF means it ended without training
    try:
        ready, _, _ = select.select([started], [], [], 300)
        assert ready, "training never started"
        assert os.read(started, 1) == b"t", "the run ended before training started"
    finally:
        _kill_group(proc)
        os.close(started)

    reg = MlflowModelStore(sb.tracking_uri)
    champion = reg.get_version(sb.model_name, "champion")
    assert reg.version_exists(sb.model_name, champion.version)
    assert champion.version == "1"
    ledger = Ledger(load_settings(home).ledger_url)
    (entry,) = ledger.journal(unfinished=True)
    assert entry.phase == "intent" and entry.action == "retrain"
    assert ledger.get(entry.incident_id).status is IncidentStatus.REMEDIATING

    assert entry.incident_id in _recover_cli(sb, env)
    assert ledger.journal(unfinished=True) == []
    inc = ledger.get(entry.incident_id)
    assert inc.status is IncidentStatus.ESCALATED
    (recovered,) = [e for e in inc.timeline if e.kind == "recovered"]
    assert "no version registered by this incident" in recovered.message
    assert "is on v1, as before: nothing to undo" in recovered.message
    assert reg.get_version(sb.model_name, "champion").version == "1"


def test_sigkill_after_promoting_before_journalling_is_reverted(tmp_path: Path) -> None:
    """Issue 13, point 1: a run killed after 'champion' moved to the retrained version but
    before the journal said "applied" used to be "recovered" without touching MLflow."""
    home = tmp_path / "home"
    sb = _sandbox(home)
    env = {**os.environ, "MLPB_HOME": str(home), CRASH_ENV: "retrain:after-set-alias"}
    proc = _run(sb, env)
    try:
        assert proc.wait(timeout=600) == -signal.SIGKILL, "the kill point was never reached"
    finally:
        _kill_group(proc)

    reg = MlflowModelStore(sb.tracking_uri)
    assert reg.get_version(sb.model_name, "champion").version == "2"  # unverified, serving
    ledger = Ledger(load_settings(home).ledger_url)
    (entry,) = ledger.journal(unfinished=True)
    assert (entry.phase, entry.change) == ("intent", None)

    env.pop(CRASH_ENV)
    assert entry.incident_id in _recover_cli(sb, env)
    assert reg.get_version(sb.model_name, "champion").version == "1"
    assert reg.version_exists(sb.model_name, "2")  # kept for the record, serving nowhere
    assert not reg.get_version(sb.model_name, "2").aliases
    assert ledger.journal(unfinished=True) == []
    inc = ledger.get(entry.incident_id)
    assert inc.status is IncidentStatus.ESCALATED
    (recovered,) = [e for e in inc.timeline if e.kind == "recovered"]
    assert "'champion' of credit-risk had moved to v2: moved back to v1" in recovered.message


def test_recovery_reverts_an_alias_moved_by_a_dead_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run died after promoting the new version but before verifying it."""
    home = tmp_path / "home"
    monkeypatch.setenv("MLPB_HOME", str(home))
    sb = _sandbox(home)
    rt = Runtime.from_env(str(home), quiet=True)
    profile = load_profile(sb.profile_path)
    from playbooks.models import Incident

    inc, _ = rt.ledger.open_incident(
        Incident(
            id="INC-dead",
            playbook="data-drift",
            playbook_version="1.0.0",
            playbook_hash="h",
            model=profile.name,
            dedup_key="dead",
            status=IncidentStatus.REMEDIATING,
        )
    )
    ctx = RemediationContext(
        incident_id=inc.id,
        profile=profile,
        model_store=rt.model_store(profile),
        state_dir=home,
        data=load_windows(profile),
        evidence=EvidencePackage(incident_id=inc.id, collected_at=utcnow()),
    )
    params = RetrainParams()
    plan = Retrain().plan(ctx, params)
    seq = rt.ledger.journal_intent(inc.id, profile.name, "retrain", "retrain", plan)
    change = Retrain().apply(ctx, params, plan)
    rt.ledger.journal_update(seq, "applied", change)
    reg = MlflowModelStore(sb.tracking_uri)
    assert reg.get_version(sb.model_name, "champion").version == "2"  # ... and then it died

    assert recover_unfinished(rt, profile, force=True) == ["INC-dead"]
    assert reg.get_version(sb.model_name, "champion").version == "1"
    assert rt.ledger.get("INC-dead").status is IncidentStatus.ESCALATED
    assert rt.ledger.journal(unfinished=True) == []
