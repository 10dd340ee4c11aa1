"""PagerDuty notifier (Events API v2): a page becomes a ``trigger`` (dedup_key = incident id),
an acknowledgement an ``acknowledge``, the incident's close a ``resolve``.

Events go through the ledger's PagerDuty outbox (playbooks/ledger/pagerduty.py) first; ``send``
then tries that incident's backlog. 202 marks an event sent; 429, 5xx and connection errors
keep it (later sends only queue for a while) for ``flush`` (``Runtime.flush_notifications``,
the controller pass); 400 marks it failed with PagerDuty's errors. Nothing here raises for a
delivery problem, and the routing key is never written to the ledger or a message."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from playbooks.errors import ConfigError
from playbooks.i18n import Translator, process_locale, translator
from playbooks.ledger import Ledger
from playbooks.ledger.pagerduty import PagerDutyOutbox, PdAction, PdRow
from playbooks.models.incident import Incident, IncidentStatus
from playbooks.notify.base import Notification
from playbooks.notify.slack import FlushReport, TokenLoader
from playbooks.notify.words import status_label

__all__ = ["DEFAULT_URL", "PagerDutyNotifier", "PagerDutySettings", "event_for",
           "pagerduty_configured"]

log = logging.getLogger(__name__)

DEFAULT_URL = "https://events.pagerduty.com"
SEVERITY = {"SEV1": "critical", "SEV2": "error", "SEV3": "warning", "SEV4": "info"}
# Closed without a person still needed: the page is over. (ESCALATED waits for a person.)
_OVER = {IncidentStatus.RESOLVED, IncidentStatus.FALSE_ALARM, IncidentStatus.DIAGNOSED,
         IncidentStatus.HANDED_OVER}
_LEASE = timedelta(minutes=1)
_HOLD_S = 30.0


class PagerDutySettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    routing_key: SecretStr = Field(description="Integration (routing) key of an Events API v2 "
                                   "integration on the PagerDuty service.")
    url: str = Field(default=DEFAULT_URL, description="Events API base URL (proxies, tests).")
    timeout_s: float = Field(default=10.0, gt=0, description="Per-request timeout.")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *,
                 key_loader: TokenLoader | None = None) -> PagerDutySettings | None:
        """From ``PAGERDUTY_ROUTING_KEY`` (or the Prefect Secret block named in
        ``MLPB_PAGERDUTY_KEY_BLOCK``, resolved by ``key_loader``) and ``MLPB_PAGERDUTY_URL``.
        None when neither is set; ConfigError when the block cannot be loaded."""
        env = os.environ if env is None else env
        key = (env.get("PAGERDUTY_ROUTING_KEY") or "").strip()
        block = (env.get("MLPB_PAGERDUTY_KEY_BLOCK") or "").strip()
        if not key and block:
            key = _key_from_block(block, key_loader)
        if not key:
            return None
        return cls(routing_key=SecretStr(key), url=env.get("MLPB_PAGERDUTY_URL") or DEFAULT_URL)


def pagerduty_configured(env: Mapping[str, str] | None = None) -> bool:
    env = os.environ if env is None else env
    return bool((env.get("PAGERDUTY_ROUTING_KEY") or env.get("MLPB_PAGERDUTY_KEY_BLOCK")
                 or "").strip())


def _key_from_block(name: str, loader: TokenLoader | None) -> str:
    if loader is None:
        raise ConfigError(f"MLPB_PAGERDUTY_KEY_BLOCK is set ('{name}') but this process cannot "
                          "load secret blocks", hint="run it through the playbook flows or "
                          "`mlpb`, or set PAGERDUTY_ROUTING_KEY instead")
    try:
        return str(loader(name)).strip()
    except Exception as exc:
        raise ConfigError(
            f"cannot load the Prefect Secret block '{name}' (MLPB_PAGERDUTY_KEY_BLOCK): "
            f"{type(exc).__name__}", hint="create it (Blocks → Secret, the integration key as "
            "its value) or set PAGERDUTY_ROUTING_KEY instead") from None


def event_for(note: Notification, *, triggered: bool, last_action: str | None,
              tr: Translator | None = None) -> tuple[PdAction, dict[str, Any]] | None:
    """The Events API event a notification maps to (without the routing key), or None.

    Pure: ``triggered`` says whether the incident was ever triggered in PagerDuty (only those
    are acknowledged or resolved), ``last_action`` the last event queued for it. The summary
    and details are in ``tr``'s language (default: MLPB_LOCALE, else English); the field
    names and values PagerDuty routes on stay as they are."""
    tr = tr or translator(process_locale())
    inc = note.incident
    if note.kind == "paged":
        given = note.data.get("page")
        page: Mapping[str, Any] = given if isinstance(given, Mapping) else {}
        return "trigger", {
            "event_action": "trigger", "dedup_key": inc.id, "client": "ML Playbooks",
            "payload": {
                "summary": tr.t("[{severity}] {model}: {playbook} incident {id} ({status}) — "
                                "{title}", severity=inc.severity.value, model=inc.model,
                                playbook=inc.playbook, id=inc.id,
                                status=status_label(inc.status), title=note.title)[:1024],
                "source": inc.model, "severity": SEVERITY[inc.severity.value],
                "component": inc.playbook, "class": inc.playbook,
                "custom_details": {
                    "incident": inc.id, "status": inc.status.value, "owner": inc.owner,
                    "escalated_to": inc.escalated_to, "page_target": page.get("target"),
                    "page_level": page.get("level"), "people": page.get("people", []),
                    "root_cause": inc.root_cause.summary if inc.root_cause else None,
                    "details": [tr(line) for line in note.lines[:10]]}}}
    if not triggered or last_action == "resolve":
        return None
    if note.kind == "acknowledged" and last_action != "acknowledge":
        return "acknowledge", {"event_action": "acknowledge", "dedup_key": inc.id}
    if inc.status in _OVER:
        return "resolve", {"event_action": "resolve", "dedup_key": inc.id}
    return None


class PagerDutyNotifier:
    """The PagerDuty ``Notifier``: mirrors pages, acknowledgements and closes."""

    def __init__(self, settings: PagerDutySettings, ledger: Ledger, *,
                 client: httpx.Client | None = None) -> None:
        self._settings = settings
        self._outbox = PagerDutyOutbox(ledger)
        self._client = client or httpx.Client(timeout=settings.timeout_s)
        self._hold_until = 0.0

    def __repr__(self) -> str:
        return f"PagerDutyNotifier(url={self._settings.url!r})"

    @property
    def outbox(self) -> PagerDutyOutbox:
        return self._outbox

    def send(self, note: Notification) -> None:
        if self.enqueue(note) and time.monotonic() >= self._hold_until:
            self._deliver(note.incident.id)

    def enqueue(self, note: Notification) -> bool:
        """Queue the event this notification maps to (if any); True when one was queued."""
        inc: Incident = note.incident
        rows = [r for r in self._outbox.rows(inc.id) if r.state != "failed"]
        event = event_for(note, triggered=any(r.action == "trigger" for r in rows),
                          last_action=rows[-1].action if rows else None)
        if event is None:
            return False
        self._outbox.enqueue(inc.id, *event)
        return True

    def flush(self) -> FlushReport:
        """Send the whole backlog, per incident in order."""
        self._hold_until = 0.0
        return self._deliver(None)

    def _deliver(self, incident_id: str | None) -> FlushReport:
        report = FlushReport()
        for iid in dict.fromkeys(r.incident_id for r in self._outbox.pending(incident_id)):
            if self._deliver_incident(iid, report) == "stop":
                self._hold_until = time.monotonic() + _HOLD_S
                break
        report.pending = len(self._outbox.pending(incident_id))
        return report

    def _deliver_incident(self, incident_id: str, report: FlushReport) -> Literal["ok", "stop"]:
        while rows := self._outbox.pending(incident_id):
            for row in rows:
                if not self._outbox.claim(row.seq, _LEASE):
                    return "ok"  # another sender has it; never overtake it
                outcome, error = self._post(row)
                if outcome == "sent":
                    self._outbox.mark_sent(row.seq)
                    report.sent += 1
                    continue
                report.errors.append(f"{incident_id} {row.action}: {error}")
                log.warning("PagerDuty %s for %s not delivered: %s", row.action, incident_id,
                            error)
                if outcome == "failed":
                    self._outbox.mark_failed(row.seq, error)
                    continue
                self._outbox.mark_retry(row.seq, error)
                return "stop"
        return "ok"

    def _post(self, row: PdRow) -> tuple[Literal["sent", "failed", "retry"], str]:
        url = f"{self._settings.url.rstrip('/')}/v2/enqueue"
        body = {"routing_key": self._settings.routing_key.get_secret_value(), **row.payload}
        try:
            resp = self._client.post(url, json=body)
        except httpx.HTTPError as exc:
            return "retry", (f"cannot reach PagerDuty at {self._settings.url} "
                             f"({type(exc).__name__}: {self._scrub(str(exc))}); kept for the "
                             "next flush (`mlpb tick`, the next run)")
        if resp.status_code == 202:
            return "sent", ""
        detail = _api_error(resp)
        if resp.status_code in (400, 413):
            return "failed", (f"HTTP {resp.status_code}: PagerDuty refused the event: {detail}; "
                              "check PAGERDUTY_ROUTING_KEY (an Events API v2 integration key)")
        if resp.status_code == 429 or resp.status_code >= 500:
            return "retry", (f"HTTP {resp.status_code}: PagerDuty is rate-limiting or "
                             f"unavailable ({detail}); kept for the next flush")
        return "retry", (f"HTTP {resp.status_code} from {url} ({detail}): is "
                         "MLPB_PAGERDUTY_URL the Events API? kept for the next flush")

    def _scrub(self, text: str) -> str:
        return text.replace(self._settings.routing_key.get_secret_value(), "[routing key]")


def _api_error(resp: httpx.Response) -> str:
    """PagerDuty's ``message`` and ``errors`` (its documented 400 body), else the text."""
    try:
        data = resp.json()
    except ValueError:
        return resp.text[:300] or "no body"
    if not isinstance(data, dict):
        return str(data)[:300]
    errors = data.get("errors") or []
    message = str(data.get("message") or data.get("status") or "")
    return "; ".join([message, *map(str, errors)]).strip("; ")[:1000] or "no details"
