"""The dispatch loop: queued incidents → playbook runs, with storm control and backoff.

One background thread per receiver drains the queue, so capacity checks never race inside a
process. A run is launched with the incident id as idempotency key: if the launcher's answer
is lost and we launch again, the orchestrator returns the same run. While the orchestrator is
unreachable, dispatches stay queued and are retried with exponential backoff. Every
``reconcile_every`` seconds the loop also checks runs that ended without closing their
incident, sweeps orphans (an incident the receiver opened with no dispatch row: re-queued, or
escalated when its profile is unknown) and forgets expired request signatures.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from playbooks.alerts.intake import deployment_name, run_parameters
from playbooks.engine.transitions import Event, record_event
from playbooks.ledger.alerts import AlertStore, Dispatch
from playbooks.models.incident import utcnow

__all__ = ["Backoff", "DispatchLoop", "LaunchError", "Launcher"]

log = logging.getLogger("mlpb.dispatch")

TERMINAL_BAD = {"FAILED", "CRASHED", "CANCELLED", "CANCELLING"}


class LaunchError(Exception):
    """Starting a run failed. ``retryable``: the orchestrator may accept it later;
    ``give_up_after``: attempts after which a retryable error is final (None: never)."""

    def __init__(self, message: str, *, retryable: bool,
                 give_up_after: int | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.give_up_after = give_up_after


class Launcher(Protocol):
    """Where runs start (Prefect in production: deployments/dispatcher.py)."""

    def launch(self, deployment: str, parameters: dict[str, Any], idempotency_key: str) -> str:
        """Start (or find) the run for ``idempotency_key``; returns its id."""
        ...

    def run_states(self, run_ids: list[str]) -> dict[str, str]:
        """State type (e.g. COMPLETED, FAILED) of each known run."""
        ...


@dataclass(frozen=True)
class Backoff:
    base: float = 1.0
    cap: float = 60.0

    def delay(self, attempts: int) -> timedelta:
        return timedelta(seconds=min(self.base * 2 ** max(attempts - 1, 0), self.cap))


class DispatchLoop:
    def __init__(self, store: AlertStore, launcher: Launcher, *, max_per_model: int = 2,
                 backoff: Backoff | None = None, poll: float = 2.0,
                 reconcile_every: float = 15.0,
                 orphan_after: timedelta = timedelta(seconds=60)) -> None:
        self.store, self.launcher, self.max_per_model = store, launcher, max_per_model
        self.orphan_after = orphan_after
        self.backoff = backoff or Backoff()
        self.poll, self.reconcile_every = poll, reconcile_every
        self.last_error: str | None = None
        self._wake, self._stop = threading.Event(), threading.Event()
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="mlpb-dispatch", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout)

    def wake(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        last_reconcile = 0.0
        while not self._stop.is_set():
            try:
                self.run_once()
                now = utcnow().timestamp()
                if self.reconcile_every and now - last_reconcile > self.reconcile_every:
                    last_reconcile = now
                    self.reconcile()
                    self.sweep_orphans()
                    self.store.prune_signatures(utcnow())
            except Exception as exc:  # the ledger may be down: keep looping, say why
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("dispatch loop: %s", self.last_error)
            self._wake.wait(self._sleep_for())
            self._wake.clear()

    def _sleep_for(self) -> float:
        try:
            nxt = self.store.next_due_at()
        except Exception:
            return self.poll
        if nxt is None:
            return self.poll
        return max(0.05, min(self.poll, (nxt - utcnow()).total_seconds()))

    # -- one pass --------------------------------------------------------------------------
    def run_once(self) -> int:
        """Launch every due dispatch that has capacity; returns how many were launched."""
        launched = 0
        active: dict[str, int] = {}
        for d in self.store.due(utcnow()):
            running = active.setdefault(d.model, self.store.active_runs(d.model))
            if running >= self.max_per_model:
                note = (f"storm control: {running} run(s) of '{d.model}' active "
                        f"(limit {self.max_per_model}); queued")
                if self.store.defer(d.incident_id, note):
                    self.store.ledger.add_event(d.incident_id, "queued", note)
                continue
            if not self._launch(d):
                break  # orchestrator unreachable: the rest would fail the same way
            active[d.model] = running + 1
            launched += 1
        return launched

    def _launch(self, d: Dispatch) -> bool:
        try:
            run_id = self.launcher.launch(d.deployment, d.parameters, d.incident_id)
        except LaunchError as exc:
            self.last_error = str(exc)
            if not exc.retryable:
                self._give_up(d, str(exc))
                return True
            if exc.give_up_after is not None and d.attempts + 1 >= exc.give_up_after:
                self._give_up(d, f"{exc} (gave up after {d.attempts + 1} attempts)")
                return True
            attempts = self.store.retry_later(d.incident_id, str(exc),
                                              self.backoff.delay(d.attempts + 1))
            log.warning("dispatch of %s failed (attempt %d): %s", d.incident_id, attempts, exc)
            if attempts == 1:
                self.store.ledger.add_event(d.incident_id, "dispatch_retry",
                                            f"cannot start the run yet ({exc}); retrying")
            return False
        self.last_error = None
        self.store.mark_dispatched(d.incident_id, run_id)
        self.store.ledger.add_event(d.incident_id, "dispatched",
                                    f"run {run_id} started from deployment {d.deployment}",
                                    {"flow_run_id": run_id, "deployment": d.deployment})
        return True

    def _give_up(self, d: Dispatch, error: str) -> None:
        self.store.mark_failed(d.incident_id, error)
        self._escalate(d.incident_id, f"the playbook run could not be started: {error}")

    def _escalate(self, incident_id: str, why: str) -> None:
        """Hand the incident to its owner; an open incident nobody runs would swallow alerts."""
        inc = self.store.ledger.get(incident_id)
        if inc.status.is_open:
            record_event(self.store.ledger, inc, Event.FAILED, why, data={"to": inc.owner},
                         escalated_to=inc.owner)
        else:
            self.store.ledger.add_event(incident_id, "error", why)

    def sweep_orphans(self) -> int:
        """Incidents the receiver opened whose dispatch never committed (a crash between the
        two commits of an older receiver; the current one writes both in one transaction):
        re-queue each with the profile recorded on it, or escalate it when there is none.
        Only incidents older than ``orphan_after``. Returns how many were handled."""
        handled = 0
        for inc in self.store.orphans(before=utcnow() - self.orphan_after):
            if inc.profile_path:
                if self.store.enqueue(inc.id, inc.model, deployment_name(inc.playbook),
                                      run_parameters(inc, inc.profile_path)):
                    self.store.ledger.add_event(
                        inc.id, "requeued", "no run was queued for this incident (its "
                        "receiver stopped between commits); queued now")
                    handled += 1
            else:
                self._escalate(inc.id, "no run was queued for this incident and its profile "
                                       "is unknown: pick the playbook and profile by hand")
                handled += 1
        if handled:
            log.warning("dispatch loop: %d orphan incident(s) re-queued or escalated", handled)
            self.wake()
        return handled

    def reconcile(self) -> None:
        """Escalate incidents whose run ended badly without closing them (e.g. crashed)."""
        rows = self.store.open_dispatched()
        ids = [d.flow_run_id for d in rows if d.flow_run_id]
        if not ids:
            return
        try:
            states = self.launcher.run_states(ids)
        except LaunchError:
            return
        for d in rows:
            state = states.get(d.flow_run_id or "")
            if state in TERMINAL_BAD:
                self._escalate(d.incident_id, f"run {d.flow_run_id} ended {state} before "
                                              "closing the incident")
