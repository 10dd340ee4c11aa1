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
from playbooks.i18n import Translator, msg, process_locale, translator

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
    tr = translator(process_locale())  # MLPB_LOCALE: the narration, the console and Slack
    steps = Progress(6)
    steps.step(tr.t("bootstrapping a fresh sandbox in {home}: simulator, champion model, "
                    "inference log, delayed labels", home=settings.home))
    from playbooks.sandbox import bootstrap_sandbox, inject_fault, make_fault

    sandbox = bootstrap_sandbox(settings.home, seed=seed, force=True, progress=steps.note)
    steps.step(tr.t("injecting fault: {fault}", fault=fault))
    injected = inject_fault(sandbox, make_fault(fault), seed=seed + 4)
    steps.note(tr.t("fault onset {onset}, {rows} requests over {days}; sandbox clock {now}",
                    onset=injected.onset, rows=injected.rows,
                    days=injected.end - injected.onset, now=sandbox.now))

    from cli.env import prepare_prefect_env

    prepare_prefect_env(settings)
    steps.step(tr.t("detect → diagnose → remediate → pre-check: the data-drift playbook "
                    "(Prefect, embedded)"))
    from flows.engine import run_playbook
    from playbooks.drills.live import follow_monitoring, sandbox_time

    with sandbox_time(sandbox):
        # A demo is a drill (a fault injected into a sandbox): kept out of production MTTx
        # and of the loop guard, so running it again and again keeps showing the arc.
        result: dict[str, Any] = run_playbook(
            playbook="data-drift", profile=str(sandbox.profile_path), home=str(settings.home),
            quiet=True, drill=True, trigger={"source": "demo", "fault": fault})
    for line in _run_lines(result, tr):
        steps.note(line)

    from playbooks.drills.live import approve_waiting

    if result["status"] == "awaiting_approval":
        req = result["approval"]
        steps.step(tr.t("approval: '{remediation}' is a {risk}-risk change to a criticality: "
                        "high model; approving as alice (same as `mlpb approve {id} --as "
                        "alice`)", remediation=req["remediation_id"], risk=req["risk"],
                        id=result["id"]))
        steps.note(tr.t("pinned plan {plan}…: {summary}", plan=req["plan_hash"][:19],
                        summary=req["summary"]))
        with sandbox_time(sandbox):
            (after,) = approve_waiting(str(settings.home), [result["id"]], approver="alice",
                                       channel="cli")
        result = after.to_contract()
        for line in _run_lines(result, tr)[2:]:
            steps.note(line)
    else:
        steps.step(tr.t("approval: none needed ({status})", status=_status(result, tr)))

    steps.step(tr.t("live monitoring: advance the sandbox a day at a time, one controller pass "
                    "each"))
    def show(day: DayOfMonitoring) -> None:
        for line in _day_lines(day, tr):
            steps.note(line)

    days = follow_monitoring(str(settings.home), sandbox.state_dir, [result["id"]], on_day=show)
    if not days:
        steps.note(tr.t("nothing to watch: the incident is {status}", status=_status(result, tr)))
    from playbooks.engine.runtime import Runtime
    from playbooks.sandbox import load_sandbox

    final = Runtime.from_env(str(settings.home), quiet=True).ledger.get(result["id"])
    result = final.to_contract()
    clock = load_sandbox(settings.home).now
    steps.step(tr.t("done: {status}", status=_status(result, tr)))
    if not quiet:
        print_incident(result)
        err.print(tr.t("[bold]state[/]: ledger {ledger} · MLflow {mlflow} · Prefect home "
                       "{prefect} · sandbox {sandbox} · engine clock {clock} (sandbox time)",
                       ledger=settings.ledger_url, mlflow=sandbox.tracking_uri,
                       prefect=settings.home / "prefect", sandbox=sandbox.root, clock=clock),
                  highlight=False, soft_wrap=True)
        err.print(tr.t("next: mlpb incidents show {id} · mlpb sandbox advance --days 1 · "
                       "mlpb tick", id=result["id"]), highlight=False, soft_wrap=True)
    return result


def _status(inc: dict[str, Any], tr: Translator) -> str:
    from playbooks.models.incident import IncidentStatus
    from playbooks.notify.words import status_label

    return tr(status_label(IncidentStatus(inc["status"])))


def _run_lines(inc: dict[str, Any], tr: Translator) -> list[str]:
    """What the playbook run did, one line per phase."""
    rc = inc.get("root_cause")
    lines = [tr.t("detected {id} ({severity})", id=inc["id"], severity=inc["severity"]),
             tr.t("diagnosed: {hypothesis} ({confidence}) — {summary}",
                  hypothesis=rc["hypothesis_id"], confidence=float(rc["confidence"]),
                  summary=rc["summary"]) if rc else tr.t("diagnosed: no root cause established")]
    for r in inc.get("remediations", []):
        change = r.get("change") or {}
        moved = (f": v{change.get('previous_version')} → v{change['new_version']}"
                 if change.get("new_version") else "")
        lines.append(tr.t("remediated: {remediation} applied{moved}", remediation=r["id"],
                          moved=moved) if r.get("applied") else
                     tr.t("remediated: {remediation} not applied{moved}", remediation=r["id"],
                          moved=moved))
    if v := inc.get("verification"):
        crit = ", ".join(f"{c['id']} {_num(c['observed'], tr)} {c['op']} "
                         f"{_num(c['target'], tr)}" for c in v["criteria"])
        lines.append(tr.t("pre-check on the holdout: passed ({criteria})", criteria=crit)
                     if v["passed"] else
                     tr.t("pre-check on the holdout: FAILED ({criteria})", criteria=crit))
    if m := inc.get("monitoring"):
        lines.append(tr(msg("status {status}: v{version} must pass {count} live window(s) of "
                            "traffic before the incident closes", status=_status(inc, tr),
                            version=m.get("version"), count=m["count"])))
    else:
        lines.append(tr.t("status {status}", status=_status(inc, tr)))
    return lines


def _day_lines(d: DayOfMonitoring, tr: Translator) -> list[str]:
    """One simulated day of the demo: the traffic, then each controller step (a measured
    window with its verdict and key metrics)."""
    from playbooks.notify.words import window_verdict

    m = d.incidents[0].monitoring
    day = d.day
    going = (tr.t("; ongoing: {faults}", faults=", ".join(day.faults)) if day.faults else "")
    lines = [tr.t("day {n}: {start} → {end}: {requests} requests served by v{version}, "
                  "{labels} labels arrived{going}", n=d.number, start=day.start, end=day.end,
                  requests=day.requests, version=day.model_version, labels=day.labels_arrived,
                  going=going)]
    for w in m.windows if m is not None else []:
        if w.measured_at != d.day.end:  # measured on an earlier day
            continue
        metrics = " · ".join(f"{k} {_num(w.metrics[k], tr)}" for k in _KEY_METRICS
                             if k in w.metrics)
        lines.append(tr.t("  window {index}/{count} ({start} → {end}): {verdict} — {metrics}",
                          index=w.index + 1, count=m.count if m else "?", start=w.start,
                          end=w.end, verdict=window_verdict(w.verdict),
                          metrics=metrics or w.reason))
        lines += [f"    {c.id}: {c.metric} {_num(c.observed, tr)} {c.op} {_num(c.target, tr)} "
                  f"{'✓' if c.passed else '✗'}" for c in w.criteria]
    lines += [tr.t("  controller: {detail}", detail=s.detail) if s.action in ("waiting",
                                                                               "nothing")
              else tr.t("  controller: {action} — {detail}", action=s.action, detail=s.detail)
              for s in d.steps if s.action != "measured"]
    return lines


def _num(value: float | None, tr: Translator) -> str:
    if value is None:
        return tr.t("n/a")
    return tr.num(value, 0 if float(value).is_integer() else 3)
