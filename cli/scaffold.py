"""`mlpb playbook new NAME`: write a new playbook's files (playbooks/scaffold.py renders them),
check the spec, and keep deployments/prefect.yaml in step with the catalog."""

from __future__ import annotations

import importlib
from pathlib import Path

from cli.output import err, out

__all__ = ["new_playbook"]


def new_playbook(name: str, root: Path | None = None) -> list[Path]:
    from playbooks.engine.plugins import default_plugins
    from playbooks.loader import catalog_ids, load_spec
    from playbooks.scaffold import DEFAULT_ROOT, ScaffoldError, render_playbook, write_playbook

    plan = render_playbook(name)
    target = (root or DEFAULT_ROOT).resolve()
    if name in catalog_ids():
        raise ScaffoldError(f"playbook '{name}' is already in the catalog",
                            hint="choose another name")
    plugins = default_plugins()
    written = write_playbook(plan, target, registered_checks=plugins.names("check"),
                             registered_collectors=plugins.names("collector"),
                             registered_metrics=plugins.metrics())
    for path in written:
        out.print(f"[green]created[/] {path}", highlight=False)
    snake = name.replace("-", "_")
    spec_path = target / plan.spec_path
    if target == DEFAULT_ROOT:  # the checkout this process runs from: check it right here
        importlib.invalidate_caches()
        registry = plugins.extend([f"playbooks.checks.{snake}", f"playbooks.evidence.{snake}"])
        load_spec(spec_path, registry)
        out.print(f"[green]✓[/] {spec_path} is a valid spec", highlight=False)
        from deployments.serve import PREFECT_YAML, render_prefect_yaml

        PREFECT_YAML.write_text(render_prefect_yaml(), encoding="utf-8")
        out.print(f"[green]updated[/] {PREFECT_YAML} (deployment run-playbook/{name})",
                  highlight=False)
    else:
        err.print(f"[yellow]note:[/] {target} is another checkout: run `mlpb validate "
                  f"{plan.spec_path}` and `python -m deployments.serve --write-prefect-yaml` "
                  "there", highlight=False, soft_wrap=True)
    err.print(
        f"next: edit the checks and the collector into your failure class; "
        f"`python -m pytest {plan.test_path}`; `mlpb run {name} --profile PROFILE --dry-run`. "
        "Triage tests it as a candidate already (prior 0.05); to state how often it is the "
        "cause of a vague alert, give it a prior under `signatures:` in "
        "playbooks/catalog/triage.yaml (and bump triage's version with a changelog entry).",
        highlight=False, soft_wrap=True)
    return written
