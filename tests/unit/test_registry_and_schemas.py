"""Plugin registry rules and the exported JSON Schemas."""

from __future__ import annotations

import json
import types
from datetime import timedelta

import pytest
from pydantic import BaseModel

from playbooks.engine.plugins import PluginTable, check, default_plugins
from playbooks.errors import UnknownNameError
from playbooks.models.common import parse_duration
from playbooks.schemas import SCHEMA_DIR, schema_for


class P(BaseModel):
    x: int = 1


def _module(name: str, **members: object) -> types.ModuleType:
    m = types.ModuleType(name)
    for k, v in members.items():
        setattr(m, k, v)
    return m


def test_duplicate_names_are_rejected_with_both_locations() -> None:
    @check("same-name", params=P)
    def a(ev, p):  # type: ignore[no-untyped-def]
        return None

    @check("same-name", params=P)
    def b(ev, p):  # type: ignore[no-untyped-def]
        return None

    with pytest.raises(ValueError, match="duplicate check name 'same-name'"):
        PluginTable.from_modules([_module("m1", a=a), _module("m2", b=b)])


def test_registries_are_separate_objects_not_global_state() -> None:
    @check("only-here", params=P)
    def c(ev, p):  # type: ignore[no-untyped-def]
        return None

    mine = PluginTable.from_modules([_module("m3", c=c)])
    assert mine.names("check") == ["only-here"]
    assert "only-here" not in default_plugins().names("check")


def test_unknown_name_lists_the_registered_ones() -> None:
    with pytest.raises(UnknownNameError) as info:
        default_plugins().get("remediation", "reboot-the-world")
    assert info.value.hint is not None and "retrain" in info.value.hint


def test_params_are_validated_with_paths() -> None:
    problems = default_plugins().validate("remediation", "retrain", {"holdout": "soon", "x": 1})
    locs = dict(problems)
    assert "expected a duration" in locs["holdout"]
    assert locs["x"].startswith("unknown parameter")


def test_builtin_plugins_declare_the_metrics_specs_use() -> None:
    metrics = default_plugins().metrics()
    assert {"max_psi", "roc_auc", "worst_slice_auc_drop", "labelled_auc_drop"} <= metrics.keys()
    assert all(isinstance(d, str) and d for d in metrics.values())


@pytest.mark.parametrize("kind", ["spec", "profile"])
def test_committed_json_schemas_are_up_to_date(kind: str) -> None:
    committed = json.loads((SCHEMA_DIR / f"{kind}.schema.json").read_text())
    assert committed == json.loads(json.dumps(schema_for(kind))), (
        "run `mlpb schema --write playbooks/schemas` and commit the result")


def test_durations() -> None:
    assert parse_duration("7d") == timedelta(days=7)
    assert parse_duration("90m") == timedelta(minutes=90)
    with pytest.raises(ValueError, match="expected a duration"):
        parse_duration("7 days")
