"""Plugins of installed packages (entry points ``mlpb.plugins``): a module, a marked object or a
registering callable; the same duplicate rejection as the built-ins; a broken package says
which one. Entry points are built here; tests/e2e/test_team_plugin.py installs a real one."""

from __future__ import annotations

from importlib.metadata import EntryPoint

import pytest

from playbooks.checks.base import CheckResult
from playbooks.engine.plugins import (
    ENTRY_POINT_GROUP,
    PluginError,
    PluginRegistrar,
    PluginTable,
    builtin_modules,
    check,
    collector,
    default_plugins,
)
from playbooks.evidence.base import CollectContext, EvidencePart
from playbooks.models.common import StrictParams
from playbooks.models.evidence import EvidencePackage
from playbooks.models.incident import Verdict

HERE = __name__


class TeamParams(StrictParams):
    limit: float = 1.0


@check("team-unit-check", params=TeamParams)
def check_team_unit(evidence: EvidencePackage, params: TeamParams) -> CheckResult:
    """A team's check."""
    return CheckResult(Verdict.INCONCLUSIVE, 0.1, f"limit {params.limit}")


def collect_team_part(ctx: CollectContext, params: TeamParams) -> EvidencePart:
    return EvidencePart(metrics={"team_rows": float(len(ctx.data.current))})


team_collector = collector("team-part", params=TeamParams,
                           metrics={"team_rows": "rows seen"})(collect_team_part)


def register(registrar: PluginRegistrar) -> None:
    registrar.add(team_collector)


def not_a_plugin(ctx: CollectContext, params: TeamParams) -> EvidencePart:
    return EvidencePart()


def register_unmarked(registrar: PluginRegistrar) -> None:
    registrar.add(not_a_plugin)


@check("population-shift", params=TeamParams)
def check_taken_name(evidence: EvidencePackage, params: TeamParams) -> CheckResult:
    return CheckResult(Verdict.INCONCLUSIVE, 0.1, "")


BUILTINS = PluginTable.from_modules(builtin_modules())


def _ep(value: str, name: str = "team") -> EntryPoint:
    return EntryPoint(name, value, ENTRY_POINT_GROUP)


def test_a_module_a_marked_object_and_a_registering_callable() -> None:
    # This module holds a duplicate on purpose: as a module it is refused (below), so the
    # module form is shown with the objects it would add.
    table = BUILTINS.with_entry_points([_ep(f"{HERE}:check_team_unit", "a"),
                                        _ep(f"{HERE}:register", "b")])
    assert table.get("check", "team-unit-check").impl is check_team_unit
    assert table.get("collector", "team-part").impl is collect_team_part
    assert table.metrics()["team_rows"] == "rows seen"
    assert table.validate("check", "team-unit-check", {"limit": "x"})[0][0] == "limit"
    assert "population-shift" in table.names("check")  # the built-ins are all still there
    assert set(BUILTINS.names("check")) < set(table.names("check"))


def test_a_plugin_taking_a_builtin_name_is_refused_naming_both() -> None:
    with pytest.raises(PluginError) as info:
        BUILTINS.with_entry_points([_ep(HERE)])  # the whole module: the duplicate included
    msg = info.value.message
    assert "duplicate check name 'population-shift'" in msg
    assert "playbooks.checks.drift.check_population_shift" in msg
    assert f"{HERE}.check_taken_name from entry point 'team = {HERE}'" in msg
    assert info.value.hint is not None and "rename" in info.value.hint
    with pytest.raises(PluginError, match="duplicate check name 'team-unit-check'"):
        BUILTINS.with_entry_points([_ep(f"{HERE}:check_team_unit", "a"),
                                    _ep(f"{HERE}:register_twice", "b")])


def register_twice(registrar: PluginRegistrar) -> None:
    @check("team-unit-check", params=TeamParams)
    def other(evidence: EvidencePackage, params: TeamParams) -> CheckResult:
        return CheckResult(Verdict.INCONCLUSIVE, 0.1, "")

    registrar.add(other)


@pytest.mark.parametrize(("value", "says"), [
    ("team_plugin_not_installed.checks", "ModuleNotFoundError"),
    (f"{HERE}:no_such_name", "AttributeError"),
    (f"{HERE}:register_unmarked", "is not marked with @check"),
    (f"{HERE}:HERE", "neither a module nor a callable"),
])
def test_a_broken_plugin_package_is_an_error_naming_its_entry_point(value: str,
                                                                    says: str) -> None:
    with pytest.raises(PluginError) as info:
        BUILTINS.with_entry_points([_ep(value, "broken")])
    assert f"entry point 'broken = {value}' (mlpb.plugins)" in info.value.message
    assert says in info.value.message


def test_the_default_registry_is_the_builtins_plus_installed_entry_points() -> None:
    from playbooks.engine.plugins import installed_entry_points

    eps = installed_entry_points()
    expected = BUILTINS.with_entry_points(eps)
    assert default_plugins().names("check") == expected.names("check")
    assert all(ep.group == ENTRY_POINT_GROUP for ep in eps)
