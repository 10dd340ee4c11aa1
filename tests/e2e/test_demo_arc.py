"""The whole arc in subprocesses, as a user runs it: `mlpb demo` ends resolved only after three
passing live windows; `mlpb sandbox init` + `mlpb run` + `mlpb sandbox advance` + `mlpb tick`
catch a fix that fails live (reverted, escalated)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

MLPB = [sys.executable, "-m", "cli.main"]


def mlpb(*args: str, home: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MLPB_HOME": str(home)}
    env.pop("MLPB_CLOCK", None)
    proc = subprocess.run([*MLPB, *args], capture_output=True, text=True, env=env, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"mlpb {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}")
    return proc


def test_demo_resolves_only_after_three_live_windows(tmp_path: Path) -> None:
    home = tmp_path / "home"
    proc = mlpb("demo", "--json", home=home)
    result = json.loads(proc.stdout)
    assert result["status"] == "resolved"
    windows = result["monitoring"]["windows"]
    assert [w["verdict"] for w in windows] == ["pass", "pass", "pass"]
    assert all(w["rows"] >= result["monitoring"]["min_rows"] for w in windows)
    assert result["resolved_at"] == windows[-1]["measured_at"]  # MTTR ends at the last window
    assert result["mttr_seconds"] >= 3 * 86400  # simulated days, not the script's seconds
    arc = proc.stderr
    for step in ("detected", "diagnosed: population-shift", "approving as alice",
                 "remediated: retrain",
                 "pre-check on the holdout: passed", "window 1/3", "window 2/3", "window 3/3",
                 "resolved — 3/3 live windows passed"):
        assert step in arc, step
    assert arc.index("window 1/3") < arc.index("window 2/3") < arc.index("window 3/3")
    shown = json.loads(mlpb("incidents", "show", result["id"], "--json", home=home).stdout)
    assert [w["verdict"] for w in shown["monitoring"]["windows"]] == ["pass"] * 3
    # Issue 14: the post-mortem embeds at least three charts, each a PNG on disk beside it.
    postmortem = Path(result["postmortem_path"])
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", postmortem.read_text(encoding="utf-8"))
    charts = [postmortem.parent / link for link in links]
    assert len(charts) >= 3, links
    assert all(c.is_file() and c.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for c in charts)
    # ... and its evidence package is in MLflow: the incident's run, charts included.
    from mlflow import MlflowClient

    from playbooks.loader import load_profile

    model = load_profile(Path(shown["profile_path"])).model
    assert model is not None and model.tracking_uri
    client = MlflowClient(model.tracking_uri)
    exp = client.get_experiment_by_name("mlpb-incidents")
    assert exp is not None
    [run] = client.search_runs([exp.experiment_id],
                               filter_string=f"tags.`mlpb.incident_id` = '{result['id']}'")
    logged = {a.path for a in client.list_artifacts(run.info.run_id, "charts")}
    assert {f"charts/{c.name}" for c in charts} <= logged


def test_sandbox_cli_catches_a_fix_that_fails_live(tmp_path: Path) -> None:
    home = tmp_path / "home"
    missing = mlpb("sandbox", "advance", home=home, check=False)
    assert missing.returncode == 1 and "mlpb sandbox init" in missing.stderr
    unknown = mlpb("sandbox", "init", "--fault", "gremlins", home=home, check=False)
    assert unknown.returncode == 2 and "shift-keeps-moving" in unknown.stderr  # a bad name

    init = mlpb("sandbox", "init", "--fault", "shift-keeps-moving", "--rows-per-day", "400",
                "--history-days", "14", home=home)
    profile = Path(init.stdout.strip())
    assert profile == home.resolve() / "sandbox" / "credit-risk" / "profile.yaml"
    assert profile.is_file() and "it persists" in init.stderr
    again = mlpb("sandbox", "init", "--fault", "covariate-drift", home=home, check=False)
    assert again.returncode == 1 and "--force" in again.stderr
    start = datetime.fromisoformat((home / "clock").read_text())

    asked = json.loads(mlpb("run", "data-drift", "--profile", str(profile), "--json",
                            home=home).stdout)
    assert asked["status"] == "awaiting_approval"  # criticality: high, medium-risk retrain
    refused = mlpb("approve", asked["id"], "--as", "mallory", home=home, check=False)
    assert refused.returncode == 4 and "not an approver" in refused.stderr
    run = json.loads(mlpb("approve", asked["id"], "--as", "alice", "--reason", "drift confirmed",
                          "--json", home=home).stdout)
    assert run["status"] == "monitoring" and run["verification"]["passed"]
    decisions = run["approval"]["decisions"]
    assert [(d["approver"], d["accepted"], d["channel"]) for d in decisions] == [
        ("mallory", False, "cli"), ("alice", True, "cli")]
    assert datetime.fromisoformat(run["detected_at"]) == start  # the engine is on sandbox time

    advanced = mlpb("sandbox", "advance", "--days", "2", home=home)
    assert datetime.fromisoformat(advanced.stdout.strip()) == start + timedelta(days=2)
    assert "day 1/2: " in advanced.stderr and "day 2/2: " in advanced.stderr
    assert "served by v2" in advanced.stderr  # the retrained champion serves the new days
    steps = json.loads(mlpb("tick", "--json", home=home).stdout)
    assert [s["action"] for s in steps] == ["measured", "escalated"], steps
    after = json.loads(mlpb("incidents", "show", run["id"], "--json", home=home).stdout)
    assert after["status"] == "escalated"
    assert [w["verdict"] for w in after["monitoring"]["windows"]] == ["fail"]
    kinds = [e["kind"] for e in after["timeline"]]
    assert kinds.index("window") < kinds.index("reverted") < kinds.index("escalated")


def test_an_approval_nobody_gives_escalates_and_a_person_closes_it(tmp_path: Path) -> None:
    """The done-when of people in the loop: the retrain of a criticality: high model waits;
    with no decision, the controller escalates it after the spec's approval timeout (4 h, on
    the sandbox clock) and pages the owner; a person acknowledges and resolves it by hand."""
    home = tmp_path / "home"
    init = mlpb("sandbox", "init", "--fault", "covariate-drift", "--rows-per-day", "400",
                "--history-days", "14", home=home)
    profile = init.stdout.strip()
    asked = json.loads(mlpb("run", "data-drift", "--profile", profile, "--json",
                            home=home).stdout)
    assert asked["status"] == "awaiting_approval"
    waiting = json.loads(mlpb("tick", "--json", home=home).stdout)
    assert waiting == []  # not due yet
    mlpb("sandbox", "advance", "--days", "1", home=home)
    steps = json.loads(mlpb("tick", "--json", home=home).stdout)
    assert [s["action"] for s in steps] == ["escalated", "paged"], steps
    late = mlpb("approve", asked["id"], "--as", "alice", home=home, check=False)
    assert late.returncode == 4 and "not awaiting approval" in late.stderr
    mlpb("incidents", "ack", asked["id"], "--as", "dana", home=home)
    assert json.loads(mlpb("tick", "--json", home=home).stdout) == []  # ack stopped the paging
    done = json.loads(mlpb("incidents", "resolve", asked["id"], "--as", "dana", "--note",
                           "retrained by hand after review", "--json", home=home).stdout)
    assert done["status"] == "resolved" and done["mtta_seconds"] > 0
    assert done["mttr_seconds"] >= done["mtta_seconds"]
    text = Path(done["postmortem_path"]).read_text(encoding="utf-8")
    assert "retrained by hand after review" in text
    mine = json.loads(mlpb("incidents", "list", "--owner", "ml-oncall", "--json",
                           home=home).stdout)
    assert [i["id"] for i in mine] == [asked["id"]]
