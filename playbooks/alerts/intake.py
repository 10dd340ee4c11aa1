"""From parsed alerts to incidents and queued runs (no HTTP, no Prefect here).

Per request, in one ledger transaction (``AlertStore.transaction``): every alert is routed
and keyed (``playbooks.alerts.dedup``); if the key's incident is open the alert joins it (a
member, and its timeline: ``alert_added``, ``repeat``, ``alert_resolved``); else a new
incident opens — ``open`` with its run queued, or, when nothing can route the alert (no route,
no profile, unknown playbook), ``needs_triage`` and a notification. ``resolved`` alerts never
start anything. Each alert is written under a savepoint: one that the ledger refuses (bad data
the parser let through) is reported as not recorded while the others commit, exactly once.
The caller answers 2xx only after the commit; a ledger outage raises and nothing is kept.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, SQLAlchemyError, StatementError

from playbooks.alerts.auth import SignedRequest
from playbooks.alerts.dedup import incident_key, member_key, unrouted_key
from playbooks.alerts.model import AlertStatus, ParsedAlert
from playbooks.alerts.rejections import RejectionSampler
from playbooks.alerts.routing import RouteDecision, RoutingError, RoutingRules
from playbooks.clock import clock_for
from playbooks.engine.transitions import Event, apply_event
from playbooks.errors import MlpbError
from playbooks.ledger.alerts import AlertStore, IntakeTx, new_alert_id
from playbooks.ledger.store import LedgerError
from playbooks.models.incident import Incident, IncidentStatus, TimelineEvent, utcnow
from playbooks.notify import ConsoleNotifier, Notification, Notifier

__all__ = ["AlertIntake", "IntakeResult", "NotRecorded", "Outcome", "Replayed",
           "deployment_name", "run_parameters"]

log = logging.getLogger("mlpb.intake")
_GROUP_LISTED = 50  # member alerts listed on a new incident's trigger


def deployment_name(playbook: str) -> str:
    """The Prefect deployment that runs ``playbook`` (see deployments/serve.py)."""
    return f"run-playbook/{playbook}"


def run_parameters(inc: Incident, profile: str | Path) -> dict[str, Any]:
    """The parameters the incident's run gets from its deployment."""
    return {"playbook": inc.playbook, "profile": str(profile), "dry_run": inc.dry_run,
            "drill": inc.drill, "trigger": inc.trigger, "dedup_key": inc.dedup_key}


class Replayed(Exception):
    """A signed request whose signature the ledger has already accepted."""


@dataclass(frozen=True)
class IntakeResult:
    alert_id: str
    status: str
    dispatch_state: str  # queued | dispatched | repeat | grouped | resolved | triage
    incident_id: str | None = None
    dedup_key: str | None = None
    error: str | None = None
    index: int | None = None  # the alert's position in its notification

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass(frozen=True)
class NotRecorded:
    """An alert the ledger refused; the rest of its request was recorded."""

    index: int
    error: str

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "error": self.error}


@dataclass
class Outcome:
    results: list[IntakeResult]
    not_recorded: list[NotRecorded] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)


@dataclass
class _Plan:
    """What one alert will do, decided before the transaction (routing, files read)."""

    alert: ParsedAlert
    index: int
    alert_id: str
    key: str
    trigger: dict[str, Any]
    decision: RouteDecision | None = None
    spec: Any = None
    profile: Any = None
    unrouted: str | None = None  # why nothing can run it
    notes: list[str] = field(default_factory=list)


def _is_poison(exc: BaseException) -> bool:
    """The ledger refused this alert's data (retrying cannot help), as opposed to the ledger
    being unreachable (the request fails as a whole and the sender retries)."""
    if isinstance(exc, DataError | IntegrityError):
        return True
    if isinstance(exc, DBAPIError):
        return False
    return isinstance(exc, StatementError | ValueError | TypeError | UnicodeError)


class AlertIntake:
    def __init__(self, store: AlertStore, rules: RoutingRules, *, home: Path,
                 on_queued: Callable[[], None] | None = None,
                 notifier: Notifier | None = None, sample_every: float = 60.0) -> None:
        self.store, self.rules, self.home = store, rules, home
        self.on_queued = on_queued or (lambda: None)
        self.notifier = notifier or ConsoleNotifier()
        self.sampler = RejectionSampler(store, sample_every)
        self._cache: dict[tuple[str, str], tuple[float, Any]] = {}
        self._lock = threading.Lock()
        self._signed = 0

    @property
    def ledger(self) -> Any:
        return self.store.ledger

    def accept(self, alerts: list[ParsedAlert], *, http_status: int = 202,
               running_as: str | None = None) -> list[IntakeResult]:
        """Record and route ``alerts``, notify at once. ``running_as``: the caller runs new
        incidents itself (a drill's in-process run) instead of queueing them."""
        outcome = self.process(alerts, http_status=http_status, running_as=running_as)
        self.send(outcome.notifications)
        if outcome.not_recorded:
            raise MlpbError("the ledger refused alert(s): " + "; ".join(
                f"#{n.index}: {n.error}" for n in outcome.not_recorded))
        return outcome.results

    def process(self, alerts: list[ParsedAlert], indexes: list[int] | None = None, *,
                signed: SignedRequest | None = None, http_status: int = 202,
                running_as: str | None = None) -> Outcome:
        """Everything one request writes, in one transaction; notifications are returned
        for the caller to send after it answers. Replayed when ``signed`` was seen."""
        plans = [self._plan(a, i) for a, i in zip(alerts, indexes or range(len(alerts)),
                                                  strict=True)]
        self._list_groups(plans)
        # A fixed write order (by key) keeps two requests from locking rows crosswise.
        order = sorted(range(len(plans)), key=lambda j: (plans[j].key, j))
        done: dict[int, IntakeResult] = {}
        outcome = Outcome([])
        repeated: set[str] = set()
        queued = False
        now = clock_for(self.home).now()  # the engine's clock: a sandbox's, in drills
        with self.store.transaction() as tx:
            if signed is not None:
                if not tx.claim_signature(signed.signature,
                                          datetime.fromtimestamp(signed.expires_at, UTC)):
                    raise Replayed("this signed request was already accepted")
                self._signed += 1
                if self._signed % 256 == 1:
                    tx.prune_signatures(utcnow())
            for j in order:
                try:
                    with tx.savepoint():
                        result, note, q = self._write(tx, plans[j], http_status, running_as,
                                                      repeated, now)
                except Exception as exc:
                    if not _is_poison(exc):
                        raise
                    log.warning("alert %s not recorded: %s", plans[j].index, exc)
                    outcome.not_recorded.append(NotRecorded(
                        plans[j].index, f"the ledger refused it: {type(exc).__name__}"))
                    continue
                done[j] = result
                queued |= q
                if note is not None:
                    outcome.notifications.append(note)
        outcome.results = [done[j] for j in sorted(done)]
        outcome.not_recorded.sort(key=lambda n: n.index)
        if queued:
            self.on_queued()
        return outcome

    def send(self, notes: list[Notification]) -> None:
        for note in notes:
            try:
                self.notifier.send(note)
            except Exception as exc:  # recorded on the incident; the alert is already kept
                log.warning("notification for %s failed: %s", note.incident.id, exc)
                with contextlib.suppress(SQLAlchemyError, LedgerError):
                    self.ledger.add_event(note.incident.id, "notify_failed",
                                          f"{type(exc).__name__}: {exc}")

    def run_parameters(self, incident_id: str) -> dict[str, Any]:
        """The parameters the deployment gets for this incident's run."""
        d = self.store.dispatch(incident_id)
        if d is None:
            raise KeyError(f"incident {incident_id} has no dispatch")
        return dict(d.parameters)

    def reject(self, source: str, http_status: int, reason: str,
               payload: dict[str, Any] | None = None) -> str | None:
        return self.sampler.reject(source, http_status, reason, payload)

    def warm(self) -> None:
        """Import the spec machinery and parse the routes' playbooks now: the first alert
        must not wait seconds for imports (a sender's webhook timeout is short)."""
        import playbooks.engine.lifecycle  # noqa: F401  (the data layer new incidents use)
        from playbooks.loader import catalog_ids, load_spec, resolve_spec_path

        routes = [*self.rules.routes, *([self.rules.default] if self.rules.default else [])]
        ids = set(catalog_ids())
        for playbook in sorted({r.playbook for r in routes if r.playbook in ids} | {"triage"}):
            try:
                self._cached("spec", resolve_spec_path(playbook), load_spec)
            except MlpbError as exc:  # reported per alert later, as needs_triage
                log.warning("playbook %s does not load: %s", playbook, exc.message)

    # -- before the transaction ------------------------------------------------------------
    def _plan(self, alert: ParsedAlert, index: int) -> _Plan:
        from playbooks.loader import catalog_ids, load_profile, load_spec, resolve_spec_path

        alert_id = new_alert_id()
        trigger: dict[str, Any] = {
            "source": alert.source, "alert_id": alert_id, "labels": alert.labels,
            "annotations": alert.annotations, "fingerprint": alert.fingerprint,
            "starts_at": alert.starts_at, "group_key": alert.group_key}
        try:
            decision = self.rules.route(alert, catalog=set(catalog_ids()), home=self.home)
        except RoutingError as exc:
            return _Plan(alert, index, alert_id, unrouted_key(alert), trigger,
                         unrouted=str(exc))
        trigger["route"] = decision.route
        plan = _Plan(alert, index, alert_id, incident_key(alert, decision.playbook), trigger,
                     decision, notes=list(decision.notes))
        try:
            plan.spec = self._cached("spec", resolve_spec_path(decision.playbook), load_spec)
            plan.profile = self._cached("profile", decision.profile, load_profile)
        except MlpbError as exc:  # unknown playbook, missing or invalid profile
            plan.key, plan.unrouted = unrouted_key(alert), exc.message + (
                f" (hint: {exc.hint})" if exc.hint else "")
        return plan

    @staticmethod
    def _list_groups(plans: list[_Plan]) -> None:
        """A new incident's trigger lists the alerts of its group in this notification."""
        by_key: dict[str, list[dict[str, Any]]] = {}
        for p in plans:
            by_key.setdefault(p.key, []).append(
                {"fingerprint": p.alert.fingerprint, "status": p.alert.status.value,
                 "labels": p.alert.labels})
        for p in plans:
            group = by_key[p.key]
            if p.alert.group_key and len(group) > 1:
                p.trigger["alerts"] = group[:_GROUP_LISTED]

    # -- inside the transaction ------------------------------------------------------------
    def _write(self, tx: IntakeTx, plan: _Plan, http_status: int, running_as: str | None,
               repeated: set[str], now: datetime) -> tuple[IntakeResult, Notification | None,
                                                           bool]:
        alert = plan.alert
        row: dict[str, Any] = {
            "id": plan.alert_id, "source": alert.source, "status": alert.status.value,
            "http_status": http_status, "model": alert.model, "payload": alert.raw,
            "dedup_key": plan.key, "playbook": plan.decision and plan.decision.playbook,
            "route": plan.decision and plan.decision.route,
            "error": "; ".join([*plan.notes, *([plan.unrouted] if plan.unrouted else [])])
            or None}
        existing = tx.find_open(plan.key)
        if existing is None and alert.status is AlertStatus.RESOLVED:
            return self._row(tx, plan, row, "resolved"), None, False
        note: Notification | None = None
        queued = False
        if existing is None:
            inc = self._new_incident(plan, now)
            inc, created = self._insert(tx, inc, plan.key)
            if created:
                tx.touch_member(inc.id, member_key(alert), fingerprint=alert.fingerprint,
                                labels=alert.labels, status=alert.status.value,
                                alert_id=plan.alert_id)
                row.update(model=inc.model, incident_id=inc.id)
                if plan.unrouted:
                    return self._row(tx, plan, row, "triage"), self._triage_note(inc, plan), False
                queue = (inc.id, inc.model, deployment_name(inc.playbook),
                         run_parameters(inc, plan.decision.profile if plan.decision else ""))
                if running_as:  # the caller runs it now (drills): dispatched, never queued
                    tx.enqueue(*queue, running_as=running_as)
                    return self._row(tx, plan, row, "dispatched"), None, False
                tx.enqueue(*queue)
                return self._row(tx, plan, row, "queued"), None, True
            existing = inc  # a concurrent request opened it first
        row.update(model=existing.model, incident_id=existing.id)
        new = tx.touch_member(existing.id, member_key(alert), fingerprint=alert.fingerprint,
                              labels=alert.labels, status=alert.status.value,
                              alert_id=plan.alert_id)
        data = {"trigger": plan.trigger}
        name = alert.labels.get("alertname", "alert")
        if alert.status is AlertStatus.RESOLVED:
            state = "resolved"
            tx.event(existing.id, TimelineEvent(
                at=now, kind="alert_resolved", data=data,
                message=f"{alert.source} reports {name} ({member_key(alert)}) resolved"))
        elif new:
            state = "grouped"
            tx.event(existing.id, TimelineEvent(
                at=now, kind="alert_added", data=data,
                message=f"{name} ({member_key(alert)}) joined the alert group"))
        else:
            state = "repeat"
            if existing.id not in repeated:  # one entry per request, however many alerts
                repeated.add(existing.id)
                tx.event(existing.id, TimelineEvent(at=now, kind="repeat", data=data,
                                                    message="same alert while open"))
        if (existing.status is IncidentStatus.OPEN and plan.decision is not None
                and not tx.has_dispatch(existing.id)):
            # Its first request died between commits (an older receiver): queue it now.
            queued = tx.enqueue(existing.id, existing.model, deployment_name(existing.playbook),
                                run_parameters(existing, existing.profile_path
                                               or plan.decision.profile))
        return self._row(tx, plan, row, state), note, queued

    @staticmethod
    def _insert(tx: IntakeTx, inc: Incident, key: str) -> tuple[Incident, bool]:
        """Insert ``inc``, or return the open incident that holds ``key``; an id clash is
        retried with a fresh id, at most three times."""
        from playbooks.engine.lifecycle import new_incident_id

        for _ in range(3):
            if tx.insert_incident(inc):
                return inc, True
            other = tx.find_open(key)
            if other is not None:
                return other, False
            inc = inc.model_copy(update={"id": new_incident_id()})
        raise LedgerError(f"could not open an incident for {key!r}: its id kept clashing")

    @staticmethod
    def _row(tx: IntakeTx, plan: _Plan, row: dict[str, Any], state: str) -> IntakeResult:
        tx.record_alert(**row, dispatch_state=state)
        return IntakeResult(plan.alert_id, row["status"], state, row.get("incident_id"),
                            plan.key, row.get("error"), plan.index)

    def _new_incident(self, plan: _Plan, now: datetime) -> Incident:
        """A routed alert's incident is the one the flow would open (same dedup key, so the
        flow adopts it); an unroutable one's waits in needs_triage."""
        from playbooks.engine.lifecycle import new_incident, new_incident_id
        from playbooks.loader import load_spec, resolve_spec_path

        alert = plan.alert
        if not plan.unrouted:
            assert plan.decision is not None
            inc = new_incident(plan.spec, plan.profile, trigger=plan.trigger,
                               dry_run=plan.decision.dry_run, drill=alert.drill,
                               dedup_key=plan.key, queued=True, now=now)
            inc.timeline[-1].message = (f"{plan.spec.title}: {alert.source} alert received; "
                                        "run queued")
            return inc.model_copy(update={"profile_path": str(plan.decision.profile)})
        playbook = plan.decision.playbook if plan.decision else "triage"
        try:
            spec = self._cached("spec", resolve_spec_path(playbook), load_spec)
        except MlpbError:
            playbook = "triage"
            spec = self._cached("spec", resolve_spec_path(playbook), load_spec)
        inc = Incident(
            id=new_incident_id(), playbook=playbook, playbook_version=spec.version,
            playbook_hash=spec.hash, model=(alert.model or "unknown")[:256], drill=alert.drill,
            trigger=plan.trigger, dedup_key=plan.key, detected_at=now, updated_at=now,
            timeline=[TimelineEvent(at=now, kind="opened", data={"trigger": plan.trigger},
                                    message=f"{alert.source} alert received; it cannot be "
                                            "routed to a playbook run")])
        return apply_event(inc, Event.UNROUTED, f"needs triage: {plan.unrouted}",
                           data={"reason": plan.unrouted}, at=now)

    @staticmethod
    def _triage_note(inc: Incident, plan: _Plan) -> Notification:
        labels = plan.alert.labels
        return Notification(
            "opened", inc, f"needs triage: an alert for '{inc.model}' could not be routed",
            [f"why: {plan.unrouted}",
             f"alert: {labels.get('alertname', '?')} from {plan.alert.source}",
             "nothing runs until someone picks the playbook: `mlpb run <playbook> --profile "
             "<file>` (or fix the routing / add the profile)"],
            data={"reason": plan.unrouted})

    def _cached(self, kind: str, path: Path, load: Callable[[Path], Any]) -> Any:
        """Specs and profiles parsed once per file version (a storm re-reads nothing)."""
        from playbooks.errors import SpecError

        try:
            mtime = path.stat().st_mtime
        except OSError:
            raise SpecError(str(path), [("", "file not found")],
                            hint="add the model's profile there, or route the alert to an "
                                 "existing one") from None
        with self._lock:
            hit = self._cache.get((kind, str(path)))
        if hit and hit[0] == mtime:
            return hit[1]
        value = load(path)
        with self._lock:
            self._cache[(kind, str(path))] = (mtime, value)
        return value
