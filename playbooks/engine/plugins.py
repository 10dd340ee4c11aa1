"""Registries of checks, remediations and evidence collectors.

Decorators only *mark* a function or class (no global mutable state); a ``PluginTable`` is built
from modules (the built-in ones are discovered by walking their packages), rejects duplicate
names and validates params against the typed ``*Params`` model each plugin declares. Plugins
also declare the metrics they produce, so specs can only name metrics something measures.

Installed packages add plugins through entry points of the group ``mlpb.plugins``: each names
a module (its marked members register) or a callable that receives a ``PluginRegistrar``.
They are read the first time the registry is needed, never at import (``mlpb --help``).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib.metadata import EntryPoint, entry_points
from types import ModuleType
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from playbooks.errors import MlpbError, UnknownNameError, validation_problems

if TYPE_CHECKING:  # the plugin kinds' own modules import this one (decorators)
    from playbooks.checks.base import CheckResult
    from playbooks.evidence.base import CollectContext, EvidencePart
    from playbooks.models.evidence import EvidencePackage
    from playbooks.remediations.base import Remediation

__all__ = [
    "BUILTIN_PACKAGES",
    "ENTRY_POINT_GROUP",
    "Plugin",
    "PluginError",
    "PluginKind",
    "PluginRegistrar",
    "PluginTable",
    "builtin_modules",
    "check",
    "collector",
    "default_plugins",
    "fault",
    "installed_entry_points",
    "remediation",
]

PluginKind = Literal["check", "remediation", "collector", "fault"]
T = TypeVar("T")
P = TypeVar("P", bound=BaseModel)
_MARK = "__mlpb_plugin__"

# Packages whose modules' decorated members form the standard catalog's plugins: adding a
# module to one of them is all it takes to register a new check, remediation or collector.
BUILTIN_PACKAGES = ("playbooks.checks", "playbooks.remediations", "playbooks.evidence")
ENTRY_POINT_GROUP = "mlpb.plugins"  # how installed packages add theirs


class PluginError(MlpbError, ValueError):
    """Two plugins claim one name, or an installed plugin package cannot be loaded."""

    exit_code = 2


def _walk(package: str) -> list[str]:
    pkg = importlib.import_module(package)
    return [m.name for m in pkgutil.walk_packages(pkg.__path__, prefix=f"{package}.")]


def builtin_modules() -> list[str]:
    return [m for p in BUILTIN_PACKAGES for m in _walk(p)]


@dataclass(frozen=True)
class Plugin(Generic[P]):
    """One registered unit of work and the typed ``*Params`` model its YAML is checked against."""

    kind: PluginKind
    name: str
    params: type[P]
    impl: Any  # the function or class; call it through the typed views below
    doc: str
    metrics: Mapping[str, str]  # metric name -> meaning, for metrics this plugin produces
    # Remediations only: refuse to act when the current data failed quality checks. Opt-out,
    # so a remediation that forgets to say is the safe kind.
    requires_clean_data: bool = True

    def parse_params(self, raw: Mapping[str, Any]) -> P:
        return self.params.model_validate(dict(raw))

    # Typed views: one place that knows how each kind is called.
    def run_check(self, evidence: EvidencePackage, raw: Mapping[str, Any]) -> CheckResult:
        result: CheckResult = self.impl(evidence, self.parse_params(raw))
        return result

    def run_collector(self, ctx: CollectContext) -> EvidencePart:
        part: EvidencePart = self.impl(ctx, self.parse_params({}))
        return part

    def remediation(self) -> Remediation[P]:
        """A fresh instance of the remediation class."""
        instance: Remediation[P] = self.impl()
        return instance


def _mark(
    kind: PluginKind,
    name: str,
    params: type[BaseModel],
    metrics: Mapping[str, str] | None = None,
    *,
    requires_clean_data: bool = True,
) -> Callable[[T], T]:
    def decorate(obj: T) -> T:
        doc = (obj.__doc__ or "").strip()
        plugin = Plugin(kind, name, params, obj, doc, dict(metrics or {}), requires_clean_data)
        setattr(obj, _MARK, plugin)
        return obj

    return decorate


def check(name: str, *, params: type[BaseModel]) -> Callable[[T], T]:
    """Mark ``fn(evidence, params) -> CheckResult`` as the check called ``name``."""
    return _mark("check", name, params)


def remediation(
    name: str,
    *,
    params: type[BaseModel],
    metrics: Mapping[str, str] | None = None,
    requires_clean_data: bool = True,
) -> Callable[[T], T]:
    """Mark a ``Remediation[XParams]`` class as remediation ``name``; ``metrics`` are the
    acceptance metrics its ``verify`` measures. ``requires_clean_data=False`` only for
    changes that learn nothing from the current window (a rollback, a quarantine)."""
    return _mark("remediation", name, params, metrics, requires_clean_data=requires_clean_data)


def collector(
    name: str, *, params: type[BaseModel], metrics: Mapping[str, str] | None = None
) -> Callable[[T], T]:
    """Mark ``fn(ctx, params) -> EvidencePart`` as the evidence collector ``name``;
    ``metrics`` are the headline metrics it adds to the evidence package."""
    return _mark("collector", name, params, metrics)


def fault(name: str, *, params: type[BaseModel]) -> Callable[[T], T]:
    """Mark a sandbox fault injector (drills) as the fault called ``name``."""
    return _mark("fault", name, params)


class PluginTable:
    """An immutable name → plugin map per kind."""

    def __init__(self, plugins: Iterable[Plugin[Any]]) -> None:
        table: dict[tuple[str, str], Plugin[Any]] = {}
        for p in plugins:
            key = (p.kind, p.name)
            if key in table and table[key].impl is not p.impl:
                raise PluginError(
                    f"duplicate {p.kind} name '{p.name}': {_where(table[key].impl)} and "
                    f"{_where(p.impl)}", hint="rename one of them")
            table[key] = p
        self._table = table

    @classmethod
    def from_modules(cls, modules: Iterable[str | ModuleType]) -> PluginTable:
        found: list[Plugin[Any]] = []
        for mod in modules:
            m = importlib.import_module(mod) if isinstance(mod, str) else mod
            found += [getattr(v, _MARK) for v in vars(m).values() if hasattr(v, _MARK)]
        return cls(found)

    def extend(self, modules: Iterable[str | ModuleType]) -> PluginTable:
        """A new table with this one's plugins plus those marked in ``modules``."""
        more = PluginTable.from_modules(modules)._table.values()
        return PluginTable([*self._table.values(), *more])

    def with_entry_points(self, eps: Iterable[EntryPoint]) -> PluginTable:
        """A new table with this one's plugins plus those of installed packages' entry
        points; a name taken already is an error naming both and the package."""
        table = dict(self._table)
        origin = {k: _where(p.impl) for k, p in table.items()}
        for ep in eps:
            where = _entry_point(ep)
            for p in _load_entry_point(ep, where):
                key = (p.kind, p.name)
                if key in table and table[key].impl is not p.impl:
                    raise PluginError(
                        f"duplicate {p.kind} name '{p.name}': {origin[key]} and "
                        f"{_where(p.impl)} from {where}",
                        hint="rename the plugin in that package, or uninstall the package")
                table[key], origin[key] = p, f"{_where(p.impl)} from {where}"
        return PluginTable(table.values())

    def metrics(self) -> dict[str, str]:
        """Every metric some plugin produces (name -> meaning)."""
        return {m: d for p in self._table.values() for m, d in p.metrics.items()}

    def names(self, kind: PluginKind) -> list[str]:
        return sorted(n for k, n in self._table if k == kind)

    def get(self, kind: PluginKind, name: str) -> Plugin[Any]:
        try:
            return self._table[(kind, name)]
        except KeyError:
            raise UnknownNameError(
                f"unknown {kind} '{name}'",
                hint=f"registered {kind}s: {', '.join(self.names(kind)) or '(none)'}",
            ) from None

    def validate(
        self, kind: PluginKind, name: str, raw: Mapping[str, Any]
    ) -> list[tuple[str, str]]:
        """Problems (field path, message) with ``raw`` params for plugin ``name``; [] if valid."""
        try:
            plugin = self.get(kind, name)
        except UnknownNameError as exc:
            return [("", f"{exc.message} ({exc.hint})")]
        try:
            plugin.parse_params(raw)
        except ValidationError as exc:
            return validation_problems(exc, unknown="unknown parameter (not in the params model)")
        return []


def _where(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


class PluginRegistrar:
    """What a registering entry point (``def register(registrar): ...``) receives: it adds
    marked functions/classes or whole modules; the table is built from them afterwards."""

    def __init__(self) -> None:
        self._found: list[Plugin[Any]] = []

    def add(self, *objects: Any) -> None:
        for obj in objects:
            plugin = getattr(obj, _MARK, None)
            if not isinstance(plugin, Plugin):
                raise TypeError(f"{_where(obj)} is not marked with @check, @collector, "
                                "@remediation or @fault")
            self._found.append(plugin)

    def add_module(self, module: str | ModuleType) -> None:
        self._found += PluginTable.from_modules([module])._table.values()

    @property
    def plugins(self) -> list[Plugin[Any]]:
        return list(self._found)


def _entry_point(ep: EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    pkg = f" of package {dist.name} {dist.version}" if dist is not None else ""
    return f"entry point '{ep.name} = {ep.value}' ({ENTRY_POINT_GROUP}){pkg}"


def _load_entry_point(ep: EntryPoint, where: str) -> list[Plugin[Any]]:
    try:
        target = ep.load()
        registrar = PluginRegistrar()
        if isinstance(target, ModuleType):
            registrar.add_module(target)
        elif isinstance(getattr(target, _MARK, None), Plugin):
            registrar.add(target)
        elif callable(target):
            target(registrar)
        else:
            raise TypeError(f"{ep.value} is neither a module nor a callable")
    except PluginError:
        raise
    except Exception as exc:  # an installed package broke: say which, do not skip it
        raise PluginError(f"plugins of {where} failed to load: {type(exc).__name__}: {exc}",
                          hint="fix or reinstall that package, or uninstall it") from exc
    return registrar.plugins


def installed_entry_points() -> list[EntryPoint]:
    """The ``mlpb.plugins`` entry points of the installed packages, in name order."""
    return sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: (ep.name, ep.value))


@cache
def default_plugins() -> PluginTable:
    """The registry of every built-in plugin and those of installed plugin packages (built
    once, when first needed; then read-only)."""
    return PluginTable.from_modules(builtin_modules()).with_entry_points(
        installed_entry_points())
