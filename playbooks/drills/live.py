"""Play a drill's monitoring out: advance the drill's sandbox a day at a time and run the
incident controller on its incident until it leaves ``monitoring``.

A drill runs on its sandbox's time, pinned for this process with ``MLPB_CLOCK``
(:func:`sandbox_time`). It never moves the state dir's clock file (``set_clock``): in a
served game day that clock is production's. For the same reason a drill's controller pass
covers only the drill's own incidents (``advance_safely``, the per-incident step of
``advance_all``): production incidents waiting in the same ledger are measured on
production's clock, never on a simulated one.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from playbooks.engine.monitor import Step, advance_safely
from playbooks.engine.runtime import Runtime
from playbooks.models.incident import Channel, Incident, IncidentStatus, Monitoring
from playbooks.sandbox import AdvancedDay, Sandbox, advance_sandbox, load_sandbox

__all__ = ["DayOfMonitoring", "approve_waiting", "day_budget", "follow_monitoring",
           "sandbox_time"]

CLOCK_ENV = "MLPB_CLOCK"  # playbooks.clock reads it first


@contextmanager
def sandbox_time(sandbox: Sandbox) -> Iterator[datetime]:
    """Within the block, runtimes created in this process read the sandbox's now."""
    before = os.environ.get(CLOCK_ENV)
    os.environ[CLOCK_ENV] = sandbox.now.isoformat()
    try:
        yield sandbox.now
    finally:
        if before is None:
            os.environ.pop(CLOCK_ENV, None)
        else:
            os.environ[CLOCK_ENV] = before


def day_budget(m: Monitoring) -> int:
    """Simulated days a drill may advance: every window it could take to pass, fail or give
    up (count + failure_limit + inconclusive_limit) plus two for the label delay and a
    window that starts part-way through a day."""
    return m.count + m.failure_limit + m.inconclusive_limit + 2


@dataclass(frozen=True)
class DayOfMonitoring:
    """One simulated day of a drill (or the demo): the traffic served, what the controller
    did, and the followed incidents afterwards."""

    number: int  # 1-based
    budget: int
    day: AdvancedDay
    steps: list[Step]
    incidents: list[Incident]

    @property
    def done(self) -> bool:
        return all(i.status is not IncidentStatus.MONITORING for i in self.incidents)


def follow_monitoring(home: str | None, state_dir: Path, incident_ids: list[str], *,
                      on_day: Callable[[DayOfMonitoring], None] | None = None,
                      ) -> list[DayOfMonitoring]:
    """Advance the sandbox under ``state_dir`` one day at a time and run a controller pass
    for each of ``incident_ids`` still monitoring, until none is; at most ``day_budget``
    days. The passes run on the sandbox's time (:func:`sandbox_time`), also when the
    sandbox's clock file is the home's (the demo), so an ``MLPB_CLOCK`` left in the
    environment cannot stall them."""
    ledger = Runtime.from_env(home, quiet=True).ledger
    followed = [ledger.get(i) for i in incident_ids]
    plans = [i.monitoring for i in followed
             if i.status is IncidentStatus.MONITORING and i.monitoring is not None]
    if not plans:
        return []
    budget = max(day_budget(m) for m in plans)
    days: list[DayOfMonitoring] = []
    for number in range(1, budget + 1):
        (day,) = advance_sandbox(state_dir, 1)
        waiting = [i.id for i in followed if i.status is IncidentStatus.MONITORING]
        with sandbox_time(load_sandbox(state_dir)):
            rt = Runtime.from_env(home, quiet=True)  # made now: it reads the moved clock
            steps = [s for iid in waiting for s in advance_safely(rt, iid)]
            rt.flush_notifications()
        followed = [ledger.get(i) for i in incident_ids]
        days.append(DayOfMonitoring(number, budget, day, steps, followed))
        if on_day is not None:
            on_day(days[-1])
        if days[-1].done:
            break
    return days


def approve_waiting(home: str | None, incident_ids: list[str], *, approver: str,
                    channel: Channel) -> list[Incident]:
    """Decide 'approve' on each of ``incident_ids`` (and the incidents they handed over to)
    that waits for an approval, and carry the change out, as a person would with
    ``mlpb approve``. A drill's own approval is ``channel='drill'`` (drill incidents only);
    the demo approves as an approver named in the sandbox profile. Returns the incidents
    that were waiting, as they are afterwards."""
    from playbooks.engine.approvals import decide
    from playbooks.engine.runner import resume_approved
    from playbooks.loader import load_profile

    rt = Runtime.from_env(home, quiet=True)
    done: list[Incident] = []
    for iid in incident_ids:
        inc = rt.ledger.get(iid)
        for one in [inc, *(rt.ledger.get(c) for c in inc.child_ids)]:
            if one.status is not IncidentStatus.AWAITING_APPROVAL or not one.profile_path:
                continue
            req = one.approval
            reason = f"{'drill' if channel == 'drill' else 'demo'}: plan " + (
                req.plan_hash[:19] if req else "")
            decide(rt, one.id, "approve", approver=approver, channel=channel, reason=reason,
                   profile=load_profile(Path(one.profile_path)))
            done.append(resume_approved(rt, one.id))
    rt.flush_notifications()
    return done
