"""The engine flow: the six phases of DESIGN.md §3. It only sequences tasks."""

from __future__ import annotations

from typing import Any

from prefect import flow

from tasks.diagnose import diagnose
from tasks.evidence import collect_evidence
from tasks.incident import (
    close_incident,
    conclude_incident,
    fail_incident,
    load_playbook_inputs,
    open_incident,
    record_handover,
)
from tasks.prefect_context import prefect_runtime
from tasks.remediate import remediate

__all__ = ["run_playbook"]


@flow(name="run-playbook", flow_run_name="{playbook}: {profile}", log_prints=False)
def run_playbook(playbook: str, profile: str, dry_run: bool = False,
                 trigger: dict[str, Any] | None = None, drill: bool = False,
                 dedup_key: str | None = None, home: str | None = None,
                 quiet: bool = False) -> dict[str, Any]:
    """Run one playbook against one model profile; returns the Incident contract JSON."""
    rt = prefect_runtime(home, quiet=quiet)
    rt.flush_notifications()  # deliver what an earlier Slack outage queued; never raises
    inputs = load_playbook_inputs(playbook, profile)  # validation: nothing opened on bad input
    inc = open_incident(rt, inputs, trigger or {"source": "manual"}, dry_run, drill, dedup_key)
    try:
        evidence, inc = collect_evidence(rt, inputs, inc)
        inc, decision = diagnose(rt, inputs, inc, evidence)
        if decision.action == "handover":
            assert decision.handover_to is not None
            child = run_playbook(
                playbook=decision.handover_to, profile=profile, dry_run=dry_run,
                trigger={"source": "triage", "parent_id": inc.id, "alert": trigger or {},
                         "evidence": {"metrics": evidence.metrics,
                                      "summaries": evidence.summaries}},
                drill=drill, dedup_key=f"{inc.dedup_key}>{decision.handover_to}", home=home,
                quiet=quiet)
            inc = record_handover(rt, inc, child)
        elif decision.action == "remediate":
            inc = remediate(rt, inputs, inc, evidence, decision)
        else:  # close as a false alarm, or escalate
            inc = conclude_incident(rt, inc, decision)
    except Exception as exc:
        fail_incident(rt, inputs, inc, exc)  # never leave an incident half-written
        raise
    return close_incident(rt, inputs, inc, evidence).to_contract()
