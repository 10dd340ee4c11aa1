"""What a deployment run may choose (issue 13 point 14): a catalog id and a profile name, and
the custom-run form that shows just those (issue 14: a UI that explains)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from flows.params import HIDDEN_PARAMETERS, RunPlaybookParams, deployment_inputs
from playbooks.config import resolve_profile
from playbooks.errors import ConfigError
from playbooks.loader import catalog_ids


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "fraud.yaml").write_text("name: fraud\n")
    (tmp_path / "sandbox" / "credit-risk").mkdir(parents=True)
    (tmp_path / "sandbox" / "credit-risk" / "profile.yaml").write_text("name: credit-risk\n")
    (tmp_path / "elsewhere.yaml").write_text("name: elsewhere\n")
    return tmp_path


def test_profile_names_resolve_in_the_profiles_dir_then_the_sandbox(home: Path) -> None:
    assert resolve_profile("fraud", home) == (home / "profiles" / "fraud.yaml").resolve()
    assert resolve_profile("credit-risk", home) == (
        home / "sandbox" / "credit-risk" / "profile.yaml").resolve()
    with pytest.raises(ConfigError, match="no model profile named 'nope'") as unknown:
        resolve_profile("nope", home)
    assert "credit-risk, fraud" in str(unknown.value.hint)  # says what there is


def test_paths_are_accepted_only_inside_the_profile_dirs(home: Path) -> None:
    inside = home / "sandbox" / "credit-risk" / "profile.yaml"
    assert resolve_profile(str(inside), home) == inside.resolve()  # what the receiver routes
    for ref in (str(home / "elsewhere.yaml"), "/etc/passwd",
                str(home / "profiles" / ".." / "elsewhere.yaml"), "../elsewhere"):
        with pytest.raises(ConfigError, match="not a profile name or a file inside"):
            resolve_profile(ref, home)


def test_a_symlink_out_of_the_profiles_dir_is_refused(home: Path) -> None:
    (home / "profiles" / "sneaky.yaml").symlink_to(home / "elsewhere.yaml")
    with pytest.raises(ConfigError, match="no model profile named 'sneaky'"):
        resolve_profile("sneaky", home)


def test_deployment_inputs_take_a_catalog_id_and_never_a_home(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLPB_HOME", str(home))
    assert deployment_inputs("data-drift", "fraud", False, None) == (
        "data-drift", str((home / "profiles" / "fraud.yaml").resolve()))
    with pytest.raises(ValidationError, match="playbook"):
        deployment_inputs(str(home / "evil-spec.yaml"), "fraud", False, None)  # a spec path
    with pytest.raises(ConfigError, match="cannot choose the state dir"):
        deployment_inputs("data-drift", "fraud", False, str(home / "other"))
    with pytest.raises(ConfigError, match="not a profile name"):
        deployment_inputs("data-drift", str(home / "elsewhere.yaml"), False, None)


def test_the_form_is_the_params_model_with_the_playbook_as_a_choice() -> None:
    from deployments.serve import form_schema

    schema = form_schema().model_dump()
    props = schema["properties"]
    assert list(props) == ["playbook", "profile", "dry_run"]
    assert not set(HIDDEN_PARAMETERS) & set(props)
    assert props["playbook"]["enum"] == catalog_ids()
    assert "data-drift (Input data drift)" in props["playbook"]["description"]
    assert all(p["description"] and p["title"] for p in props.values())
    assert [p["position"] for p in props.values()] == [0, 1, 2]
    assert schema["required"] == ["playbook", "profile"]
    assert "additionalProperties" not in schema  # the receiver's plumbing still gets through
    with pytest.raises(ValidationError):
        RunPlaybookParams(playbook="data-drift", profile="x", home="/tmp")  # type: ignore[call-arg]



def test_the_schema_the_server_receives_says_it_is_an_object() -> None:
    """A deployment sends its schema with exclude_unset; without an explicit root type the UI
    has no form for it and opens a JSON editor (issue 14's screenshot)."""
    from deployments.serve import form_schema

    sent = form_schema().model_dump(exclude_unset=True)
    assert sent["type"] == "object" and sent["title"] == "Parameters"
    assert list(sent["properties"]) == ["playbook", "profile", "dry_run"]
    # The UI renders descriptions as markdown and joins single newlines: one item per choice.
    items = sent["properties"]["playbook"]["description"].split("\n\n")[1:]
    assert [item.split(" ")[1] for item in items] == catalog_ids()
    assert "<" not in sent["properties"]["profile"]["description"]  # read as an HTML tag
