"""Phases 2-4 recorded on the incident: the evidence package, then the ranked hypotheses
and the decision (the checks themselves are pure plugins)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from playbooks.archive.samples import keep_samples
from playbooks.engine.decide import Decision, assess_severity, decide, rank
from playbooks.engine.lifecycle import Inputs
from playbooks.engine.reference import serving_reference
from playbooks.engine.runtime import Runtime
from playbooks.engine.transitions import Event
from playbooks.evidence import collect_environment
from playbooks.evidence.base import CollectContext, EvidencePart
from playbooks.i18n import msg
from playbooks.models.evidence import EvidencePackage
from playbooks.models.incident import HypothesisResult, Incident, utcnow
from playbooks.models.spec import HypothesisSpec
from playbooks.notify import Notification
from playbooks.notify.words import verdict_label

__all__ = ["assemble_package", "collect_context", "evidence_path", "load_evidence",
           "record_diagnosis", "record_evidence", "test_hypothesis", "use_serving_reference"]


def use_serving_reference(rt: Runtime, inputs: Inputs) -> None:
    """Judge drift against what the serving version learned from (engine/reference.py)."""
    inputs.data = serving_reference(inputs.profile, inputs.data,
                                    rt.model_store(inputs.profile))


def collect_context(rt: Runtime, inputs: Inputs, inc: Incident) -> CollectContext:
    keep_samples(rt.settings.home, inc.id, inputs.data, inputs.profile)  # bounded, for audit
    return CollectContext(incident_id=inc.id, profile=inputs.profile, spec=inputs.spec,
                          data=inputs.data, model_store=rt.model_store(inputs.profile),
                          state_dir=rt.settings.home)


def assemble_package(inc: Incident, parts: Mapping[str, EvidencePart]) -> EvidencePackage:
    """One immutable package from every collector's part (fields and metrics merged)."""
    fields: dict[str, Any] = {}
    metrics: dict[str, float] = {}
    for part in parts.values():
        fields |= part.fields
        metrics |= part.metrics
    return EvidencePackage.model_validate({
        "incident_id": inc.id,
        "collected_at": utcnow(),
        **fields,
        "metrics": metrics,
        "environment": collect_environment(),
        "alert": dict(inc.trigger),
        "parts": {n: p.data for n, p in parts.items() if p.data},
        "summaries": {n: p.summary for n, p in parts.items() if p.summary},
    })


def evidence_path(rt: Runtime, incident_id: str) -> Path:
    return rt.settings.home / "evidence" / f"{incident_id}.json"


def load_evidence(rt: Runtime, incident_id: str) -> EvidencePackage | None:
    """The package a run kept for its incident (the controller writes post-mortems later)."""
    path = evidence_path(rt, incident_id)
    if not path.exists():
        return None
    return EvidencePackage.model_validate_json(path.read_text(encoding="utf-8"))


def record_evidence(rt: Runtime, inc: Incident, pkg: EvidencePackage) -> Incident:
    path = evidence_path(rt, inc.id)  # kept per incident: immutable once collected
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(pkg.model_dump_json(), encoding="utf-8")
    inc = rt.record(inc, Event.EVIDENCE, "; ".join(pkg.summaries.values()) or "collected",
        data={"metrics": pkg.metrics, "collectors": list(pkg.summaries)},
        onset_at=pkg.drift_onset or inc.onset_at, model_version=pkg.model.get("version"))
    lines: list[str] = [f"{name}: {line}" for name, line in pkg.summaries.items()]
    drifted = sorted((d for d in pkg.feature_drift if d["status"] == "drift"),
                     key=lambda d: -(d.get("psi") or 0))
    lines += [msg("{feature}: PSI {psi}", feature=d["feature"], psi=float(d["psi"]))
              for d in drifted[:5] if d.get("psi") is not None]
    rt.notify(Notification("evidence", inc, msg("evidence collected"), lines))
    return inc


def test_hypothesis(inputs: Inputs, hypothesis: HypothesisSpec,
                    evidence: EvidencePackage) -> HypothesisResult:
    res = inputs.plugins.get("check", hypothesis.check).run_check(evidence, hypothesis.params)
    return HypothesisResult(id=hypothesis.id, check=hypothesis.check, verdict=res.verdict,
                            confidence=res.confidence, summary=res.summary, findings=res.findings)


test_hypothesis.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


def record_diagnosis(rt: Runtime, inputs: Inputs, inc: Incident, evidence: EvidencePackage,
                     results: list[HypothesisResult]) -> tuple[Incident, Decision]:
    ranked = rank(results, inputs.spec)
    decision = decide(ranked, inputs.spec, inputs.profile)
    rt.ledger.record_hypotheses(inc.id, ranked)
    inc = rt.record(inc, Event.DIAGNOSIS, decision.reason,
        data={"action": decision.action, "remediations": decision.remediations},
        hypotheses=ranked, root_cause=decision.root_cause,
        severity=assess_severity(inputs.spec, inputs.profile, evidence.metrics))
    rt.notify(Notification("hypotheses", inc, msg("hypotheses tested"), [
        msg("{hypothesis}: {verdict} ({confidence}) — {summary}", hypothesis=h.id,
            verdict=verdict_label(h.verdict), confidence=h.confidence, summary=h.summary)
        for h in ranked]))
    rt.notify(Notification("root_cause", inc, msg("decision"), [decision.reason]))
    return inc, decision
