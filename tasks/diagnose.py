"""Phases 3 and 4: run every hypothesis check, rank, decide."""

from __future__ import annotations

from prefect import task

from playbooks.engine.decide import Decision, assess_severity, decide, rank
from playbooks.engine.lifecycle import Inputs
from playbooks.engine.runtime import Runtime
from playbooks.models.evidence import EvidencePackage
from playbooks.models.incident import HypothesisResult, Incident
from playbooks.models.spec import HypothesisSpec
from playbooks.notify import Notification
from tasks.common import TASK_DEFAULTS

__all__ = ["diagnose"]


@task(name="check-hypothesis", task_run_name="check-{hypothesis.id}", **TASK_DEFAULTS)
def check_hypothesis(inputs: Inputs, hypothesis: HypothesisSpec,
                     evidence: EvidencePackage) -> HypothesisResult:
    plugin = inputs.plugins.get("check", hypothesis.check)
    res = plugin.impl(evidence, plugin.parse_params(hypothesis.params))
    return HypothesisResult(id=hypothesis.id, check=hypothesis.check, verdict=res.verdict,
                            confidence=res.confidence, summary=res.summary, findings=res.findings)


@task(name="decide", **TASK_DEFAULTS)
def record_diagnosis(rt: Runtime, inputs: Inputs, inc: Incident, evidence: EvidencePackage,
                     results: list[HypothesisResult]) -> tuple[Incident, Decision]:
    ranked = rank(results, inputs.spec)
    decision = decide(ranked, inputs.spec, inputs.profile)
    inc.hypotheses, inc.root_cause = ranked, decision.root_cause
    inc.severity = assess_severity(inputs.spec, inputs.profile, evidence.metrics)
    rt.ledger.record_hypotheses(inc.id, ranked)
    rt.ledger.add_event(inc.id, "diagnosis", decision.reason,
                        {"action": decision.action, "remediations": decision.remediations})
    inc = rt.ledger.save(inc)
    rt.notify(Notification("hypotheses", inc, "hypotheses tested", [
        f"{h.id}: {h.verdict.value} ({h.confidence:.2f}) — {h.summary}" for h in ranked]))
    rt.notify(Notification("root_cause", inc, "decision", [decision.reason]))
    return inc, decision


def diagnose(rt: Runtime, inputs: Inputs, inc: Incident,
             evidence: EvidencePackage) -> tuple[Incident, Decision]:
    futures = [check_hypothesis.submit(inputs, h, evidence) for h in inputs.spec.hypotheses]
    return record_diagnosis(rt, inputs, inc, evidence, [f.result() for f in futures])
