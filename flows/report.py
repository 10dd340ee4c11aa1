"""``report/weekly``: the incident report over the last period, published as a Prefect
artifact (summary and tables; the self-contained HTML is written under the state dir) and
posted to Slack with the HTML attached when a token is set."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from playbooks.notify import SlackSettings
from playbooks.notify.slack import DEFAULT_CHANNEL
from playbooks.notify.uploads import post_report
from playbooks.report.build import collect_report, parse_since, summary_lines
from playbooks.report.html import fmt_duration
from tasks.prefect_context import prefect_runtime, secret_block_token

__all__ = ["weekly_report"]


def _markdown(report: dict[str, Any], html_path: str) -> str:
    rows = ["| playbook | incidents | MTTD | MTTA | MTTR (verified) | to remediation |",
            "|---|---|---|---|---|---|"]
    rows += [f"| {k} | {g['incidents']} | {fmt_duration(g['mttd_s'])} | "
             f"{fmt_duration(g['mtta_s'])} | {fmt_duration(g['mttr_s'])} | "
             f"{fmt_duration(g['time_to_remediation_s'])} |"
             for k, g in report["production"]["by_playbook"].items()]
    lines = "\n".join(f"- {line}" for line in summary_lines(report))
    return (f"# ML Playbooks report\n\n{lines}\n\n## Production by playbook\n\n"
            + "\n".join(rows) + f"\n\nFull report (charts, every incident): `{html_path}`\n")


@flow(name="report", log_prints=False)
def weekly_report(since: str = "7d", channel: str | None = None,
                  home: str | None = None) -> dict[str, Any]:
    """MTTx, outcomes, drills and open action items over ``since`` (e.g. 7d, 30d)."""
    rt = prefect_runtime(home, quiet=True)
    now = rt.now()
    data = collect_report(rt.ledger, since=parse_since(since), now=now)
    out = rt.settings.home / "reports" / f"report-{now:%Y%m%d-%H%M}.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(data.html(), encoding="utf-8")
    create_markdown_artifact(markdown=_markdown(data.report, str(out)), key="mlpb-report",
                             description=f"Incident report, last {since}")
    logger = get_run_logger()
    slack = SlackSettings.from_env(token_loader=secret_block_token)
    target = channel or (slack.channel if slack else None) or DEFAULT_CHANNEL
    posted = post_report(slack, summary_lines(data.report), out, channel=target)
    if posted.error:
        logger.warning("report not posted to Slack: %s", posted.error)
    else:
        logger.info("report written to %s; Slack: %s", out,
                    posted.skipped or f"posted to {target}")
    return {"html": str(out), "summary": summary_lines(data.report),
            "slack": posted.error or posted.skipped or "posted"}
