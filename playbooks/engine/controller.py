"""The incident controller's decision (pure): for one waiting incident and the clock, what is
due now. ``playbooks.engine.monitor`` carries it out; the ``advance-incidents`` flow and
``mlpb tick`` run it for every waiting incident."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from playbooks.engine.live_metrics import LABELLED_METRICS
from playbooks.i18n import msg
from playbooks.models.incident import Incident, IncidentStatus, Monitoring
from playbooks.notify.words import status_label

__all__ = ["Due", "needs_labels", "next_due", "window_bounds"]

DueKind = Literal["measure", "wait", "resolve", "revert", "escalate", "nothing"]


@dataclass(frozen=True)
class Due:
    kind: DueKind
    reason: str
    index: int | None = None  # the window to measure
    start: datetime | None = None
    end: datetime | None = None
    at: datetime | None = None  # when the next step falls due (for "wait" and "measure")


def needs_labels(m: Monitoring) -> bool:
    return any(c["metric"] in LABELLED_METRICS for c in m.criteria)


def window_bounds(m: Monitoring, index: int) -> tuple[datetime, datetime]:
    start = m.started_at + index * m.window
    return start, start + m.window


def next_due(inc: Incident, now: datetime, *, label_delay: timedelta | None) -> Due:
    """What the controller must do for ``inc`` at ``now``.

    Verdicts first (a limit reached is acted on before anything is measured), then the next
    window: due when it has closed, plus the label delay when a criterion needs labels."""
    m = inc.monitoring
    if inc.status is not IncidentStatus.MONITORING or m is None:
        return Due("nothing", msg("not monitoring ({status})", status=status_label(inc.status)))
    passed, failed = m.tally("pass"), m.tally("fail")
    inconclusive = m.tally("inconclusive")
    if failed >= m.failure_limit:
        return Due("revert", msg("{failed} live window(s) failed (limit {limit}): reverting the "
                                 "change", failed=failed, limit=m.failure_limit))
    if inconclusive > m.inconclusive_limit:
        return Due("escalate", msg("cannot verify: {windows} window(s) without enough data (limit "
                                   "{limit})", windows=inconclusive, limit=m.inconclusive_limit))
    if passed >= m.count:
        return Due("resolve", msg("{passed}/{count} live windows passed", passed=passed,
                                  count=m.count))
    index = len(m.windows)
    start, end = window_bounds(m, index)
    ready = end
    if needs_labels(m):
        ready = end + (label_delay or timedelta(0))
    if now < ready:
        waiting = (msg("labels") if needs_labels(m) and now >= end else msg("traffic"))
        return Due("wait", msg("window {index} ({passed}/{count} passed) is due at {when} "
                               "(waiting for {what})", index=index + 1, passed=passed,
                               count=m.count, when=ready, what=waiting),
                   index, start, end, ready)
    return Due("measure", msg("measure window {index}", index=index + 1), index, start, end,
               ready)
