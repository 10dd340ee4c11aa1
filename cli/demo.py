"""`mlpb demo`: sandbox credit-risk model + injected fault + the data-drift playbook."""

from __future__ import annotations

import shutil
from typing import Any

from cli.output import Progress, err, incident_summary, out
from playbooks.config import Settings

__all__ = ["run_demo"]

FAULTS = ("covariate-drift", "unit-change", "none")


def run_demo(settings: Settings, *, fault: str = "covariate-drift", seed: int = 7,
             quiet: bool = False) -> dict[str, Any]:
    from playbooks.errors import UnknownNameError

    if fault not in FAULTS:
        raise UnknownNameError(f"unknown demo fault '{fault}'", hint=f"choose one of {FAULTS}")
    settings = settings.ensure()
    demo_dir = settings.home / "demo"
    steps = Progress(5)
    steps.step(f"resetting the demo sandbox in {demo_dir}")
    shutil.rmtree(demo_dir, ignore_errors=True)  # only the demo's own data and MLflow store

    from playbooks.sandbox import bootstrap_sandbox, inject_fault, make_fault

    steps.step("bootstrapping the sandbox: simulator, champion model, inference log, labels")
    sandbox = bootstrap_sandbox(demo_dir, seed=seed, progress=steps.note)
    steps.step(f"injecting fault: {fault}")
    injected = inject_fault(sandbox, make_fault(fault), seed=seed + 4)
    steps.note(f"fault onset {injected.onset:%Y-%m-%d %H:%M} UTC")

    from cli.env import prepare_prefect_env

    prepare_prefect_env(settings)
    steps.step("starting Prefect (embedded) and running the data-drift playbook")
    from flows.engine import run_playbook

    result: dict[str, Any] = run_playbook(playbook="data-drift", profile=str(sandbox.profile_path),
                                          home=str(settings.home), quiet=quiet,
                                          trigger={"source": "demo", "fault": fault})
    steps.step("done")
    if not quiet:
        out.print(incident_summary(result))
        err.print(f"[bold]state[/]: ledger {settings.ledger_url} · MLflow {sandbox.tracking_uri} · "
                  f"Prefect home {settings.home / 'prefect'} · sandbox {sandbox.root}",
                  highlight=False, soft_wrap=True)
        err.print(f"next: mlpb incidents show {result['id']} · "
                  f"mlpb run data-drift --profile {sandbox.profile_path} --dry-run",
                  highlight=False, soft_wrap=True)
    return result
