"""Post-mortems are generic over playbooks: the spec and its collectors supply what is
specific (the drift table for data drift, serving facts and its own menu for latency)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from playbooks.engine.postmortem import render_postmortem
from playbooks.loader import CATALOG_DIR, load_spec
from playbooks.models import EvidencePackage, HypothesisResult, Incident, Verdict
from playbooks.models.incident import (
    CriterionResult,
    IncidentStatus,
    RemediationRecord,
    RootCause,
    Severity,
    Verification,
)

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)


def _incident(playbook: str, rc: str, **fields: object) -> Incident:
    spec = load_spec(CATALOG_DIR / f"{playbook}.yaml")
    results = [HypothesisResult(id=h.id, check=h.check, verdict=Verdict.SUPPORTED if h.id == rc
                                else Verdict.REFUTED, confidence=0.9, summary=f"{h.id} | checked")
               for h in spec.hypotheses]
    return Incident.model_validate({
        "id": "INC-1", "playbook": playbook, "playbook_version": spec.version,
        "playbook_hash": spec.hash, "model": "credit-risk", "dedup_key": "k",
        "severity": Severity.SEV2, "root_cause": RootCause(hypothesis_id=rc, confidence=0.9,
                                                           summary="the cause"),
        "hypotheses": results, "onset_at": T0, "detected_at": T0 + timedelta(hours=2),
        "resolved_at": T0 + timedelta(hours=3), **fields})


def _evidence(metrics: dict[str, float], **fields: object) -> EvidencePackage:
    return EvidencePackage.model_validate({"incident_id": "INC-1", "collected_at": T0,
                                           "metrics": metrics, **fields})


def test_data_drift_post_mortem_shows_the_drift_table_and_its_own_menu() -> None:
    spec = load_spec(CATALOG_DIR / "data-drift.yaml")
    drift = [{"feature": "age", "kind": "numeric", "status": "drift", "psi": 1.51, "ks": 0.4,
              "wasserstein_normed": 0.3, "js": 0.2},
             {"feature": "region", "kind": "categorical", "status": "ok", "psi": 0.01}]
    ev = _evidence({"max_psi": 1.51, "drifted_features": 1, "drifted_feature_share": 0.5},
                   feature_drift=drift,
                   summaries={"feature-drift": "1 of 2 features drifted (max PSI 1.51)"})
    inc = _incident("data-drift", "population-shift", status=IncidentStatus.RESOLVED,
                    remediations=[RemediationRecord(id="retrain", action="retrain", applied=True,
                                                    plan={"summary": "retrain on 14d"})],
                    verification=Verification(passed=True, criteria=[CriterionResult(
                        id="auc-floor", metric="roc_auc", op=">=", target=0.7, observed=0.81,
                        passed=True)]))
    md = render_postmortem(inc, spec, ev)

    assert "| feature | kind | PSI | KS | W1 (normed) | JS |" in md
    assert "| age | numeric | 1.51 | 0.4 | 0.3 | 0.2 |" in md and "| region |" not in md
    assert "- Severity rule met: drifted_feature_share >= 0.25 (observed 0.5) → SEV3." in md
    assert "- max_psi: 1.51 — largest per-feature PSI" in md
    assert "- **feature-drift**: 1 of 2 features drifted (max PSI 1.51); max_psi 1.51" in md
    assert "The hypothesis: The population of applicants changed" in md
    assert "Prescribed: remediate with retrain." in md
    assert "risk medium, effort low; rollback plan: the champion alias moves back" in md
    assert "| auc-floor | roc_auc | >= 0.7 | 0.81 | pass | the new version ranks risk" in md
    assert "| first drifted day |" in md
    assert "should retrain run on a schedule" in md
    assert "| population-shift | The population of applicants changed" in md
    assert "population-shift / checked" in md  # table cells cannot break the table


def test_serving_latency_post_mortem_comes_from_its_own_spec_and_collectors() -> None:
    spec = load_spec(CATALOG_DIR / "serving-latency.yaml")
    ev = _evidence({"error_rate": 0.08, "error_rate_slo_ratio": 4.0, "latency_p95_ms": 40.0,
                    "latency_p95_slo_ratio": 0.4},
                   summaries={"serving-metrics": "recent p95 40 ms (SLO 120 ms), error rate 8.0%"})
    inc = _incident("serving-latency", "error-spike", status=IncidentStatus.ESCALATED,
                    escalated_to="ml-oncall")
    md = render_postmortem(inc, spec, ev)

    assert "Post-mortem INC-1: Serving latency or error-rate SLO breach" in md
    assert "- Severity rule met: error_rate_slo_ratio >= 2 (observed 4) → SEV2." in md
    assert "- error_rate: 0.08" in md
    assert "- **serving-metrics**: recent p95 40 ms (SLO 120 ms), error rate 8.0%;" in md
    assert "error_rate 0.08" in md
    assert "The hypothesis: The serving stack fails requests beyond the error-rate SLO" in md
    assert "Prescribed: escalate to the oncall owner." in md
    assert "| within-slo | Latency and errors are within their SLOs" in md
    assert "None applied." in md
    assert "Not tried from the playbook's menu:" in md and "- rollback-model (rollback-model)" in md
    assert "ml-oncall: investigate and fix the cause named above." in md
    assert "PSI" not in md and "drift" not in md.lower()  # nothing of the drift playbook
    assert "| from the evidence |" in md


def test_false_alarm_and_missing_evidence_render() -> None:
    spec = load_spec(CATALOG_DIR / "data-drift.yaml")
    inc = _incident("data-drift", "no-material-drift", status=IncidentStatus.FALSE_ALARM)
    md = render_postmortem(inc, spec, None)
    assert "No evidence was collected." in md and "None collected." in md
    assert "Tune the alerting rule: it fired without a failure (no-material-drift" in md
    assert "No change was applied, so there was nothing to verify." in md
