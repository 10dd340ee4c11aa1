"""The words every notifier shares: statuses and verdicts as translatable labels."""

from __future__ import annotations

from playbooks.i18n import Msg, Num, msg
from playbooks.models.incident import CriterionResult, IncidentStatus, Verdict

__all__ = ["STATUS", "VERDICT", "criterion_line", "status_label", "verdict_label",
           "window_verdict"]

STATUS: dict[IncidentStatus, Msg] = {
    IncidentStatus.OPEN: msg("open"),
    IncidentStatus.NEEDS_TRIAGE: msg("needs triage"),
    IncidentStatus.INVESTIGATING: msg("investigating"),
    IncidentStatus.REMEDIATING: msg("remediating"),
    IncidentStatus.MONITORING: msg("monitoring"),
    IncidentStatus.AWAITING_APPROVAL: msg("awaiting approval"),
    IncidentStatus.RESOLVED: msg("resolved"),
    IncidentStatus.FALSE_ALARM: msg("false alarm"),
    IncidentStatus.DIAGNOSED: msg("diagnosed"),
    IncidentStatus.ESCALATED: msg("escalated"),
    IncidentStatus.HANDED_OVER: msg("handed over"),
}
VERDICT: dict[Verdict, Msg] = {
    Verdict.SUPPORTED: msg("supported"),
    Verdict.REFUTED: msg("refuted"),
    Verdict.INCONCLUSIVE: msg("inconclusive"),
}


def status_label(status: IncidentStatus) -> Msg:
    return STATUS[status]


def verdict_label(verdict: Verdict) -> Msg:
    return VERDICT[verdict]


def window_verdict(verdict: str) -> Msg:
    """A monitoring window's verdict, shouted as in the English lines (PASS / FAIL)."""
    if verdict == "pass":
        return msg("PASS")
    if verdict == "fail":
        return msg("FAIL")
    return msg("INCONCLUSIVE")


def criterion_line(c: CriterionResult) -> Msg:
    """'roc-auc: roc_auc 0.8123 >= 0.8 → pass' (numbers per locale)."""
    observed = Num(c.observed, 4)
    if c.passed:
        return msg("{id}: {metric} {observed} {op} {target} → pass", id=c.id, metric=c.metric,
                   observed=observed, op=c.op, target=Num(c.target, 2))
    return msg("{id}: {metric} {observed} {op} {target} → FAIL", id=c.id, metric=c.metric,
               observed=observed, op=c.op, target=Num(c.target, 2))
