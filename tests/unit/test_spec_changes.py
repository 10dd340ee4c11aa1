"""Spec change management: a content change keeps no old version, against the archive of
versions that ran and against a real git repository; the changelog rules; the edit policy;
`mlpb validate` and a `mlpb run` the policy refuses, through the CLI."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from cli.main import app
from playbooks.archive import archive_spec
from playbooks.errors import UnknownNameError
from playbooks.ledger import Ledger
from playbooks.loader import CATALOG_DIR, load_spec, read_yaml
from playbooks.models.spec import ChangelogEntry, PlaybookSpec
from playbooks.policy import Policy
from playbooks.spec_changes import (
    Baseline,
    archive_baselines,
    base_problems,
    changelog_problems,
    edit_problems,
    git_baseline,
    new_entries,
)

SPEC_FILE = CATALOG_DIR / "data-drift.yaml"
INITIAL = {"version": "1.0.0", "date": "2026-11-26", "author": "maintainers",
           "changes": ["initial version"]}


def _pinned() -> dict[str, Any]:
    """The catalog's data-drift spec at a fixed version and title (the catalog moves on)."""
    raw = read_yaml(SPEC_FILE)
    return raw | {"version": "1.0.0", "title": "Input data drift", "changelog": [INITIAL]}


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> PlaybookSpec:
    path = tmp_path_factory.mktemp("spec") / "data-drift.yaml"
    path.write_text(yaml.safe_dump(_pinned(), sort_keys=False), encoding="utf-8")
    return load_spec(path)


def _entry(version: str, author: str = "alice") -> ChangelogEntry:
    return ChangelogEntry.model_validate({"version": version, "date": "2026-12-02",
                                          "author": author, "changes": ["x"]})


def _edited(spec: PlaybookSpec, **update: object) -> PlaybookSpec:
    return PlaybookSpec.model_validate(spec.model_dump() | update)


def _base(spec: PlaybookSpec) -> Baseline:
    return Baseline("git HEAD", spec.version, spec.hash, "",
                    frozenset(e.version for e in spec.changelog))


def test_the_changelog_is_not_part_of_the_content_hash(spec: PlaybookSpec) -> None:
    more = _edited(spec, changelog=[*spec.changelog, _entry("0.9.0")])
    assert more.hash == spec.hash
    assert _edited(spec, title="Other").hash != spec.hash


def test_same_version_other_content_is_refused(spec: PlaybookSpec) -> None:
    edited = _edited(spec, title="Drift, edited")
    [(loc, msg)] = base_problems(edited, {}, _base(spec))
    assert loc == "version" and "'data-drift' changed since git HEAD" in msg
    assert f"still {spec.version}" in msg and "bump it (e.g. to 1.0.1)" in msg
    assert base_problems(spec, {}, _base(spec)) == []


def test_a_new_version_needs_its_changelog_entry_and_goes_forward(spec: PlaybookSpec) -> None:
    bumped = _edited(spec, title="Drift, edited", version="1.1.0")
    [(loc, msg)] = base_problems(bumped, {}, _base(spec))
    assert loc == "changelog" and "no entry for 1.1.0" in msg
    logged = _edited(bumped, changelog=[_entry("1.1.0"), *spec.changelog])
    assert base_problems(logged, {}, _base(spec)) == []
    older = _edited(logged, version="0.9.0", changelog=spec.changelog)
    assert "older than 1.0.0" in base_problems(older, {}, _base(spec))[0][1]


def test_changelog_on_its_own(spec: PlaybookSpec) -> None:
    assert changelog_problems(spec) == []
    dup = _edited(spec, changelog=[_entry("1.0.0"), _entry("1.0.0"), _entry("2.0.0")])
    msgs = [m for _, m in changelog_problems(dup)]
    assert any("several entries for version(s) ['1.0.0']" in m for m in msgs)
    assert any("['2.0.0'], newer than the spec's version 1.0.0" in m for m in msgs)


def test_new_entry_authors_are_checked_against_the_edit_policy(spec: PlaybookSpec) -> None:
    logged = _edited(spec, version="1.1.0", changelog=[_entry("1.1.0", "mallory"),
                                                       *spec.changelog])
    fresh = new_entries(logged, [_base(spec)])
    assert [e.version for e in fresh] == ["1.1.0"]
    assert [e.version for e in new_entries(logged, [])] == ["1.1.0"]  # no history: current
    policy = Policy.model_validate({"edit": {"grants": [{"who": ["alice"]}]}})
    [(loc, msg)] = edit_problems(logged, policy, fresh)
    assert loc == "changelog.0.author" and "does not let mallory edit" in msg
    assert edit_problems(logged, None, fresh) == []  # no policy: open


def test_against_the_archive_of_versions_that_ran(spec: PlaybookSpec, tmp_path: Path) -> None:
    path = archive_spec(tmp_path, spec)
    # a spec model field added since the run (its default) is not an edit of the spec
    data = json.loads(path.read_text(encoding="utf-8"))
    del data["approval"], data["changelog"]
    path.write_text(json.dumps(data), encoding="utf-8")
    [ran] = archive_baselines(tmp_path, spec.id)
    assert ran.hash == spec.hash and base_problems(spec, {}, ran) == []
    edited = _edited(spec, title="Drift, edited")
    [(_, msg)] = base_problems(edited, {}, ran)
    assert f"ran as 1.0.0, hash {spec.hash}" in msg and "still 1.0.0" in msg


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c",
                           "user.email=t@example.org", *args], check=True, capture_output=True,
                          text=True).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    _git(root, "init", "-q")
    (root / "data-drift.yaml").write_text(yaml.safe_dump(_pinned(), sort_keys=False),
                                          encoding="utf-8")
    _git(root, "add", "data-drift.yaml")
    _git(root, "commit", "-q", "-m", "spec")
    return root


def _edit(path: Path, *, bump: bool) -> None:
    raw = read_yaml(path) | {"title": "Input data drift, edited"}
    if bump:
        raw |= {"version": "1.1.0", "changelog": [
            {"version": "1.1.0", "date": "2026-12-02", "author": "alice",
             "changes": ["a clearer title"]}, INITIAL]}
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")


def test_against_git(repo: Path, tmp_path: Path) -> None:
    path = repo / "data-drift.yaml"
    base, why = git_baseline(path, "HEAD")
    assert base is not None and why == "" and base.hash == load_spec(path).hash
    _edit(path, bump=False)
    edited = load_spec(path)
    [(_, msg)] = base_problems(edited, read_yaml(path), base)
    assert "changed since git HEAD" in msg
    with pytest.raises(UnknownNameError, match="git ref 'nope' is not a commit"):
        git_baseline(path, "nope")
    (repo / "new.yaml").write_text("id: x\n", encoding="utf-8")
    assert git_baseline(repo / "new.yaml", "HEAD") == (None, "new since HEAD: no earlier "
                                                             "version in git")
    alone = tmp_path / "alone.yaml"
    alone.write_text("id: x\n", encoding="utf-8")
    assert git_baseline(alone, "HEAD")[0] is None


def test_cli_validate_against_git_and_the_edit_policy(repo: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("MLPB_HOME", str(home))
    monkeypatch.delenv("MLPB_POLICY", raising=False)
    runner = CliRunner()
    path = repo / "data-drift.yaml"
    assert runner.invoke(app, ["validate", str(path)]).exit_code == 0
    _edit(path, bump=False)
    res = runner.invoke(app, ["validate", str(path)])
    assert res.exit_code == 2, res.output
    assert f"{path}: 1 problem(s)" in res.stdout and "still 1.0.0: bump it" in res.stdout
    assert "git diff HEAD --" in res.stdout  # what to do: see the change, bump, log it
    assert runner.invoke(app, ["validate", "--no-git", str(path)]).exit_code == 0
    _git(repo, "commit", "-q", "-am", "edit without a bump")
    assert runner.invoke(app, ["validate", str(path)]).exit_code == 0  # HEAD = the tree
    late = runner.invoke(app, ["validate", "--against", "HEAD~1", str(path)])
    assert late.exit_code == 2 and "changed since git HEAD~1" in late.stdout
    _edit(path, bump=True)  # the bump with its entry (by alice)
    assert runner.invoke(app, ["validate", "--against", "HEAD~1", str(path)]).exit_code == 0
    home.mkdir()
    (home / "policy.yaml").write_text(yaml.safe_dump(
        {"edit": {"grants": [{"who": ["bob"], "playbooks": ["data-*"]}]}}), encoding="utf-8")
    denied = runner.invoke(app, ["validate", "--against", "HEAD~1", str(path)])
    assert denied.exit_code == 2
    assert f"{home / 'policy.yaml'} (policy)" in denied.stdout  # validated with the specs
    assert "does not let alice edit the 'data-drift' spec (entry for 1.1.0)" in denied.stdout


def test_cli_run_refused_by_policy_starts_nothing(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLPB_HOME", str(tmp_path))
    monkeypatch.delenv("MLPB_POLICY", raising=False)
    monkeypatch.delenv("MLPB_LEDGER_URL", raising=False)
    rng = np.random.default_rng(0)
    for name in ("ref", "cur"):
        pd.DataFrame({"ts": pd.date_range("2026-01-01", periods=300, freq="h", tz="UTC"),
                      "x": rng.normal(size=300), "score": rng.uniform(size=300)}).to_csv(
            tmp_path / f"{name}.csv", index=False)
    profile = tmp_path / "profile.yaml"
    profile.write_text(yaml.safe_dump({
        "name": "credit", "features": {"numeric": ["x"]},
        "prediction": {"score": "score"},
        "data": {"timestamp": "ts", "reference": {"path": "ref.csv"},
                 "current": {"path": "cur.csv"}}}), encoding="utf-8")
    (tmp_path / "policy.yaml").write_text(yaml.safe_dump({"run": {"default": "dry-run",
        "grants": [{"who": ["carol"], "models": ["credit"]}]}}), encoding="utf-8")
    res = CliRunner().invoke(app, ["run", "data-drift", "--profile", str(profile),
                                   "--as", "mallory"])
    assert res.exit_code == 4, res.output
    assert "mallory may run 'data-drift' on credit as a dry run only" in res.output
    assert "[mallory from --as]" in res.output and "--dry-run" in res.output
    led = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")  # refused before anything opened:
    assert led.list() == [] and [r.who for r in led.refusals.since()] == ["mallory"]  # a record
    led.close()


def test_cli_validate_against_the_archive(spec: PlaybookSpec, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("MLPB_HOME", str(home))
    monkeypatch.delenv("MLPB_POLICY", raising=False)
    archive_spec(home, spec)  # what a run of 1.0.0 left
    path = tmp_path / "data-drift.yaml"
    path.write_text(yaml.safe_dump(_pinned(), sort_keys=False), encoding="utf-8")
    runner = CliRunner()
    assert runner.invoke(app, ["validate", "--no-git", str(path)]).exit_code == 0
    _edit(path, bump=False)
    res = runner.invoke(app, ["validate", "--no-git", str(path)])
    assert res.exit_code == 2, res.output
    assert f"ran as 1.0.0, hash {spec.hash}" in res.stdout and "still 1.0.0" in res.stdout
    assert "mlpb spec diff data-drift@HASH data-drift@current" in res.stdout
