"""Incident lifecycle helpers shared by the flow's tasks (no Prefect here)."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from playbooks.archive.specs import archive_spec
from playbooks.data.io import DataWindows, load_windows
from playbooks.data.needs import needs_for
from playbooks.engine.decide import Decision
from playbooks.engine.plugins import PluginTable, default_plugins
from playbooks.engine.postmortem import render_postmortem
from playbooks.engine.revert import Undo, revert_change
from playbooks.engine.runtime import Runtime
from playbooks.engine.transitions import TERMINAL, Event, apply_event
from playbooks.errors import MlpbError
from playbooks.i18n import msg
from playbooks.ledger import JournalEntry
from playbooks.ledger.leases import LeaseBusy
from playbooks.loader import load_profile, load_spec, resolve_spec_path
from playbooks.models.evidence import EvidencePackage
from playbooks.models.incident import Incident, IncidentStatus, TimelineEvent, utcnow
from playbooks.models.profile import ModelProfile
from playbooks.models.spec import PlaybookSpec
from playbooks.notify import Notification, NotifyKind, SlackNotifier
from playbooks.notify.base import find_notifier
from playbooks.notify.uploads import share_charts
from playbooks.notify.words import status_label

__all__ = [
    "Inputs",
    "close",
    "close_with_spec",
    "conclude",
    "fail",
    "hand_over",
    "load_inputs",
    "load_inputs_for",
    "new_incident",
    "open_or_claim",
    "recover_unfinished",
    "spec_ref",
]


@dataclass
class Inputs:
    spec: PlaybookSpec
    profile: ModelProfile
    data: DataWindows
    plugins: PluginTable
    profile_path: Path
    spec_path: Path | None = None  # the spec file, when not a catalog playbook


def spec_ref(inc: Incident) -> str:
    """What to load an incident's spec from: the file it ran from (a spec outside the
    catalog), else its catalog id."""
    return inc.spec_path or inc.playbook


def load_inputs_for(inc: Incident) -> Inputs:
    """The inputs of a later step of ``inc`` (controller, approval): the spec and profile it
    ran with. A spec edited since then is refused: criteria and plans would not be the ones
    the incident was opened under."""
    if not inc.profile_path:
        raise MlpbError(f"incident {inc.id} does not say which profile it ran with",
                        hint="close it by hand: `mlpb incidents resolve ID --as NAME --note ...`")
    inputs = load_inputs(spec_ref(inc), inc.profile_path)
    if inputs.spec.hash != inc.playbook_hash:
        raise MlpbError(
            f"incident {inc.id} ran {inc.playbook} {inc.playbook_version} "
            f"({inc.playbook_hash[:12]}…) but the spec at {spec_ref(inc)} is now "
            f"{inputs.spec.version} "
            f"({inputs.spec.hash[:12]}…)",
            hint=f"`mlpb spec diff {inc.playbook}@{inc.playbook_hash[:12]} "
            f"{inc.spec_path or inc.playbook + '@current'}` shows what changed (a team "
            "playbook also changes when its base does); restore it, or close the incident by "
            "hand and run the playbook again")
    return inputs


def load_inputs(playbook: str, profile_path: str | Path) -> Inputs:
    """Validate everything a run needs before an incident exists (bad input opens nothing)."""
    plugins = default_plugins()
    spec = load_spec(resolve_spec_path(playbook), plugins)
    profile = load_profile(Path(profile_path))
    # A broken feed (missing/retyped column) is a finding, not exit 3, wherever a change is
    # either never made or gated by the data-quality evidence's clean-data guard.
    lenient = not spec.remediations or "data-quality" in spec.evidence
    data = load_windows(profile, lenient=lenient, needs=needs_for(spec, profile))
    path = resolve_spec_path(playbook)
    in_catalog = spec.id == playbook  # named by catalog id, not by a file
    return Inputs(spec, profile, data, plugins, Path(profile_path).resolve(),
                  None if in_catalog else path.resolve())


def new_incident_id() -> str:
    """``INC-YYYYMMDD-`` (readable) + 128 random bits: ids never clash in practice, and
    ``Ledger.open_incident`` retries a clash with a fresh one."""
    return f"INC-{utcnow():%Y%m%d}-{secrets.token_hex(16)}"


def new_incident(spec: PlaybookSpec, profile: ModelProfile, *, trigger: dict[str, Any],
                 dry_run: bool, drill: bool, dedup_key: str | None,
                 queued: bool = False, now: datetime | None = None) -> Incident:
    """A new incident: ``open`` when a receiver queues it for a run, else already
    ``investigating`` (the run that creates it is the one that handles it)."""
    key = dedup_key or f"{trigger.get('source', 'manual')}:{spec.id}:{profile.name}" + (
        ":dry-run" if dry_run else "")
    source = trigger.get("source", "manual")
    now = now or utcnow()
    inc = Incident(
        id=new_incident_id(), playbook=spec.id, playbook_version=spec.version,
        playbook_hash=spec.hash, playbook_base=spec.base, model=profile.name,
        owner=profile.owners.oncall,
        dry_run=dry_run, drill=drill, trigger=trigger, dedup_key=key,
        parent_id=trigger.get("parent_id"), onset_at=None, detected_at=now, updated_at=now,
        timeline=[TimelineEvent(at=now, kind="opened", message=f"{spec.title} playbook started "
                                f"({source})", data={"trigger": trigger})],
    )
    return inc if queued else apply_event(inc, Event.STARTED, f"run started ({source})", at=now)


def open_or_claim(rt: Runtime, inputs: Inputs, trigger: dict[str, Any], *, dry_run: bool,
                  drill: bool, dedup_key: str | None) -> Incident:
    """Phase 1: recover what dead runs left, then claim the incident a receiver queued for
    this run (exactly once) or open a new one (idempotent on the dedup key)."""
    recover_unfinished(rt, inputs.profile)
    archive_spec(rt.settings.home, inputs.spec)  # the spec that ran, by hash, for audits
    queued = rt.ledger.find_open(dedup_key) if dedup_key else None
    if queued is not None:
        claimed = rt.ledger.claim(queued.id) if queued.status is IncidentStatus.OPEN else None
        if claimed is None:
            raise MlpbError(f"incident {queued.id} ({dedup_key}) is already being handled by "
                            "another run", hint="wait for that run, or `mlpb incidents show "
                            f"{queued.id}`")
        inc = rt.ledger.save(claimed.model_copy(
            update=_paths(inputs)))
    else:
        inc, created = rt.ledger.open_incident(new_incident(
            inputs.spec, inputs.profile, trigger=trigger, dry_run=dry_run, drill=drill,
            dedup_key=dedup_key, now=rt.now()).model_copy(
                update=_paths(inputs)))
        if not created:
            raise MlpbError(f"incident {inc.id} ({inc.dedup_key}) is already being handled by "
                            "another run", hint=f"`mlpb incidents show {inc.id}`")
    rt.notify(Notification("opened", inc, msg("{title} suspected on {model}",
                                              title=inputs.spec.title, model=inc.model),
                           [msg("trigger: {source}", source=trigger.get("source", "manual")),
                            msg("owner: {owner}", owner=inc.owner)]))
    return inc


def _paths(inputs: Inputs) -> dict[str, Any]:
    return {"profile_path": str(inputs.profile_path),
            "spec_path": str(inputs.spec_path) if inputs.spec_path else None,
            "playbook_base": inputs.spec.base}


def close(rt: Runtime, inputs: Inputs, inc: Incident,
          evidence: EvidencePackage | None) -> tuple[Incident, str]:
    """Write the post-mortem, record the close, notify the final status; returns the
    incident and the post-mortem's markdown ("" while the incident still waits, e.g. in
    monitoring or for an approval: the controller or a person closes it later). Closed now,
    it also goes to MLflow where the profile has a model (post-mortem links on the versions
    it changed, its evidence run; best effort)."""
    from playbooks.engine.incident_mlflow import record_close_in_mlflow

    inc, text = close_with_spec(rt, inputs.spec, inc, evidence)
    if text:
        record_close_in_mlflow(rt, inputs.profile, inc)
    return inc, text


def close_with_spec(rt: Runtime, spec: PlaybookSpec, inc: Incident,
                    evidence: EvidencePackage | None) -> tuple[Incident, str]:
    """``close`` when only the spec is at hand (a person closing by hand)."""
    if inc.status not in TERMINAL:
        return inc, ""
    path = Path(rt.settings.postmortem_dir) / f"{inc.id}.md"
    inc = rt.record(inc, Event.CLOSED, f"incident {inc.status.value}",
                       postmortem_path=str(path))
    inc = inc.model_copy(update={"timeline": rt.ledger.events(inc.id)})
    text = render_postmortem(inc, spec, evidence)
    path.write_text(text, encoding="utf-8")
    kind: NotifyKind = _CLOSE_KIND.get(inc.status, "diagnosed")
    rc = inc.root_cause
    rt.notify(Notification(kind, inc, msg("incident {status}", status=status_label(inc.status)), [
        msg("root cause: {hypothesis} — {summary}", hypothesis=rc.hypothesis_id,
            summary=rc.summary) if rc else msg("root cause: not established"),
        *([msg("escalated to: {who}", who=inc.escalated_to)] if inc.escalated_to else []),
        msg("post-mortem: {path}", path=path)]))
    _share_charts(rt, inc)
    return inc, text


def _share_charts(rt: Runtime, inc: Incident) -> None:
    """The post-mortem's charts into the incident's Slack thread, whoever closes it (a run,
    the controller after live monitoring, a person); once per incident, never raises."""
    slack = find_notifier(rt.notifier, SlackNotifier)
    if slack is None:
        return
    try:
        share_charts(rt.ledger, inc, settings=slack.settings)
    except Exception as exc:  # the post-mortem holds the charts either way
        logging.getLogger(__name__).warning("charts of %s not shared: %s: %s", inc.id,
                                            type(exc).__name__, exc)


_CLOSE_KIND: dict[IncidentStatus, NotifyKind] = {
    IncidentStatus.RESOLVED: "resolved", IncidentStatus.FALSE_ALARM: "false_alarm",
    IncidentStatus.ESCALATED: "escalated"}


def conclude(rt: Runtime, inc: Incident, decision: Decision) -> Incident:
    """A decision that changes nothing: close as a false alarm, or call in a human (a dry
    run only reports whom it would call)."""
    if decision.action == "close":
        return rt.record(inc, Event.FALSE_ALARM, decision.reason)
    if inc.dry_run:
        return rt.record(inc, Event.RECOMMENDED, decision.reason)
    return rt.record(inc, Event.ESCALATED, decision.reason,
                        data={"to": decision.escalate_to}, escalated_to=decision.escalate_to)


def hand_over(rt: Runtime, inc: Incident, child: dict[str, Any]) -> Incident:
    """Triage handed over: the child incident owns the response from here."""
    return rt.record(inc, Event.HANDOVER,
        f"handed over to {child['playbook']} ({child['id']}): {child['status']}",
        data={"child_id": child["id"], "child_status": child["status"]},
        child_ids=[*inc.child_ids, child["id"]])


def fail(rt: Runtime, inc: Incident, exc: BaseException, owner: str) -> Incident:
    """The run broke after the incident opened: record why and hand it to a human."""
    inc = rt.ledger.get(inc.id)  # the last state that was saved
    why = f"playbook run failed: {type(exc).__name__}: {exc}"
    if inc.status in TERMINAL:  # it broke after the outcome was recorded: keep the outcome
        rt.ledger.add_event(inc.id, "error", why)
        return inc
    return rt.record(inc, Event.FAILED, why, data={"to": owner},
                        escalated_to=owner)


def recover_unfinished(rt: Runtime, profile: ModelProfile, *, force: bool = False) -> list[str]:
    """Revert remediations a dead run left half-done (journal entries never closed).

    Only while nobody holds the model's lease: a run applying a change holds it and renews it,
    so a slow but live change is never taken for a dead one (by age or otherwise). ``force``
    (a person who knows the run is gone) skips the lease check. Returns the incident ids
    that were recovered."""
    entries = rt.ledger.journal(model=profile.name, unfinished=True)
    if not entries:
        return []
    lease = rt.ledger.leases.get(profile.name)
    if lease is not None and not lease.expired and not force:
        return []  # its holder is alive: the entries are its work in progress
    try:  # revert holding the lease: nothing else may change the model meanwhile
        with rt.ledger.leases.hold(profile.name, "crash recovery", force=force):
            return _recover_entries(rt, profile, entries)
    except LeaseBusy:
        return []  # someone took the freed lease first: their run recovers or continues


def _recover_entries(rt: Runtime, profile: ModelProfile,
                     entries: list[JournalEntry]) -> list[str]:
    store = rt.model_store(profile)
    recovered = []
    for entry in entries:
        undo = Undo(entry.incident_id, entry.remediation_id, entry.action, entry.seq, profile,
                    rt.settings.home, plan=entry.plan)
        account = revert_change(undo, entry.change, ledger=rt.ledger, store=store)
        inc = rt.ledger.get(entry.incident_id)
        why = (f"run died during '{entry.remediation_id}' ({entry.phase}); recovery: "
               f"{account}; incident escalated")
        if inc.status in TERMINAL:
            rt.ledger.add_event(inc.id, "recovered", why)
        else:
            rt.record(inc, Event.RECOVERED, why, data={"to": profile.owners.oncall},
                      escalated_to=profile.owners.oncall)
        recovered.append(inc.id)
    return recovered
