"""Registries of checks, remediations and evidence collectors.

Decorators only *mark* a function or class (no global mutable state); a ``PluginTable`` is built
from modules (the built-in ones are discovered by walking their packages), rejects duplicate
names and validates params against the typed ``*Params`` model each plugin declares. Plugins
also declare the metrics they produce, so specs can only name metrics something measures.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from types import ModuleType
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from playbooks.errors import UnknownNameError

__all__ = [
    "BUILTIN_PACKAGES",
    "Plugin",
    "PluginKind",
    "PluginTable",
    "builtin_modules",
    "check",
    "collector",
    "default_plugins",
    "remediation",
]

PluginKind = Literal["check", "remediation", "collector"]
T = TypeVar("T")
_MARK = "__mlpb_plugin__"

# Packages whose modules' decorated members form the standard catalog's plugins: adding a
# module to one of them is all it takes to register a new check, remediation or collector.
BUILTIN_PACKAGES = ("playbooks.checks", "playbooks.remediations", "playbooks.evidence")


def _walk(package: str) -> list[str]:
    pkg = importlib.import_module(package)
    return [m.name for m in pkgutil.walk_packages(pkg.__path__, prefix=f"{package}.")]


def builtin_modules() -> list[str]:
    return [m for p in BUILTIN_PACKAGES for m in _walk(p)]


@dataclass(frozen=True)
class Plugin:
    kind: PluginKind
    name: str
    params: type[BaseModel]
    impl: Any
    doc: str
    metrics: Mapping[str, str]  # metric name -> meaning, for metrics this plugin produces

    def parse_params(self, raw: Mapping[str, Any]) -> BaseModel:
        return self.params.model_validate(dict(raw))


def _mark(
    kind: PluginKind, name: str, params: type[BaseModel], metrics: Mapping[str, str] | None = None
) -> Callable[[T], T]:
    def decorate(obj: T) -> T:
        doc = (obj.__doc__ or "").strip()
        setattr(obj, _MARK, Plugin(kind, name, params, obj, doc, dict(metrics or {})))
        return obj

    return decorate


def check(name: str, *, params: type[BaseModel]) -> Callable[[T], T]:
    """Mark ``fn(evidence, params) -> CheckResult`` as the check called ``name``."""
    return _mark("check", name, params)


def remediation(
    name: str, *, params: type[BaseModel], metrics: Mapping[str, str] | None = None
) -> Callable[[T], T]:
    """Mark a class with ``plan``/``apply``/``revert``/``verify`` as remediation ``name``;
    ``metrics`` are the acceptance metrics its ``verify`` measures."""
    return _mark("remediation", name, params, metrics)


def collector(
    name: str, *, params: type[BaseModel], metrics: Mapping[str, str] | None = None
) -> Callable[[T], T]:
    """Mark ``fn(ctx, params) -> EvidencePart`` as the evidence collector ``name``;
    ``metrics`` are the headline metrics it adds to the evidence package."""
    return _mark("collector", name, params, metrics)


class PluginTable:
    """An immutable name → plugin map per kind."""

    def __init__(self, plugins: Iterable[Plugin]) -> None:
        table: dict[tuple[str, str], Plugin] = {}
        for p in plugins:
            key = (p.kind, p.name)
            if key in table and table[key].impl is not p.impl:
                raise ValueError(
                    f"duplicate {p.kind} name '{p.name}': {_where(table[key].impl)} and "
                    f"{_where(p.impl)}; rename one of them"
                )
            table[key] = p
        self._table = table

    @classmethod
    def from_modules(cls, modules: Iterable[str | ModuleType]) -> PluginTable:
        found: list[Plugin] = []
        for mod in modules:
            m = importlib.import_module(mod) if isinstance(mod, str) else mod
            found += [getattr(v, _MARK) for v in vars(m).values() if hasattr(v, _MARK)]
        return cls(found)

    def metrics(self) -> dict[str, str]:
        """Every metric some plugin produces (name -> meaning)."""
        return {m: d for p in self._table.values() for m, d in p.metrics.items()}

    def names(self, kind: PluginKind) -> list[str]:
        return sorted(n for k, n in self._table if k == kind)

    def get(self, kind: PluginKind, name: str) -> Plugin:
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
            return [
                (
                    ".".join(map(str, e["loc"])),
                    "unknown parameter (not in the params model)"
                    if e["type"] == "extra_forbidden"
                    else e["msg"],
                )
                for e in exc.errors()
            ]
        return []


def _where(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


@cache
def default_plugins() -> PluginTable:
    """The registry of every built-in check and remediation (built once, then read-only)."""
    return PluginTable.from_modules(builtin_modules())
