"""`mlpb`: run playbooks, the demo, profiles, validation and the incident ledger."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NamedTuple, TypeVar

import typer

from cli.audit import register as register_audit
from cli.output import err, incidents_table, out, print_incident, print_json
from cli.people import register as register_people
from cli.report import register as register_report
from cli.sandbox import sandbox_app
from playbooks.config import load_settings
from playbooks.errors import MlpbError

if TYPE_CHECKING:  # imported where used: `mlpb --help` stays fast
    from playbooks.ledger import Ledger
    from playbooks.notify import SlackNotifier

__all__ = ["app", "main"]

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="ML Playbooks: automated incident playbooks for production ML models.",
)
profile_app = typer.Typer(no_args_is_help=True, help="Model profiles.")
incidents_app = typer.Typer(no_args_is_help=True, help="The incident ledger.")
app.add_typer(profile_app, name="profile")
app.add_typer(incidents_app, name="incidents")
notify_app = typer.Typer(no_args_is_help=True, help="Slack: outbox backlog, reminders.")
app.add_typer(notify_app, name="notify")
playbook_app = typer.Typer(no_args_is_help=True, help="Writing playbooks.")
app.add_typer(playbook_app, name="playbook")
app.add_typer(sandbox_app, name="sandbox")

F = TypeVar("F", bound=Callable[..., Any])
_state = {"debug": False}

HomeOpt = Annotated[
    str | None, typer.Option("--home", help="State dir (default $MLPB_HOME or ./.mlpb).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")]


def friendly(fn: F) -> F:
    """Show MlpbErrors as a message and exit code; a stack trace only with --debug."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except MlpbError as exc:
            if _state["debug"]:
                raise
            err.print("[bold red]error:[/] ", end="")
            err.print(exc.message, markup=False, highlight=False, soft_wrap=True)
            if exc.hint:
                err.print("[yellow]hint:[/] ", end="")
                err.print(exc.hint, markup=False, highlight=False, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:
            if _state["debug"]:
                raise
            err.print(
                f"[bold red]unexpected error:[/] {type(exc).__name__}: {exc}",
                highlight=False,
                soft_wrap=True,
            )
            err.print("[yellow]hint:[/] re-run with --debug for the stack trace and report it")
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show stack traces.")] = False,
) -> None:
    _state["debug"] = debug


def _prefect(home: str | None, verbose: bool = False) -> str | None:
    """Set Prefect's environment; the API URL of a running server it will use, if any."""
    import os

    from cli.env import prepare_prefect_env

    found = prepare_prefect_env(load_settings(home).ensure(), verbose=verbose)  # state dir first
    return found or os.environ.get("PREFECT_API_URL")


@app.command()
@friendly
def run(
    playbook: Annotated[str, typer.Argument(help="Catalog id (e.g. data-drift) or a spec file.")],
    profile: Annotated[Path, typer.Option("--profile", "-p", help="Model profile YAML.")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Diagnose and plan; apply nothing.")
    ] = False,
    json_out: JsonOpt = False,
    home: HomeOpt = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show Prefect logs.")] = False,
    as_: Annotated[str | None, typer.Option("--as", help="Who runs it (default: the OS user); "
                                            "checked against the policy, recorded.")] = None,
) -> None:
    """Run one playbook against one model profile."""
    from playbooks.data import hand_off_loads
    from playbooks.engine.lifecycle import load_inputs
    from playbooks.policy import check_run, cli_identity, policy_for, policy_path

    with hand_off_loads():  # the flow takes these frames instead of reading the data again
        inputs = load_inputs(playbook, profile)  # fail fast, before Prefect starts, on bad input
    from cli.audit import refusal_recorder

    who, root = cli_identity(as_), load_settings(home).home
    check_run(policy_for(root), who, playbook=inputs.spec.id, model=inputs.profile.name,
              live=not dry_run, where=policy_path(root),
              record=refusal_recorder(home))  # refused: a ledger record, nothing starts
    server = _prefect(home, verbose)
    prefect = f"on Prefect at {server}" if server else "starting Prefect (embedded)..."
    err.print(
        f"[dim]running playbook '{playbook}' on {profile} "
        f"({'dry run' if dry_run else 'live'}) as {who.name} ({who.source}); {prefect}[/]"
    )
    from flows.engine import run_playbook

    result = run_playbook(
        playbook=playbook, profile=str(profile), dry_run=dry_run, home=home, quiet=json_out,
        trigger={"source": "manual", "by": who.name, "identity": who.source})
    if json_out:
        print_json(result)
    else:
        print_incident(result)


@app.command()
@friendly
def demo(
    fault: Annotated[
        str, typer.Option(help="Fault to inject: covariate-drift, unit-change or none.")
    ] = "covariate-drift",
    seed: Annotated[int, typer.Option(help="Simulator seed.")] = 7,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Bootstrap the sandbox credit-risk model, inject a fault, run the data-drift playbook."""
    from cli.demo import run_demo

    result = run_demo(load_settings(home), fault=fault, seed=seed, quiet=json_out)
    if json_out:
        print_json(result)


@app.command()
@friendly
def validate(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Spec/profile/policy files; default: the catalog.")
    ] = None,
    against: Annotated[str | None, typer.Option(
        "--against", help="Git ref the specs are compared with (default HEAD).")] = None,
    git: Annotated[bool, typer.Option("--git/--no-git", help="Compare with git.")] = True,
    home: HomeOpt = None,
) -> None:
    """Validate specs, profiles and the policy; a changed spec needs a new version and a
    changelog entry (vs the archive of versions that ran, and git)."""
    from cli.validate import validate_files

    validate_files(paths, against=against, use_git=git, home=home)


@app.command()
@friendly
def schema(
    kind: Annotated[str, typer.Argument(help="spec or profile")] = "spec",
    write: Annotated[
        Path | None, typer.Option(help="Write both schemas into this directory.")
    ] = None,
) -> None:
    """Print (or write) the JSON Schema of playbook specs or model profiles."""
    from playbooks.schemas import export_schemas, schema_for

    if write:
        for p in export_schemas(write):
            err.print(f"wrote {p}")
        return
    print_json(schema_for(kind))


@app.command()
@friendly
def drill(
    fault: Annotated[str | None, typer.Argument(help="Fault to inject (see --list).")] = None,
    list_: Annotated[
        bool, typer.Option("--list", help="List faults and what drills expect.")
    ] = False,
    all_: Annotated[bool, typer.Option("--all", help="Drill every fault.")] = False,
    seed: Annotated[int, typer.Option(help="Seed of a single drill.")] = 1,
    seeds: Annotated[int, typer.Option(help="With --all: seeds 1..K per fault.")] = 1,
    json_out: JsonOpt = False,
    home: HomeOpt = None,
) -> None:
    """Game-day drills: inject a fault into a fresh sandbox and score the response."""
    from cli.drill import list_faults, run_drills

    if list_:
        rows = list_faults()
        if json_out:
            print_json(rows)
            return
        from cli.drill import faults_table

        out.print(faults_table(rows))  # fault names whole at any width
        return
    if not all_ and not fault:
        raise MlpbError("name a fault, or use --all or --list", hint="mlpb drill --list")
    from playbooks.sandbox import FAULTS

    faults = FAULTS.kinds() if all_ else [fault or ""]
    results = run_drills(
        faults, list(range(1, seeds + 1)) if all_ else [seed], home=home, json_out=json_out
    )
    if not all(r["passed"] for r in results):
        raise typer.Exit(4)


@app.command()
@friendly
def recover(
    profile: Annotated[Path, typer.Option("--profile", "-p", help="Model profile YAML.")],
    home: HomeOpt = None,
) -> None:
    """Revert remediations a killed run left half-applied, and escalate their incidents."""
    from playbooks.engine.lifecycle import recover_unfinished
    from playbooks.loader import load_profile
    from tasks.prefect_context import prefect_runtime

    prof = load_profile(profile)
    _prefect(home)  # a Slack token in a Prefect Secret block is loaded with the runtime
    done = recover_unfinished(prefect_runtime(home), prof, force=True)
    out.print(f"recovered {len(done)} incident(s): {', '.join(done) or 'none'}")


@app.command()
@friendly
def receiver(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8686,
    routes: Annotated[
        Path | None,
        typer.Option(
            help="Routing rules YAML (default $MLPB_RECEIVER_ROUTES or <state dir>/routes.yaml, "
            "else the built-in routing; example: deployments/routes.example.yaml)."
        ),
    ] = None,
    prefect_api_url: Annotated[
        str | None,
        typer.Option(
            help="Prefect API that runs the playbook deployments (default $PREFECT_API_URL or "
            "http://127.0.0.1:4200/api)."
        ),
    ] = None,
    dispatch: Annotated[
        bool,
        typer.Option(
            help="Start runs; --no-dispatch only records and queues them (another receiver on the "
            "same ledger dispatches)."
        ),
    ] = True,
    home: HomeOpt = None,
) -> None:
    """Receive Alertmanager / Grafana / JSON alerts and start playbook runs.

    Needs MLPB_RECEIVER_TOKEN (bearer) or MLPB_RECEIVER_HMAC_SECRET. Without --routes (and no
    <state dir>/routes.yaml) it uses the built-in routing: the alert's playbook label (else
    triage) on $MLPB_HOME/profiles/<model>.yaml or the sandbox's profile. The deployments it
    starts are served by `python -m deployments.serve`; `make serve` runs the whole stack."""
    from rich.markup import escape

    from deployments.receiver import ReceiverConfig, create_app, hide_password, uvicorn_config

    config = ReceiverConfig.from_env(home=home, routes=routes, prefect_api_url=prefect_api_url)
    config.dispatch = dispatch
    import uvicorn

    prefect = hide_password(config.prefect_api_url or "") if dispatch else "(dispatch off)"
    err.print(
        f"[dim]receiver on http://{host}:{port} · ledger {escape(config.safe_ledger_url)} · "
        f"Prefect {escape(prefect)}[/]",
        highlight=False,
        soft_wrap=True,
    )
    err.print(f"[dim]routing: {escape(config.routing)}[/]", highlight=False, soft_wrap=True)
    uvicorn.Server(uvicorn_config(create_app(config), host=host, port=port)).run()


@profile_app.command("init")
@friendly
def profile_init(
    name: Annotated[str, typer.Argument(help="Model name.")],
    reference: Annotated[
        Path, typer.Option(help="Reference (training / known-good) CSV or parquet.")
    ],
    current: Annotated[Path, typer.Option(help="Current (production) CSV or parquet.")],
    timestamp: Annotated[str | None, typer.Option(help="Timestamp column.")] = None,
    target: Annotated[str | None, typer.Option(help="Label column.")] = None,
    prediction: Annotated[str | None, typer.Option(help="Model score column.")] = None,
    id_column: Annotated[str | None, typer.Option("--id", help="Request id column.")] = None,
    output: Annotated[
        Path, typer.Option("-o", "--output", help="Where to write the profile.")
    ] = Path("profile.yaml"),
) -> None:
    """Write a model profile for CSV/parquet data you already have (features inferred)."""
    from playbooks.profile_init import infer_profile, write_profile

    prof, notes = infer_profile(
        name,
        reference,
        current,
        output=output,
        timestamp=timestamp,
        target=target,
        prediction=prediction,
        id_column=id_column,
    )
    write_profile(prof, output)
    for n in notes:
        err.print(f"[yellow]note:[/] {n}", highlight=False)
    f = prof["features"]
    out.print(
        f"wrote {output}: {len(f['numeric'])} numeric, {len(f['categorical'])} categorical "
        f"feature(s). Next: mlpb run data-drift --profile {output} --dry-run",
        highlight=False,
    )


@playbook_app.command("new")
@friendly
def playbook_new(
    name: Annotated[str, typer.Argument(help="Playbook id in kebab-case, e.g. label-delay.")],
    root: Annotated[
        Path | None,
        typer.Option(help="Checkout to write into (default: the one this mlpb runs from)."),
    ] = None,
) -> None:
    """Scaffold a playbook: catalog spec, three checks, an evidence collector, a unit test."""
    from cli.scaffold import new_playbook

    new_playbook(name, root)


@incidents_app.command("list")
@friendly
def incidents_list(
    status: Annotated[str | None, typer.Option(help="Only this status.")] = None,
    model: Annotated[str | None, typer.Option(help="Only this model.")] = None,
    owner: Annotated[str | None, typer.Option(help="Only incidents this person holds.")] = None,
    playbook: Annotated[str | None, typer.Option(help="Only this playbook.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many.")] = 50,
    json_out: JsonOpt = False,
    home: HomeOpt = None,
) -> None:
    """List incidents, newest first."""
    from playbooks.ledger import Ledger

    items = Ledger(load_settings(home).ensure().ledger_url).list(
        limit=limit, status=status, model=model, playbook=playbook, owner=owner
    )
    if json_out:
        print_json([i.to_contract() for i in items])
    else:
        out.print(incidents_table(items))


@incidents_app.command("show")
@friendly
def incidents_show(
    incident_id: Annotated[str, typer.Argument(help="Incident id (or a unique prefix).")],
    json_out: JsonOpt = False,
    spec: Annotated[bool, typer.Option("--spec", help="Print the archived spec the incident "
                                       "ran with (YAML) instead.")] = False,
    home: HomeOpt = None,
) -> None:
    """Show one incident with its timeline and the archived spec it ran with."""
    from cli.audit import print_spec_yaml, spec_line
    from playbooks.ledger import Ledger

    settings = load_settings(home).ensure()
    inc = Ledger(settings.ledger_url).get(incident_id)
    if spec:
        print_spec_yaml(settings.home, inc)
        return
    if json_out:
        print_json(inc.to_contract())
        return
    print_incident(inc.to_contract())
    out.print(spec_line(settings.home, inc), highlight=False, soft_wrap=True)
    from cli.people import people_lines

    for line in people_lines(inc):
        out.print(line, highlight=False, soft_wrap=True)
    for ev in inc.timeline:
        out.print(f"  {ev.at:%Y-%m-%d %H:%M:%S}  {ev.kind:<12} {ev.message}", highlight=False)


class _Slack(NamedTuple):
    ledger: Ledger
    notifier: SlackNotifier


def _slack(home: str | None) -> _Slack:
    """Ledger and Slack notifier; a missing or unloadable token is an error here (a playbook
    run falls back to the console instead)."""
    import os

    from playbooks.errors import ConfigError
    from playbooks.ledger import Ledger
    from playbooks.notify import SlackNotifier, SlackSettings
    from tasks.prefect_context import secret_block_token

    if os.environ.get("MLPB_SLACK_TOKEN_BLOCK") and not os.environ.get("SLACK_BOT_TOKEN"):
        _prefect(home)  # the token lives in a Prefect Secret block
    slack = SlackSettings.from_env(token_loader=secret_block_token)
    if slack is None:
        raise ConfigError(
            "Slack is not configured",
            hint="set SLACK_BOT_TOKEN (or "
            "MLPB_SLACK_TOKEN_BLOCK); see the README's 'Slack' section",
        )
    settings = load_settings(home).ensure()
    ledger = Ledger(settings.ledger_url)
    return _Slack(ledger, SlackNotifier(slack, ledger, postmortem_dir=settings.postmortem_dir))


@app.command()
@friendly
def tick(home: HomeOpt = None, json_out: JsonOpt = False) -> None:
    """One pass of the incident controller: measure due monitoring windows, resolve, revert
    or escalate, flush the outbox (schedule it, or run `advance-incidents` in Prefect)."""
    from cli.tick import tick as run_tick

    run_tick(home, json_out=json_out)


@notify_app.command("flush")
@friendly
def notify_flush(home: HomeOpt = None) -> None:
    """Deliver the notifications a Slack outage left in the outbox, in order, each once."""
    report = _slack(home).notifier.flush()
    out.print(f"delivered {report.sent} notification(s); {report.pending} still queued")
    for e in report.errors:
        err.print(f"[yellow]kept in the outbox:[/] {e}", highlight=False, soft_wrap=True)
    if report.errors:
        raise typer.Exit(1)


@notify_app.command("remind")
@friendly
def notify_remind(home: HomeOpt = None) -> None:
    """Post status reminders for incidents waiting (approval, fresh data) past status_every."""
    from playbooks.models.incident import utcnow
    from playbooks.notify.reminders import send_reminders

    rt = _slack(home)
    due = send_reminders(rt.ledger, rt.notifier, utcnow())
    out.print(
        f"posted {len(due)} reminder(s)"
        + "".join(f"\n  {r.incident_id}: waiting for {r.waiting_for}" for r in due),
        highlight=False,
    )


@notify_app.command("check")
@friendly
def notify_check(home: HomeOpt = None) -> None:
    """Check the Slack token with auth.test and show the workspace and bot user."""
    who = _slack(home).notifier.check()
    out.print(
        f"Slack token OK: team {who['team']}, bot user {who['user']} ({who['url']})",
        highlight=False,
    )


register_people(app, incidents_app, friendly)
register_report(app, friendly)  # report, lessons, actions, spec: cli/report.py
register_audit(app, friendly)  # audit export, audit verify: cli/audit.py


def main() -> None:
    from playbooks.config import harden_env

    harden_env()  # MLflow never unpickles an artifact in this process or its children
    app()


if __name__ == "__main__":
    main()
