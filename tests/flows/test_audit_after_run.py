"""After a real playbook run (Prefect harness, sandbox model) the incident's timeline chain
holds and its audit record points at the archived spec and the evidence it kept."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from flows.engine import run_playbook
from playbooks.config import load_settings
from playbooks.ledger import Ledger
from playbooks.ledger.audit import export_records, verify
from playbooks.sandbox import CovariateDrift, bootstrap_sandbox, inject_fault

pytestmark = pytest.mark.flows


def test_a_run_leaves_an_intact_chain_and_a_complete_audit_record(home: Path) -> None:
    sb = bootstrap_sandbox(home / "sb", seed=3, rows_per_day=400, history_days=21)
    inject_fault(sb, CovariateDrift(strength=1.0), days=7, seed=5)
    res = run_playbook(playbook="data-drift", profile=str(sb.profile_path), home=str(home),
                       dry_run=True, quiet=True)
    settings = load_settings(home)
    led = Ledger(settings.ledger_url)
    assert verify(led.engine, res["id"]) == (1, [])
    (rec,) = export_records(led.engine, settings.home, incident_id=res["id"])
    kinds = [e["kind"] for e in rec["timeline"]]
    assert kinds[0] == "opened" and "evidence" in kinds and len(kinds) >= 4
    assert rec["chain"]["intact"] and rec["chain"]["length"] == len(kinds)
    spec = rec["spec"]
    assert spec["hash"] == res["playbook_hash"] and spec["archived_path"] == str(
        settings.home / "specs" / "data-drift" / f"{res['playbook_hash']}.json")
    evidence = rec["evidence"]
    kept = Path(evidence["path"])
    assert evidence["sha256"] == hashlib.sha256(kept.read_bytes()).hexdigest()
    windows = json.loads(kept.read_text(encoding="utf-8"))["windows"]
    assert evidence["windows"] and evidence["windows"] == {
        n: w["sha256"] for n, w in windows.items()}
    led.close()
