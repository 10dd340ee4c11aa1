"""Charts into the incident's Slack thread with slack-sdk's ``files_upload_v2``.

Needs the ``files:write`` bot scope besides ``chat:write``. Like every notification it
never fails a playbook: no token, no thread yet, or Slack saying no gives a report of why,
and the incident's timeline records what was shared (so a later close does not share the
same charts twice)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from playbooks.ledger import Ledger
from playbooks.ledger.outbox import Outbox
from playbooks.models.incident import Incident
from playbooks.notify.slack import SlackSettings

__all__ = ["SHARED_EVENT", "UploadReport", "incident_chart_files", "post_report",
           "share_charts"]

log = logging.getLogger(__name__)

SHARED_EVENT = "charts_shared"  # timeline kind: what was uploaded, once per incident
_HINTS = {
    "missing_scope": "add the `files:write` bot scope under OAuth & Permissions and reinstall "
                     "the app",
    "not_in_channel": "invite the bot to the channel (/invite @your-app)",
    "channel_not_found": "check MLPB_SLACK_CHANNEL or the playbook's communication.channel",
}


@dataclass(frozen=True)
class UploadReport:
    uploaded: list[str] = field(default_factory=list)  # file names shared
    skipped: str | None = None  # why nothing was tried
    error: str | None = None  # what Slack said, and what to do


def incident_chart_files(inc: Incident) -> list[Path]:
    """The PNGs the post-mortem embeds (``postmortems/INC/*.png``), in name order."""
    if not inc.postmortem_path:
        return []
    folder = Path(inc.postmortem_path).parent / inc.id
    return sorted(folder.glob("*.png")) if folder.is_dir() else []


def share_charts(ledger: Ledger, inc: Incident, *, settings: SlackSettings | None,
                 files: Sequence[Path] | None = None,
                 client: WebClient | None = None) -> UploadReport:
    """Upload ``files`` (default: the post-mortem's charts) into the incident's thread."""
    files = list(files if files is not None else incident_chart_files(inc))
    if settings is None:
        return UploadReport(skipped="Slack is not configured (no SLACK_BOT_TOKEN)")
    if not files:
        return UploadReport(skipped="no charts to share")
    if any(e.kind == SHARED_EVENT for e in ledger.events(inc.id)):
        return UploadReport(skipped="charts were already shared in the thread")
    thread = Outbox(ledger).thread(inc.id)
    if thread is None or thread.ts is None or thread.channel_id is None:
        return UploadReport(skipped="the incident has no delivered Slack thread yet")
    client = client or settings.client()
    try:
        client.files_upload_v2(
            file_uploads=[{"file": str(p), "filename": p.name, "title": p.stem.replace("-", " ")}
                          for p in files],
            channel=thread.channel_id, thread_ts=thread.ts,
            initial_comment=f"Charts of {inc.id} (the post-mortem embeds the same files)")
    except SlackApiError as exc:
        code = str(exc.response.get("error", "unknown_error"))
        hint = _HINTS.get(code, "see https://api.slack.com/methods/files.completeUploadExternal")
        log.warning("chart upload for %s failed: %s", inc.id, code)
        return UploadReport(error=f"Slack refused the upload: {code}; {hint}")
    except (SlackClientError, OSError) as exc:  # connection trouble: the post-mortem has them
        log.warning("chart upload for %s failed: %s: %s", inc.id, type(exc).__name__, exc)
        return UploadReport(error=f"could not reach Slack: {type(exc).__name__}: {exc}")
    names = [p.name for p in files]
    ledger.add_event(inc.id, SHARED_EVENT, f"{len(names)} chart(s) shared in the Slack thread",
                     {"files": names, "channel": thread.channel_id, "thread_ts": thread.ts})
    return UploadReport(uploaded=names)


def post_report(settings: SlackSettings | None, lines: Sequence[str], html: Path | None, *,
                channel: str, client: WebClient | None = None) -> UploadReport:
    """The periodic report in ``channel``: a message with its summary lines, the HTML file
    in that message's thread (the upload needs the channel id the post answers with)."""
    if settings is None:
        return UploadReport(skipped="Slack is not configured (no SLACK_BOT_TOKEN)")
    client = client or settings.client()
    text = "*ML Playbooks report*\n" + "\n".join(f"• {line}" for line in lines)
    try:
        posted = client.chat_postMessage(channel=channel, text=text, unfurl_links=False)
        if html is None or not html.exists():
            return UploadReport()
        client.files_upload_v2(file=str(html), filename=html.name, title=html.stem,
                               channel=str(posted["channel"]), thread_ts=str(posted["ts"]))
        return UploadReport(uploaded=[html.name])
    except SlackApiError as exc:
        code = str(exc.response.get("error", "unknown_error"))
        return UploadReport(error=f"Slack refused the report: {code}; "
                            + _HINTS.get(code, "check the channel and the app's scopes"))
    except (SlackClientError, OSError) as exc:
        return UploadReport(error=f"could not reach Slack: {type(exc).__name__}: {exc}")
