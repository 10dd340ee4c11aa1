"""Phases 3 and 4 as Prefect tasks: every hypothesis check concurrently, then rank, decide."""

from __future__ import annotations

from prefect import task

from playbooks.engine import diagnosis
from playbooks.engine.decide import Decision
from playbooks.engine.lifecycle import Inputs
from playbooks.engine.runtime import Runtime
from playbooks.models.evidence import EvidencePackage
from playbooks.models.incident import HypothesisResult, Incident
from playbooks.models.spec import HypothesisSpec
from tasks.common import TASK_DEFAULTS

__all__ = ["diagnose"]


@task(name="check-hypothesis", task_run_name="check-{hypothesis.id}", **TASK_DEFAULTS)
def check_hypothesis(inputs: Inputs, hypothesis: HypothesisSpec,
                     evidence: EvidencePackage) -> HypothesisResult:
    return diagnosis.test_hypothesis(inputs, hypothesis, evidence)


@task(name="decide", **TASK_DEFAULTS)
def record_diagnosis(rt: Runtime, inputs: Inputs, inc: Incident, evidence: EvidencePackage,
                     results: list[HypothesisResult]) -> tuple[Incident, Decision]:
    return diagnosis.record_diagnosis(rt, inputs, inc, evidence, results)


def diagnose(rt: Runtime, inputs: Inputs, inc: Incident,
             evidence: EvidencePackage) -> tuple[Incident, Decision]:
    futures = [check_hypothesis.submit(inputs, h, evidence) for h in inputs.spec.hypotheses]
    return record_diagnosis(rt, inputs, inc, evidence, [f.result() for f in futures])
