"""The post-mortem's fairness section: every group criterion the change was judged by (the
pre-check and each live window), the gap before (replaced version) and after (serving), the
group whose decisions moved most, and which criterion decided. Empty when the spec has no
group criterion."""

from __future__ import annotations

from dataclasses import dataclass

from playbooks.engine.fairness import attribute_key, criterion_observed, previous_key
from playbooks.models.incident import CriterionResult, Incident
from playbooks.models.spec import GROUP_METRIC_NAMES, AcceptanceCriterion, PlaybookSpec

__all__ = ["fairness_section", "most_moved_group"]


@dataclass(frozen=True)
class _Judged:
    stage: str
    criterion: AcceptanceCriterion
    result: CriterionResult
    attribute: str | None
    before: float | None
    after: float | None
    metrics: dict[str, float]


def most_moved_group(metrics: dict[str, float], attribute: str
                     ) -> tuple[str, float, float] | None:
    """The group of ``attribute`` whose selection rate changed most between the replaced and
    the serving version: (group, before, after)."""
    prefix = f"selection_rate@{attribute}="
    moved = [(k.removeprefix(prefix), metrics[f"selection_rate_previous@{attribute}="
                                              f"{k.removeprefix(prefix)}"], v)
             for k, v in metrics.items() if k.startswith(prefix)
             and f"selection_rate_previous@{attribute}={k.removeprefix(prefix)}" in metrics]
    return max(moved, key=lambda g: abs(g[2] - g[1])) if moved else None


def _judged(inc: Incident, spec: PlaybookSpec) -> list[_Judged]:
    mon = spec.acceptance.monitoring
    group = {c.id: c for c in [*spec.acceptance.pre_check, *(mon.criteria if mon else [])]
             if c.metric in GROUP_METRIC_NAMES}
    stages: list[tuple[str, list[CriterionResult], dict[str, float]]] = []
    if inc.verification is not None:
        raw = inc.verification.window.get("metrics", {})
        stages.append(("pre-check", inc.verification.criteria, dict(raw)))
    if inc.monitoring is not None:
        stages += [(f"live window {w.index + 1}", w.criteria, w.metrics)
                   for w in inc.monitoring.windows]
    out = []
    for stage, results, metrics in stages:
        for r in results:
            if (c := group.get(r.id)) is None:
                continue
            attr = criterion_observed(c, metrics).attribute
            after_key = attribute_key(c.metric, attr) if attr else c.metric
            before_key = (attribute_key(c.metric, attr, previous=True) if attr
                          else previous_key(c.metric))
            out.append(_Judged(stage, c, r, attr, metrics.get(before_key),
                               metrics.get(after_key), metrics))
    return out


def fairness_section(inc: Incident, spec: PlaybookSpec) -> list[str]:
    judged = _judged(inc, spec)
    if not judged:
        return []
    out = ["## Fairness", "",
           "| stage | criterion | metric | group attribute | before (replaced) | "
           "after (serving) | criterion reads | target | result |",
           "|---|---|---|---|---|---|---|---|---|"]
    for j in judged:
        c, r = j.criterion, j.result
        reads = "change vs replaced" if c.versus else "value"
        out.append(f"| {j.stage} | {c.id} | {c.metric} | {j.attribute or '—'} | "
                   f"{_fmt(j.before)} | {_fmt(j.after)} | {reads} {_judged_value(r)} | "
                   f"{r.op} {r.target:g} | {'pass' if r.passed else 'FAIL'} |")
    failed = next((j for j in judged if not j.result.passed), None)
    decider = failed or judged[-1]
    out.append("")
    if failed is None:
        out.append("Every group criterion held.")
    elif failed.result.observed is None:
        out.append(f"Decided by **{failed.criterion.id}** ({failed.stage}): it could not be "
                   "judged (a group had too few rows, or no replaced version to compare "
                   "with), which never counts as a pass.")
    else:
        out.append(f"Decided by **{failed.criterion.id}** ({failed.stage}): "
                   f"{failed.criterion.metric} on {failed.attribute or 'the groups'} went from "
                   f"{_fmt(failed.before)} to {_fmt(failed.after)} (limit: change "
                   f"{failed.result.op} {failed.result.target:g}; judged on "
                   f"{_judged_value(failed.result)}).")
    if decider.attribute and (g := most_moved_group(decider.metrics, decider.attribute)):
        name, before, after = g
        out.append(f"Most affected group: **{decider.attribute}={name}**: its share decided "
                   f"positive went from {before:.1%} to {after:.1%} "
                   f"({(after - before) * 100:+.1f} points).")
    return [*out, ""]


def _judged_value(r: CriterionResult) -> str:
    """The value judged, and the estimate when that value is a confidence bound."""
    if r.estimate is None or r.observed is None:
        return _fmt(r.observed)
    side = "at least" if r.op in ("<=", "<") else "at most"
    return f"{side} {_fmt(r.observed)} (bound; estimate {_fmt(r.estimate)})"


def _fmt(v: float | None) -> str:
    return "—" if v is None else f"{v:.4g}"
