"""Competing hypotheses for labelled performance decay.

* concept-drift: labelled AUC fell while the inputs look like they always did - the relation
  between features and outcome changed; retraining on recent labels helps.
* input-drift-explains-it: AUC fell *and* the inputs moved - a data-drift case (population
  shift or an upstream bug), which the data-drift playbook tells apart.
* release-explains-it: AUC fell right after a new version started serving - a release
  matter, which the bad-release playbook compares version against version.
* label-delay-artifact: too few labels have arrived yet to judge (labels come late).
* no-decay: enough labels, and AUC holds: a false alarm.

Reads the ``labelled-performance`` and ``feature-drift`` collectors' metrics.
"""

from __future__ import annotations

from pydantic import Field

from playbooks.checks.base import CheckResult, moved_features
from playbooks.checks.evidence_gate import metric_finding, needs_metrics
from playbooks.checks.strength import Specificity, strength
from playbooks.engine.plugins import check
from playbooks.models.common import StrictParams
from playbooks.models.evidence import EvidencePackage
from playbooks.models.incident import Finding, Verdict
from playbooks.stats.significance import p_auc_drop

__all__ = ["ConceptDriftParams", "InputDriftParams", "LabelDelayParams", "NoDecayParams",
           "ReleaseExplainsParams", "check_concept_drift", "check_input_drift_explains_it",
           "check_label_delay_artifact", "check_no_decay", "check_release_explains_it"]

_PERF = "labelled-performance"
_LABELS = ("labelled_window_rows", "label_coverage")


class LabelGate(StrictParams):
    min_labelled_rows: int = Field(300, ge=10, description="Labelled window rows needed to judge.")
    min_coverage: float = Field(
        0.4, ge=0, le=1, description="Share of the window that must be labelled to judge.")


class DecayGate(LabelGate):
    min_auc_drop: float = Field(0.05, gt=0, lt=1, description="AUC drop that counts as decay.")


class ConceptDriftParams(DecayGate):
    max_drifted_share: float = Field(
        0.25, ge=0, le=1, description="Inputs count as stable below this drifted-feature share.")
    max_drifted_features: int = Field(1, ge=0, description="...and at most this many drifted.")


class InputDriftParams(DecayGate):
    min_drifted_features: int = Field(2, ge=1, description="Drifted features that explain it.")


class ReleaseExplainsParams(DecayGate):
    """Only the decay gate: supported when a new version started serving in the window."""


class LabelDelayParams(LabelGate):
    """Only the label gate: supported when it is not met."""


class NoDecayParams(LabelGate):
    max_auc_drop: float = Field(0.05, gt=0, lt=1, description="AUC drop still tolerated.")


def _labels_short(ev: EvidencePackage, p: LabelGate) -> str | None:
    rows, cov = ev.metrics["labelled_window_rows"], ev.metrics["label_coverage"]
    if rows < p.min_labelled_rows:
        return f"only {rows:.0f} labelled rows in the window (need {p.min_labelled_rows})"
    if cov < p.min_coverage:
        return f"only {cov:.0%} of the window is labelled (need {p.min_coverage:.0%})"
    return None


def _not_judgeable(ev: EvidencePackage, p: LabelGate) -> CheckResult | None:
    """INCONCLUSIVE while labels are too few or AUC is not measurable, else None."""
    if (short := _labels_short(ev, p)) is not None:
        return CheckResult(Verdict.INCONCLUSIVE, 0.3, f"cannot judge yet: {short}")
    if "performance_auc_drop" not in ev.metrics:
        return CheckResult(Verdict.INCONCLUSIVE, 0.2, "labelled AUC not measurable (one class)")
    return None


_UNKNOWN_POSITIVE_RATE = 0.1  # without it, assume few positives: a wider AUC error, weaker


def auc_drop_strength(ev: EvidencePackage, drop: float, threshold: float) -> float:
    """Strength of "the labelled AUC fell by more than ``threshold``" on the window's labels."""
    window = (ev.parts.get(_PERF) or {}).get("window") or {}
    rows = int(window.get("rows") or ev.metrics.get("labelled_window_rows", 0))
    rate = float(window.get("positive_rate") or _UNKNOWN_POSITIVE_RATE)
    auc = float(window.get("roc_auc") or 0.75)
    n_pos = max(round(rows * rate), 0)
    return strength(p_auc_drop(drop, auc, n_pos, rows - n_pos, threshold))


def _drop(ev: EvidencePackage, threshold: float) -> tuple[float, list[Finding]]:
    drop = ev.metrics["performance_auc_drop"]
    return drop, [metric_finding(ev, "performance_decay", "performance_auc_drop", threshold,
                                 drop >= threshold,
                                 log_loss_increase=ev.metrics.get("performance_log_loss_increase"),
                                 decayed_days=ev.metrics.get("decayed_days"))]


@check("concept-drift", params=ConceptDriftParams)
@needs_metrics(_PERF, *_LABELS, "drifted_features", "drifted_feature_share")
def check_concept_drift(evidence: EvidencePackage, params: ConceptDriftParams) -> CheckResult:
    """Labelled AUC dropped while the inputs stayed put: the concept changed."""
    if (wait := _not_judgeable(evidence, params)) is not None:
        return wait
    drop, findings = _drop(evidence, params.min_auc_drop)
    share = evidence.metrics["drifted_feature_share"]
    n = moved_features(evidence) or 0.0
    if evidence.feature_drift:  # the same material count, as a share
        share = n / len(evidence.feature_drift)
    findings.append(metric_finding(evidence, "input_stability", "drifted_feature_share",
                                   params.max_drifted_share, share >= params.max_drifted_share))
    if drop < params.min_auc_drop:
        return CheckResult(Verdict.REFUTED, 0.85, f"labelled AUC holds (drop {drop:+.3f})",
                           findings)
    if evidence.metrics.get("version_changed_in_window"):
        return CheckResult(Verdict.REFUTED, 0.7, f"AUC fell {drop:.3f} but a new version started "
                           "serving inside the window: a release matter first", findings)
    if n > params.max_drifted_features or share >= params.max_drifted_share:
        return CheckResult(Verdict.REFUTED, 0.7, f"AUC fell {drop:.3f} but {n:.0f} input "
                           "feature(s) drifted too: not a pure concept change", findings)
    return CheckResult(Verdict.SUPPORTED, auc_drop_strength(evidence, drop, params.min_auc_drop),
                       f"labelled AUC fell {drop:.3f} below baseline while inputs are stable "
                       f"({n:.0f} drifted feature(s)): the feature-outcome relation changed",
                       findings, specificity=Specificity.SYMPTOM)


@check("input-drift-explains-it", params=InputDriftParams)
@needs_metrics(_PERF, *_LABELS, "drifted_features")
def check_input_drift_explains_it(evidence: EvidencePackage,
                                  params: InputDriftParams) -> CheckResult:
    """AUC fell and the inputs drifted: a data-drift case, not concept drift."""
    if (wait := _not_judgeable(evidence, params)) is not None:
        return wait
    drop, findings = _drop(evidence, params.min_auc_drop)
    n = evidence.metrics["drifted_features"]
    findings.append(metric_finding(evidence, "input_drift", "drifted_features",
                                   params.min_drifted_features, n >= params.min_drifted_features,
                                   max_psi=evidence.metrics.get("max_psi")))
    if drop >= params.min_auc_drop and n >= params.min_drifted_features:
        return CheckResult(Verdict.SUPPORTED,
                           auc_drop_strength(evidence, drop, params.min_auc_drop),
                           f"AUC fell {drop:.3f} and {n:.0f} input features drifted: hand over "
                           "to the data-drift playbook", findings)
    why = "AUC holds" if drop < params.min_auc_drop else f"only {n:.0f} feature(s) drifted"
    return CheckResult(Verdict.REFUTED, 0.8, f"input drift does not explain it: {why}", findings)


@check("release-explains-it", params=ReleaseExplainsParams)
@needs_metrics(_PERF, *_LABELS, "version_changed_in_window")
def check_release_explains_it(evidence: EvidencePackage,
                              params: ReleaseExplainsParams) -> CheckResult:
    """AUC fell and a new version started serving inside the window: a release matter."""
    if (wait := _not_judgeable(evidence, params)) is not None:
        return wait
    drop, findings = _drop(evidence, params.min_auc_drop)
    changed = bool(evidence.metrics["version_changed_in_window"])
    findings.append(metric_finding(evidence, "release", "version_changed_in_window", 1.0, changed))
    if drop >= params.min_auc_drop and changed:
        return CheckResult(Verdict.SUPPORTED,
                           auc_drop_strength(evidence, drop, params.min_auc_drop),
                           f"AUC fell {drop:.3f} after a new version started serving inside the "
                           "window: hand over to the bad-release playbook", findings)
    why = "AUC holds" if drop < params.min_auc_drop else "no version change inside the window"
    return CheckResult(Verdict.REFUTED, 0.8, f"not a release matter: {why}", findings)


@check("label-delay-artifact", params=LabelDelayParams)
@needs_metrics(_PERF, *_LABELS)
def check_label_delay_artifact(evidence: EvidencePackage,
                               params: LabelDelayParams) -> CheckResult:
    """Too few labels have arrived to judge performance: wait for them."""
    findings = [metric_finding(evidence, "label_coverage", "label_coverage",
                               params.min_coverage,
                               evidence.metrics["label_coverage"] < params.min_coverage,
                               expected=evidence.metrics.get("label_coverage_expected"),
                               labelled_rows=evidence.metrics["labelled_window_rows"])]
    if (short := _labels_short(evidence, params)) is not None:
        return CheckResult(Verdict.SUPPORTED, 0.8, f"{short}: labels arrive late; re-run once "
                           "they cover the window", findings)
    return CheckResult(Verdict.REFUTED, 0.85,
                       f"{evidence.metrics['labelled_window_rows']:.0f} labelled rows "
                       f"({evidence.metrics['label_coverage']:.0%} of the window) suffice",
                       findings)


@check("no-decay", params=NoDecayParams)
@needs_metrics(_PERF, *_LABELS)
def check_no_decay(evidence: EvidencePackage, params: NoDecayParams) -> CheckResult:
    """Enough labels, and labelled AUC holds: a false alarm."""
    if (wait := _not_judgeable(evidence, params)) is not None:
        return wait
    drop, findings = _drop(evidence, params.max_auc_drop)
    if drop < params.max_auc_drop:
        conf = 0.7 + 0.25 * (1 - max(drop, 0.0) / params.max_auc_drop)
        return CheckResult(Verdict.SUPPORTED, round(min(conf, 0.95), 3),
                           f"labelled AUC within {params.max_auc_drop} of baseline (drop "
                           f"{drop:+.3f}); suggested monitoring change: alert on a labelled "
                           "AUC drop over a full label-delay window only", findings)
    return CheckResult(Verdict.REFUTED, 0.9, f"labelled AUC fell {drop:.3f}", findings)
