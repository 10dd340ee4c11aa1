"""Phase 6, monitored closure: start watching a kept change, and carry out what the
controller finds due (measure a window, resolve, revert + escalate, escalate).

Every change to a model happens under its lease; window results are rows keyed by
(incident, index), so two controllers never measure or act on one window twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import pandas as pd

from playbooks.engine.controller import Due, next_due
from playbooks.engine.diagnosis import load_evidence
from playbooks.engine.lifecycle import Inputs, close, load_inputs, spec_ref
from playbooks.engine.live_metrics import measure_live
from playbooks.engine.reference import serving_reference
from playbooks.engine.revert import Undo, revert_change
from playbooks.engine.runtime import Runtime
from playbooks.engine.transitions import Event
from playbooks.engine.verify import evaluate_criteria
from playbooks.errors import MlpbError
from playbooks.i18n import msg
from playbooks.ledger.leases import LeaseBusy
from playbooks.models.incident import (
    Incident,
    IncidentStatus,
    Monitoring,
    WindowResult,
    utcnow,
)
from playbooks.models.spec import GROUP_METRIC_NAMES, AcceptanceCriterion, MonitoringPlan
from playbooks.notify import Notification, SlackNotifier
from playbooks.notify.base import find_notifier
from playbooks.notify.reminders import send_reminders
from playbooks.notify.words import criterion_line, window_verdict

Verdict = Literal["pass", "fail", "inconclusive"]

__all__ = ["Step", "advance_all", "advance_incident", "advance_safely", "finish_pass",
           "start_monitoring", "waiting_incidents"]


def start_monitoring(rt: Runtime, inc: Incident, plan: MonitoringPlan, *, remediation_id: str,
                     action: str, seq: int, change: dict[str, object]) -> Incident:
    version = change.get("new_version") or change.get("target_version")
    m = Monitoring(remediation_id=remediation_id, action=action, journal_seq=seq,
                   change=dict(change), version=str(version) if version else None,
                   started_at=rt.now(), window=plan.window, count=plan.count,
                   failure_limit=plan.failure_limit, inconclusive_limit=plan.inconclusive_limit,
                   min_rows=plan.min_rows,
                   criteria=[c.model_dump(mode="json") for c in plan.criteria])
    inc = rt.record(inc, Event.MONITORING,
                    f"'{remediation_id}' passed its pre-check; watching {plan.count} live "
                    f"window(s) of {_span(m)} before closing", monitoring=m)
    rt.notify(Notification("verification", inc,
                           msg("monitoring: 0/{count} live windows", count=plan.count),
                           [msg("first window closes {when}", when=m.started_at + m.window),
                            msg("criteria: {ids}", ids=", ".join(c.id for c in plan.criteria))],
                           data={"waiting_for": "live monitoring windows"}))
    return inc


def _span(m: Monitoring) -> str:
    hours = m.window.total_seconds() / 3600
    return f"{hours / 24:g}d" if hours >= 24 and hours % 24 == 0 else f"{hours:g}h"


@dataclass(frozen=True)
class Step:
    incident_id: str
    action: str  # measured / resolved / reverted / escalated / waiting / busy / nothing
    detail: str


def _frames(inputs: Inputs, m: Monitoring, start: datetime, end: datetime
            ) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The window's traffic served by the new version, and its rows whose labels arrived."""
    prof, data = inputs.profile, inputs.data
    ts = prof.data.timestamp
    if ts is None:
        raise MlpbError("monitoring needs data.timestamp in the profile",
                        hint="set data.timestamp to the inference log's event-time column")
    vcol = prof.prediction.model_version

    def pick(frame: pd.DataFrame) -> pd.DataFrame:
        t = frame[ts]
        keep = (t >= pd.Timestamp(start)) & (t < pd.Timestamp(end))
        if vcol and m.version and vcol in frame.columns:
            keep &= frame[vcol].astype(str) == m.version
        return frame[keep]

    labelled = pick(data.labelled) if data.labelled is not None else None
    return pick(data.log), labelled


def _measure(rt: Runtime, inputs: Inputs, inc: Incident, due: Due) -> WindowResult:
    m = inc.monitoring
    assert m is not None and due.index is not None and due.start and due.end
    window, labelled = _frames(inputs, m, due.start, due.end)
    criteria = [AcceptanceCriterion.model_validate(c) for c in m.criteria]
    now = rt.now()
    if len(window) < m.min_rows:
        return WindowResult(index=due.index, start=due.start, end=due.end, rows=len(window),
                            verdict="inconclusive", measured_at=now,
                            reason=f"{len(window)} rows served by v{m.version} (need "
                            f"{m.min_rows})")
    store = rt.model_store(inputs.profile)
    prof = inputs.profile
    assert store is not None and prof.model is not None  # a change was applied with one
    serving = store.load_model(prof.model.registry_name, m.version or prof.model.alias)
    reference = serving_reference(prof, inputs.data, store).reference  # follows the champion
    replaced = m.change.get("previous_version")  # group criteria compare with it
    previous = (store.load_model(prof.model.registry_name, str(replaced))
                if replaced and any(c.versus for c in criteria) else None)
    metrics = measure_live(prof, window, labelled, serving=serving, reference=reference,
                           thresholds=inputs.spec.drift, previous=previous)
    ver = evaluate_criteria(criteria, metrics)
    labelled_rows = int(metrics.get("labelled_rows", 0))
    missing = [c.id for c in ver.criteria if c.observed is None]
    small = [c.id for c in ver.criteria if c.observed is None and c.metric in GROUP_METRIC_NAMES]
    verdict: Verdict
    if missing and labelled_rows < m.min_rows:
        verdict, reason = "inconclusive", (f"labels arrived for {labelled_rows} of "
                                           f"{len(window)} rows; cannot judge {missing}")
    elif small and small == missing:  # a group too small to judge is never a pass
        verdict, reason = "inconclusive", (f"a group of the sensitive attributes has fewer "
                                           f"than {prof.fairness.min_group_rows} rows; "
                                           f"cannot judge {small}")
    else:
        failed = [c.id for c in ver.criteria if not c.passed]
        verdict = "pass" if ver.passed else "fail"
        reason = "every criterion holds" if ver.passed else f"failed: {', '.join(failed)}"
    return WindowResult(index=due.index, start=due.start, end=due.end, rows=len(window),
                        metrics=metrics, criteria=ver.criteria, verdict=verdict,
                        reason=reason, measured_at=now)


def _act(rt: Runtime, inputs: Inputs, inc: Incident, due: Due) -> Incident:
    """Resolve, revert + escalate, or escalate; then write the post-mortem."""
    m = inc.monitoring
    assert m is not None
    owner = getattr(inputs.profile.owners, inputs.spec.escalation.default_owner)
    if due.kind == "resolve":
        inc = rt.record(inc, Event.RESOLVED, f"{due.reason}: the change is verified live")
    elif due.kind == "revert":
        undo = Undo(inc.id, m.remediation_id, m.action, m.journal_seq, inputs.profile,
                    rt.settings.home)
        account = revert_change(undo, m.change, ledger=rt.ledger,
                                store=rt.model_store(inputs.profile))
        last = m.windows[-1] if m.windows else None
        recs = [r.model_copy(update={"reverted": True})
                if r.id == m.remediation_id and r.applied and not r.reverted else r
                for r in inc.remediations]
        inc = rt.record(inc, Event.REVERTED, f"'{m.remediation_id}' reverted: {due.reason}",
                        data={"change": m.change, "account": account}, remediations=recs)
        inc = rt.record(inc, Event.ESCALATED,
                        f"live monitoring failed ({last.reason if last else due.reason}); "
                        "change reverted", data={"to": owner}, escalated_to=owner)
    else:
        inc = rt.record(inc, Event.ESCALATED, due.reason, data={"to": owner},
                        escalated_to=owner)
    inc, _ = close(rt, inputs, inc, load_evidence(rt, inc.id))
    return inc


def advance_incident(rt: Runtime, incident_id: str) -> list[Step]:
    """Do everything due for one monitoring incident now; safe to call from many places."""
    inc = rt.ledger.get(incident_id)
    if inc.status is not IncidentStatus.MONITORING:
        return [Step(incident_id, "nothing", f"status {inc.status.value}")]
    if not inc.profile_path:
        raise MlpbError(f"incident {inc.id} does not say which profile it ran with",
                        hint="close it by hand: `mlpb incidents show` has its history")
    # The spec it ran with (criteria were copied at the start, so an edit moves nothing).
    inputs = load_inputs(spec_ref(inc), inc.profile_path)
    label_delay = inputs.profile.data.labels.delay if inputs.profile.data.labels else None
    if next_due(inc, rt.now(), label_delay=label_delay).kind == "wait":
        return [Step(inc.id, "waiting", next_due(inc, rt.now(), label_delay=label_delay).reason)]
    steps: list[Step] = []
    try:
        with rt.ledger.leases.hold(inc.model, f"monitoring {inc.id}"):
            while True:  # re-read under the lease: another controller may have moved it
                inc = rt.ledger.get(incident_id)
                due = next_due(inc, rt.now(), label_delay=label_delay)
                if due.kind in ("wait", "nothing"):
                    steps.append(Step(inc.id, "waiting" if due.kind == "wait" else "nothing",
                                      due.reason))
                    return steps
                if due.kind != "measure":
                    inc = _act(rt, inputs, inc, due)
                    steps.append(Step(inc.id, inc.status.value, due.reason))
                    return steps
                result = _measure(rt, inputs, inc, due)
                if not rt.ledger.windows.record(inc.id, result):
                    continue  # recorded by another controller; read again
                inc = _record_window(rt, inc, result)
                steps.append(Step(inc.id, "measured", f"window {result.index + 1}: "
                                  f"{result.verdict} ({result.reason})"))
    except LeaseBusy as exc:
        return [*steps, Step(incident_id, "busy", exc.message)]


def _record_window(rt: Runtime, inc: Incident, result: WindowResult) -> Incident:
    m = inc.monitoring
    assert m is not None
    m = m.model_copy(update={"windows": [*m.windows, result]})
    inc = rt.record(inc, Event.WINDOW,
                    f"window {result.index + 1} ({result.start:%Y-%m-%d %H:%M} → "
                    f"{result.end:%Y-%m-%d %H:%M}, {result.rows} rows): {result.verdict}; "
                    f"{result.reason} [{m.tally('pass')}/{m.count} passed]",
                    data={"window": result.model_dump(mode="json")}, monitoring=m)
    rt.notify(Notification("verification", inc,
                           msg("monitoring window {index}: {verdict} ({passed}/{count} passed)",
                               index=result.index + 1, verdict=window_verdict(result.verdict),
                               passed=m.tally("pass"), count=m.count),
                           [criterion_line(c) for c in result.criteria] or [result.reason]))
    return inc


def waiting_incidents(rt: Runtime) -> list[str]:
    """Ids of the incidents the controller has to look at, oldest first."""
    found = rt.ledger.list(status=IncidentStatus.MONITORING.value, limit=10_000)
    return [inc.id for inc in reversed(found)]


def advance_safely(rt: Runtime, incident_id: str) -> list[Step]:
    """``advance_incident``; an error is recorded on the incident, never raised (one broken
    incident must not stop a pass)."""
    try:
        return advance_incident(rt, incident_id)
    except MlpbError as exc:
        rt.ledger.add_event(incident_id, "error", f"controller: {exc.message}")
        return [Step(incident_id, "error", exc.message)]


def finish_pass(rt: Runtime, *, now: datetime | None = None) -> int:
    """End of a controller pass: post the reminders due for waiting incidents (Slack:
    ``communication.status_every``), then flush the outbox. Returns the reminders posted.
    ``now`` is wall-clock time, like the outbox's own ``waiting_since`` (default: now)."""
    posted = 0
    slack = find_notifier(rt.notifier, SlackNotifier)  # alone, or beside PagerDuty
    if slack is not None:
        try:
            posted = len(send_reminders(rt.ledger, slack, now or utcnow()))
        except Exception as exc:  # reminders must never fail a pass
            logging.getLogger(__name__).warning("reminders failed: %s: %s",
                                                type(exc).__name__, exc)
    rt.flush_notifications()
    return posted


def advance_all(rt: Runtime) -> list[Step]:
    """One controller pass: every incident that waits in monitoring, then the people side
    (expired approvals, approved changes to carry out, escalation levels to page)."""
    from playbooks.engine.escalation import advance_people_safely, people_incidents

    steps = [s for iid in waiting_incidents(rt) for s in advance_safely(rt, iid)]
    steps += [s for iid in people_incidents(rt) for s in advance_people_safely(rt, iid)]
    finish_pass(rt)
    return steps
