"""Slack notifier: one parent message per incident, updated in place, and one thread reply
per notification, delivered through the ledger's outbox.

``send`` writes the rendered messages to the outbox first and then tries to deliver that
incident's backlog; whatever Slack does not accept (outage, rate limit after retries, a
permanent error such as ``channel_not_found``) stays queued with the error recorded, and
``flush`` (``mlpb notify flush``, also run at the start of every playbook run) delivers it
later, in order, each message once. Nothing here raises for a delivery problem."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.client import HTTPException
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from playbooks.errors import ConfigError
from playbooks.i18n import Translator, msg, process_locale, resolve_locale, translator
from playbooks.ledger import Ledger
from playbooks.ledger.outbox import Outbox, OutboxItem, OutboxRow, notify_threads
from playbooks.models.incident import Incident, Severity, utcnow
from playbooks.models.profile import Audience, ModelProfile
from playbooks.models.spec import Communication
from playbooks.notify.audiences import (
    STAKEHOLDER_KINDS,
    render_stakeholder_parent,
    render_stakeholder_update,
)
from playbooks.notify.base import Notification
from playbooks.notify.blocks import Message
from playbooks.notify.templates import (
    approval_outcome,
    render_moved,
    render_parent,
    render_reminder,
    render_reply,
    retire_buttons,
)

__all__ = ["DEFAULT_CHANNEL", "FlushReport", "RunUrl", "SlackNotifier", "SlackSettings",
           "TokenLoader", "slack_configured"]

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://slack.com/api/"
DEFAULT_CHANNEL = "#ml-incidents"
_LEASE = timedelta(minutes=2)  # longer than one message's worst case (timeouts x retries)
_HOLD_S = 30.0  # after Slack looked down, later sends only enqueue for this long

# Errors that every message would hit (the token or the app) stop the whole flush;
# channel-level errors stop only that incident's thread.
_APP_ERRORS = {
    "invalid_auth": "Slack rejected the bot token: set SLACK_BOT_TOKEN to the app's Bot User "
                    "OAuth Token (xoxb-…) or fix the Prefect Secret block named in "
                    "MLPB_SLACK_TOKEN_BLOCK",
    "not_authed": "no Slack token was sent: set SLACK_BOT_TOKEN (or MLPB_SLACK_TOKEN_BLOCK)",
    "account_inactive": "the Slack app's token belongs to a deleted user or a disabled "
                        "app: reinstall the app and update SLACK_BOT_TOKEN",
    "token_revoked": "the Slack token was revoked: reinstall the app to the workspace and "
                     "update SLACK_BOT_TOKEN",
    "token_expired": "the Slack token expired: reinstall the app (or disable token rotation) "
                     "and update SLACK_BOT_TOKEN",
    "missing_scope": "the Slack app lacks a bot scope: add `chat:write` (and "
                     "`chat:write.public` to post in channels the bot has not joined) under "
                     "OAuth & Permissions, then reinstall the app",
    "no_permission": "the Slack workspace does not let this app post: ask a workspace admin "
                     "to approve it",
}
_CHANNEL_ERRORS = {
    "channel_not_found": "Slack cannot find channel {channel}: check the name in "
                         "MLPB_SLACK_CHANNEL or the playbook's communication.channel; for a "
                         "private channel invite the bot (/invite @your-app)",
    "not_in_channel": "the bot is not in {channel}: invite it (/invite @your-app) or add the "
                      "`chat:write.public` bot scope and reinstall the app",
    "is_archived": "channel {channel} is archived: unarchive it or route incidents to "
                   "another channel (MLPB_SLACK_CHANNEL)",
    "restricted_action": "posting in {channel} is restricted for the app: ask a workspace "
                         "admin or choose another channel",
    "message_not_found": "the incident's parent message in {channel} was deleted, so it "
                         "cannot be updated; this incident's later messages stay queued",
}
TokenLoader = Callable[[str], str]
"""Resolves the secret named in ``MLPB_SLACK_TOKEN_BLOCK`` to the token. The orchestration
layer supplies it (tasks/prefect_context.py loads a Prefect Secret block); playbooks/ never
imports Prefect."""
RunUrl = Callable[[], str | None]
"""The UI address of the run that is sending, if any; called when an incident's parent
message is first rendered (tasks/prefect_context.py: the Prefect flow run)."""

_TRANSIENT = {"ratelimited", "fatal_error", "internal_error", "service_unavailable",
              "request_timeout"}


class SlackSettings(BaseModel):
    """Where and how to reach Slack. The token never appears in reprs or messages."""

    model_config = ConfigDict(frozen=True)

    token: SecretStr = Field(description="Bot User OAuth Token (xoxb-…).")
    api_url: str = Field(default=DEFAULT_API_URL, description="Web API base URL (proxies, tests).")
    channel: str | None = Field(default=None, description="Overrides every playbook's channel.")
    timeout_s: int = Field(default=10, ge=1, description="Per-request timeout.")
    rate_limit_retries: int = Field(default=2, ge=0, description="Retries after 429.")
    connection_retries: int = Field(default=1, ge=0, description="After connection errors.")
    server_error_retries: int = Field(default=1, ge=0, description="Retries after HTTP 500/503.")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *,
                 token_loader: TokenLoader | None = None) -> SlackSettings | None:
        """Settings from ``SLACK_BOT_TOKEN`` (or the secret block named in
        ``MLPB_SLACK_TOKEN_BLOCK``, resolved by ``token_loader``), ``MLPB_SLACK_API_URL``,
        ``MLPB_SLACK_CHANNEL``. None when no token is configured (the console notifier is
        used then); ConfigError when the block cannot be loaded."""
        env = os.environ if env is None else env
        token = (env.get("SLACK_BOT_TOKEN") or "").strip()
        block = (env.get("MLPB_SLACK_TOKEN_BLOCK") or "").strip()
        if not token and block:
            token = _token_from_block(block, token_loader)
        if not token:
            return None
        return cls(token=SecretStr(token),
                   api_url=env.get("MLPB_SLACK_API_URL") or DEFAULT_API_URL,
                   channel=env.get("MLPB_SLACK_CHANNEL") or None)

    def client(self) -> WebClient:
        return WebClient(
            token=self.token.get_secret_value(), base_url=self.api_url, timeout=self.timeout_s,
            retry_handlers=[
                ConnectionErrorRetryHandler(max_retry_count=self.connection_retries),
                RateLimitErrorRetryHandler(max_retry_count=self.rate_limit_retries),
                ServerErrorRetryHandler(max_retry_count=self.server_error_retries),
            ])


def slack_configured(env: Mapping[str, str] | None = None) -> bool:
    env = os.environ if env is None else env
    return bool((env.get("SLACK_BOT_TOKEN") or env.get("MLPB_SLACK_TOKEN_BLOCK") or "").strip())


def _token_from_block(name: str, loader: TokenLoader | None) -> str:
    if loader is None:
        raise ConfigError(
            f"MLPB_SLACK_TOKEN_BLOCK is set ('{name}') but this process cannot load secret "
            "blocks", hint="run it through the playbook flows or `mlpb`, which load Prefect "
                           "Secret blocks, or set SLACK_BOT_TOKEN instead")
    try:
        value = loader(name)
    except Exception as exc:
        raise ConfigError(
            f"cannot load the Prefect Secret block '{name}' (MLPB_SLACK_TOKEN_BLOCK): "
            f"{type(exc).__name__}",
            hint="create it in the Prefect UI (Blocks → Secret) or with "
                 "`Secret(value='xoxb-…').save('NAME')`, or set SLACK_BOT_TOKEN instead") from None
    return str(value).strip()


@dataclass(frozen=True)
class DeliveryError:
    code: str
    message: str  # what happened and what to do; never contains the token
    scope: Literal["incident", "all"]  # what else this flush must stop trying


@dataclass
class FlushReport:
    sent: int = 0
    pending: int = 0
    errors: list[str] = field(default_factory=list)


class SlackNotifier:
    """The Slack ``Notifier``. One instance per runtime; state lives in the ledger."""

    def __init__(self, settings: SlackSettings, ledger: Ledger, *,
                 postmortem_dir: Path | None = None, client: WebClient | None = None,
                 run_url: RunUrl | None = None) -> None:
        self._settings = settings
        self._run_url = run_url
        self._outbox = Outbox(ledger)
        self._postmortem_dir = postmortem_dir
        self._client = client or settings.client()
        self._comms: dict[str, Communication] = {}
        self._owners: dict[str, tuple[float, ModelProfile | None]] = {}
        self._hold_until = 0.0

    def __repr__(self) -> str:
        return (f"SlackNotifier(api_url={self._settings.api_url!r}, "
                f"channel={self._settings.channel or 'per playbook'!r})")

    @property
    def settings(self) -> SlackSettings:
        return self._settings

    @property
    def outbox(self) -> Outbox:
        return self._outbox

    # -- Notifier --------------------------------------------------------------------------
    def send(self, note: Notification) -> None:
        """Queue the notification, then deliver this incident's backlog unless Slack was
        just seen down (then the next flush does)."""
        self._enqueue(note)
        if time.monotonic() >= self._hold_until:
            self._deliver(note.incident.id)

    def enqueue(self, note: Notification) -> None:
        """Queue only (durably); ``flush`` delivers. For callers that must answer fast."""
        self._enqueue(note)

    @property
    def client(self) -> WebClient:
        """The Web API client (the receiver opens modals with it)."""
        return self._client

    def flush(self) -> FlushReport:
        """Deliver the whole backlog: per incident the parent first, then replies in order."""
        self._hold_until = 0.0
        return self._deliver(None)

    def remind(self, inc: Incident, *, waiting_for: str, since: datetime, now: datetime) -> None:
        """Post a 'still waiting' reply in the incident's thread (see ``due_reminders``)."""
        thread = self._outbox.thread(inc.id)
        if thread is None:  # never notified in Slack: nothing to remind in
            return
        profile = self._profile_of(inc)
        owners = profile.owners if profile else None
        audience, tr = self._view(profile, thread.channel)
        if audience == "stakeholders" and profile is not None:
            every = self._communication(inc.playbook).status_every
            message = render_stakeholder_update(inc, comm=profile.communication,
                                                description=profile.description,
                                                next_update=now + every, tr=tr)
        else:
            message = render_reminder(inc, waiting_for=waiting_for, since=since, now=now,
                                      slack_ids=owners.slack_ids if owners else None, tr=tr)
        self._outbox.enqueue(inc.id, [OutboxItem("reminder", "reply", message.to_payload())],
                             parent_digest=thread.parent_digest, reminded_at=now)
        self._deliver(inc.id)

    def check(self) -> dict[str, Any]:
        """``auth.test``: who the token belongs to. Raises ConfigError with what to fix."""
        try:
            resp = self._client.auth_test()
        except Exception as exc:
            err = self._describe(exc, channel="")
            raise ConfigError(f"Slack auth.test failed: {err.message}") from None
        return {k: resp.get(k) for k in ("team", "user", "bot_id", "url")}

    # -- enqueue ---------------------------------------------------------------------------
    def _enqueue(self, note: Notification) -> None:
        inc = note.incident
        thread = self._outbox.thread(inc.id)
        profile = self._profile_of(inc)
        owners = profile.owners if profile else None
        comm = self._communication(inc.playbook)
        wanted = self._channel(note, comm)
        audience, tr = self._view(profile, thread.channel if thread else wanted)
        # The title is stored with the thread once, in the thread's language.
        title = thread.title if thread else tr(
            note.title if note.kind == "opened"
            else msg("{playbook} incident on {model}", playbook=inc.playbook, model=inc.model))
        links = thread.links if thread else self._links(note)
        reply: Message | None
        if audience == "stakeholders" and profile is not None:
            parent = render_stakeholder_parent(
                inc, title=title, comm=profile.communication, description=profile.description,
                postmortem_dir=self._postmortem_dir, tr=tr)
            reply = (render_stakeholder_update(
                inc, comm=profile.communication, description=profile.description,
                next_update=utcnow() + comm.status_every, tr=tr)
                if note.kind in STAKEHOLDER_KINDS else None)
        else:
            parent = render_parent(inc, title=title, links=links,
                                   postmortem_dir=self._postmortem_dir, owners=owners, tr=tr)
            reply = render_reply(note, postmortem_dir=self._postmortem_dir, owners=owners, tr=tr)
        canonical = json.dumps(parent.to_payload(), sort_keys=True).encode()
        digest = hashlib.sha256(canonical).hexdigest()
        items: list[OutboxItem] = []
        new_thread: dict[str, Any] | None = None
        done_asking = thread is not None and (
            note.kind == "approval_needed" or inc.approval is None
            or inc.approval.state != "pending")
        if thread is None:
            new_thread = {"channel": wanted, "title": title, "links": links,
                          "status_every_s": int(comm.status_every.total_seconds())}
            items.append(OutboxItem("parent", "post", {**parent.to_payload(), "channel": wanted}))
        elif note.channel is None and wanted != thread.channel and self._raised(
                inc, thread.channel, comm):
            # Severity raised into another channel: retire the buttons here, say where it
            # went, and start a new parent there (linking back); replies follow the new one.
            line = approval_outcome(inc, owners, tr=tr) if done_asking else tr.t(
                ":arrow_right: moved to {channel}: decide there", channel=wanted)
            items += self._retire(inc, line)
            items.append(OutboxItem("moved", "reply",
                                    render_moved(inc, to=wanted, tr=tr).to_payload()))
            items.append(OutboxItem("parent", "post", {**parent.to_payload(), "channel": wanted,
                                                       "moved_from": thread.channel}))
            self._outbox_channel(inc.id, wanted)
            done_asking = False  # retired above
            if inc.approval is not None and inc.approval.state == "pending" \
                    and note.kind != "approval_needed":
                ask = Notification("approval_needed", inc, msg("approval still needed"),
                                   [inc.approval.summary],
                                   data={"plan_hash": inc.approval.plan_hash})
                items.append(OutboxItem("approval_needed", "reply", render_reply(
                    ask, postmortem_dir=self._postmortem_dir, owners=owners,
                    tr=tr).to_payload()))
        elif digest != thread.parent_digest:
            items.append(OutboxItem("parent", "update", parent.to_payload()))
        if done_asking:
            items += self._retire(inc, approval_outcome(inc, owners, tr=tr))
        if reply is not None:
            items.append(OutboxItem(note.kind, "reply", reply.to_payload()))
        if not self._outbox.enqueue(inc.id, items, parent_digest=digest, new_thread=new_thread,
                                    waiting=self._waiting(note)):
            self._enqueue(note)  # another process opened the thread first: render as update

    def _channel(self, note: Notification, comm: Communication) -> str:
        """MLPB_SLACK_CHANNEL, else the notification's, else the spec's for the severity."""
        return (self._settings.channel or note.channel
                or comm.channel_for(note.incident.severity.value) or DEFAULT_CHANNEL)

    def _raised(self, inc: Incident, current: str, comm: Communication) -> bool:
        """Moves follow a raised severity only: the current channel is one of a less severe
        level (or the default) than the incident's severity now."""
        if self._settings.channel:
            return False
        order = [s.value for s in Severity]  # SEV1 (most severe) first
        now = order.index(inc.severity.value)
        levels = [i for i, sev in enumerate(order) if comm.channel_for(sev) == current]
        return bool(levels) and min(levels) > now

    def _retire(self, inc: Incident, line: str) -> list[OutboxItem]:
        """Edits that take the buttons off this incident's earlier approval requests."""
        rows = self._outbox.rows(inc.id)
        done = {r.payload.get("edit_of") for r in rows if r.kind == "approval_closed"}
        return [OutboxItem("approval_closed", "update",
                           {**retire_buttons(r.payload, line).to_payload(), "edit_of": r.seq})
                for r in rows if r.kind == "approval_needed" and r.seq not in done]

    def _outbox_channel(self, incident_id: str, channel: str) -> None:
        """Record the channel the thread moves to (its id and ts follow the new parent)."""
        with self._outbox.engine.begin() as conn:
            conn.execute(notify_threads.update()
                         .where(notify_threads.c.incident_id == incident_id)
                         .values(channel=channel))

    def _view(self, profile: ModelProfile | None, channel: str) -> tuple[Audience, Translator]:
        """The channel's audience and language: its entry in the profile's
        communication.channels, else the profile's locale, else MLPB_LOCALE, else English."""
        if profile is None:
            return "engineering", translator(process_locale())
        entry = profile.communication.for_channel(channel)
        return entry.audience, translator(resolve_locale(
            entry.locale, profile.communication.locale, process_locale()))

    def _profile_of(self, inc: Incident) -> ModelProfile | None:
        """The incident's profile (owners' Slack ids, communication); None when unreadable."""
        path = inc.profile_path
        if not path:
            return None
        try:
            stamp = os.stat(path).st_mtime
        except OSError:
            return None
        cached = self._owners.get(path)
        if cached is None or cached[0] != stamp:
            profile = None
            try:
                from playbooks.loader import load_profile

                profile = load_profile(Path(path))
            except Exception as exc:  # mentions fall back to names, the locale to the process's
                log.debug("no profile from %s: %s", path, exc)
            self._owners[path] = cached = (stamp, profile)
        return cached[1]

    @staticmethod
    def _waiting(note: Notification) -> tuple[str | None, datetime | None] | None:
        """What the incident now waits for (None: unchanged; (None, None): nothing)."""
        if note.kind == "approval_needed":
            return "approval", utcnow()
        if isinstance(note.data.get("waiting_for"), str):
            return note.data["waiting_for"], utcnow()
        if note.kind in ("resolved", "escalated", "false_alarm", "diagnosed"):
            return None, None
        return None

    def _communication(self, playbook: str) -> Communication:
        """The spec's communication section, for catalog playbooks; defaults otherwise."""
        if playbook not in self._comms:
            comm = Communication()
            try:
                from playbooks.loader import read_yaml, resolve_spec_path

                data = read_yaml(resolve_spec_path(playbook)).get("communication") or {}
                comm = Communication.model_validate(data)
            except Exception as exc:  # an unknown playbook still gets notified
                log.debug("no communication settings for playbook %s: %s", playbook, exc)
            self._comms[playbook] = comm
        return self._comms[playbook]

    def _links(self, note: Notification) -> dict[str, str]:
        links: dict[str, str] = {}
        given = note.data.get("links")
        if isinstance(given, Mapping):
            links.update({str(k): str(v) for k, v in given.items() if v})
        if self._run_url is not None:
            try:
                url = self._run_url() or ""
            except Exception as exc:  # a missing link must not stop the notification
                log.debug("no run link: %s: %s", type(exc).__name__, exc)
                url = ""
            if url.startswith(("http://", "https://")):
                links.setdefault("Prefect flow run", url)
        tracking = os.environ.get("MLFLOW_TRACKING_URI", "")
        if tracking.startswith(("http://", "https://")):
            inc = note.incident
            url = f"{tracking.rstrip('/')}/#/models/{quote(inc.model)}"
            links.setdefault("MLflow model", url + (f"/versions/{quote(inc.model_version)}"
                                                    if inc.model_version else ""))
        return links

    # -- delivery --------------------------------------------------------------------------
    def _deliver(self, incident_id: str | None) -> FlushReport:
        report = FlushReport()
        incident_ids = dict.fromkeys(r.incident_id for r in self._outbox.pending(incident_id))
        for iid in incident_ids:
            if self._deliver_thread(iid, report) == "stop":
                self._hold_until = time.monotonic() + _HOLD_S
                break
        report.pending = len(self._outbox.pending(incident_id))
        return report

    def _deliver_thread(self, incident_id: str,
                        report: FlushReport) -> Literal["ok", "wait", "stop"]:
        """Send one incident's rows strictly in order; re-read so rows another thread
        enqueued meanwhile go out too. 'wait': this incident stays blocked; 'stop': all do."""
        while rows := self._outbox.pending(incident_id):
            for row in rows:
                if not self._outbox.claim(row.seq, _LEASE):
                    return "wait"  # another sender has it; never overtake it
                err = self._send_row(row)
                if err is not None:
                    self._outbox.mark_failed(row.seq, err.message)
                    report.errors.append(f"{incident_id} {row.kind}: {err.message}")
                    log.warning("Slack delivery of %s/%s failed, kept in the outbox: %s",
                                incident_id, row.kind, err.message)
                    return "stop" if err.scope == "all" else "wait"
                report.sent += 1
        return "ok"

    def _send_row(self, row: OutboxRow) -> DeliveryError | None:
        body = {"text": row.payload["text"], "blocks": row.payload["blocks"]}
        channel = row.payload.get("channel", "")
        try:
            thread = self._outbox.thread(row.incident_id)
            if row.op == "post":
                if row.payload.get("moved_from") and thread and thread.ts and thread.channel_id:
                    body["blocks"] = [*body["blocks"], _moved_from(
                        str(row.payload["moved_from"]), thread.channel_id, thread.ts)]
                resp = self._client.chat_postMessage(channel=channel, unfurl_links=False, **body)
                self._outbox.mark_sent(row, resp["ts"], parent_channel_id=resp["channel"])
                return None
            if thread is None or thread.ts is None or thread.channel_id is None:
                return DeliveryError("no_parent", "the incident's parent message was never "
                                     "posted; it is retried first by `mlpb notify flush`",
                                     "incident")
            channel = thread.channel
            if row.op == "update" and "edit_of" in row.payload:  # one of the thread's replies
                target = next((r for r in self._outbox.rows(row.incident_id)
                               if r.seq == row.payload["edit_of"]), None)
                if target is None or target.slack_ts is None:
                    self._outbox.mark_sent(row, None)  # nothing was posted to edit
                    return None
                resp = self._client.chat_update(channel=thread.channel_id, ts=target.slack_ts,
                                                **body)
            elif row.op == "update":
                resp = self._client.chat_update(channel=thread.channel_id, ts=thread.ts, **body)
            else:
                resp = self._client.chat_postMessage(channel=thread.channel_id,
                                                     thread_ts=thread.ts, unfurl_links=False,
                                                     **body)
            self._outbox.mark_sent(row, resp.get("ts"))
            return None
        except Exception as exc:
            return self._describe(exc, channel=channel)

    def _describe(self, exc: Exception, *, channel: str) -> DeliveryError:
        """A recorded, actionable error: the Slack error code plus what to fix."""
        if isinstance(exc, SlackApiError):
            status = getattr(exc.response, "status_code", 0)
            data = exc.response.data if isinstance(exc.response.data, dict) else {}
            code = str(data.get("error") or "")
            if not code or " " in code:  # a non-JSON body (e.g. a proxy's 502 page)
                code = f"http_{status}"
            if code in _APP_ERRORS:
                needed = f" (needed: {data['needed']})" if data.get("needed") else ""
                return DeliveryError(code, f"{code}: {_APP_ERRORS[code]}{needed}", "all")
            if code in _CHANNEL_ERRORS:
                return DeliveryError(code, f"{code}: " + _CHANNEL_ERRORS[code].format(
                    channel=channel or "(unknown)"), "incident")
            if status == 429 or status >= 500 or code in _TRANSIENT:
                return DeliveryError(code, f"{code}: Slack is unavailable or rate-limiting "
                                     f"(HTTP {status}); kept for `mlpb notify flush`", "all")
            return DeliveryError(code, f"{code}: Slack refused the message; see "
                                 "https://api.slack.com/methods for the error code", "incident")
        text = self._scrub(f"{type(exc).__name__}: {exc}")
        if isinstance(exc, OSError | HTTPException | SlackRequestError):  # URLError, timeouts
            return DeliveryError("unreachable", f"cannot reach Slack at {self._settings.api_url} "
                                 f"({text}); kept for `mlpb notify flush` once it is reachable",
                                 "all")
        return DeliveryError("unexpected", f"unexpected error while sending ({text}); kept in "
                             "the outbox — re-run `mlpb --debug notify flush` and report it",
                             "incident")

    def _scrub(self, text: str) -> str:
        secret = self._settings.token.get_secret_value()
        return text.replace(secret, "[token]") if secret else text


def _moved_from(channel: str, channel_id: str, ts: str) -> dict[str, Any]:
    """A context block linking the new parent to the thread it continues."""
    link = f"https://slack.com/archives/{channel_id}/p{ts.replace('.', '')}"
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": (
        f":leftwards_arrow_with_hook: continued from <{link}|the earlier thread> in "
        f"{channel.replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;')}")}]}
