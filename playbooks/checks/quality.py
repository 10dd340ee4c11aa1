"""Competing hypotheses for a broken data batch, read from the ``data-quality`` evidence.

* schema-break: a feature is missing (or renamed, or changed type) in the current files.
* null-spike: features arrive empty far more often than in the reference.
* out-of-range: values outside any plausible range, or a whole column rescaled (unit change).
* unseen-categories: category codes the reference never had.
* duplicate-rows: rows (request ids) repeated beyond what the reference shows.
* no-quality-issue: the batch is well-formed — a false alarm.

Each check re-applies its own threshold to the statistics the collector recorded, so a spec
can tune sensitivity without touching the collector.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from playbooks.checks.base import CheckResult
from playbooks.checks.evidence_gate import reads_part
from playbooks.checks.strength import MAX_BAYES_FACTOR, Specificity, strength, strength_from_bf
from playbooks.engine.plugins import check
from playbooks.models.common import StrictParams
from playbooks.models.evidence import EvidencePackage
from playbooks.models.incident import Finding, Verdict
from playbooks.stats.significance import p_share_above

__all__ = [
    "DuplicateRowsParams",
    "NoQualityIssueParams",
    "NullSpikeParams",
    "OutOfRangeParams",
    "SchemaBreakParams",
    "UnseenCategoriesParams",
    "check_duplicate_rows",
    "check_no_quality_issue",
    "check_null_spike",
    "check_out_of_range",
    "check_schema_break",
    "check_unseen_categories",
    "quality_issues",
]

_PART = "data-quality"


class SchemaBreakParams(StrictParams):
    min_files_missing_share: float = Field(
        default=0.0, ge=0, le=1, description="Share of current files lacking a feature that counts "
        "(0: any file).")


class NullSpikeParams(StrictParams):
    max_null_rate_increase: float = Field(
        default=0.05, gt=0, le=1, description="Null-share increase over the reference that fails.")


class OutOfRangeParams(StrictParams):
    max_out_of_range_share: float = Field(
        default=0.01, ge=0, le=1,
        description="Share of values outside the plausible range that fails.")
    unit_changes: bool = Field(default=True, description="Count unit-looking rescaled columns too.")


class UnseenCategoriesParams(StrictParams):
    max_unseen_share: float = Field(
        default=0.01, ge=0, le=1, description="Share of rows with unseen categories that fails.")


class DuplicateRowsParams(StrictParams):
    max_duplicate_increase: float = Field(
        default=0.01, ge=0, le=1, description="Duplicate share above the reference's that fails.")


class NoQualityIssueParams(StrictParams):
    max_failed_checks: int = Field(
        default=0, ge=0, description="Failed quality checks still tolerated.")


def quality_issues(evidence: EvidencePackage) -> list[dict[str, Any]] | None:
    """The collector's issues, or None when the evidence has no data-quality part."""
    part = evidence.parts.get(_PART)
    if part is None:
        return None
    rows = int(part.get("rows") or evidence.metrics.get("current_rows") or 0)
    # Each issue carries the window's row count: the sample size of its strength.
    return [{**i, "_rows": rows} for i in part.get("issues") or []]


_CERTAIN = strength_from_bf(MAX_BAYES_FACTOR)  # no sampling involved (a column is absent)


def _share_strength(issue: dict[str, Any], share: float, null_share: float) -> float:
    """Strength of "``share`` of the window's rows, against ``null_share`` if all were well"."""
    return strength(p_share_above(share, int(issue.get("_rows") or 0), null_share))


def _finding(issue: dict[str, Any], threshold: float, breached: bool) -> Finding:
    return Finding(kind=issue["kind"], feature=issue.get("feature"),
                   statistic=issue.get("statistic"), value=issue.get("value"),
                   threshold=threshold, breached=breached, detail=dict(issue.get("detail") or {}))


def _failed(issues: list[dict[str, Any]]) -> list[Finding]:
    return [_finding(i, i.get("threshold") or 0.0, True) for i in issues if i["breached"]]


def _names(findings: list[Finding]) -> str:
    return ", ".join(f"{f.feature} ({f.value:.1%})" if f.value is not None and f.value <= 1
                     else f"{f.feature}" for f in findings[:5])


_reads_issues = reads_part(quality_issues, "no data-quality evidence: add 'data-quality' to the "
                           "spec's evidence")


@check("schema-break", params=SchemaBreakParams)
@_reads_issues
def check_schema_break(issues: list[dict[str, Any]], params: SchemaBreakParams) -> CheckResult:
    """A feature is missing, renamed or retyped in the current files."""
    hits = [_finding(i, params.min_files_missing_share, True) for i in issues
            if i["kind"] == "schema_change" and i["breached"]
            and (i["statistic"] != "files_missing_share"
                 or i["value"] > params.min_files_missing_share)]
    if not hits:
        return CheckResult(Verdict.REFUTED, 0.9, "every feature is present with its reference type")
    parts = []
    for f in hits:
        d = f.detail
        if d.get("change") == "renamed":
            parts.append(f"{f.feature} renamed to {d['renamed_to']} in {d['files_missing']} of "
                         f"{d['files']} file(s)")
        elif d.get("change") == "missing":
            parts.append(f"{f.feature} missing in {d['files_missing']} of {d['files']} file(s)")
        else:
            parts.append(f"{f.feature} changed type ({d.get('reference')} -> "
                         f"{', '.join(d.get('current') or [])})")
    return CheckResult(Verdict.SUPPORTED, _CERTAIN, "schema break: " + "; ".join(parts), hits,
                       specificity=Specificity.MECHANISM)


@check("null-spike", params=NullSpikeParams)
@_reads_issues
def check_null_spike(issues: list[dict[str, Any]], params: NullSpikeParams) -> CheckResult:
    """Features arrive empty far more often than in the reference."""
    rows = sorted((i for i in issues if i["kind"] == "missing_values"), key=lambda i: -i["value"])
    t = params.max_null_rate_increase
    findings = [_finding(i, t, i["value"] >= t) for i in rows]
    hits = [f for f in findings if f.breached]
    if not hits:
        top = rows[0]["value"] if rows else 0.0
        return CheckResult(Verdict.REFUTED, 0.85,
                           f"null shares match the reference (largest increase {top:.1%})",
                           findings[:3])
    worst = next(i for i in rows if i["value"] >= t)
    d = worst.get("detail") or {}
    conf = _share_strength(worst, float(d.get("current", worst["value"])),
                           float(d.get("reference", 0.0)) + t)
    return CheckResult(Verdict.SUPPORTED, conf,
                       f"null spike in {len(hits)} feature(s): {_names(hits)} more rows empty "
                       "than in the reference", hits, specificity=Specificity.MECHANISM)


@check("out-of-range", params=OutOfRangeParams)
@_reads_issues
def check_out_of_range(issues: list[dict[str, Any]], params: OutOfRangeParams) -> CheckResult:
    """Values outside the reference's plausible range, or a column rescaled as a unit change."""
    t = params.max_out_of_range_share
    ranged = [i for i in issues if i["kind"] == "out_of_range"
              and i["statistic"] == "out_of_range_share"]
    over = [i for i in ranged if i["value"] > t]
    hits = [_finding(i, t, True) for i in over]
    scaled = [i for i in issues if params.unit_changes and i["kind"] == "out_of_range"
              and i["statistic"] == "scale_ratio" and i["breached"]]
    units = [_finding(i, i["threshold"], True) for i in scaled]
    if not hits and not units:
        top = max((i["value"] for i in ranged), default=0.0)
        return CheckResult(Verdict.REFUTED, 0.85,
                           f"values stay within the reference range (worst {top:.1%} outside)")
    said = []
    scaled_names = {f.feature for f in units}
    plain = [f for f in hits if f.feature not in scaled_names]  # one line per column
    if units:
        said.append("unit change in " + ", ".join(
            f"{f.feature} (x{f.value:.4g}, near x{f.detail.get('nearest_unit_factor'):g}; "
            f"quantiles keep their shape)" for f in units))
    if plain:
        said.append(f"values outside the reference's plausible range in {_names(plain)}")
    # Strength: the most surprising out-of-range share, against the reference's own rate
    # (its 0.1%..99.9% range plus a margin leaves ~0.2% outside) when a column was rescaled.
    cands = [_share_strength(i, i["value"], t) for i in over]
    by_col = {i["feature"]: i for i in ranged}
    cands += [_share_strength(i, by_col[i["feature"]]["value"] if i["feature"] in by_col
                              else 1.0, 0.002) for i in scaled]
    return CheckResult(Verdict.SUPPORTED, max(cands), "; ".join(said), [*units, *hits],
                       specificity=Specificity.MECHANISM if units else Specificity.LOCALISED)


@check("unseen-categories", params=UnseenCategoriesParams)
@_reads_issues
def check_unseen_categories(issues: list[dict[str, Any]],
                            params: UnseenCategoriesParams) -> CheckResult:
    """Category codes the reference never had."""
    t = params.max_unseen_share
    rows = sorted((i for i in issues if i["kind"] == "unseen_category"), key=lambda i: -i["value"])
    hits = [_finding(i, t, True) for i in rows if i["value"] > t]
    if not hits:
        return CheckResult(Verdict.REFUTED, 0.85, "no category beyond the reference's codes")
    named = "; ".join(f"{f.feature}: {', '.join(map(str, f.detail.get('unseen_values', [])[:5]))} "
                      f"({f.value:.1%} of rows)" for f in hits)
    return CheckResult(Verdict.SUPPORTED, _share_strength(rows[0], rows[0]["value"], t),
                       f"category labels the reference never had: {named}", hits,
                       specificity=Specificity.MECHANISM)


@check("duplicate-rows", params=DuplicateRowsParams)
@_reads_issues
def check_duplicate_rows(issues: list[dict[str, Any]], params: DuplicateRowsParams) -> CheckResult:
    """Rows (request ids) repeated beyond what the reference shows."""
    dup = next((i for i in issues if i["kind"] == "duplicate_rows"), None)
    if dup is None:
        return CheckResult(Verdict.INCONCLUSIVE, 0.0, "duplicates were not measured")
    ref = float(dup["detail"].get("reference_share") or 0.0)
    t = ref + params.max_duplicate_increase
    breached = dup["value"] >= t
    f = _finding(dup, round(t, 6), breached)
    if not breached:
        return CheckResult(Verdict.REFUTED, 0.85,
                           f"duplicate share {dup['value']:.2%} is as in the reference", [f])
    key = ", ".join(dup["detail"].get("key") or [])
    return CheckResult(Verdict.SUPPORTED, _share_strength(dup, dup["value"], t),
                       f"{dup['value']:.1%} of rows repeat an earlier one (key: {key}); "
                       f"reference {ref:.1%}", [f], specificity=Specificity.MECHANISM)


@check("no-quality-issue", params=NoQualityIssueParams)
@_reads_issues
def check_no_quality_issue(issues: list[dict[str, Any]],
                           params: NoQualityIssueParams) -> CheckResult:
    """The batch is well-formed: the alert was a false alarm."""
    failed = [i for i in issues if i["breached"]]
    if len(failed) <= params.max_failed_checks:
        return CheckResult(Verdict.SUPPORTED, 0.85,
                           f"all {len(issues)} quality checks pass against the reference")
    return CheckResult(Verdict.REFUTED, 0.9, f"{len(failed)} quality check(s) failed",
                       _failed(failed)[:10])
