"""Serve every catalog playbook and the game-day drill from one process.

    python -m deployments.serve                      (what `make serve` runs; needs PREFECT_API_URL)
    python -m deployments.serve --write-prefect-yaml (regenerate deployments/prefect.yaml)

Deployments: ``run-playbook/<playbook-id>`` for each catalog playbook (the engine flow with
``playbook`` preset; the UI's custom-run form is ``flows.params.RunPlaybookParams``: the
playbook as a choice of catalog ids, a profile *name*, dry_run, each with its description; the
plumbing the receiver passes - trigger, dedup_key, drill - is left out of the form) — the
receiver starts these — and ``game-day/weekly`` on the cron
schedule ``MLPB_GAMEDAY_CRON`` (default Mondays 10:00 UTC; "" serves it unscheduled).
``advance-incidents/controller`` runs the incident controller every
``MLPB_CONTROLLER_INTERVAL`` seconds (default 300): it measures due monitoring windows and
resolves, reverts or escalates what waits. ``deployments/prefect.yaml`` describes the same
deployments for a work pool; it is generated
from the catalog so the two cannot drift apart (a unit test checks it is current).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_CONTROLLER_INTERVAL", "DEFAULT_GAMEDAY_CRON", "PREFECT_YAML",
           "build_deployments", "controller_interval", "form_schema", "main",
           "render_prefect_yaml"]

DEFAULT_GAMEDAY_CRON = "0 10 * * 1"
DEFAULT_CONTROLLER_INTERVAL = 300  # seconds between incident-controller passes
DEFAULT_REPORT_CRON = "0 9 * * 1"  # report/weekly: Mondays 09:00 UTC (MLPB_REPORT_CRON)
PREFECT_YAML = Path(__file__).with_name("prefect.yaml")


def _description(pid: str) -> str:
    return (f"Run the '{pid}' playbook; started by the alert receiver, the UI or "
            "`prefect deployment run`.")


def controller_interval() -> int:
    raw = os.environ.get("MLPB_CONTROLLER_INTERVAL", str(DEFAULT_CONTROLLER_INTERVAL))
    try:
        seconds = int(raw)
    except ValueError:
        raise SystemExit(f"MLPB_CONTROLLER_INTERVAL={raw!r} is not a number of seconds "
                         f"(default {DEFAULT_CONTROLLER_INTERVAL})") from None
    if seconds < 10:
        raise SystemExit(f"MLPB_CONTROLLER_INTERVAL={seconds}: use at least 10 seconds")
    return seconds


def form_schema() -> Any:
    """The run-playbook deployments' parameter schema: RunPlaybookParams, refs inlined (the
    playbook's enum renders as a select), nothing else; Prefect's own would list every flow
    parameter. Parameters outside it (the receiver's trigger, dedup_key, drill) still pass:
    the schema does not forbid additional properties.

    ``title`` and ``type`` are set explicitly: a deployment sends its schema with
    ``exclude_unset``, and without a root ``type: object`` Prefect's UI cannot tell it is a
    form and opens the parameters as a JSON editor (whose "Use form input" refuses to switch
    until the JSON validates, i.e. until a profile is typed in)."""
    from prefect.utilities.callables import ParameterSchema

    from flows.params import RunPlaybookParams

    schema = RunPlaybookParams.model_json_schema()
    defs = schema.get("$defs", {})
    props = {}
    for position, (key, prop) in enumerate(schema["properties"].items()):
        ref = prop.pop("$ref", None) or (prop.pop("allOf", [{}])[0].get("$ref"))
        if ref:
            target = defs[ref.rsplit("/", 1)[-1]]
            prop = {**{k: v for k, v in target.items() if k != "title"}, **prop}
        props[key] = {"title": key.replace("_", " ").title(), **prop, "position": position}
    return ParameterSchema(title="Parameters", type="object", properties=props,
                           required=list(schema.get("required", [])))


def build_deployments() -> list[Any]:
    from flows.approval import approve_remediation
    from flows.controller import advance_incidents
    from flows.engine import run_playbook
    from flows.game_day import game_day
    from flows.report import weekly_report
    from playbooks.loader import catalog_ids

    deployments = [run_playbook.to_deployment(name=pid, parameters={"playbook": pid},
                                              tags=["mlpb", pid], description=_description(pid))
                   for pid in catalog_ids()]
    for dep in deployments:  # sync here: to_deployment returns the deployment itself
        dep._parameter_openapi_schema = form_schema()  # type: ignore[union-attr]
    cron = os.environ.get("MLPB_GAMEDAY_CRON", DEFAULT_GAMEDAY_CRON).strip()
    deployments.append(game_day.to_deployment(
        name="weekly", cron=cron or None, tags=["mlpb", "drill"],
        description="Game-day drill: inject a sandbox fault, alert, run, score."))
    deployments.append(advance_incidents.to_deployment(
        name="controller", interval=controller_interval(), tags=["mlpb", "controller"],
        description="Incident controller: measure due monitoring windows; resolve, revert or "
        "escalate what waits; flush the notification outbox."))
    report_cron = os.environ.get("MLPB_REPORT_CRON", DEFAULT_REPORT_CRON).strip()
    deployments.append(weekly_report.to_deployment(
        name="weekly", cron=report_cron or None, tags=["mlpb", "report"],
        description="Incident report: MTTx, outcomes, drills, open action items (HTML "
        "artifact, Slack summary)."))
    # Scheduled by a run that ends awaiting approval; suspends with the decision form.
    deployments.append(approve_remediation.to_deployment(
        name="approve-remediation", tags=["mlpb", "approval"],
        description="Decide on a change waiting for approval: the run suspends with a form "
        "(approve/reject, approver, reason); the plan it applies is in the form."))
    return deployments


def render_prefect_yaml() -> str:
    from playbooks.loader import catalog_ids

    head = """\
# GENERATED by `python -m deployments.serve --write-prefect-yaml` from the playbook catalog:
# the deployments of deployments/serve.py, for a work pool and workers
# (`prefect work-pool create mlpb --type process`, `prefect worker start --pool mlpb`).
# Deploy from the repository root with MLPB_REPO_DIR set to it:
#   prefect deploy --prefect-file deployments/prefect.yaml --all
# Note: `prefect deploy` builds each run form from the flow's whole signature; the trimmed form
# (flows/params.py: playbook choice, profile name, dry_run) is what deployments/serve.py
# registers. Either way a deployment run takes only a catalog id and a profile name.
name: ml-playbooks
prefect-version: 3.9.1

pull:
  - prefect.deployments.steps.set_working_directory:
      directory: "{{ $MLPB_REPO_DIR }}"

definitions:
  work_pool: &pool
    name: mlpb
    work_queue_name: default

deployments:
"""
    items = [f"""\
  - name: {pid}
    entrypoint: flows/engine.py:run_playbook
    description: "{_description(pid)}"
    tags: [mlpb, {pid}]
    parameters: {{playbook: {pid}}}
    work_pool: *pool
""" for pid in catalog_ids()]
    items.append(_scheduled(
        "weekly", "flows/report.py:weekly_report",
        "Incident report: MTTx, outcomes, drills, open action items.", "report",
        f'cron: "{DEFAULT_REPORT_CRON}"   # MLPB_REPORT_CRON in deployments/serve.py\n'
        "        timezone: UTC"))
    items.append(_scheduled(
        "weekly", "flows/game_day.py:game_day",
        "Game-day drill: inject a sandbox fault, alert, run, score.", "drill",
        f'cron: "{DEFAULT_GAMEDAY_CRON}"   # MLPB_GAMEDAY_CRON in deployments/serve.py\n'
        "        timezone: UTC"))
    items.append(_scheduled(
        "controller", "flows/controller.py:advance_incidents",
        "Incident controller: measure due monitoring windows, act on what waits.", "controller",
        f"interval: {DEFAULT_CONTROLLER_INTERVAL}   # MLPB_CONTROLLER_INTERVAL in "
        "deployments/serve.py"))
    items.append("""\
  - name: approve-remediation
    entrypoint: flows/approval.py:approve_remediation
    description: "Decide on a change waiting for approval (suspends with the form)."
    tags: [mlpb, approval]
    work_pool: *pool
""")
    return head + "\n".join(item.replace("    work_pool: *pool\n", _POOL_HARDENED)
                             for item in items)


# Every flow-run process a worker starts: MLflow never unpickles an artifact (issue 13).
_POOL_HARDENED = """\
    work_pool:
      <<: *pool
      job_variables:
        env: {MLFLOW_ALLOW_PICKLE_DESERIALIZATION: "false"}
"""


def _scheduled(name: str, entrypoint: str, description: str, tag: str, schedule: str) -> str:
    return f"""\
  - name: {name}
    entrypoint: {entrypoint}
    description: "{description}"
    tags: [mlpb, {tag}]
    schedules:
      - {schedule}
    work_pool: *pool
"""


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m deployments.serve", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--write-prefect-yaml", action="store_true",
                    help=f"write {PREFECT_YAML.name} from the catalog and exit")
    args = ap.parse_args(argv)
    if args.write_prefect_yaml:
        PREFECT_YAML.write_text(render_prefect_yaml(), encoding="utf-8")
        print(f"wrote {PREFECT_YAML}")
        return
    from prefect import serve

    from playbooks.config import harden_env

    harden_env()  # before any flow runs here: MLflow never unpickles an artifact
    limit = int(os.environ.get("MLPB_SERVE_LIMIT", "4"))  # concurrent runs in this process
    serve(*build_deployments(), limit=limit)


if __name__ == "__main__":
    main()
