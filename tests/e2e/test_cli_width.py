"""The CLI at 80 columns (COLUMNS=80, output piped as in a script): ids, fault names and
paths are whole, so they can be copied into the next command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from playbooks.config import load_settings
from playbooks.ledger import Ledger
from playbooks.models.incident import Incident, IncidentStatus

pytestmark = pytest.mark.e2e

MLPB = [sys.executable, "-m", "cli.main"]
IDS = [f"INC-20261202-{n:x}0123456789abcdef0123456789abcde" for n in range(2)]  # real length


def mlpb(*args: str, home: Path, columns: int = 80) -> str:
    env = {**os.environ, "MLPB_HOME": str(home), "COLUMNS": str(columns)}
    proc = subprocess.run([*MLPB, *args], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.fixture()
def home(tmp_path: Path) -> Path:
    ledger = Ledger(load_settings(tmp_path).ensure().ledger_url)
    for n, iid in enumerate(IDS):
        ledger.open_incident(Incident(
            id=iid, playbook="threshold-miscalibration", playbook_version="1.0.0",
            playbook_hash="h", model="credit-risk-scorecard-v2", dedup_key=f"k{n}",
            owner="ml-credit-team", drill=n == 1, status=IncidentStatus.ESCALATED,
            postmortem_path=str(tmp_path / "postmortems" / "a-long-directory-name" / f"{iid}.md")))
    return tmp_path


def test_incidents_list_at_80_columns_shows_whole_ids_and_owner(home: Path) -> None:
    out = mlpb("incidents", "list", home=home)
    assert all(len(line) <= 80 for line in out.splitlines()), out
    for iid in IDS:
        assert len(iid) == 45 and iid in out
    assert "owner" in out and "ml-credit-team" in out
    assert "drill" in out and "production" in out  # drills are told apart
    wide = mlpb("incidents", "list", home=home, columns=200)
    assert "owner" in wide.splitlines()[2]  # a wide terminal gets one column each
    rows = json.loads(mlpb("incidents", "list", "--json", home=home))
    assert {r["id"] for r in rows} == set(IDS)


def test_incidents_show_keeps_the_post_mortem_path_whole(home: Path) -> None:
    out = mlpb("incidents", "show", IDS[0], home=home)
    path = str(home / "postmortems" / "a-long-directory-name" / f"{IDS[0]}.md")
    assert len(path) > 80 and f"post-mortem: {path}" in out


def test_fault_names_stay_whole_in_an_80_column_table() -> None:
    # In-process, on rows shaped like list_faults()'s (building those loads every injector).
    from rich.console import Console

    from cli.drill import faults_table

    rows = [{"fault": f, "enters_via": "triage", "playbook": "threshold-miscalibration",
             "expected_root_cause": "threshold-too-strict-for-the-new-population",
             "expected_outcome": "resolved", "expected_live": "verified", "persists": True}
            for f in ("release-degrades-live", "shift-keeps-moving", "double-transform")]
    console = Console(width=80, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
    console.print(faults_table(rows))
    text = console.export_text()
    assert all(len(line) <= 80 for line in text.splitlines())
    for r in rows:
        assert f"│ {r['fault']} " in text, r["fault"]
