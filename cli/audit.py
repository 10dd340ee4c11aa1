"""`mlpb audit export` and `mlpb audit verify`: the audit trail (playbooks/ledger/audit.py).

Registered on the main app by :func:`register` (two lines in cli/main.py). Imports of the
ledger happen inside the commands: `mlpb --help` stays fast."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TextIO

import typer

from cli.output import err, out, print_json
from playbooks.config import load_settings
from playbooks.errors import MlpbError

if TYPE_CHECKING:
    from playbooks.policy import Refusal

__all__ = ["AuditBroken", "print_spec_yaml", "refusal_recorder", "register", "spec_line"]

HomeOpt = Annotated[
    str | None, typer.Option("--home", help="State dir (default $MLPB_HOME or ./.mlpb).")
]

audit_app = typer.Typer(no_args_is_help=True, help="The audit trail: export it, verify the "
                        "timeline's hash chains.")


class AuditBroken(MlpbError):
    """A timeline chain does not hold: a row was edited, deleted or reordered."""

    exit_code = 5


def _since(text: str, home: Path) -> Any:
    from playbooks.clock import clock_for
    from playbooks.models.common import parse_duration

    try:
        span = parse_duration(text)
    except (ValueError, TypeError):
        raise MlpbError(f"--since {text!r} is not a duration",
                        hint="e.g. --since 30d, 12h or 90m") from None
    return clock_for(home).now() - span  # the engine's clock (a sandbox's may be moved)


def _ledger(home: str | None) -> Any:
    from playbooks.ledger import Ledger

    return Ledger(load_settings(home).ensure().ledger_url)


def _write(lines: Iterator[str], fh: TextIO) -> int:
    return sum(1 for line in lines if fh.write(line + "\n"))  # the lines written


@audit_app.command("export")
def export(
    incident_id: Annotated[str | None, typer.Argument(
        help="One incident (id or a unique prefix); else every incident active --since.")
    ] = None,
    since: Annotated[str | None, typer.Option(
        help="Incidents updated and refusals recorded this far back: 30d, 12h.")] = None,
    out_file: Annotated[Path | None, typer.Option("--out", help="Write JSON Lines here "
                                                  "(default: stdout).")] = None,
    home: HomeOpt = None,
) -> None:
    """Write JSON Lines: one object per incident (timeline with hashes, chain, approval,
    decisions, the spec that ran and its archive path, evidence hashes) and per refusal."""
    from playbooks.ledger.audit import export_records

    if (incident_id is None) == (since is None):
        raise MlpbError("name one incident or give --since",
                        hint="mlpb audit export INC-… | mlpb audit export --since 30d")
    settings = load_settings(home).ensure()
    ledger = _ledger(home)
    iid = ledger.get(incident_id).id if incident_id else None  # a prefix resolves, or errors
    start = _since(since, settings.home) if since else None
    lines = (json.dumps(r, sort_keys=True, ensure_ascii=False)
             for r in export_records(ledger.engine, settings.home, incident_id=iid,
                                     since=start))
    if out_file is None:
        n = _write(lines, sys.stdout)
    else:
        out_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = out_file.with_name(out_file.name + ".tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            n = _write(lines, fh)
        tmp.replace(out_file)  # a reader never sees half an export
    err.print(f"exported {n} record(s)" + (f" to {out_file}" if out_file else ""),
              highlight=False, soft_wrap=True)
    ledger.close()


@audit_app.command("verify")
def verify_cmd(
    incident_id: Annotated[str | None, typer.Argument(
        help="One incident (id or a unique prefix); default: every chain in the ledger.")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
    home: HomeOpt = None,
) -> None:
    """Recompute every timeline hash chain; exit 5 naming each incident whose chain is broken
    and its first broken row (edited, deleted or reordered)."""
    from playbooks.ledger.audit import verify

    ledger = _ledger(home)
    iid = ledger.get(incident_id).id if incident_id else None
    checked, broken = verify(ledger.engine, iid)
    ledger.close()
    if json_out:
        print_json({"checked": checked, "broken": [
            {"incident_id": b.incident_id, "seq": b.seq, "position": b.position,
             "reason": b.reason} for b in broken]})
    elif not broken:
        out.print(f"verified {checked} timeline chain(s): all intact", highlight=False)
    if broken:
        raise AuditBroken(
            f"{len(broken)} of {checked} timeline chain(s) broken:\n"
            + "\n".join(f"  {b.describe()}" for b in broken),
            hint="the ledger was changed outside mlpb; compare with an earlier `mlpb audit "
                 "export` (each record keeps its chain head)")


def refusal_recorder(home: str | None) -> Callable[[Refusal], None]:
    """What `mlpb run` hands the policy check: a refusal goes to the ledger (opened only
    then), stamped with the engine's clock."""
    def record(r: Refusal) -> None:
        from dataclasses import replace

        from playbooks.clock import clock_for

        settings = load_settings(home).ensure()
        ledger = _ledger(home)
        try:
            ledger.refusals.record(replace(r, at=clock_for(settings.home).now()))
        finally:
            ledger.close()

    return record


def spec_line(home: Path, inc: Any) -> str:
    """``incidents show``: the spec the incident ran with and where it is archived."""
    from playbooks.ledger.audit import spec_archive

    s = spec_archive(home, inc)
    where = (f"archived at {s['archived_path']}" if s["archived_path"] else
             "not in the spec archive (opened before the archive, or another state dir)")
    return f"spec: {s['playbook']} v{s['version']} (hash {s['hash']}) {where}"


def print_spec_yaml(home: Path, inc: Any) -> None:
    """``incidents show --spec``: the archived spec as YAML on stdout."""
    import yaml

    from playbooks.archive.specs import archived_spec
    from playbooks.ledger.audit import spec_archive

    s = spec_archive(home, inc)
    if s["archived_path"] is None:
        raise MlpbError(
            f"the spec {inc.playbook} v{inc.playbook_version} (hash {inc.playbook_hash}) that "
            f"{inc.id} ran with is not in the archive under {home / 'specs'}",
            hint=f"`mlpb spec list {inc.playbook}` shows what is archived; incidents opened "
                 "before the archive existed have none")
    data = archived_spec(home, inc.playbook, inc.playbook_hash)
    typer.echo(f"# {inc.id}: {inc.playbook} v{inc.playbook_version} ({inc.playbook_hash}), "
               f"archived at {s['archived_path']}")
    typer.echo(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), nl=False)


def register(app: typer.Typer, friendly: Any) -> None:
    """Add `mlpb audit` to ``app``; ``friendly`` is main's error presenter."""
    for cmd in audit_app.registered_commands:
        if cmd.callback is not None:
            cmd.callback = friendly(cmd.callback)
    app.add_typer(audit_app, name="audit")
