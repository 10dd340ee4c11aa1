"""Team playbooks: ``extends: data-drift@1`` merged over the catalog spec, then validated as a
whole; errors name the team file and the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from playbooks.archive.specs import archive_spec
from playbooks.errors import SpecError
from playbooks.loader import CATALOG_DIR, detect_kind, load_spec, read_yaml
from playbooks.spec_changes import archive_baselines, base_problems, git_baseline
from playbooks.spec_extends import version_matches

BASE = load_spec(CATALOG_DIR / "data-drift.yaml")
MAJOR = BASE.version.split(".")[0]
ENTRY = {"version": "1.0.0", "date": "2026-12-02", "author": "payments",
         "changes": ["initial version"]}


def _team(tmp_path: Path, name: str = "team.yaml", **fields: Any) -> Path:
    data = {"extends": f"data-drift@{MAJOR}", "id": "payments-data-drift", "version": "1.0.0",
            "changelog": [ENTRY], **fields}
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def _problems(path: Path, **kw: Any) -> dict[str, str]:
    with pytest.raises(SpecError) as info:
        load_spec(path, **kw)
    assert info.value.path == str(path)  # the team file, not the catalog's
    return dict(info.value.problems)


def test_an_empty_extension_is_the_base_under_its_own_id_and_version(tmp_path: Path) -> None:
    spec = load_spec(_team(tmp_path))
    assert (spec.id, spec.version, spec.extends) == ("payments-data-drift", "1.0.0",
                                                     f"data-drift@{MAJOR}")
    assert spec.base is not None
    assert (spec.base.id, spec.base.version, spec.base.hash) == ("data-drift", BASE.version,
                                                                 BASE.hash)
    assert [h.id for h in spec.hypotheses] == [h.id for h in BASE.hypotheses]
    assert spec.acceptance == BASE.acceptance and spec.title == BASE.title
    assert [e.version for e in spec.changelog] == ["1.0.0"]  # the base's is not inherited
    assert spec.hash not in (BASE.hash, load_spec(_team(tmp_path, "b.yaml", version="1.0.1",
                                                        changelog=[])).hash)


def test_named_items_merge_by_id_new_ones_append_and_scalars_override(tmp_path: Path) -> None:
    spec = load_spec(_team(
        tmp_path, title="Payments input drift",
        hypotheses=[{"id": "population-shift", "params": {"min_drifted_features": 3}},
                    {"id": "seasonal-promo", "title": "A promotion moved the inputs.",
                     "check": "no-material-drift", "params": {"max_drifted_features": 4},
                     "on_supported": {"escalate_to": "model"}}],
        remediations=[{"id": "retrain", "params": {"holdout": "3d"},
                       "requires_approval": True}],
        acceptance={"pre_check": [{"id": "auc-floor", "value": 0.75}],
                    "monitoring": {"count": 5}},
        escalation={"default_owner": "model"},
        drift={"psi_act": 0.25},
        evidence=["data-windows", "data-quality", "feature-drift"]))
    assert spec.title == "Payments input drift"
    ids = [h.id for h in spec.hypotheses]
    assert ids == [*(h.id for h in BASE.hypotheses), "seasonal-promo"]  # base order kept
    shift = spec.hypothesis("population-shift")
    assert shift.params == {"min_drifted_features": 3}
    assert shift.check == "population-shift" and shift.on_supported.remediate == ["retrain"]
    retrain = spec.remediation("retrain")
    assert retrain.requires_approval and retrain.risk == "medium"
    assert retrain.params == {**BASE.remediation("retrain").params, "holdout": "3d"}
    floor = {c.id: c for c in spec.acceptance.pre_check}["auc-floor"]
    assert floor.value == 0.75 and floor.metric == "roc_auc"
    assert len(spec.acceptance.pre_check) == len(BASE.acceptance.pre_check)
    assert spec.acceptance.monitoring is not None and BASE.acceptance.monitoring is not None
    assert spec.acceptance.monitoring.count == 5
    assert spec.acceptance.monitoring.criteria == BASE.acceptance.monitoring.criteria
    assert spec.escalation.default_owner == "model"
    assert spec.escalation.after == BASE.escalation.after  # the rest of the mapping is kept
    assert (spec.drift.psi_act, spec.drift.psi_warn) == (0.25, BASE.drift.psi_warn)
    assert spec.evidence == ["data-windows", "data-quality", "feature-drift"]  # lists replace


def test_remove_drops_base_items_and_a_removed_id_listed_again_is_replaced(
        tmp_path: Path) -> None:
    spec = load_spec(_team(
        tmp_path, remove={"hypotheses": ["no-material-drift"],
                          "acceptance.pre_check": ["no-slice-harm", "auc-floor"]},
        acceptance={"pre_check": [{"id": "auc-floor", "metric": "roc_auc", "op": ">=",
                                   "value": 0.8}]}))
    assert "no-material-drift" not in [h.id for h in spec.hypotheses]
    pre = [(c.id, c.value, c.description) for c in spec.acceptance.pre_check]
    assert pre[-1] == ("auc-floor", 0.8, "")  # replaced whole: the base's description is gone
    assert "no-slice-harm" not in [c for c, _, _ in pre]
    off = load_spec(_team(tmp_path, "off.yaml", acceptance={"monitoring": None}))
    assert off.acceptance.monitoring is None  # null drops a base value


def test_the_merged_spec_is_validated_as_a_whole_naming_items_by_id(tmp_path: Path) -> None:
    dangling = _problems(_team(tmp_path, "d.yaml", remove={"remediations": ["retrain"]}))
    assert any("population-shift" in m and "retrain" in m for m in dangling.values())
    problems = _problems(_team(
        tmp_path, hypotheses=[{"id": "upstream-unit-change", "params": {"min_factr": 2}},
                              {"id": "plugin-gone", "title": "t", "check": "no-such-check",
                               "on_supported": {"escalate_to": "data"}}]))
    assert problems["hypotheses.upstream-unit-change.params.min_factr"].startswith(
        "unknown parameter")
    assert "unknown check 'no-such-check'" in problems["hypotheses.plugin-gone.check"]


@pytest.mark.parametrize(("fields", "key", "says"), [
    ({"extends": "data-drift@2"}, "extends", "the catalog has data-drift 1."),
    ({"extends": "data-drift@1.0.7"}, "extends", "(available: 1."),
    ({"extends": "data-drift"}, "extends", "expected PLAYBOOK@MAJOR"),
    ({"extends": "data-drfit@1"}, "extends", "unknown base playbook 'data-drfit' (catalog: "),
    ({"id": "data-drift"}, "id", "the base's id"),
    ({"base": {"id": "x"}}, "base", "set at load"),
    ({"remove": {"hypotheses": ["no-such"]}}, "remove.hypotheses", "['no-such'] not in the"),
    ({"remove": {"severity": ["x"]}}, "remove.severity", "not a list of named items"),
    ({"hypotheses": [{"title": "no id"}]}, "hypotheses.0.id", "merge with the base's by id"),
])
def test_extension_errors_name_the_team_file_and_key(tmp_path: Path, fields: dict[str, Any],
                                                     key: str, says: str) -> None:
    problems = _problems(_team(tmp_path, **fields))
    assert says in problems[key], problems


def test_a_team_spec_needs_its_own_version(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text("extends: data-drift@1\nid: payments-data-drift\n", encoding="utf-8")
    assert "required" in _problems(path)["version"]


def test_a_cycle_of_bases_and_a_chain_of_them(tmp_path: Path) -> None:
    catalog = tmp_path / "catalog"
    catalog.mkdir()
    base = read_yaml(CATALOG_DIR / "data-drift.yaml")
    (catalog / "data-drift.yaml").write_text(yaml.safe_dump(base), encoding="utf-8")
    for a, b in (("ring-a", "ring-b"), ("ring-b", "ring-a")):
        _team(catalog, f"{a}.yaml", id=a, extends=f"{b}@1")
    assert "extends cycle: ring-a.yaml -> ring-b.yaml -> ring-a.yaml" in _problems(
        catalog / "ring-a.yaml", catalog=catalog)["extends"]
    _team(catalog, "org-drift.yaml", id="org-drift", drift={"psi_act": 0.3},
          escalation={"default_owner": "data"})
    team = _team(tmp_path, id="team-drift", extends="org-drift@1",
                 escalation={"after": "2h"})
    spec = load_spec(team, catalog=catalog)
    assert spec.base is not None and (spec.base.id, spec.base.version) == ("org-drift", "1.0.0")
    assert spec.drift.psi_act == 0.3 and spec.escalation.default_owner == "data"
    assert spec.escalation.after.total_seconds() == 7200


def test_version_ranges() -> None:
    assert version_matches("1", "1.4.2") and version_matches("1.4.2", "1.4.2")
    assert not version_matches("1", "10.0.0") and not version_matches("1.4.1", "1.4.2")


def test_validate_holds_the_team_file_not_the_base_that_moved(tmp_path: Path) -> None:
    """The archive has the team spec as it ran over an older base: only the base moved
    (within @1), so no bump is asked for; an edit of the team file without one is refused."""
    path = _team(tmp_path, escalation={"default_owner": "model"})
    spec = load_spec(path)
    assert detect_kind(read_yaml(path)) == "spec"
    assert spec.base is not None
    older = spec.model_copy(update={"base": spec.base.model_copy(update={
        "version": "1.0.0", "hash": "0" * 16})})
    home = tmp_path / "home"
    archive_spec(home, older)
    (base,) = archive_baselines(home, spec.id)
    assert base.hash != spec.hash
    assert base_problems(spec, read_yaml(path), base) == []
    _team(tmp_path, escalation={"default_owner": "data"})  # the team's own edit, same version
    edited = load_spec(path)
    (loc, msg), = base_problems(edited, read_yaml(path), base)
    assert loc == "version" and "bump it" in msg


def test_git_baseline_of_a_team_spec(tmp_path: Path) -> None:
    import subprocess

    path = _team(tmp_path)
    git = ["git", "-C", str(tmp_path), "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", path.name], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "team spec"], check=True)
    base, why = git_baseline(path, "HEAD")
    spec = load_spec(path)
    assert base is not None and why == "" and base.hash == spec.hash
    assert spec.base is not None and base.own == spec.base.own_hash


def test_the_archive_keeps_the_resolved_spec_and_diffs_it_with_the_team_file(
        tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from cli.main import app
    from playbooks.archive.specs import archived_spec, archived_versions

    path = _team(tmp_path, escalation={"default_owner": "model"})
    spec = load_spec(path)
    home = tmp_path / "home"
    archive_spec(home, spec)
    (row,) = archived_versions(home, spec.id)
    assert row["base"] == f"data-drift {BASE.version} {BASE.hash}"
    kept = archived_spec(home, spec.id, row["hash"])
    assert [h["id"] for h in kept["hypotheses"]] == [h.id for h in BASE.hypotheses]
    same = CliRunner().invoke(app, ["spec", "diff", f"{spec.id}@{row['hash'][:8]}", str(path),
                                    "--home", str(home)])
    assert same.exit_code == 0, same.output
    _team(tmp_path, escalation={"default_owner": "data"})
    moved = CliRunner().invoke(app, ["spec", "diff", f"{spec.id}@{row['hash'][:8]}", str(path),
                                     "--home", str(home)])
    assert moved.exit_code == 1 and "-  default_owner: model" in moved.output
    assert "+  default_owner: data" in moved.output


def test_a_triage_extension_keeps_generated_handovers_and_names_items_by_id(
        tmp_path: Path) -> None:
    triage = load_spec(CATALOG_DIR / "triage.yaml")
    major = triage.version.split(".")[0]
    spec = load_spec(_team(tmp_path, extends=f"triage@{major}", id="payments-triage"))
    assert [h.id for h in spec.hypotheses] == [h.id for h in triage.hypotheses]
    own = next(h for h in read_yaml(CATALOG_DIR / "triage.yaml")["hypotheses"])
    problems = _problems(_team(tmp_path, "bad.yaml", extends=f"triage@{major}",
                               id="payments-triage",
                               hypotheses=[{"id": own["id"], "params": {"no_such": 1}}]))
    assert problems[f"hypotheses.{own['id']}.params.no_such"].startswith("unknown parameter")
