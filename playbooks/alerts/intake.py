"""From parsed alerts to incidents and queued runs (no HTTP, no Prefect here).

Per alert: route → dedup key → if an incident with that key is open, append the alert to its
timeline; else open one (``Ledger.open_incident`` is idempotent per open key, so concurrent
duplicates agree on one incident) and queue its run. ``resolved`` alerts are only recorded.
The alert row is written last, before the caller answers 2xx: if anything fails first, the
sender gets no 2xx and retries, and the retry meets the same open incident.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playbooks.alerts.dedup import alert_dedup_key
from playbooks.alerts.model import AlertStatus, ParsedAlert
from playbooks.alerts.routing import RouteDecision, RoutingError, RoutingRules
from playbooks.errors import MlpbError
from playbooks.ledger.alerts import AlertStore, new_alert_id
from playbooks.models.incident import Incident, TimelineEvent

__all__ = ["AlertIntake", "IntakeResult", "deployment_name"]


def deployment_name(playbook: str) -> str:
    """The Prefect deployment that runs ``playbook`` (see deployments/serve.py)."""
    return f"run-playbook/{playbook}"


@dataclass(frozen=True)
class IntakeResult:
    alert_id: str
    status: str
    dispatch_state: str  # queued | repeat | resolved | error
    incident_id: str | None = None
    dedup_key: str | None = None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


class AlertIntake:
    def __init__(self, store: AlertStore, rules: RoutingRules, *, home: Path,
                 on_queued: Callable[[], None] | None = None) -> None:
        self.store, self.rules, self.home = store, rules, home
        self.on_queued = on_queued or (lambda: None)
        self._cache: dict[tuple[str, str], tuple[float, Any]] = {}
        self._lock = threading.Lock()

    @property
    def ledger(self) -> Any:
        return self.store.ledger

    def accept(self, alerts: list[ParsedAlert], *, http_status: int = 202,
               running_as: str | None = None) -> list[IntakeResult]:
        """Record and route ``alerts``. ``running_as``: the caller runs new incidents itself
        (a drill's in-process run) instead of queueing them for the dispatch loop."""
        return [self._one(a, http_status, running_as) for a in alerts]

    def run_parameters(self, incident_id: str) -> dict[str, Any]:
        """The parameters the deployment gets for this incident's run."""
        d = self.store.dispatch(incident_id)
        if d is None:
            raise KeyError(f"incident {incident_id} has no dispatch")
        return dict(d.parameters)

    def reject(self, source: str, http_status: int, reason: str, payload: Any = None) -> str:
        alert_id = new_alert_id()
        self.store.record(alert_id=alert_id, source=source, status="rejected",
                          dispatch_state="none", http_status=http_status, error=reason,
                          payload=payload)
        return alert_id

    # -- one alert -------------------------------------------------------------------------
    def _one(self, alert: ParsedAlert, http_status: int, running_as: str | None) -> IntakeResult:
        from playbooks.loader import catalog_ids

        alert_id = new_alert_id()
        row: dict[str, Any] = {"alert_id": alert_id, "source": alert.source,
                               "status": alert.status.value, "http_status": http_status,
                               "model": alert.model, "payload": alert.raw}
        try:
            decision = self.rules.route(alert, catalog=set(catalog_ids()), home=self.home)
        except RoutingError as exc:
            return self._record(row, "error", error=str(exc))
        key = alert_dedup_key(alert, decision.playbook)
        row.update(dedup_key=key, playbook=decision.playbook, route=decision.route,
                   error="; ".join(decision.notes) or None)
        trigger = {"source": alert.source, "alert_id": alert_id, "route": decision.route,
                   "labels": alert.labels, "annotations": alert.annotations,
                   "fingerprint": alert.fingerprint, "starts_at": alert.starts_at}
        existing = self.ledger.find_open(key)
        if alert.status is AlertStatus.RESOLVED:
            event = TimelineEvent(kind="alert_resolved", data={"trigger": trigger},
                                  message=f"{alert.source} reports the alert resolved")
            return self._record(row, "resolved", incident_id=existing and existing.id,
                                event=event if existing else None)
        if existing is not None:
            row["model"] = existing.model  # the profile's name, whatever the labels say
            result = self._record(row, "repeat", incident_id=existing.id, event=TimelineEvent(
                kind="repeat", message="same alert while open", data={"trigger": trigger}))
            # Re-queue an incident whose first request died between opening and queueing it.
            if self.store.dispatch(existing.id) is None and self.store.enqueue(
                    existing.id, existing.model, deployment_name(existing.playbook),
                    self._parameters(decision, existing, trigger)):
                self.on_queued()
            return result
        try:
            inc, created = self.ledger.open_incident(self._incident(decision, alert, trigger, key))
        except MlpbError as exc:  # unknown playbook, bad profile: the alert says why
            return self._record(row, "error", error=exc.message + (
                f" (hint: {exc.hint})" if exc.hint else ""))
        row["model"] = inc.model
        if not created:  # a concurrent duplicate opened it; open_incident logged the repeat
            return self._record(row, "repeat", incident_id=inc.id)
        queue = (deployment_name(inc.playbook), self._parameters(decision, inc, trigger))
        if running_as:  # the caller runs it now (drills): recorded as dispatched, never queued
            self.store.enqueue(inc.id, inc.model, *queue, running_as=running_as)
            return self._record(row, "dispatched", incident_id=inc.id)
        result = self._record(row, "queued", incident_id=inc.id, queue=queue)
        self.on_queued()
        return result

    def _record(self, row: dict[str, Any], state: str, *, incident_id: str | None = None,
                error: str | None = None, event: TimelineEvent | None = None,
                queue: tuple[str, dict[str, Any]] | None = None) -> IntakeResult:
        if error:
            row["error"] = f"{row['error']}; {error}" if row.get("error") else error
        self.store.record(**row, dispatch_state=state, incident_id=incident_id, event=event,
                          queue=queue)
        return IntakeResult(row["alert_id"], row["status"], state, incident_id,
                            row.get("dedup_key"), row.get("error"))

    def _incident(self, decision: RouteDecision, alert: ParsedAlert, trigger: dict[str, Any],
                  key: str) -> Incident:
        """The same Incident the flow would open (same dedup key), so the flow adopts it."""
        from playbooks.engine.lifecycle import new_incident
        from playbooks.loader import load_profile, load_spec, resolve_spec_path

        spec = self._cached("spec", resolve_spec_path(decision.playbook), load_spec)
        profile = self._cached("profile", decision.profile, load_profile)
        inc = new_incident(spec, profile, trigger=trigger, dry_run=decision.dry_run,
                           drill=alert.drill, dedup_key=key, queued=True)
        inc.timeline[-1].message = f"{spec.title}: {alert.source} alert received; run queued"
        return inc

    @staticmethod
    def _parameters(decision: RouteDecision, inc: Incident,
                    trigger: dict[str, Any]) -> dict[str, Any]:
        return {"playbook": inc.playbook, "profile": str(decision.profile),
                "dry_run": inc.dry_run, "drill": inc.drill, "trigger": trigger,
                "dedup_key": inc.dedup_key}

    def _cached(self, kind: str, path: Path, load: Callable[[Path], Any]) -> Any:
        """Specs and profiles parsed once per file version (a storm re-reads nothing)."""
        from playbooks.errors import SpecError

        try:
            mtime = path.stat().st_mtime
        except OSError:
            raise SpecError(str(path), [("", "file not found")],
                            hint="check the route's profile path") from None
        with self._lock:
            hit = self._cache.get((kind, str(path)))
        if hit and hit[0] == mtime:
            return hit[1]
        value = load(path)
        with self._lock:
            self._cache[(kind, str(path))] = (mtime, value)
        return value
