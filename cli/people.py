"""People in the loop from the command line: approve / reject a pinned plan, and
acknowledge, assign, note, resolve or reopen an incident. Each lands in the same ledger
transition as the Slack buttons and the Prefect form."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from cli.output import err, out, print_json

if TYPE_CHECKING:
    from playbooks.engine.runtime import Runtime
    from playbooks.models.incident import Incident
    from playbooks.models.profile import ModelProfile

__all__ = ["people_lines", "register"]

IdArg = Annotated[str, typer.Argument(help="Incident id (or a unique prefix).")]
AsOpt = Annotated[str, typer.Option("--as", help="Who you are (recorded on the incident).")]
HomeOpt = Annotated[
    str | None, typer.Option("--home", help="State dir (default $MLPB_HOME or ./.mlpb).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the incident as JSON on stdout.")]


def _runtime(home: str | None) -> Runtime:
    from playbooks.engine.runtime import Runtime

    return Runtime.from_env(home)


def _profile(inc: Incident) -> ModelProfile:
    from playbooks.errors import MlpbError
    from playbooks.loader import load_profile

    if not inc.profile_path:
        raise MlpbError(f"incident {inc.id} does not name the profile it ran with, so its "
                        "approvers are unknown", hint="re-run the playbook with --profile")
    return load_profile(Path(inc.profile_path))


def people_lines(inc: Incident) -> list[str]:
    """Who holds the incident and where its approval stands (for `incidents show`)."""
    lines = [f"held by {inc.owner}" + (f" · escalated to {inc.escalated_to}"
                                       if inc.escalated_to else "")
             + (f" · acknowledged by {inc.acknowledged_by} at {inc.acknowledged_at:%Y-%m-%d %H:%M}"
                if inc.acknowledged_at else " · not acknowledged")]
    req = inc.approval
    if req is not None:
        lines.append(f"approval of '{req.remediation_id}': {req.state} · plan {req.plan_hash} · "
                     f"approvers {', '.join(req.approvers) or 'none configured'} · due "
                     f"{req.due_at:%Y-%m-%d %H:%M} UTC")
        lines += [f"  {d.at:%Y-%m-%d %H:%M} {d.decision} by {d.approver} via {d.channel}: "
                  + ("accepted" if d.accepted else f"REFUSED ({d.refusal})")
                  + (f" — {d.reason}" if d.reason else "") for d in req.decisions]
        if req.state == "pending":
            lines.append(f"  decide: mlpb approve {inc.id} --as NAME | mlpb reject {inc.id} "
                         "--as NAME --reason TEXT")
    return lines


def _done(inc: Incident, json_out: bool, what: str) -> None:
    from playbooks.models.common import format_duration

    if json_out:
        print_json(inc.to_contract())
        return
    out.print(f"{inc.id}: {what} — now [bold]{inc.status.value}[/] (owner {inc.owner})",
              highlight=False)
    if inc.monitoring is not None and inc.status.value == "monitoring":
        span = format_duration(inc.monitoring.window)
        out.print(f"  watching {inc.monitoring.count} live window(s) of {span}; "
                  "`mlpb tick` measures them as they close",
                  highlight=False)


def decide_cmd(incident_id: str, decision: Literal["approve", "reject"], who: str,
               reason: str, home: str | None, json_out: bool) -> None:
    from playbooks.engine.approvals import decide
    from playbooks.engine.runner import resume_approved

    rt = _runtime(home)
    inc = rt.ledger.get(incident_id)
    decided = decide(rt, inc.id, decision, approver=who, channel="cli", reason=reason,
                     profile=_profile(inc))
    inc = decided.incident
    if decided.outcome == "approved":
        req = inc.approval
        assert req is not None
        err.print(f"[green]approved[/] '{req.remediation_id}' (plan {req.plan_hash[:19]}…); "
                  "applying exactly that plan…", highlight=False)
        inc = resume_approved(rt, inc.id)
        rt.flush_notifications()
        if inc.status.value == "awaiting_approval":
            err.print("[yellow]the plan changed on fresh evidence: the approval is void and a "
                      "new one is asked for[/] — review it with `mlpb incidents show "
                      f"{inc.id}`", highlight=False)
    _done(inc, json_out, f"{decision}d by {who}" if decision == "approve" else f"rejected by {who}")


def approve(
    incident_id: IdArg, who: AsOpt,
    reason: Annotated[str, typer.Option(help="Why (recorded).")] = "",
    home: HomeOpt = None, json_out: JsonOpt = False,
) -> None:
    """Approve the incident's pinned plan and apply it (then pre-check and monitoring)."""
    decide_cmd(incident_id, "approve", who, reason, home, json_out)


def reject(
    incident_id: IdArg, who: AsOpt,
    reason: Annotated[str, typer.Option(help="Why not (required, recorded).")],
    home: HomeOpt = None, json_out: JsonOpt = False,
) -> None:
    """Reject the pinned plan: nothing is applied and the model owner takes the incident."""
    decide_cmd(incident_id, "reject", who, reason, home, json_out)


def ack(incident_id: IdArg, who: AsOpt, home: HomeOpt = None, json_out: JsonOpt = False) -> None:
    """Acknowledge: you are on it; escalation stops paging the next level."""
    from playbooks.engine.people import acknowledge

    rt = _runtime(home)
    inc = acknowledge(rt, rt.ledger.get(incident_id).id, who=who, channel="cli")
    rt.flush_notifications()
    _done(inc, json_out, f"acknowledged by {who}")


def assign(
    incident_id: IdArg, who: AsOpt,
    to: Annotated[str, typer.Option("--to", help="The new owner.")],
    home: HomeOpt = None, json_out: JsonOpt = False,
) -> None:
    """Hand the incident to another owner."""
    from playbooks.engine import people

    rt = _runtime(home)
    inc = people.assign(rt, rt.ledger.get(incident_id).id, to=to, who=who)
    rt.flush_notifications()
    _done(inc, json_out, f"assigned to {to}")


def note(
    incident_id: IdArg, who: AsOpt,
    text: Annotated[str, typer.Option("--text", help="The note.")],
    home: HomeOpt = None, json_out: JsonOpt = False,
) -> None:
    """Add a note to the incident's timeline."""
    from playbooks.engine.people import add_note

    rt = _runtime(home)
    _done(add_note(rt, rt.ledger.get(incident_id).id, text=text, who=who), json_out, "noted")


def resolve(
    incident_id: IdArg, who: AsOpt,
    resolution: Annotated[str, typer.Option("--note", help="How it was resolved.")],
    home: HomeOpt = None, json_out: JsonOpt = False,
) -> None:
    """Close an incident that waits for a person (escalated, unrouted, awaiting approval,
    diagnosed) with a resolution note; the post-mortem is rewritten."""
    from playbooks.engine.people import resolve_by_hand

    rt = _runtime(home)
    inc = resolve_by_hand(rt, rt.ledger.get(incident_id).id, who=who, note=resolution)
    inc = _rewrite_postmortem(rt, inc)
    rt.flush_notifications()
    _done(inc, json_out, f"resolved by {who}")


def reopen(
    incident_id: IdArg, who: AsOpt,
    reason: Annotated[str, typer.Option(help="Why it needs a person again.")],
    home: HomeOpt = None, json_out: JsonOpt = False,
) -> None:
    """Reopen a closed incident: it becomes yours (escalated) and escalation restarts."""
    from playbooks.engine.people import reopen as reopen_incident

    rt = _runtime(home)
    inc = reopen_incident(rt, rt.ledger.get(incident_id).id, who=who, reason=reason)
    rt.flush_notifications()
    _done(inc, json_out, f"reopened by {who}")


def _rewrite_postmortem(rt: Runtime, inc: Incident) -> Incident:
    from playbooks.engine.diagnosis import load_evidence
    from playbooks.engine.lifecycle import close_with_spec
    from playbooks.engine.plugins import default_plugins
    from playbooks.errors import MlpbError
    from playbooks.loader import load_spec, resolve_spec_path

    try:
        spec = load_spec(resolve_spec_path(inc.playbook), default_plugins())
    except MlpbError as exc:  # an unrouted incident may name no catalog playbook
        err.print(f"[yellow]no post-mortem written:[/] {exc.message}", highlight=False)
        return inc
    inc, text = close_with_spec(rt, spec, inc, load_evidence(rt, inc.id))
    if text:  # closed now: MLflow links and evidence run, as a run's close does
        from playbooks.engine.incident_mlflow import record_close_of

        record_close_of(rt, inc)
    if inc.postmortem_path:
        err.print(f"post-mortem: {inc.postmortem_path}", highlight=False)
    return inc


def register(app: typer.Typer, incidents_app: typer.Typer, wrap: object) -> None:
    """Add the commands (``wrap``: the CLI's friendly-error decorator)."""
    w = wrap  # typed loosely: typer commands keep their own signatures
    app.command()(w(approve))  # type: ignore[operator]
    app.command()(w(reject))  # type: ignore[operator]
    for fn in (ack, assign, note, resolve, reopen):
        incidents_app.command(fn.__name__)(w(fn))  # type: ignore[operator]
