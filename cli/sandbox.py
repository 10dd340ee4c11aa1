"""`mlpb sandbox`: build the credit-risk sandbox in the state dir and move its clock.

The sandbox lives at ``$MLPB_HOME/sandbox/credit-risk/``; its MLflow store is the state dir's,
and the state dir's engine clock follows the sandbox's simulated time, so `mlpb run`, `mlpb
tick` and `mlpb sandbox advance` together play out an incident over simulated days.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from cli.output import err, out
from playbooks.config import load_settings

__all__ = ["advance", "init", "sandbox_app"]

F = TypeVar("F", bound=Callable[..., Any])

sandbox_app = typer.Typer(no_args_is_help=True,
                          help="The credit-risk sandbox: build it, inject a fault, move its clock.")

HomeOpt = Annotated[
    str | None, typer.Option("--home", help="State dir (default $MLPB_HOME or ./.mlpb).")
]


def _friendly(fn: F) -> F:
    """cli.main's error display (imported late: cli.main registers this module's app)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from cli.main import friendly

        return friendly(fn)(*args, **kwargs)

    return wrapper  # type: ignore[return-value]  # same signature, by functools.wraps


@sandbox_app.command("init")
@_friendly
def init(
    fault: Annotated[str | None, typer.Option(
        help="Fault to inject into the last --days of traffic (`mlpb drill --list`).")] = None,
    seed: Annotated[int, typer.Option(help="Simulator seed.")] = 7,
    days: Annotated[int, typer.Option(help="Days of traffic the fault replaces.")] = 7,
    rows_per_day: Annotated[int, typer.Option(help="Requests per simulated day.")] = 1500,
    history_days: Annotated[int, typer.Option(help="Days of inference history.")] = 28,
    force: Annotated[bool, typer.Option(
        "--force", help="Delete an existing sandbox (and its registered model) first.")] = False,
    home: HomeOpt = None,
) -> None:
    """Build the sandbox (and inject a fault); prints the profile path.

    Simulated applicants, a champion in MLflow and an inference log with delayed labels, at
    $MLPB_HOME/sandbox/credit-risk; the engine clock is set to the sandbox's time."""
    from playbooks.errors import MlpbError
    from playbooks.sandbox import FAULTS, bootstrap_sandbox, inject_fault, make_fault
    from playbooks.sandbox.bootstrap import sandbox_root

    settings = load_settings(home).ensure()
    params = make_fault(fault) if fault else None  # an unknown name fails before any work
    root = sandbox_root(settings.home)
    if params is not None and (root / "sandbox.json").is_file() and not force:
        raise MlpbError(f"a sandbox already exists at {root}; a fault goes into a fresh one",
                        hint=f"add --force to rebuild it: mlpb sandbox init --fault {fault} "
                        "--force")
    box = bootstrap_sandbox(settings.home, seed=seed, rows_per_day=rows_per_day,
                            history_days=history_days, force=force,
                            progress=lambda m: err.print(f"[dim]{m}[/]", highlight=False))
    if params is not None:
        injected = inject_fault(box, params, days=days, seed=seed + 4)
        kind = FAULTS.resolve(params)[0]
        going = " (it persists: new traffic keeps it)" if params.persists else ""
        err.print(f"injected fault [bold]{kind}[/] over {injected.onset:%Y-%m-%d %H:%M} → "
                  f"{injected.end:%Y-%m-%d %H:%M} UTC, {injected.rows} requests{going}",
                  highlight=False)
    err.print(f"[dim]engine clock: {box.now:%Y-%m-%d %H:%M} UTC (sandbox time) · "
              f"next: mlpb run data-drift --profile {box.profile_path} · "
              "mlpb sandbox advance --days 1 · mlpb tick[/]", highlight=False, soft_wrap=True)
    out.print(str(box.profile_path), highlight=False, soft_wrap=True)


@sandbox_app.command("advance")
@_friendly
def advance(
    days: Annotated[int, typer.Option(help="Days of production traffic to simulate.")] = 1,
    seed: Annotated[int | None, typer.Option(
        help="Traffic seed (default: the sandbox's).")] = None,
    home: HomeOpt = None,
) -> None:
    """Simulate more days of traffic and move the engine clock; prints the new time.

    Served by the version `champion` points at now; labels arrive a day later; faults that
    persist go on."""
    from playbooks.sandbox import AdvancedDay, advance_sandbox, load_sandbox

    settings = load_settings(home)
    start = load_sandbox(settings.home).now

    def show(day: AdvancedDay) -> None:
        n = int((day.end - start).total_seconds() // 86400)
        err.print(f"[bold cyan]day {n}/{days}:[/] {day.describe()}", highlight=False,
                  soft_wrap=True)

    done = advance_sandbox(Path(settings.home), days, seed=seed, progress=show)
    err.print("[dim]next: mlpb tick (measures the monitoring windows that are now due)[/]")
    out.print(done[-1].end.isoformat(), highlight=False)
