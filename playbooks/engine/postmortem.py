"""The post-mortem: a markdown document written when an incident ends."""

from __future__ import annotations

from datetime import timedelta

from playbooks.models.evidence import EvidencePackage
from playbooks.models.incident import Incident
from playbooks.models.spec import PlaybookSpec

__all__ = ["render_postmortem"]


def _dur(seconds: float | None) -> str:
    return "n/a" if seconds is None else str(timedelta(seconds=round(seconds)))


def _fmt(v: float | None) -> str:
    return "—" if v is None else f"{v:.4g}"


def render_postmortem(inc: Incident, spec: PlaybookSpec, evidence: EvidencePackage | None) -> str:
    rc = inc.root_cause
    out = [
        f"# Post-mortem {inc.id}: {spec.title} on {inc.model}",
        "",
        f"- **Status:** {inc.status.value}  **Severity:** {inc.severity.value}  "
        f"**Owner:** {inc.owner}"
        + (f"  **Escalated to:** {inc.escalated_to}" if inc.escalated_to else ""),
        f"- **Playbook:** {inc.playbook} v{inc.playbook_version} (spec hash `{inc.playbook_hash}`)",
        f"- **Model:** {inc.model} version {inc.model_version or 'n/a'}"
        + "".join(
            f" → {r.change['new_version']} (promoted by {r.id})"
            for r in inc.remediations
            if r.applied and not r.reverted and r.change and r.change.get("new_version")
        )
        + ("  _(dry run: nothing was applied)_" if inc.dry_run else "")
        + ("  _(game-day drill)_" if inc.drill else ""),
        "",
        "## Summary",
        "",
        (
            f"Root cause: **{rc.hypothesis_id}** (confidence {rc.confidence:.2f}) — {rc.summary}"
            if rc
            else "No root cause was established with enough confidence."
        ),
        "",
        "## Impact",
        "",
    ]
    if evidence:
        m = evidence.metrics
        out.append(
            f"- {int(m.get('drifted_features', 0))} feature(s) drifted; max PSI "
            f"{_fmt(m.get('max_psi'))} over {int(m.get('current_rows', 0))} current rows."
        )
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
    out += ["", "## Timeline (UTC)", "", "| time | event | detail |", "|---|---|---|"]
    if inc.onset_at:
        out.append(f"| {inc.onset_at:%Y-%m-%d %H:%M:%S} | onset (estimated) | first drifted day |")
    out += [
        f"| {e.at:%Y-%m-%d %H:%M:%S} | {e.kind} | {e.message.replace('|', '/')} |"
        for e in inc.timeline
    ]
    out += ["", "## Evidence", ""]
    if evidence:
        for name, w in evidence.windows.items():
            span = (
                f"{w.start:%Y-%m-%d} → {w.end:%Y-%m-%d}" if w.start and w.end else "no time column"
            )
            out.append(
                f"- {name}: {w.rows} rows, {span}, sha256 `{w.sha256[:12]}`, {len(w.files)} file(s)"
            )
        if evidence.model.get("available"):
            out.append(
                f"- model: {evidence.model['name']} v{evidence.model['version']} "
                f"(run {evidence.model.get('run_id')})"
            )
        drifted = [d for d in evidence.feature_drift if d["status"] == "drift"]
        if drifted:
            out += [
                "",
                "| feature | kind | PSI | KS | W1 (normed) | JS |",
                "|---|---|---|---|---|---|",
            ]
            out += [
                f"| {d['feature']} | {d['kind']} | {_fmt(d.get('psi'))} | {_fmt(d.get('ks'))} "
                f"| {_fmt(d.get('wasserstein_normed'))} | {_fmt(d.get('js'))} |"
                for d in sorted(drifted, key=lambda d: -(d.get("psi") or 0))
            ]
    out += [
        "",
        "## Hypotheses",
        "",
        "| hypothesis | verdict | confidence | summary |",
        "|---|---|---|---|",
    ]
    out += [
        f"| {h.id} | {h.verdict.value} | {h.confidence:.2f} | {h.summary.replace('|', '/')} |"
        for h in inc.hypotheses
    ]
    out += ["", "## Remediation", ""]
    if not inc.remediations:
        out.append("None applied.")
    for r in inc.remediations:
        entry = spec.remediation(r.id) if any(x.id == r.id for x in spec.remediations) else None
        state = (
            "dry run — not applied"
            if r.dry_run
            else "applied, then reverted"
            if r.reverted
            else "applied"
            if r.applied
            else "not applied"
        )
        out.append(f"- **{r.id}** ({r.action}): {state}. {r.plan.get('summary', '')}")
        if entry:
            out.append(
                f"  - risk {entry.risk}, effort {entry.effort}; rollback plan: {entry.rollback}"
            )
        if r.error:
            out.append(f"  - note: {r.error}")
    out += ["", "## Verification", ""]
    if inc.verification:
        v = inc.verification
        out += [
            f"Overall: **{'passed' if v.passed else 'failed'}**",
            "",
            "| criterion | metric | target | observed | result |",
            "|---|---|---|---|---|",
        ]
        out += [
            f"| {c.id} | {c.metric} | {c.op} {c.target:g} | {_fmt(c.observed)} | "
            f"{'pass' if c.passed else 'FAIL'} |"
            for c in v.criteria
        ]
    else:
        out.append("No change was applied, so there was nothing to verify.")
    out += [
        "",
        "## Time to detect / resolve",
        "",
        f"- MTTD (onset → detection): {_dur(inc.mttd_seconds)}",
        f"- MTTR (detection → resolution): {_dur(inc.mttr_seconds)}",
        "",
        "## Action items",
        "",
    ]
    out += [f"- [ ] {a}" for a in _action_items(inc)]
    return "\n".join(out) + "\n"


def _action_items(inc: Incident) -> list[str]:
    rc = inc.root_cause.hypothesis_id if inc.root_cause else None
    items = []
    if inc.escalated_to:
        items.append(f"{inc.escalated_to}: investigate and fix the cause named above.")
    if rc == "upstream-unit-change":
        items.append(
            "Add a data-validation rule (range/unit check) on the affected feature upstream."
        )
    if rc == "population-shift":
        items.append("Review the retraining cadence; consider scheduled retraining on recent data.")
    if rc == "no-material-drift":
        items.append(
            "Tune the alerting rule: it fired without material drift (raise the "
            "threshold or require it to hold for longer)."
        )
    if inc.verification and not inc.verification.passed:
        items.append(
            "The remediation failed verification and was reverted: choose a different fix."
        )
    items.append("Review this post-mortem with the model and data owners.")
    return items
