"""Routing rules: which playbook and model profile an alert starts.

A YAML file (see ``deployments/routes.example.yaml``) validated like playbook specs: an error
names the file and the field path. Routes are tried in order; matchers are anchored (equality
and full-match regex, as in Alertmanager); the first route whose matchers all hold wins, else
``default``. An alert's ``playbook`` label overrides the route's playbook when that playbook
is in the catalog. ``profile`` may use ``{model}`` (the alert's model label) and ``{home}``
(the state dir); relative paths are relative to the rules file; a list of them means the first
file that exists. ``RoutingRules.builtin()`` is what ``mlpb receiver`` uses without a rules
file: the alert's ``playbook`` label (else triage) on ``{home}/profiles/{model}.yaml``, else the
sandbox's profile of that model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from playbooks.alerts.model import ParsedAlert
from playbooks.errors import SpecError, validation_problems

__all__ = ["BUILTIN_PROFILES", "Route", "RouteDecision", "RoutingError", "RoutingRules",
           "load_routing_rules"]

_KEBAB = r"^[a-z0-9]+(-[a-z0-9]+)*$"
_SAFE_MODEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_PLACEHOLDERS = re.compile(r"\{([^{}]*)\}")
BUILTIN_PROFILES = ("{home}/profiles/{model}.yaml", "{home}/sandbox/{model}/profile.yaml")


class RoutingError(Exception):
    """This alert cannot be routed (recorded on the alert; the sender still gets a 2xx)."""


class Route(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field("", description="Shown on the alert and the incident trigger.")
    match: dict[str, str] = Field(default_factory=dict, description="label: exact value")
    match_re: dict[str, str] = Field(default_factory=dict,
                                     description="label: regex, anchored at both ends")
    playbook: str = Field(description="Catalog playbook id, kebab-case (checked per alert).")
    profile: str | list[str] = Field(
        min_length=1, description="Model profile YAML; may use {model}, {home}. A list: the "
                                  "first file that exists.")
    dry_run: bool = Field(False, description="Diagnose and recommend only.")

    @field_validator("playbook")
    @classmethod
    def _kebab(cls, v: str) -> str:
        if not re.match(_KEBAB, v):
            raise ValueError(f"{v!r} is not a playbook id: use kebab-case like 'data-drift'")
        return v

    @field_validator("match_re")
    @classmethod
    def _compiles(cls, v: dict[str, str]) -> dict[str, str]:
        for label, pattern in v.items():
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"label '{label}': invalid regex {pattern!r}: {exc}") from None
        return v

    @field_validator("profile")
    @classmethod
    def _placeholders(cls, v: str | list[str]) -> str | list[str]:
        for text in [v] if isinstance(v, str) else v:
            if not text:
                raise ValueError("an empty profile path")
            bad = [p for p in _PLACEHOLDERS.findall(text) if p not in ("model", "home")]
            if bad:
                raise ValueError(f"unknown placeholder(s) {bad}; use {{model}} or {{home}}")
        return v

    def matches(self, labels: dict[str, str]) -> bool:
        return (all(labels.get(k) == v for k, v in self.match.items())
                and all(re.fullmatch(p, labels.get(k, "")) for k, p in self.match_re.items()))


class RoutingRules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    routes: list[Route] = Field(default_factory=list, description="Tried in order.")
    default: Route | None = Field(None, description="When no route matches (e.g. triage).")
    max_concurrent_runs_per_model: int = Field(
        2, ge=1, le=100, description="Storm control: further alerts queue on their incident.")
    base_dir: Path = Field(Path("."), exclude=True, description="Set by the loader.")

    @classmethod
    def builtin(cls) -> RoutingRules:
        """No rules file: every alert goes to its ``playbook`` label's playbook (else triage)
        on the profile named by its ``model`` label (see ``BUILTIN_PROFILES``)."""
        return cls(default=Route(name="built-in", playbook="triage",
                                 profile=list(BUILTIN_PROFILES)))

    def route(self, alert: ParsedAlert, *, catalog: set[str], home: Path) -> RouteDecision:
        chosen = next((r for r in self.routes if r.matches(alert.labels)), self.default)
        if chosen is None:
            raise RoutingError("no route matches and no default route is configured")
        notes = []
        playbook = chosen.playbook
        if alert.playbook and alert.playbook != playbook:
            if alert.playbook in catalog:
                playbook = alert.playbook
            else:
                notes.append(f"playbook label '{alert.playbook}' is not in the catalog "
                             f"({', '.join(sorted(catalog))}); used the route's '{playbook}'")
        if chosen is self.default:
            name = chosen.name or "default"
        else:
            name = chosen.name or f"routes.{self.routes.index(chosen)}"
        return RouteDecision(route=name, playbook=playbook,
                             profile=self._profile(chosen, alert, home),
                             dry_run=chosen.dry_run, notes=notes)

    def _profile(self, route: Route, alert: ParsedAlert, home: Path) -> Path:
        """The route's profile path for this alert; of a list, the first that exists (else
        the first: loading it then says which file is missing)."""
        paths = [self._path(route, text, alert, home)
                 for text in ([route.profile] if isinstance(route.profile, str)
                              else route.profile)]
        return next((p for p in paths if p.exists()), paths[0])

    def _path(self, route: Route, text: str, alert: ParsedAlert, home: Path) -> Path:
        if "{model}" in text:
            model = alert.model
            if not model:
                raise RoutingError(f"route '{route.name}' needs a 'model' label for its profile "
                                   f"{text!r}; add one to the alert rule")
            if not _SAFE_MODEL.match(model) or ".." in model:
                raise RoutingError(f"model label {model[:140]!r} is not a safe file name")
            text = text.replace("{model}", model)
        text = text.replace("{home}", str(home))
        path = Path(text).expanduser()
        return path if path.is_absolute() else (self.base_dir / path).resolve()


@dataclass(frozen=True)
class RouteDecision:
    route: str
    playbook: str
    profile: Path
    dry_run: bool
    notes: list[str]


def load_routing_rules(path: Path) -> RoutingRules:
    from playbooks.loader import read_yaml  # the loader pulls in the check registry: load lazily

    data: dict[str, Any] = read_yaml(path)
    try:
        rules = RoutingRules.model_validate(data)
    except ValidationError as exc:
        raise SpecError(str(path), validation_problems(exc),
                        hint="see deployments/routes.example.yaml for every field") from None
    if not rules.routes and rules.default is None:
        raise SpecError(str(path), [("routes", "no routes and no default: nothing would run")])
    return rules.model_copy(update={"base_dir": path.resolve().parent})
