"""What a post-mortem needs beyond its incident, gathered from the state dir: charts (made
from the kept row samples), earlier incidents (recurrence), owned action items (stored in
the ledger), the first signals, and the spec archived by hash.

Nothing here may fail the close: each part that cannot be gathered becomes a note in the
post-mortem saying what is missing and why."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from playbooks.archive.samples import Samples, load_samples, roles_of, samples_from_windows
from playbooks.archive.specs import archive_spec
from playbooks.charts.base import Chart
from playbooks.charts.incident import incident_charts
from playbooks.ledger import ActionStore, Ledger
from playbooks.ledger.actions import ActionItem, NewAction
from playbooks.models.evidence import EvidencePackage
from playbooks.models.incident import Incident
from playbooks.models.profile import ModelProfile
from playbooks.models.spec import PlaybookSpec
from playbooks.report.learning import Recurrence, first_signals, new_actions, recurrence

__all__ = ["PostmortemContext", "chart_dir", "gather_context"]

log = logging.getLogger(__name__)


@dataclass
class PostmortemContext:
    charts: dict[str, Chart] = field(default_factory=dict)  # by name
    chart_base: Path | None = None  # links are relative to this (the post-mortem's folder)
    samples: Samples | None = None
    recurrence: Recurrence | None = None
    actions: list[ActionItem | NewAction] = field(default_factory=list)
    earlier_open: list[ActionItem] = field(default_factory=list)  # other incidents, same model
    signals: list[tuple[str, datetime]] = field(default_factory=list)
    spec_archive: Path | None = None
    notes: list[str] = field(default_factory=list)

    def link(self, name: str) -> str | None:
        chart = self.charts.get(name)
        if chart is None:
            return None
        rel = chart.path.relative_to(self.chart_base) if self.chart_base else chart.path
        return f"![{chart.title}]({rel.as_posix()})"


def chart_dir(postmortem_path: Path, incident_id: str) -> Path:
    """The charts of ``INC.md`` live in ``INC/`` beside it (relative links keep working when
    the post-mortems folder is copied or attached)."""
    return postmortem_path.parent / incident_id


def _profile(inc: Incident) -> ModelProfile | None:
    if not inc.profile_path:
        return None
    from playbooks.loader import load_profile

    return load_profile(Path(inc.profile_path))


def _guard(ctx: PostmortemContext, what: str, fn: Any) -> Any:
    try:
        return fn()
    except Exception as exc:  # a post-mortem without one part beats no post-mortem
        log.warning("post-mortem: %s failed: %s: %s", what, type(exc).__name__, exc)
        ctx.notes.append(f"{what} unavailable: {type(exc).__name__}: {exc}")
        return None


def gather_context(inc: Incident, spec: PlaybookSpec, evidence: EvidencePackage | None, *,
                   home: Path, ledger: Ledger | None, postmortem_path: Path | None,
                   now: datetime | None = None) -> PostmortemContext:
    # Due dates count from the close in engine time (a sandbox's clock is not the wall's).
    now = now or max([inc.detected_at, *([inc.resolved_at] if inc.resolved_at else []),
                      *(e.at for e in inc.timeline)])
    ctx = PostmortemContext()
    if spec.hash == inc.playbook_hash:  # else the spec was edited since the run started
        ctx.spec_archive = _guard(ctx, "spec archive", lambda: archive_spec(home, spec))
    else:
        ctx.notes.append(f"spec archive: the spec now has hash {spec.hash}, not the "
                         f"{inc.playbook_hash} that ran (edited since); only a run archives "
                         "the spec it ran")
    profile = _guard(ctx, "model profile", lambda: _profile(inc))
    samples = _guard(ctx, "row samples", lambda: load_samples(home, inc.id))
    if samples is None and evidence is not None and profile is not None:
        samples = _guard(ctx, "row samples (re-read)", lambda: samples_from_windows(
            evidence.windows, roles_of(profile)))
    ctx.samples = samples
    if postmortem_path is not None:
        slo = profile.slo if profile is not None else None
        charts = _guard(ctx, "charts", lambda: incident_charts(
            inc, evidence, samples, chart_dir(postmortem_path, inc.id),
            slo_p95_ms=slo.max_latency_p95_ms if slo else None,
            slo_error_rate=slo.max_error_rate if slo else None)) or []
        ctx.charts = {c.name: c for c in charts}
        ctx.chart_base = postmortem_path.parent
    drifted = [str(d["feature"]) for d in (evidence.feature_drift if evidence else [])
               if d.get("status") == "drift"]
    if drifted:
        ctx.signals = _guard(ctx, "first signals", lambda: first_signals(
            samples, spec.drift, drifted)) or []
    hyp = next((h for h in spec.hypotheses if inc.root_cause
                and h.id == inc.root_cause.hypothesis_id), None)
    if ledger is not None:
        history = _guard(ctx, "incident history",
                         lambda: ledger.list(limit=500, model=inc.model)) or []
        ctx.recurrence = recurrence(inc, history, hyp)
    owners = profile.owners.model_dump() if profile is not None else {}
    items = new_actions(inc, spec, hyp, ctx.recurrence, owners=owners, now=now)
    ctx.actions = list(items)
    if ledger is not None and not inc.dry_run:
        store = ActionStore(ledger)
        stored = _guard(ctx, "action items", lambda: store.upsert(
            inc.id, model=inc.model, playbook=inc.playbook, drill=inc.drill, items=items))
        if stored is not None:
            ctx.actions = list(stored)
        earlier = _guard(ctx, "open action items", lambda: store.list(model=inc.model)) or []
        ctx.earlier_open = [a for a in earlier if a.incident_id != inc.id
                            and a.drill == inc.drill]
    return ctx
