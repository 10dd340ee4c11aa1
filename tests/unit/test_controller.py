"""The controller's decision for one monitoring incident and a clock (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from playbooks.engine.controller import next_due
from playbooks.engine.live_metrics import estimated_auc
from playbooks.engine.transitions import Event, apply_event
from playbooks.models.incident import Incident, IncidentStatus, Monitoring, WindowResult

T0 = datetime(2026, 3, 1, tzinfo=UTC)
DAY = timedelta(days=1)
LABELLED = {"id": "auc", "metric": "roc_auc", "op": ">=", "value": 0.7}
LABEL_FREE = {"id": "psi", "metric": "max_psi", "op": "<=", "value": 0.2}


def _monitoring(criteria: list[dict[str, object]], verdicts: list[str] = ()) -> Incident:
    m = Monitoring(remediation_id="retrain", action="retrain", journal_seq=1, change={},
                   version="2", started_at=T0, window=DAY, count=3, failure_limit=1,
                   inconclusive_limit=1, min_rows=10, criteria=criteria,
                   windows=[WindowResult(index=i, start=T0 + i * DAY, end=T0 + (i + 1) * DAY,
                                         rows=100, verdict=v, measured_at=T0)  # type: ignore[arg-type]  # test data: str is one of the literals
                            for i, v in enumerate(verdicts)])
    inc = Incident(id="INC-c", playbook="data-drift", playbook_version="1.0.0",
                   playbook_hash="h", model="m", dedup_key="k",
                   status=IncidentStatus.REMEDIATING)
    return apply_event(inc, Event.MONITORING, "watching", monitoring=m)


def test_label_free_window_is_due_when_it_closes() -> None:
    inc = _monitoring([LABEL_FREE])
    assert next_due(inc, T0 + DAY - timedelta(minutes=1), label_delay=DAY).kind == "wait"
    due = next_due(inc, T0 + DAY, label_delay=DAY)
    assert (due.kind, due.index, due.start, due.end) == ("measure", 0, T0, T0 + DAY)


def test_labelled_window_waits_for_its_labels() -> None:
    inc = _monitoring([LABEL_FREE, LABELLED], ["pass"])
    waiting = next_due(inc, T0 + 2 * DAY + timedelta(hours=12), label_delay=DAY)
    assert waiting.kind == "wait" and "labels" in waiting.reason
    assert waiting.at == T0 + 3 * DAY
    assert next_due(inc, T0 + 3 * DAY, label_delay=DAY).index == 1


@pytest.mark.parametrize(("verdicts", "kind"), [
    (["pass", "pass", "pass"], "resolve"),
    (["pass", "fail"], "revert"),
    (["inconclusive", "inconclusive"], "escalate"),
    (["inconclusive", "pass"], "measure"),
])
def test_verdicts_decide_before_anything_is_measured(verdicts: list[str], kind: str) -> None:
    assert next_due(_monitoring([LABEL_FREE], verdicts), T0 + 30 * DAY,
                    label_delay=None).kind == kind


def test_only_monitoring_incidents_have_anything_due() -> None:
    inc = _monitoring([LABEL_FREE], ["pass"] * 3)
    done = apply_event(inc, Event.RESOLVED, "verified")
    assert next_due(done, T0 + 30 * DAY, label_delay=None).kind == "nothing"


def test_estimated_auc_matches_the_labelled_auc_of_calibrated_scores() -> None:
    import numpy as np
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(7)
    p = rng.beta(2, 5, 20_000)
    real = np.mean([roc_auc_score(rng.random(p.size) < p, p) for _ in range(5)])
    est = estimated_auc(p)
    assert est is not None and abs(est - real) < 0.01
    assert estimated_auc(np.full(50, 0.3)) == pytest.approx(0.5)  # all ties: no ranking
    assert estimated_auc(np.array([0.4])) is None
