"""A team's playbook and plugin package, as a team ships them: tests/fixtures/team_plugin is
installed into the venv (offline, uv's own build backend), and a spec that
``extends: data-drift@1`` and uses its check and collector runs on the sandbox through the CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.e2e
CATALOG = Path(__file__).parents[2] / "playbooks" / "catalog"
CATALOG_VERSION = yaml.safe_load((CATALOG / "data-drift.yaml").read_text())["version"]

MLPB = [sys.executable, "-m", "cli.main"]
FIXTURE = Path(__file__).parents[1] / "fixtures" / "team_plugin"
DIST = "mlpb-team-plugin"


def mlpb(*args: str, home: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MLPB_HOME": str(home)}
    env.pop("MLPB_CLOCK", None)
    proc = subprocess.run([*MLPB, *args], capture_output=True, text=True, env=env, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"mlpb {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}")
    return proc


def _uv(*args: str) -> subprocess.CompletedProcess[str]:
    uv = Path(sys.executable).parent / "uv"
    exe = str(uv) if uv.exists() else shutil.which("uv")
    assert exe, "uv is needed to install the plugin fixture (it is in the project venv)"
    return subprocess.run([exe, "pip", *args, "--python", sys.executable], capture_output=True,
                          text=True, timeout=300, check=True)


@pytest.fixture
def team_plugin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The package installed into this venv for one test, uninstalled after it."""
    src = tmp_path_factory.mktemp("team") / "team_plugin"
    shutil.copytree(FIXTURE, src)  # a fresh path: no build output in the repository
    _uv("install", "--offline", "--no-deps", "--no-build-isolation", str(src))
    try:
        yield DIST
    finally:
        _uv("uninstall", DIST)


def _team_spec(path: Path) -> Path:
    path.write_text(yaml.safe_dump({
        "extends": "data-drift@1",
        "id": "payments-data-drift",
        "version": "1.0.0",
        "title": "Payments input drift",
        "evidence": ["data-windows", "data-quality", "feature-drift", "model-version",
                     "label-metrics", "payments-window-rows"],
        "remove": {"hypotheses": ["no-material-drift"]},
        "hypotheses": [{
            "id": "payments-watched-feature",
            "title": "The feature the payments team watches moved beyond its limit.",
            "check": "payments-watched-feature", "params": {"max_psi": 0.15},
            "on_supported": {"escalate_to": "model"}}],
        "acceptance": {"pre_check": [{"id": "auc-floor", "value": 0.68}]},
        "escalation": {"default_owner": "model"},
        "changelog": [{"version": "1.0.0", "date": "2026-12-02", "author": "payments",
                       "changes": ["data-drift with the payments team's watched feature"]}],
    }, sort_keys=False), encoding="utf-8")
    return path


@pytest.mark.slow  # a sandbox, a run and a retrain in subprocesses: ~2 min here
def test_team_spec_with_a_plugin_check_runs_on_the_sandbox(team_plugin: str,
                                                           tmp_path: Path) -> None:
    home = tmp_path / "home"
    spec = _team_spec(tmp_path / "payments-data-drift.yaml")
    checked = mlpb("validate", str(spec), home=home)
    assert f"✓ {spec} (spec)" in checked.stdout  # merged, plugins found, version rules hold
    init = mlpb("sandbox", "init", "--fault", "covariate-drift", "--rows-per-day", "400",
                "--history-days", "14", home=home)
    profile = init.stdout.strip()
    run = json.loads(mlpb("run", str(spec), "--profile", profile, "--json", home=home).stdout)

    assert (run["playbook"], run["playbook_version"]) == ("payments-data-drift", "1.0.0")
    base = run["playbook_base"]
    assert (base["id"], base["version"]) == ("data-drift", CATALOG_VERSION)
    assert base["hash"] != run["playbook_hash"]
    by_id = {h["id"]: h for h in run["hypotheses"]}
    assert "no-material-drift" not in by_id  # removed by the team
    watched = by_id["payments-watched-feature"]
    (finding,) = watched["findings"]
    assert finding["kind"] == "payments_watched_feature" and finding["statistic"] == "psi"
    assert finding["threshold"] == 0.15 and finding["breached"] == (finding["value"] > 0.15)
    assert watched["verdict"] == ("supported" if finding["breached"] else "refuted")
    evidence = json.loads((home / "evidence" / f"{run['id']}.json").read_text())
    assert evidence["metrics"]["payments_window_rows"] > 0  # the plugin's collector ran
    assert evidence["parts"]["payments-window-rows"]["rows"] > 0
    assert run["status"] == "awaiting_approval"  # the base's retrain, approval by criticality

    shown = mlpb("incidents", "show", run["id"], home=home).stdout
    assert "payments-data-drift v1.0.0" in shown
    assert f"extends data-drift v{CATALOG_VERSION}" in shown
    archived = home / "specs" / "payments-data-drift" / f"{run['playbook_hash']}.json"
    content = json.loads(archived.read_text())  # the resolved spec, not the team file
    assert content["base"]["hash"] == base["hash"]
    assert "payments-watched-feature" in [h["id"] for h in content["hypotheses"]]
    assert "population-shift" in [h["id"] for h in content["hypotheses"]]

    done = json.loads(mlpb("approve", run["id"], "--as", "alice", "--reason", "drift confirmed",
                           "--json", home=home).stdout)  # a later step loads the team spec
    # Kept or reverted by the merged acceptance criteria (the base's may grow): either way
    # the team's override is among them and the verdict follows them.
    assert done["status"] == ("monitoring" if done["verification"]["passed"] else "escalated")
    floor = {c["id"]: c for c in done["verification"]["criteria"]}["auc-floor"]
    assert floor["target"] == 0.68 and floor["passed"] == (floor["observed"] >= 0.68)
    assert done["playbook_base"] == base


def test_without_the_package_the_spec_names_the_missing_check(tmp_path: Path) -> None:
    spec = _team_spec(tmp_path / "payments-data-drift.yaml")
    proc = mlpb("validate", str(spec), home=tmp_path / "home", check=False)
    assert proc.returncode == 2
    assert "hypotheses.payments-watched-feature.check: unknown check " in proc.stdout
    assert "evidence." in proc.stdout and "payments-window-rows" in proc.stdout


def test_help_does_not_load_plugins() -> None:
    code = ("from typer.testing import CliRunner; import cli.main as m; "
            "import playbooks.engine.plugins as p; r = CliRunner().invoke(m.app, ['--help']); "
            "print(r.exit_code, p.default_plugins.cache_info().currsize)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=True)
    assert proc.stdout.split() == ["0", "0"]
