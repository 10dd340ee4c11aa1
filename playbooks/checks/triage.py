"""Triage: which specialised playbook's failure signature does the evidence match?

A triage hypothesis "this is a <playbook> problem" is tested by running that playbook's own
checks on the broad triage evidence: it is supported when any of its non-false-alarm
hypotheses is. So triage never drifts out of step with the playbooks it routes to.

The candidates are the catalog itself (:func:`candidate_playbooks`: every spec that does not
route by signatures itself), so a new playbook YAML is a candidate without an edit here or in
triage.yaml; :func:`signature_hypotheses` is triage's "this is a <playbook> problem" list
built from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache

from pydantic import BaseModel, ConfigDict, Field

from playbooks.checks.base import CheckResult
from playbooks.engine.plugins import check, default_plugins
from playbooks.loader import catalog_ids, load_spec, read_yaml, resolve_spec_path
from playbooks.models.evidence import EvidencePackage
from playbooks.models.incident import Finding, Verdict
from playbooks.models.spec import HypothesisSpec, Outcome, PlaybookSpec

__all__ = ["SIGNATURE_CHECK", "NothingMatchesParams", "SignatureParams", "candidate_playbooks",
           "check_nothing_matches", "check_playbook_signature", "check_unexplained_symptoms",
           "signature_hypotheses", "signature_matches"]

SIGNATURE_CHECK = "playbook-signature"
DEFAULT_WEIGHT = 0.7  # a candidate without a set weight ranks after every weighted one


class SignatureParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    playbook: str = Field(description="Catalog playbook whose failure signature to test.")
    weight: float = Field(
        0.9, gt=0, le=1, description="Confidence that this playbook owns the incident when its "
        "signature is present. Several signatures can be present at once (swapped columns also "
        "look out of range); the weights order them, upstream and more specific causes first.")


class NothingMatchesParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    playbooks: list[str] | None = Field(
        None, min_length=1, description="Signatures that must all be absent; default: every "
        "candidate playbook of the catalog.")
    max_auc_drop: float = Field(0.03, ge=0, description="Labelled AUC drop that is a symptom.")
    max_psi: float = Field(0.2, ge=0, description="Feature PSI that is a symptom.")


@cache
def _spec(playbook: str) -> PlaybookSpec:
    return load_spec(resolve_spec_path(playbook))


def candidate_playbooks() -> list[str]:
    """Every catalog playbook triage can hand over to: all but those that route by
    signatures themselves (triage)."""
    return [p for p in catalog_ids() if not _routes(p)]


@cache
def _routes(playbook: str) -> bool:
    # From the file, not the loaded spec: a loader that builds triage's hypotheses with
    # signature_hypotheses() must not have to load triage to do so.
    data = read_yaml(resolve_spec_path(playbook))
    hypotheses = data.get("hypotheses") or []
    return "signatures" in data or any(
        isinstance(h, dict) and h.get("check") == SIGNATURE_CHECK for h in hypotheses)


def signature_hypotheses(weights: Mapping[str, float],
                         default_weight: float = DEFAULT_WEIGHT) -> list[HypothesisSpec]:
    """One "this is a <playbook> problem" hypothesis per candidate playbook, handing over
    to it when supported; ``weights`` (playbook -> confidence that it owns the incident)
    rank them, upstream and more specific causes first, ties by id."""
    ranked = sorted(candidate_playbooks(), key=lambda p: (-weights.get(p, default_weight), p))
    return [HypothesisSpec(id=p, title=_spec(p).title, check=SIGNATURE_CHECK,
                           params={"playbook": p, "weight": weights.get(p, default_weight)},
                           on_supported=Outcome(handover_to=p))
            for p in ranked]


def signature_matches(evidence: EvidencePackage, playbook: str) -> tuple[float, list[str]]:
    """(best confidence of a supported non-false-alarm hypothesis, their summaries)."""
    spec, registry = _spec(playbook), default_plugins()
    best, summaries = 0.0, []
    for h in spec.hypotheses:
        if h.on_supported.close_as or h.on_supported.handover_to:
            continue
        plugin = registry.get("check", h.check)
        try:
            res = plugin.impl(evidence, plugin.parse_params(h.params))
        except (KeyError, ValueError, TypeError, ZeroDivisionError):
            continue  # evidence this check needs was not collected: no signal either way
        if res.verdict is Verdict.SUPPORTED:
            best = max(best, res.confidence)
            summaries.append(f"{h.id}: {res.summary}")
    return best, summaries


@check(SIGNATURE_CHECK, params=SignatureParams)
def check_playbook_signature(evidence: EvidencePackage, params: SignatureParams) -> CheckResult:
    """The evidence matches the failure signature of one specialised playbook."""
    conf, summaries = signature_matches(evidence, params.playbook)
    if not summaries:
        return CheckResult(Verdict.REFUTED, 0.7, f"no {params.playbook} signature in the evidence")
    findings = [Finding(kind="playbook_signature", statistic="confidence", value=conf,
                        breached=True, detail={"playbook": params.playbook, "matches": summaries})]
    # The signature's own confidence says how sure its check is of *a* problem; which
    # playbook owns it is the triage prior, so that is what ranks the handover.
    return CheckResult(Verdict.SUPPORTED, params.weight, f"{params.playbook}: {summaries[0]}",
                       findings)


def _symptoms(evidence: EvidencePackage, p: NothingMatchesParams) -> list[Finding]:
    m = evidence.metrics
    checks = (("labelled_auc_drop", p.max_auc_drop), ("max_psi", p.max_psi))
    return [Finding(kind="symptom", statistic=k, value=m[k], threshold=t, breached=True)
            for k, t in checks if k in m and m[k] > t]


@check("nothing-matches", params=NothingMatchesParams)
def check_nothing_matches(evidence: EvidencePackage, params: NothingMatchesParams) -> CheckResult:
    """No specialised playbook's signature and no symptom: the alert was a false alarm."""
    candidates = params.playbooks or candidate_playbooks()
    matched = [p for p in candidates if signature_matches(evidence, p)[1]]
    symptoms = _symptoms(evidence, params)
    if matched or symptoms:
        what = matched or [f.statistic or "" for f in symptoms]
        return CheckResult(Verdict.REFUTED, 0.9, f"something is present: {', '.join(what)}",
                           symptoms)
    return CheckResult(Verdict.SUPPORTED, 0.8,
                       f"none of {len(candidates)} failure signatures and no symptom is "
                       "present; suggested monitoring change: raise the alert's threshold or "
                       "require it to hold for longer before paging", [Finding(
                           kind="monitoring_rule_suggestion", detail={
                               "suggestion": "raise the threshold or add a 'for:' duration"})])


@check("unexplained-symptoms", params=NothingMatchesParams)
def check_unexplained_symptoms(evidence: EvidencePackage,
                               params: NothingMatchesParams) -> CheckResult:
    """Symptoms are present but no playbook recognises them: a human must look."""
    if any(signature_matches(evidence, p)[1] for p in params.playbooks or candidate_playbooks()):
        return CheckResult(Verdict.REFUTED, 0.85, "a specialised playbook recognises this")
    symptoms = _symptoms(evidence, params)
    if not symptoms:
        return CheckResult(Verdict.REFUTED, 0.7, "no symptom beyond the alert itself")
    return CheckResult(Verdict.SUPPORTED, 0.6,
                       "symptoms without a known failure signature: "
                       + ", ".join(f"{f.statistic}={f.value:.3g}" for f in symptoms), symptoms)
