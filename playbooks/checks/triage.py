"""Triage: which specialised playbooks' failure signatures does the evidence match, and how
strongly?

A triage hypothesis "this is a <playbook> problem" is tested by running that playbook's own
checks on the broad triage evidence (so triage never drifts out of step with the playbooks
it routes to). The class's evidence is its best supported check's strength; with the class's
prior (``signatures:`` in triage.yaml) it becomes a posterior, and the classes are ranked by
it - Jeffreys band, then specificity, then posterior (``playbooks.checks.strength``
documents the scale). Every supported class is reported; the top one gets the incident and
carries the others as ``secondary_cause`` findings (a distinct concurrent fault) or
``corroborating`` ones (another playbook's view of the same columns or symptom).

The candidates are the catalog itself (:func:`candidate_playbooks`: every spec that does not
route by signatures itself), so a new playbook YAML is a candidate without an edit here or in
triage.yaml; :func:`signature_hypotheses` is triage's "this is a <playbook> problem" list
built from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

from pydantic import BaseModel, ConfigDict, Field

from playbooks.checks.base import CheckResult
from playbooks.checks.strength import Specificity, jeffreys_band, posterior_odds
from playbooks.engine.plugins import check, default_plugins
from playbooks.loader import catalog_ids, load_spec, read_yaml, resolve_spec_path
from playbooks.models.evidence import EvidencePackage
from playbooks.models.incident import Finding, Verdict
from playbooks.models.spec import HypothesisSpec, Outcome, PlaybookSpec

__all__ = ["DEFAULT_PRIOR", "SIGNATURE_CHECK", "ClassMatch", "NothingMatchesParams",
           "SignatureParams", "candidate_playbooks", "check_nothing_matches",
           "check_playbook_signature", "check_unexplained_symptoms", "rank_classes",
           "signature_hypotheses", "signature_matches"]

SIGNATURE_CHECK = "playbook-signature"
DEFAULT_PRIOR = 0.05  # a candidate triage.yaml does not list: a rare cause until stated
_BANDS = ("barely worth mentioning", "substantial", "strong", "decisive")


class SignatureParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    playbook: str = Field(description="Catalog playbook whose failure signature to test.")
    priors: dict[str, float] = Field(
        default_factory=dict, description="Prior probability of every candidate class (the "
        "share of vague alerts it causes); the class is ranked against the others with them. "
        "Filled from triage.yaml's signatures: at load.")


class NothingMatchesParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    playbooks: list[str] | None = Field(
        None, min_length=1, description="Signatures that must all be absent; default: every "
        "candidate playbook of the catalog.")
    priors: dict[str, float] = Field(
        default_factory=dict, description="As SignatureParams.priors (filled at load).")
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


def _priors(priors: Mapping[str, float]) -> dict[str, float]:
    return {p: float(priors.get(p, DEFAULT_PRIOR)) for p in candidate_playbooks()}


def signature_hypotheses(priors: Mapping[str, float]) -> list[HypothesisSpec]:
    """One "this is a <playbook> problem" hypothesis per candidate playbook, handing over to
    it when supported. Listed by prior (the engine's last tie-break), ties by id."""
    full = _priors(priors)
    ranked = sorted(full, key=lambda p: (-full[p], p))
    return [HypothesisSpec(id=p, title=_spec(p).title, check=SIGNATURE_CHECK,
                           params={"playbook": p, "priors": full},
                           on_supported=Outcome(handover_to=p))
            for p in ranked]


def signature_matches(evidence: EvidencePackage,
                      playbook: str) -> list[tuple[str, CheckResult]]:
    """(hypothesis id, result) of every supported non-false-alarm, non-handover hypothesis of
    ``playbook`` on ``evidence``, most specific and strongest first."""
    spec, registry = _spec(playbook), default_plugins()
    out = []
    for h in spec.hypotheses:
        if h.on_supported.close_as or h.on_supported.handover_to:
            continue
        plugin = registry.get("check", h.check)
        try:
            res = plugin.impl(evidence, plugin.parse_params(h.params))
        except (KeyError, ValueError, TypeError, ZeroDivisionError):
            continue  # evidence this check needs was not collected: no signal either way
        if res.verdict is Verdict.SUPPORTED:
            out.append((h.id, res))
    return sorted(out, key=lambda m: (-m[1].specificity, -m[1].confidence))


@dataclass(frozen=True)
class ClassMatch:
    """One failure class's standing: its best check, and what the prior makes of it."""

    playbook: str
    prior: float
    matches: list[tuple[str, CheckResult]]
    odds: float  # posterior odds (prior odds x the best check's Bayes factor); 0 if none

    @property
    def best(self) -> tuple[str, CheckResult] | None:
        return self.matches[0] if self.matches else None

    @property
    def supported(self) -> bool:
        return self.odds > 1.0

    @property
    def posterior(self) -> float:
        return self.odds / (1.0 + self.odds)

    @property
    def band(self) -> int:
        return jeffreys_band(self.odds) if self.supported else -1

    @property
    def specificity(self) -> int:
        return int(self.best[1].specificity) if self.best else 0

    @property
    def features(self) -> set[str]:
        """Columns the best check named (weaker matches may name noise)."""
        return {f.feature for f in self.best[1].findings
                if f.feature and f.breached} if self.best else set()

    def line(self) -> str:
        if self.best is None:
            return f"{self.playbook}: no signature"
        hid, res = self.best
        return (f"{self.playbook} (posterior {self.posterior:.3f}, {_BANDS[max(self.band, 0)]}; "
                f"{hid}: {res.summary})")


def rank_classes(evidence: EvidencePackage, priors: Mapping[str, float],
                 playbooks: list[str] | None = None) -> list[ClassMatch]:
    """Every candidate class, best first: supported ones by Jeffreys band, specificity,
    posterior; then the rest."""
    full = _priors(priors)
    out = []
    for p in playbooks or candidate_playbooks():
        matches = signature_matches(evidence, p)
        best = max((r.confidence for _, r in matches[:1]), default=None)
        odds = posterior_odds(best, full.get(p, DEFAULT_PRIOR)) if best is not None else 0.0
        out.append(ClassMatch(p, full.get(p, DEFAULT_PRIOR), matches, odds))
    return sorted(out, key=lambda c: (-c.band, -c.specificity, -c.odds, c.playbook))


def _reported(ranked: list[ClassMatch]) -> dict[str, float]:
    """Confidence per supported class: its posterior, non-increasing along the ranking (a
    more specific class of the same band caps the ones below it, by 1e-4 steps) so that the
    engine's sort by confidence keeps triage's order."""
    out: dict[str, float] = {}
    cap = 1.0
    for c in ranked:
        if not c.supported:
            break
        cap = min(round(c.posterior, 4), cap)
        out[c.playbook] = cap
        cap = max(cap - 1e-4, 0.5)
    return out


def _downstream(c: ClassMatch, above: list[ClassMatch]) -> bool:
    """Broken input data propagates into the model's outputs and performance (category
    'model'); it never makes requests fail or releases regress."""
    return _category(c.playbook) == "model" and any(
        _category(a.playbook) == "data" and a.features for a in above)


def _category(playbook: str) -> str:
    return _spec(playbook).taxonomy.category


def _others(top: ClassMatch, ranked: list[ClassMatch]) -> list[Finding]:
    """The other supported classes: a distinct fault when they name columns no higher class
    named, or localise a fault without naming columns that no higher data fault explains;
    else corroborating evidence (another view of the same fault)."""
    covered = set(top.features)
    out = []
    above = [top]
    for c in ranked:
        if c is top or not c.supported or c.best is None:
            continue
        new = c.features - covered
        distinct = bool(new) if c.features else (
            c.specificity >= Specificity.LOCALISED and not _downstream(c, above))
        above.append(c)
        covered |= c.features
        hid, res = c.best
        out.append(Finding(
            kind="secondary_cause" if distinct else "corroborating", statistic="posterior",
            value=round(c.posterior, 4), threshold=0.5, breached=True,
            detail={"playbook": c.playbook, "hypothesis": hid, "summary": res.summary,
                    "prior": c.prior, "band": _BANDS[c.band], "specificity": c.specificity,
                    "features": sorted(c.features), "new_features": sorted(new)}))
    return out


@check(SIGNATURE_CHECK, params=SignatureParams)
def check_playbook_signature(evidence: EvidencePackage, params: SignatureParams) -> CheckResult:
    """The evidence matches the failure signature of one specialised playbook."""
    ranked = rank_classes(evidence, params.priors)
    me = next(c for c in ranked if c.playbook == params.playbook)
    if me.best is None:
        return CheckResult(Verdict.REFUTED, 0.7, f"no {params.playbook} signature in the evidence")
    hid, res = me.best
    standing = Finding(kind="playbook_signature", statistic="posterior",
                       value=round(me.posterior, 4), threshold=0.5, breached=me.supported,
                       detail={"playbook": params.playbook, "hypothesis": hid,
                               "strength": res.confidence, "prior": me.prior,
                               "band": _BANDS[max(me.band, 0)], "specificity": me.specificity,
                               "matches": [f"{h}: {r.summary}" for h, r in me.matches]})
    if not me.supported:
        return CheckResult(Verdict.INCONCLUSIVE, round(me.posterior, 4),
                           f"{params.playbook}: evidence too weak for its prior "
                           f"({hid}: {res.summary}; posterior {me.posterior:.2f})",
                           [standing, *res.findings])
    summary = f"{params.playbook}: {hid}: {res.summary}"
    findings = [standing, *res.findings]
    if ranked[0] is me:  # the incident goes here: the other supported classes come along
        others = _others(me, ranked)
        findings += others
        if second := [f for f in others if f.kind == "secondary_cause"]:
            summary += "; also: " + "; ".join(
                f"{f.detail['playbook']} ({f.detail['hypothesis']}, posterior {f.value:.3f}: "
                f"{f.detail['summary']})" for f in second)
    return CheckResult(Verdict.SUPPORTED, _reported(ranked)[params.playbook], summary, findings,
                       specificity=Specificity(me.specificity))


def _symptoms(evidence: EvidencePackage, p: NothingMatchesParams) -> list[Finding]:
    m = evidence.metrics
    checks = (("labelled_auc_drop", p.max_auc_drop), ("max_psi", p.max_psi))
    return [Finding(kind="symptom", statistic=k, value=m[k], threshold=t, breached=True)
            for k, t in checks if k in m and m[k] > t]


def _supported(evidence: EvidencePackage, p: NothingMatchesParams) -> list[ClassMatch]:
    return [c for c in rank_classes(evidence, p.priors, p.playbooks) if c.supported]


@check("nothing-matches", params=NothingMatchesParams)
def check_nothing_matches(evidence: EvidencePackage, params: NothingMatchesParams) -> CheckResult:
    """No specialised playbook's signature and no symptom: the alert was a false alarm."""
    candidates = params.playbooks or candidate_playbooks()
    ranked = rank_classes(evidence, params.priors, params.playbooks)
    matched = [c for c in ranked if c.supported]
    symptoms = _symptoms(evidence, params)
    if matched or symptoms:
        what = [c.playbook for c in matched] or [f.statistic or "" for f in symptoms]
        return CheckResult(Verdict.REFUTED, 0.9, f"something is present: {', '.join(what)}",
                           symptoms)
    weak = [c.line() for c in ranked if c.best is not None]
    # The chance that no class holds: at least 1 - the strongest class's posterior.
    conf = round(1.0 - max((c.posterior for c in ranked), default=0.0), 4)
    return CheckResult(Verdict.SUPPORTED, max(conf, 0.5),
                       f"none of {len(candidates)} failure signatures and no symptom is "
                       "present" + (f" (too weak to count: {'; '.join(weak)})" if weak else "")
                       + "; suggested monitoring change: raise the alert's threshold or "
                       "require it to hold for longer before paging", [Finding(
                           kind="monitoring_rule_suggestion", detail={
                               "suggestion": "raise the threshold or add a 'for:' duration"})])


@check("unexplained-symptoms", params=NothingMatchesParams)
def check_unexplained_symptoms(evidence: EvidencePackage,
                               params: NothingMatchesParams) -> CheckResult:
    """Symptoms are present but no playbook recognises them: a human must look."""
    if _supported(evidence, params):
        return CheckResult(Verdict.REFUTED, 0.85, "a specialised playbook recognises this")
    symptoms = _symptoms(evidence, params)
    if not symptoms:
        return CheckResult(Verdict.REFUTED, 0.7, "no symptom beyond the alert itself")
    return CheckResult(Verdict.SUPPORTED, 0.6,
                       "symptoms without a known failure signature: "
                       + ", ".join(f"{f.statistic}={f.value:.3g}" for f in symptoms), symptoms)
