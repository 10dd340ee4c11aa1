"""What a post-mortem teaches beyond its own incident: lineage, detection, owned action
items, recurrence of the same root cause on the same model, a completeness score, and the
living appendix of lessons per playbook (``mlpb lessons``)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from playbooks.archive.samples import Samples
from playbooks.ledger.actions import ActionItem, NewAction
from playbooks.models.evidence import EvidencePackage
from playbooks.models.incident import Incident, IncidentStatus, Severity
from playbooks.models.spec import HypothesisSpec, PlaybookSpec
from playbooks.stats import DriftThresholds, compute_drift, fit_reference

__all__ = ["RECURRENCE_WINDOW", "REQUIRED_SECTIONS", "Completeness", "Recurrence",
           "completeness", "detection_lines", "first_signals", "lessons", "lineage_lines",
           "new_actions", "ordinal", "permanent_fix", "recurrence"]

# The spec has no recurrence window of its own yet: 30 days is the "again within a month".
RECURRENCE_WINDOW = timedelta(days=30)
# Due dates of action items by severity: the worse the incident, the sooner its follow-ups.
_DUE = {Severity.SEV1: timedelta(days=7), Severity.SEV2: timedelta(days=14),
        Severity.SEV3: timedelta(days=30), Severity.SEV4: timedelta(days=30)}
REQUIRED_SECTIONS = ("## Summary", "## Impact", "## Detection", "## Lineage",
                     "## Timeline", "## Evidence", "## Hypotheses", "## Remediation",
                     "## Verification", "## Action items")


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


# -- lineage and detection -------------------------------------------------------------------


def lineage_lines(inc: Incident, evidence: EvidencePackage | None) -> list[str]:
    """Data sources (with hashes) → training window → MLflow run → version, then what the
    incident changed."""
    out: list[str] = []
    if evidence is not None:
        for name, w in evidence.windows.items():
            span = (f", {w.start:%Y-%m-%d %H:%M} → {w.end:%Y-%m-%d %H:%M}"
                    if w.start and w.end else "")
            out.append(f"- data `{name}`: {len(w.files)} file(s), {w.rows} rows{span}, "
                       f"sha256 `{w.sha256[:16]}`")
        m = evidence.model
        if m.get("available"):
            tags = m.get("tags") or {}
            window = tags.get("mlpb.reference_window") or tags.get("training_window")
            out.append(f"- trained on: {window or 'training window not tagged'}")
            out.append(f"- MLflow run `{m.get('run_id')}` → registered model "
                       f"`{m.get('name')}` version {m.get('version')} "
                       f"(alias `{m.get('alias')}`)")
    for r in inc.remediations:
        ch = r.change or {}
        if r.applied and not r.dry_run and ch.get("new_version"):
            win = ch.get("windows") or {}
            trained = (f" trained on {win.get('train_start', '?')[:16]} → "
                       f"{win.get('holdout_start', '?')[:16]}" if win else "")
            state = "reverted" if r.reverted else "serving"
            out.append(f"- {r.id}: version {ch.get('previous_version')} → "
                       f"{ch['new_version']}{trained} ({state})")
    return out or ["- no lineage recorded (no data windows or model in the evidence)"]


def first_signals(samples: Samples | None, thresholds: DriftThresholds,
                  drifted: Sequence[str], *, top: int = 5) -> list[tuple[str, datetime]]:
    """Per drifted feature, the first day (in the kept samples of the log) from which its
    drift persisted: which signal would have fired first. Only features the full-window
    evidence found drifted are considered (a sampled day is small: PSI on it is noisy, so it
    dates a drift, it does not find one). Empty without samples."""
    if samples is None or not drifted:
        return []
    ts = samples.role("timestamp")
    ref = samples.frames.get("reference")
    parts = [samples.frames[k] for k in ("baseline", "current") if k in samples.frames]
    if not ts or ref is None or not parts:
        return []
    log = pd.concat(parts, ignore_index=True)
    if ts not in log or log.empty:
        return []
    fitted = fit_reference(ref, [c for c in samples.numeric if c in ref and c in drifted],
                           [c for c in samples.categorical if c in ref and c in drifted],
                           thresholds)
    t = pd.to_datetime(log[ts], utc=True, format="mixed")
    days = sorted(log.groupby(t.dt.floor("D")).indices.items())
    onset: dict[str, datetime | None] = {}
    min_rows = 150  # fewer sampled rows on a day say nothing either way
    for day, idx in days:
        if len(idx) < min_rows:
            continue
        report = compute_drift(fitted, log.iloc[idx], thresholds)
        for f in report.features:
            if f.breached():
                onset[f.feature] = onset.get(f.feature) or pd.Timestamp(str(day)).to_pydatetime()
            else:
                onset[f.feature] = None  # drift must persist to the end
    found = [(k, v) for k, v in onset.items() if v is not None]
    return sorted(found, key=lambda kv: kv[1])[:top]


def detection_lines(inc: Incident, spec: PlaybookSpec,
                    signals: Sequence[tuple[str, datetime]]) -> list[str]:
    trigger = inc.trigger or {}
    source = trigger.get("source") or trigger.get("kind") or "manual"
    out = [f"- Detected {inc.detected_at:%Y-%m-%d %H:%M} UTC by: {source}"
           + (f" ({trigger['alertname']})" if trigger.get("alertname") else "")]
    if inc.onset_at is not None:
        lag = inc.detected_at - inc.onset_at
        out.append(f"- Onset estimated {inc.onset_at:%Y-%m-%d %H:%M} UTC: detected "
                   f"{_human(lag)} after it began.")
    else:
        out.append("- Onset: not estimated (the evidence has no drift-over-time signal).")
    if signals:
        first = signals[0]
        out.append(f"- The first signal to fire would have been drift on `{first[0]}` from "
                   f"{first[1]:%Y-%m-%d}" + (
                       "; then " + ", ".join(f"`{f}` {d:%m-%d}" for f, d in signals[1:])
                       if len(signals) > 1 else "") + " (daily PSI on the kept samples).")
        lead = inc.detected_at - max(first[1], inc.onset_at or first[1])
        if lead.total_seconds() > 0:
            out.append(f"- A daily drift monitor on `{first[0]}` could have caught it up to "
                       f"{_human(lead)} before it was detected.")
    if spec.signals:
        out.append(f"- Signals this playbook watches: {', '.join(spec.signals)}")
    return out


def _human(d: timedelta) -> str:
    h = d.total_seconds() / 3600
    return f"{h:.1f} h" if h < 48 else f"{h / 24:.1f} days"


# -- action items, recurrence ----------------------------------------------------------------


@dataclass(frozen=True)
class Recurrence:
    earlier: list[Incident]  # same model, same root cause, within the window, oldest first
    window: timedelta
    fix: str

    @property
    def nth(self) -> int:
        return len(self.earlier) + 1

    def headline(self) -> str:
        return (f"{ordinal(self.nth)} time in {self.window.days} days: "
                f"{len(self.earlier)} earlier incident(s) on this model had the same root cause")


def permanent_fix(hyp: HypothesisSpec | None, inc: Incident) -> str:
    """What stops the cause coming back, from what the spec prescribes when it is supported."""
    if hyp is None:
        return "establish the root cause: without one nothing can be fixed for good"
    out = hyp.on_supported
    if out.close_as:
        return ("change the monitoring rule that fired (raise its threshold or require it "
                "to hold longer): it keeps firing without a failure")
    if out.escalate_to == "data" or (hyp.check and "quality" in hyp.check):
        return ("add a data contract / validation rule upstream so the data owner's pipeline "
                "rejects this before the model sees it")
    fixes = set(out.remediate)
    kept = [r.action for r in inc.remediations if r.applied and not r.reverted]
    if "retrain" in fixes or "retrain" in kept:
        return ("schedule retraining (a cadence shorter than the time between these "
                "incidents) instead of retraining after each incident")
    if fixes & {"rollback", "rollback-model"} or "rollback" in kept:
        return ("gate releases before promotion (shadow or canary comparison on the same "
                "requests) so a bad version never reaches the champion alias")
    if fixes & {"recalibrate", "recalibrate-threshold"}:
        return "recalibrate the decision threshold on a schedule against the target rate"
    return f"make '{', '.join(sorted(fixes)) or hyp.id}' a standing control, not a response"


def recurrence(inc: Incident, history: Iterable[Incident], hyp: HypothesisSpec | None, *,
               window: timedelta = RECURRENCE_WINDOW) -> Recurrence | None:
    """Earlier incidents of the same kind (production with production, drills with drills)."""
    if inc.root_cause is None:
        return None
    rc = inc.root_cause.hypothesis_id
    earlier = sorted((h for h in history if h.id != inc.id and h.model == inc.model
                      and h.root_cause is not None and h.root_cause.hypothesis_id == rc
                      and h.drill == inc.drill and not h.dry_run
                      and inc.detected_at - window <= h.detected_at <= inc.detected_at),
                     key=lambda h: h.detected_at)
    if not earlier:
        return None
    return Recurrence(earlier=earlier, window=window, fix=permanent_fix(hyp, inc))


def new_actions(inc: Incident, spec: PlaybookSpec, hyp: HypothesisSpec | None,
                rec: Recurrence | None, *, owners: dict[str, str], now: datetime,
                ) -> list[NewAction]:
    """The follow-ups, each with an owner (the profile's owner of that concern, else the
    incident's) and a due date by severity."""
    due = now + _DUE.get(inc.severity, timedelta(days=30))
    model_owner = owners.get("model") or inc.owner
    data_owner = owners.get("data") or inc.owner
    items: list[NewAction] = []
    if inc.escalated_to:
        items.append(NewAction("escalation", f"{inc.escalated_to}: investigate and fix the "
                               "cause named in this post-mortem.", inc.escalated_to, due))
    out = hyp.on_supported if hyp else None
    if hyp and out and out.close_as:
        items.append(NewAction("tune-alert", f"Tune the alerting rule: it fired without a "
                               f"failure ({hyp.id}).", model_owner, due))
    elif hyp and out and out.escalate_to == "data":
        items.append(NewAction("upstream-validation", "Add a data-validation rule upstream "
                               f"that catches this before the model sees it ({hyp.title})",
                               data_owner, due))
    if rec is not None:
        items.append(NewAction("permanent-fix", f"{rec.headline()}. Permanent fix: {rec.fix}.",
                               model_owner, now + timedelta(days=7)))
    if inc.verification and not inc.verification.passed:
        items.append(NewAction("choose-other-fix", "The remediation failed verification and "
                               "was reverted: choose a different fix.", model_owner, due))
    if inc.monitoring and inc.monitoring.tally("fail"):
        items.append(NewAction("live-failure", "The change failed on live traffic: find out "
                               "why the pre-check passed.", model_owner, due))
    items.append(NewAction("review", "Review this post-mortem with the model and data owners.",
                           model_owner, now + timedelta(days=7)))
    return items


# -- completeness ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Completeness:
    score: int  # 0..100
    missing: list[str] = field(default_factory=list)

    def line(self) -> str:
        gaps = f" — missing: {'; '.join(self.missing)}" if self.missing else ""
        return f"{self.score}/100{gaps}"


def completeness(markdown: str, inc: Incident, actions: Sequence[ActionItem | NewAction],
                 ) -> Completeness:
    """Required sections present (50), action items owned and dated (25), root-cause
    confidence (25)."""
    missing = [s.removeprefix("## ") for s in REQUIRED_SECTIONS if s not in markdown]
    score = 50.0 * (len(REQUIRED_SECTIONS) - len(missing)) / len(REQUIRED_SECTIONS)
    owned = [a for a in actions if a.owner and a.owner != "unassigned"]
    if actions:
        score += 25.0 * len(owned) / len(actions)
        if len(owned) < len(actions):
            missing.append(f"{len(actions) - len(owned)} action item(s) without an owner")
    else:
        missing.append("no action items")
    conf = inc.root_cause.confidence if inc.root_cause else 0.0
    score += 25.0 * conf
    if inc.root_cause is None:
        missing.append("no root cause")
    elif conf < 0.6:
        missing.append(f"root cause confidence only {conf:.2f}")
    return Completeness(round(score), [m if " " in m else f"section {m}" for m in missing])


# -- lessons ---------------------------------------------------------------------------------


def lessons(playbook: str, incidents: Iterable[Incident], spec: PlaybookSpec | None,
            actions: Iterable[ActionItem] = ()) -> dict[str, Any]:
    """The living appendix of one playbook: per root cause, how often, on which models, what
    fixed it, what did not, and the follow-ups still open. Closed incidents only."""
    closed = [i for i in incidents if i.playbook == playbook and not i.status.is_open]
    by_cause: dict[str, list[Incident]] = {}
    for i in closed:
        by_cause.setdefault(i.root_cause.hypothesis_id if i.root_cause else "(none)",
                            []).append(i)
    open_by_inc: dict[str, list[ActionItem]] = {}
    for a in actions:
        if a.status == "open":
            open_by_inc.setdefault(a.incident_id, []).append(a)
    causes = []
    for cause, items in sorted(by_cause.items(), key=lambda kv: -len(kv[1])):
        hyp = next((h for h in spec.hypotheses if h.id == cause), None) if spec else None
        kept = Counter(r.id for i in items for r in i.remediations
                       if r.applied and not r.reverted and not r.dry_run)
        reverted = Counter(r.id for i in items for r in i.remediations if r.reverted)
        causes.append({
            "root_cause": cause, "claim": hyp.title if hyp else "",
            "incidents": len(items), "drills": sum(i.drill for i in items),
            "models": sorted({i.model for i in items}),
            "outcomes": dict(Counter(i.status.value for i in items)),
            "first": min(i.detected_at for i in items).isoformat(),
            "last": max(i.detected_at for i in items).isoformat(),
            "worked": dict(kept), "did_not_work": dict(reverted),
            "false_alarms": sum(i.status == IncidentStatus.FALSE_ALARM for i in items),
            "permanent_fix": permanent_fix(hyp, items[-1]),
            "open_actions": [f"{a.id} ({a.owner}, due {a.due:%Y-%m-%d}): {a.text}"
                             for i in items for a in open_by_inc.get(i.id, [])],
            "incident_ids": [i.id for i in sorted(items, key=lambda i: i.detected_at)],
        })
    return {"playbook": playbook, "closed_incidents": len(closed), "causes": causes}
