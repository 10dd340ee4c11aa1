"""`mlpb demo`: the whole arc of an incident on the sandbox.

Detect → diagnose → the retrain waits for an approval (the sandbox model is criticality:
high) → approved as alice, an approver in the sandbox profile → retrain → pre-check on the
holdout → live monitoring windows 1/3, 2/3, 3/3 (the sandbox's clock advanced a simulated
day at a time, a controller pass each day) → resolved (or, for a fault whose fix fails
live, reverted and escalated), then the summary. The sandbox is the state dir's own
(``mlpb sandbox init``), rebuilt fresh, so after the demo `mlpb sandbox advance` /
`mlpb tick` carry on from where it ends.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cli.output import Progress, err, print_incident
from playbooks.config import Settings

if TYPE_CHECKING:  # imported where used: `mlpb --help` stays fast
    from playbooks.drills.live import DayOfMonitoring

__all__ = ["FAULTS", "run_demo"]

FAULTS = ("covariate-drift", "shift-keeps-moving", "release-degrades-live", "unit-change", "none")
# The metrics a window's line shows (when measured), in this order.
_KEY_METRICS = ("rows", "max_psi", "estimated_roc_auc", "roc_auc", "labelled_rows")


def run_demo(settings: Settings, *, fault: str = "covariate-drift", seed: int = 7,
             quiet: bool = False) -> dict[str, Any]:
    from playbooks.errors import UnknownNameError

    if fault not in FAULTS:
        raise UnknownNameError(f"unknown demo fault '{fault}'", hint=f"choose one of {FAULTS}")
    settings = settings.ensure()
    steps = Progress(6)
    steps.step(f"bootstrapping a fresh sandbox in {settings.home}: simulator, champion model, "
               "inference log, delayed labels")
    from playbooks.sandbox import bootstrap_sandbox, inject_fault, make_fault

    sandbox = bootstrap_sandbox(settings.home, seed=seed, force=True, progress=steps.note)
    steps.step(f"injecting fault: {fault}")
    injected = inject_fault(sandbox, make_fault(fault), seed=seed + 4)
    steps.note(f"fault onset {injected.onset:%Y-%m-%d %H:%M} UTC, {injected.rows} requests "
               f"over {(injected.end - injected.onset).days} days; sandbox clock "
               f"{sandbox.now:%Y-%m-%d %H:%M} UTC")

    from cli.env import prepare_prefect_env

    prepare_prefect_env(settings)
    steps.step("detect → diagnose → remediate → pre-check: the data-drift playbook "
               "(Prefect, embedded)")
    from flows.engine import run_playbook
    from playbooks.drills.live import follow_monitoring, sandbox_time

    with sandbox_time(sandbox):
        # A demo is a drill (a fault injected into a sandbox): kept out of production MTTx
        # and of the loop guard, so running it again and again keeps showing the arc.
        result: dict[str, Any] = run_playbook(
            playbook="data-drift", profile=str(sandbox.profile_path), home=str(settings.home),
            quiet=True, drill=True, trigger={"source": "demo", "fault": fault})
    for line in _run_lines(result):
        steps.note(line)

    from playbooks.drills.live import approve_waiting

    if result["status"] == "awaiting_approval":
        req = result["approval"]
        steps.step(f"approval: '{req['remediation_id']}' is a {req['risk']}-risk change to a "
                   f"criticality: high model; approving as alice (same as `mlpb approve "
                   f"{result['id']} --as alice`)")
        steps.note(f"pinned plan {req['plan_hash'][:19]}…: {req['summary']}")
        with sandbox_time(sandbox):
            (after,) = approve_waiting(str(settings.home), [result["id"]], approver="alice",
                                       channel="cli")
        result = after.to_contract()
        for line in _run_lines(result)[2:]:
            steps.note(line)
    else:
        steps.step(f"approval: none needed ({result['status']})")

    steps.step("live monitoring: advance the sandbox a day at a time, one controller pass each")
    def show(day: DayOfMonitoring) -> None:
        for line in _day_lines(day):
            steps.note(line)

    days = follow_monitoring(str(settings.home), sandbox.state_dir, [result["id"]], on_day=show)
    if not days:
        steps.note(f"nothing to watch: the incident is {result['status']}")
    from playbooks.engine.runtime import Runtime
    from playbooks.sandbox import load_sandbox

    final = Runtime.from_env(str(settings.home), quiet=True).ledger.get(result["id"])
    result = final.to_contract()
    clock = load_sandbox(settings.home).now
    steps.step(f"done: {result['status']}")
    if not quiet:
        print_incident(result)
        err.print(f"[bold]state[/]: ledger {settings.ledger_url} · MLflow {sandbox.tracking_uri} · "
                  f"Prefect home {settings.home / 'prefect'} · sandbox {sandbox.root} · engine "
                  f"clock {clock:%Y-%m-%d %H:%M} UTC (sandbox time)", highlight=False,
                  soft_wrap=True)
        err.print(f"next: mlpb incidents show {result['id']} · mlpb sandbox advance --days 1 · "
                  f"mlpb tick", highlight=False, soft_wrap=True)
    return result


def _run_lines(inc: dict[str, Any]) -> list[str]:
    """What the playbook run did, one line per phase."""
    rc = inc.get("root_cause")
    lines = [f"detected {inc['id']} ({inc['severity']})",
             "diagnosed: " + (f"{rc['hypothesis_id']} ({rc['confidence']:.2f}) — {rc['summary']}"
                              if rc else "no root cause established")]
    for r in inc.get("remediations", []):
        change = r.get("change") or {}
        moved = (f": v{change.get('previous_version')} → v{change['new_version']}"
                 if change.get("new_version") else "")
        lines.append(f"remediated: {r['id']} {'applied' if r.get('applied') else 'not applied'}"
                     f"{moved}")
    if v := inc.get("verification"):
        crit = ", ".join(f"{c['id']} {_num(c['observed'])} {c['op']} {c['target']}"
                         for c in v["criteria"])
        lines.append(f"pre-check on the holdout: {'passed' if v['passed'] else 'FAILED'} ({crit})")
    if m := inc.get("monitoring"):
        lines.append(f"status {inc['status']}: v{m.get('version')} must pass {m['count']} live "
                     f"window(s) of traffic before the incident closes")
    else:
        lines.append(f"status {inc['status']}")
    return lines


def _day_lines(d: DayOfMonitoring) -> list[str]:
    """One simulated day of the demo: the traffic, then each controller step (a measured
    window with its verdict and key metrics)."""
    m = d.incidents[0].monitoring
    lines = [f"day {d.number}: {d.day.describe()}"]
    for w in m.windows if m is not None else []:
        if w.measured_at != d.day.end:  # measured on an earlier day
            continue
        metrics = " · ".join(f"{k} {_num(w.metrics[k])}" for k in _KEY_METRICS if k in w.metrics)
        lines.append(f"  window {w.index + 1}/{m.count if m else '?'} "
                     f"({w.start:%m-%d %H:%M} → {w.end:%m-%d %H:%M}): {w.verdict.upper()} — "
                     f"{metrics or w.reason}")
        lines += [f"    {c.id}: {c.metric} {_num(c.observed)} {c.op} {c.target} "
                  f"{'✓' if c.passed else '✗'}" for c in w.criteria]
    lines += [f"  controller: {s.detail}" if s.action in ("waiting", "nothing")
              else f"  controller: {s.action} — {s.detail}"
              for s in d.steps if s.action != "measured"]
    return lines


def _num(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.3f}"
