"""The post-mortem: a markdown document written when an incident ends.

Generic over playbooks: what is specific to one comes from its spec (severity rules,
hypotheses, remediation menu, acceptance criteria) and from what its collectors gathered
(each one's summary and the headline metrics it declares). A collector may add a section of
its own (:data:`_COLLECTOR_SECTIONS`: feature-drift adds the drift table); the rest is the
same for every playbook. Everything before "## Timeline" is the summary Slack quotes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import timedelta
from pathlib import Path

from playbooks.engine.plugins import default_plugins
from playbooks.errors import MlpbError, UnknownNameError
from playbooks.ledger.actions import ActionItem
from playbooks.models.evidence import EvidencePackage
from playbooks.models.incident import Incident, RemediationRecord
from playbooks.models.spec import HypothesisSpec, Outcome, PlaybookSpec
from playbooks.report.context import PostmortemContext, gather_context
from playbooks.report.fairness import fairness_section
from playbooks.report.impact import business_impact
from playbooks.report.learning import completeness, detection_lines, lineage_lines

__all__ = ["postmortem_context", "render_postmortem"]

# Collectors whose part is already shown as a package field (Evidence, first lines).
_SHOWN_AS_FIELDS = ("data-windows", "model-version")


def postmortem_context(inc: Incident, spec: PlaybookSpec,
                       evidence: EvidencePackage | None) -> PostmortemContext:
    """The context of a post-mortem about to be written at ``inc.postmortem_path``
    (``$MLPB_HOME/postmortems/INC.md``: its state dir is two levels up); an empty one
    without a path (a preview renders from the incident alone)."""
    path = Path(inc.postmortem_path or "")
    if not inc.postmortem_path or path.parent.name != "postmortems":
        return PostmortemContext()  # not in a state dir: nothing to gather, nowhere to write
    from playbooks.config import load_settings
    from playbooks.ledger import Ledger

    settings = load_settings(path.parent.parent)
    try:
        ledger: Ledger | None = Ledger(settings.ledger_url)
    except MlpbError as exc:  # the post-mortem is still written, without history
        ledger, note = None, f"incident history and action items unavailable: {exc.message}"
    else:
        note = ""
    try:
        ctx = gather_context(inc, spec, evidence, home=settings.home, ledger=ledger,
                             postmortem_path=path)
    finally:
        if ledger is not None:
            ledger.close()  # a long-running worker closes many incidents
    ctx.notes += [note] if note else []
    return ctx


def render_postmortem(inc: Incident, spec: PlaybookSpec, evidence: EvidencePackage | None,
                      context: PostmortemContext | None = None) -> str:
    ctx = context if context is not None else postmortem_context(inc, spec, evidence)
    sections = (
        _header(inc, spec),
        _summary(inc, spec, ctx),
        _impact(inc, spec, evidence, ctx),
        _timeline(inc, evidence),
        _detection(inc, spec, ctx),
        _lineage(inc, evidence),
        _evidence(spec, evidence, ctx),
        _hypotheses(inc, spec),
        _remediation(inc, spec),
        _verification(inc, spec),
        _monitoring(inc, ctx),
        fairness_section(inc, spec),
        _people(inc),
        _times(inc),
        _actions(inc, spec, ctx),
    )
    text = "\n".join(line for section in sections for line in section) + "\n"
    score = completeness(text, inc, ctx.actions or [])
    tail = ["## Post-mortem completeness", "", f"Score: {score.line()}", ""]
    if ctx.notes:
        tail += ["Not included:", *(f"- {n}" for n in ctx.notes), ""]
    return text + "\n".join(tail) + "\n"


# -- sections --------------------------------------------------------------------------------


def _header(inc: Incident, spec: PlaybookSpec) -> list[str]:
    promoted = "".join(
        f" → {r.change['new_version']} (promoted by {r.id})"
        for r in inc.remediations
        if r.applied and not r.reverted and r.change and r.change.get("new_version")
    )
    return [
        f"# Post-mortem {inc.id}: {spec.title} on {inc.model}",
        "",
        f"- **Status:** {inc.status.value}  **Severity:** {inc.severity.value}  "
        f"**Owner:** {inc.owner}"
        + (f"  **Escalated to:** {inc.escalated_to}" if inc.escalated_to else ""),
        f"- **Playbook:** {inc.playbook} v{inc.playbook_version} (spec hash `{inc.playbook_hash}`)"
        + (f", extends {b.id} v{b.version} (`{b.hash}`)" if (b := inc.playbook_base) else ""),
        f"- **Model:** {inc.model} version {inc.model_version or 'n/a'}"
        + promoted
        + ("  _(dry run: nothing was applied)_" if inc.dry_run else "")
        + ("  _(game-day drill)_" if inc.drill else ""),
        "",
    ]


def _summary(inc: Incident, spec: PlaybookSpec, ctx: PostmortemContext) -> list[str]:
    rc = inc.root_cause
    if rc is None:
        return ["## Summary", "", "No root cause was established with enough confidence.", ""]
    out = [
        "## Summary",
        "",
        f"Root cause: **{rc.hypothesis_id}** (confidence {rc.confidence:.2f}) — {rc.summary}",
        "",
    ]
    if (rec := ctx.recurrence) is not None:
        earlier = ", ".join(f"{e.id} on {e.detected_at:%Y-%m-%d}" for e in rec.earlier)
        out += [f"**Recurring: {rec.headline()}** ({earlier}). Permanent fix: {rec.fix}.", ""]
    if (hyp := _hypothesis(spec, rc.hypothesis_id)) is not None:
        claim, then = hyp.title.rstrip("."), _outcome(hyp.on_supported)
        out += [f"The hypothesis: {claim}. Prescribed: {then}.", ""]
    return out


def _impact(inc: Incident, spec: PlaybookSpec, evidence: EvidencePackage | None,
            ctx: PostmortemContext) -> list[str]:
    out = ["## Impact", ""]
    if evidence is None:
        return [*out, "No evidence was collected.", ""]
    out += [f"- {line}" for line in business_impact(inc, evidence, ctx.samples, spec.evidence)]
    m = evidence.metrics
    rule = next((r for r in spec.severity if r.matches(m)), None)
    if rule is not None:
        out.append(
            f"- Severity rule met: {rule.metric} {rule.op} {rule.value:g} "
            f"(observed {_fmt(m[rule.metric])}) → {rule.severity.value}."
        )
    meanings = default_plugins().metrics()
    for metric in dict.fromkeys(r.metric for r in spec.severity):
        if metric in m:
            meaning = f" — {meanings[metric]}" if metric in meanings else ""
            out.append(f"- {metric}: {_fmt(m[metric])}{meaning}")
    if evidence.labels.get("available"):
        lab = evidence.labels
        base = (
            f" (before the window: {_fmt(lab['baseline_roc_auc'])})"
            if "baseline_roc_auc" in lab
            else ""
        )
        out.append(
            f"- Labelled ROC AUC of the serving model in the current window: "
            f"{_fmt(lab.get('roc_auc'))} on {lab.get('rows')} rows{base}."
        )
    return [*out, ""]


def _timeline(inc: Incident, evidence: EvidencePackage | None) -> list[str]:
    out = ["## Timeline (UTC)", "", "| time | event | detail |", "|---|---|---|"]
    if inc.onset_at:
        what = "first drifted day" if evidence and evidence.feature_drift else "from the evidence"
        out.append(f"| {inc.onset_at:%Y-%m-%d %H:%M:%S} | onset (estimated) | {what} |")
    out += [
        f"| {e.at:%Y-%m-%d %H:%M:%S} | {e.kind} | {_cell(e.message)} |" for e in inc.timeline
    ]
    return [*out, ""]


def _detection(inc: Incident, spec: PlaybookSpec, ctx: PostmortemContext) -> list[str]:
    return ["## Detection", "", *detection_lines(inc, spec, ctx.signals), ""]


def _lineage(inc: Incident, evidence: EvidencePackage | None) -> list[str]:
    return ["## Lineage", "", *lineage_lines(inc, evidence), ""]


def _charts(ctx: PostmortemContext, *names: str) -> list[str]:
    links = [link for n in names if (link := ctx.link(n)) is not None]
    return [line for link in links for line in ("", link)]


def _evidence(spec: PlaybookSpec, evidence: EvidencePackage | None,
              ctx: PostmortemContext) -> list[str]:
    out = ["## Evidence", ""]
    if evidence is None:
        return [*out, "None collected.", ""]
    for name, w in evidence.windows.items():
        span = f"{w.start:%Y-%m-%d} → {w.end:%Y-%m-%d}" if w.start and w.end else "no time column"
        out.append(
            f"- {name}: {w.rows} rows, {span}, sha256 `{w.sha256[:12]}`, {len(w.files)} file(s)"
        )
    if evidence.model.get("available"):
        out.append(
            f"- model: {evidence.model['name']} v{evidence.model['version']} "
            f"(run {evidence.model.get('run_id')})"
        )
    for name in spec.evidence:
        if name in _SHOWN_AS_FIELDS:
            continue
        facts = [evidence.summaries.get(name, ""), _declared_metrics(name, evidence)]
        line = "; ".join(f for f in facts if f)
        out.append(f"- **{name}**: {line or 'nothing to report'}")
        out += _COLLECTOR_SECTIONS.get(name, _no_section)(evidence)
    if ctx.spec_archive is not None:
        out.append(f"- spec that ran: archived by hash as `{ctx.spec_archive.name}` "
                   f"(`mlpb spec diff {spec.id}@{spec.hash} {spec.id}@current`)")
    out += _charts(ctx, "drift-statistics", "distributions", "scores", "serving")
    return [*out, ""]


def _hypotheses(inc: Incident, spec: PlaybookSpec) -> list[str]:
    out = [
        "## Hypotheses",
        "",
        "| hypothesis | claim | if supported | verdict | confidence | summary |",
        "|---|---|---|---|---|---|",
    ]
    for h in inc.hypotheses:
        hyp = _hypothesis(spec, h.id)
        claim, then = (hyp.title, _outcome(hyp.on_supported)) if hyp else ("", "")
        out.append(
            f"| {h.id} | {_cell(claim)} | {then} | {h.verdict.value} | {h.confidence:.2f} "
            f"| {_cell(h.summary)} |"
        )
    return [*out, ""]


def _remediation(inc: Incident, spec: PlaybookSpec) -> list[str]:
    out = ["## Remediation", ""]
    if not inc.remediations:
        out.append("None applied.")
    menu = {r.id: r for r in spec.remediations}
    for r in inc.remediations:
        out.append(f"- **{r.id}** ({r.action}): {_state(r)}. {r.plan.get('summary', '')}")
        if (entry := menu.get(r.id)) is not None:
            out.append(
                f"  - risk {entry.risk}, effort {entry.effort}; rollback plan: {entry.rollback}"
            )
        if r.error:
            out.append(f"  - note: {r.error}")
    tried = {r.id for r in inc.remediations}
    untried = [e for e in spec.remediations if e.id not in tried]
    if untried:
        out += ["", "Not tried from the playbook's menu:"]
        out += [
            f"- {e.id} ({e.action}): risk {e.risk}, effort {e.effort}"
            + (", needs approval" if e.requires_approval else "")
            + f"; rollback plan: {e.rollback}"
            for e in untried
        ]
    elif not spec.remediations:
        out += ["", "The playbook changes nothing itself (its menu is empty)."]
    return [*out, ""]


def _verification(inc: Incident, spec: PlaybookSpec) -> list[str]:
    out = ["## Verification", ""]
    why = {c.id: c.description for r in spec.remediations for c in spec.criteria_for(r.id)}
    if inc.verification:
        v = inc.verification
        out += [
            f"Overall: **{'passed' if v.passed else 'failed'}**",
            "",
            "| criterion | metric | target | observed | result | why |",
            "|---|---|---|---|---|---|",
        ]
        out += [
            f"| {c.id} | {c.metric} | {c.op} {c.target:g} | {_fmt(c.observed)} | "
            f"{'pass' if c.passed else 'FAIL'} | {_cell(why.get(c.id, ''))} |"
            for c in v.criteria
        ]
        return [*out, ""]
    out.append("No change was applied, so there was nothing to verify.")
    planned = [r.id for r in inc.remediations if r.id in {e.id for e in spec.remediations}]
    gates = {c.id: c for rid in planned for c in spec.criteria_for(rid)}
    if gates:
        out += ["", "Closing after the planned change would have required:"]
        out += [
            f"- {c.id}: {c.metric} {c.op} {c.value:g}"
            + (f" — {c.description}" if c.description else "")
            for c in gates.values()
        ]
    return [*out, ""]


def _monitoring(inc: Incident, ctx: PostmortemContext) -> list[str]:
    """The live windows after the change: the part of verification that closes incidents."""
    m = inc.monitoring
    if m is None:
        return []
    out = ["## Live monitoring", "",
           f"'{m.remediation_id}' (v{m.version or '—'}) watched from "
           f"{m.started_at:%Y-%m-%d %H:%M} in windows of {_dur(m.window.total_seconds())}: "
           f"{m.tally('pass')}/{m.count} passed, {m.tally('fail')} failed "
           f"(limit {m.failure_limit}), {m.tally('inconclusive')} inconclusive "
           f"(limit {m.inconclusive_limit}).", ""]
    if not m.windows:
        return [*out, "No window was measured.", ""]
    out += ["| window | span (UTC) | rows | verdict | metrics | reason |",
            "|---|---|---|---|---|---|"]
    for w in m.windows:
        shown = ", ".join(f"{c.metric} {_fmt(c.observed)}" for c in w.criteria)
        out.append(f"| {w.index + 1} | {w.start:%m-%d %H:%M} → {w.end:%m-%d %H:%M} | {w.rows} | "
                   f"{w.verdict} | {_cell(shown)} | {_cell(w.reason)} |")
    return [*out, *_charts(ctx, "monitoring"), ""]


def _times(inc: Incident) -> list[str]:
    return [
        "## Time to detect / acknowledge / resolve",
        "",
        f"- MTTD (onset → detection): {_dur(inc.mttd_seconds)}",
        f"- MTTA (detection → first acknowledgement): {_dur(inc.mtta_seconds)}",
        f"- MTTR (detection → verified close): {_dur(inc.mttr_seconds)}",
        "",
    ]


_PEOPLE_EVENTS = ("approval_requested", "approval_void", "approved", "rejected",
                  "approval_expired", "decision_refused", "acknowledged", "assigned", "note",
                  "paged", "resolved_by_hand", "reopened")


def _people(inc: Incident) -> list[str]:
    """Who was called, who decided what and through which channel (empty when nobody was)."""
    req, events = inc.approval, [e for e in inc.timeline if e.kind in _PEOPLE_EVENTS]
    if req is None and not events:
        return []
    out = ["## People and decisions", "", f"- Held by: {inc.owner}"
           + (f"; escalated to {inc.escalated_to}" if inc.escalated_to else "")]
    if inc.acknowledged_by:
        out.append(f"- Acknowledged by {inc.acknowledged_by} at "
                   f"{inc.acknowledged_at:%Y-%m-%d %H:%M} UTC")
    if req is not None:
        out += [f"- Approval of `{req.remediation_id}` ({req.why}): **{req.state}**, plan "
                f"`{req.plan_hash}`; approvers {', '.join(req.approvers) or 'none configured'}",
                "", "| time | decision | by | channel | accepted | reason |",
                "|---|---|---|---|---|---|"]
        out += [f"| {d.at:%Y-%m-%d %H:%M} | {d.decision} | {_cell(d.approver)} | {d.channel} | "
                f"{'yes' if d.accepted else 'refused: ' + _cell(d.refusal)} | "
                f"{_cell(d.reason)} |" for d in req.decisions]
    out += ["", *(f"- {e.at:%Y-%m-%d %H:%M} {e.kind}: {e.message}" for e in events), ""]
    return out


def _actions(inc: Incident, spec: PlaybookSpec, ctx: PostmortemContext) -> list[str]:
    """Owned, dated items (kept in the ledger: ``mlpb actions list``), then the model's
    items still open from earlier incidents."""
    out = ["## Action items", ""]
    for a in ctx.actions:
        ident = f"{a.id} " if isinstance(a, ActionItem) else ""
        done = "x" if isinstance(a, ActionItem) and a.status == "done" else " "
        out.append(f"- [{done}] {ident}**{a.owner}**, due {a.due:%Y-%m-%d}: {a.text}")
    if not ctx.actions:
        out += [f"- [ ] {a}" for a in _action_items(inc, spec)]
    if ctx.earlier_open:
        out += ["", "Still open from earlier incidents on this model:"]
        out += [f"- [ ] {a.id} **{a.owner}**, due {a.due:%Y-%m-%d} ({a.incident_id}): {a.text}"
                for a in ctx.earlier_open]
    return [*out, ""]


def _action_items(inc: Incident, spec: PlaybookSpec) -> list[str]:
    """Follow-ups from how the incident ended and what the spec prescribed for its cause."""
    items = []
    if inc.escalated_to:
        items.append(f"{inc.escalated_to}: investigate and fix the cause named above.")
    hyp = _hypothesis(spec, inc.root_cause.hypothesis_id) if inc.root_cause else None
    out = hyp.on_supported if hyp else None
    kept = [r for r in inc.remediations if r.applied and not r.reverted and not r.dry_run]
    if hyp and out and out.close_as:
        items.append(
            f"Tune the alerting rule: it fired without a failure ({hyp.id}: raise the "
            "threshold or require it to hold for longer)."
        )
    elif hyp and out and out.escalate_to == "data":
        items.append(
            f"Add a data-validation rule upstream that catches this before the model sees it "
            f"({hyp.id}: {hyp.title})"
        )
    elif hyp and kept:
        fixes = ", ".join(r.id for r in kept)
        items.append(
            f"Review how often {hyp.id} recurs: should {fixes} run on a schedule instead of "
            "after an incident?"
        )
    if inc.verification and not inc.verification.passed:
        items.append(
            "The remediation failed verification and was reverted: choose a different fix."
        )
    items.append("Review this post-mortem with the model and data owners.")
    return items


# -- collector sections ----------------------------------------------------------------------


def _drift_table(evidence: EvidencePackage) -> list[str]:
    drifted = [d for d in evidence.feature_drift if d["status"] == "drift"]
    if not drifted:
        return []
    out = [
        "",
        "| feature | kind | PSI | KS | W1 (normed) | JS |",
        "|---|---|---|---|---|---|",
    ]
    out += [
        f"| {d['feature']} | {d['kind']} | {_fmt(d.get('psi'))} | {_fmt(d.get('ks'))} "
        f"| {_fmt(d.get('wasserstein_normed'))} | {_fmt(d.get('js'))} |"
        for d in sorted(drifted, key=lambda d: -(d.get("psi") or 0))
    ]
    return [*out, ""]


def _no_section(evidence: EvidencePackage) -> list[str]:
    return []


_COLLECTOR_SECTIONS: dict[str, Callable[[EvidencePackage], list[str]]] = {
    "feature-drift": _drift_table,
}


# -- helpers ---------------------------------------------------------------------------------


def _declared_metrics(collector: str, evidence: EvidencePackage) -> str:
    """The headline metrics ``collector`` declares, as measured."""
    try:
        declared: Iterable[str] = default_plugins().get("collector", collector).metrics
    except UnknownNameError:
        return ""
    m = evidence.metrics
    return ", ".join(f"{k} {_fmt(m[k])}" for k in declared if k in m)


def _hypothesis(spec: PlaybookSpec, hid: str) -> HypothesisSpec | None:
    return next((h for h in spec.hypotheses if h.id == hid), None)


def _outcome(out: Outcome) -> str:
    if out.close_as:
        return f"close as {out.close_as}"
    if out.handover_to:
        return f"hand over to {out.handover_to}"
    steps = [f"remediate with {', '.join(out.remediate)}"] if out.remediate else []
    steps += [f"escalate to the {out.escalate_to} owner"] if out.escalate_to else []
    return ", then ".join(steps)


def _state(r: RemediationRecord) -> str:
    if r.dry_run:
        return "dry run — not applied"
    if r.reverted:
        return "applied, then reverted"
    return "applied" if r.applied else "not applied"


def _cell(text: str) -> str:
    return text.replace("|", "/")


def _dur(seconds: float | None) -> str:
    return "n/a" if seconds is None else str(timedelta(seconds=round(seconds)))


def _fmt(v: float | None) -> str:
    return "—" if v is None else f"{v:.4g}"
