"""playbooks/scaffold.py: what `mlpb playbook new` writes, into a temp root (pure otherwise)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from playbooks.engine.plugins import default_plugins
from playbooks.errors import SpecError
from playbooks.loader import load_spec
from playbooks.scaffold import ScaffoldError, render_playbook, snake_name, write_playbook

NAME = "label-delay"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    for sub in ("catalog", "checks", "evidence"):
        (tmp_path / "playbooks" / sub).mkdir(parents=True)
    return tmp_path


def _module(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_four_files_and_the_names_they_register() -> None:
    plan = render_playbook(NAME)
    assert sorted(str(p) for p in plan.files) == [
        "playbooks/catalog/label-delay.yaml", "playbooks/checks/label_delay.py",
        "playbooks/evidence/label_delay.py", "tests/unit/test_label_delay_playbook.py"]
    assert plan.checks == ("label-delay-missing-values", "label-delay-thin-window",
                           "label-delay-healthy")
    assert plan.collector == NAME and plan.metrics == ("label_delay_rows", "label_delay_null_share")
    assert render_playbook(NAME) == plan  # pure: same name, same files


def test_generated_spec_validates_against_the_generated_plugins(root: Path) -> None:
    plan = render_playbook(NAME)
    write_playbook(plan, root)
    checks = _module(root / "playbooks/checks/label_delay.py", "scaffolded_checks")
    evidence = _module(root / "playbooks/evidence/label_delay.py", "scaffolded_evidence")
    registry = default_plugins().extend([checks, evidence])
    spec = load_spec(root / plan.spec_path, registry)
    assert spec.id == NAME and len(spec.hypotheses) == 3
    assert [h.check for h in spec.hypotheses] == list(plan.checks)
    assert {"data-windows", "data-quality", NAME} == set(spec.evidence)
    assert [r.action for r in spec.remediations] == ["quarantine-batch"]  # a built-in one
    assert spec.acceptance.pre_check
    for check in plan.checks:  # each with its own typed params model
        params = registry.get("check", check).params
        assert params.__name__.endswith("Params") and params.model_fields
    with pytest.raises(SpecError, match="unknown check 'label-delay-missing-values'"):
        load_spec(root / plan.spec_path)  # the built-in table alone does not know them


@pytest.mark.parametrize("bad", ["Label-Delay", "label_delay", "label--delay", "-label",
                                 "1st-playbook", "label-delay-", "class", "x" * 31, ""])
def test_names_that_are_not_short_kebab_case_identifiers_are_refused(bad: str) -> None:
    with pytest.raises(ScaffoldError) as exc:
        render_playbook(bad)
    assert exc.value.exit_code == 2 and bad in exc.value.message


def test_snake_name() -> None:
    assert snake_name("label-delay") == "label_delay"


def test_an_existing_file_refuses_the_whole_playbook(root: Path) -> None:
    plan = render_playbook(NAME)
    taken = root / "playbooks/evidence/label_delay.py"
    taken.write_text("# someone else's\n", encoding="utf-8")
    with pytest.raises(ScaffoldError, match=r"would overwrite.*evidence/label_delay\.py"):
        write_playbook(plan, root)
    assert taken.read_text(encoding="utf-8") == "# someone else's\n"
    assert not (root / plan.spec_path).exists() and not (root / plan.test_path).exists()


def test_names_registered_elsewhere_are_refused(root: Path) -> None:
    plugins = default_plugins()
    plan = render_playbook("freshness")  # the built-in collector's name
    with pytest.raises(ScaffoldError, match="collector 'freshness'"):
        write_playbook(plan, root, registered_collectors=plugins.names("collector"))
    with pytest.raises(ScaffoldError, match="check 'label-delay-healthy'"):
        write_playbook(render_playbook(NAME), root, registered_checks=["label-delay-healthy"])
    assert list(root.rglob("*.py")) == []


def test_a_root_without_the_plugin_packages_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ScaffoldError, match="no playbooks/catalog/"):
        write_playbook(render_playbook(NAME), tmp_path)
