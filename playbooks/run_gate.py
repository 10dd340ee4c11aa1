"""The run policy (playbooks/policy.py) at the engine's other entry points.

- **Receiver**: a route acts as ``route:<name>`` (the name the alert and the incident show).
  A route the policy lets run only dry is run dry (the alert is still diagnosed) and a refusal
  is recorded; a route it lets do nothing is not run (the alert's incident waits in
  needs_triage with the reason) and a refusal is recorded. ``GatedRoutes`` wraps the routing
  rules so the intake needs no change.
- **Prefect deployments**: a run whose starter Prefect does not tell us acts as
  ``prefect-ui``; a run the receiver queued (it adopts the open incident the receiver opened,
  with the same alert and mode) was checked at intake. Refused: a refusal record, an error,
  nothing opened.

The policy file is re-read when it changes (no restart needed).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import PrivateAttr

from playbooks.alerts.model import AlertStatus, ParsedAlert
from playbooks.alerts.routing import RouteDecision, RoutingError, RoutingRules
from playbooks.policy import Identity, Policy, Refusal, check_run, policy_path, run_refusal

__all__ = ["GatedRoutes", "PolicyFile", "check_deployment_run", "gate_decision"]

Record = Callable[[Refusal], None]


class PolicyFile:
    """The policy in effect for a state dir, re-read when its file changes."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self._seen: tuple[Path | None, float] | None = None
        self._policy: Policy | None = None

    def get(self) -> tuple[Policy | None, Path | None]:
        from playbooks.policy import load_policy

        path = policy_path(self.home)
        stamp = (path, path.stat().st_mtime if path is not None and path.exists() else 0.0)
        if stamp != self._seen:
            self._policy = load_policy(path) if path is not None else None
            self._seen = stamp
        return self._policy, path


def gate_decision(policy: Policy | None, where: Path | None, decision: RouteDecision, *,
                  model: str, record: Record, now: datetime) -> RouteDecision:
    """The route's decision as the policy allows it: unchanged, made a dry run, or refused
    (RoutingError: the intake then opens the incident in needs_triage, runs nothing)."""
    if decision.dry_run:
        live_why = None
    else:
        live_why = run_refusal(policy, f"route:{decision.route}", playbook=decision.playbook,
                               model=model, live=True)
    if live_why is None and not decision.dry_run:
        return decision
    dry_why = run_refusal(policy, f"route:{decision.route}", playbook=decision.playbook,
                          model=model, live=False)
    why = dry_why or live_why
    if why is None:
        return decision
    record(Refusal(at=now, who=f"route:{decision.route}", channel="receiver",
                   action="run" if dry_why else "run-live", playbook=decision.playbook,
                   model=model, reason=why,
                   detail={"identity": "route", "policy": str(where) if where else None,
                           "outcome": "not run" if dry_why else "run as a dry run"}))
    if dry_why:
        raise RoutingError(f"refused by policy: {dry_why}")
    return dataclasses.replace(decision, dry_run=True,
                               notes=[*decision.notes, f"run as a dry run: {live_why}"])


class GatedRoutes(RoutingRules):
    """Routing rules whose every decision passes the run policy (the receiver's hook)."""

    _gate: Callable[[ParsedAlert, RouteDecision], RouteDecision] | None = PrivateAttr(None)

    @classmethod
    def wrap(cls, rules: RoutingRules, policy: PolicyFile, record: Record,
             now: Callable[[], datetime]) -> GatedRoutes:
        gated = cls.model_construct(**dict(rules.__dict__))  # already validated

        def gate(alert: ParsedAlert, decision: RouteDecision) -> RouteDecision:
            if alert.status is AlertStatus.RESOLVED:
                return decision  # a resolved alert never starts a run: nothing to refuse
            current, where = policy.get()
            if current is None or current.run is None:
                return decision  # open: nothing to check, nothing recorded
            return gate_decision(current, where, decision, model=alert.model or "unknown",
                                 record=record, now=now())

        gated._gate = gate
        return gated

    def route(self, alert: ParsedAlert, *, catalog: set[str], home: Path) -> RouteDecision:
        decision = super().route(alert, catalog=catalog, home=home)
        return self._gate(alert, decision) if self._gate else decision


def _queued_by_receiver(ledger: Any, trigger: dict[str, Any] | None, dedup_key: str | None,
                        dry_run: bool) -> bool:
    """The run adopts the open incident the receiver opened for this very alert, in the mode
    the receiver chose (checked at intake)."""
    if not trigger or not dedup_key or not trigger.get("alert_id"):
        return False
    inc = ledger.find_open(dedup_key)
    return bool(inc is not None and inc.trigger.get("alert_id") == trigger["alert_id"]
                and inc.dry_run == dry_run)


def check_deployment_run(ledger: Any, policy: Policy | None, where: Path | None, *,
                         playbook: str, model: str, dry_run: bool,
                         trigger: dict[str, Any] | None, dedup_key: str | None,
                         now: datetime) -> None:
    """Raise PolicyRefused (after recording it) when ``prefect-ui`` may not run this."""
    if policy is None or policy.run is None or _queued_by_receiver(ledger, trigger, dedup_key,
                                                                   dry_run):
        return
    check_run(policy, Identity("prefect-ui", "prefect-ui"), playbook=playbook, model=model,
              live=not dry_run, where=where, record=ledger.refusals.record, now=now)
