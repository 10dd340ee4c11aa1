"""What the receiver does with a verified Slack interaction (``POST /slack/interactions``).

Approve / Acknowledge: the Slack user is mapped to a person through the incident profile's
``owners.slack_ids``; the decision goes through ``playbooks.engine.approvals.decide`` (an
unknown user is refused there with the raw Slack id as the approver, so the refusal is on the
timeline), an acknowledgement through ``people.acknowledge``. Reject opens a modal that asks
for the reason (required by ``decide``); its submission decides. The request only records and
queues notifications (Slack wants an answer within 3 s); a background worker then delivers
them (the approval message loses its buttons and says who decided) and carries out an
approved change with ``advance_people_safely``. If this process dies first, the controller
pass (``mlpb tick`` / ``advance-incidents``) carries it out. Refusals answer 200 with an
ephemeral text, also posted to the interaction's ``response_url``."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from slack_sdk import WebClient
from slack_sdk.webhook import WebhookClient

from playbooks.config import Settings
from playbooks.engine import people
from playbooks.engine.approvals import DecisionRefused, decide, is_approver
from playbooks.engine.escalation import advance_people_safely
from playbooks.engine.runtime import Runtime
from playbooks.errors import MlpbError
from playbooks.loader import load_profile
from playbooks.models.incident import Incident, IncidentStatus
from playbooks.models.profile import ModelProfile
from playbooks.notify import Notification, Notifier
from playbooks.notify.interactions import Interaction, reject_modal

__all__ = ["Answer", "Background", "SlackInteractions"]

log = logging.getLogger("mlpb.receiver.slack")


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any] | None  # None: an empty 200 (Slack closes a submitted modal)


class Background:
    """Work after the answer: one daemon thread per accepted interaction."""

    def __init__(self) -> None:
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def submit(self, fn: Callable[[], None], name: str) -> None:
        def run() -> None:
            try:
                fn()
            except Exception:  # logged; the controller pass retries what was not done
                log.exception("background work %s failed", name)

        t = threading.Thread(target=run, name=f"mlpb-slack-{name}", daemon=True)
        with self._lock:
            self._threads = [x for x in self._threads if x.is_alive()] + [t]
        t.start()

    def join(self, timeout: float) -> bool:
        """Wait for the work submitted so far; True when all of it finished."""
        with self._lock:
            threads = list(self._threads)
        for t in threads:
            t.join(timeout)
        return not any(t.is_alive() for t in threads)


class _QueueOnly:
    """The request's notifier: write to the outboxes, deliver later (in the background)."""

    def __init__(self, notifier: Notifier) -> None:
        self.notifier = notifier

    def send(self, note: Notification) -> None:
        enqueue = getattr(self.notifier, "enqueue", None)
        (enqueue or self.notifier.send)(note)


@dataclass
class SlackInteractions:
    home: Path
    ledger_url: str
    notifier: Notifier
    client: WebClient | None = None  # opens the rejection modal (the bot token's client)
    background: Background = field(default_factory=Background)

    def __post_init__(self) -> None:
        settings = Settings(home=self.home, ledger_url=self.ledger_url)
        self._request_rt = Runtime(settings, _QueueOnly(self.notifier))
        self._work_rt = Runtime(settings, self.notifier)

    def close(self, timeout: float = 5.0) -> None:
        """At shutdown: let short background work finish, then release the ledger."""
        self.background.join(timeout)
        for rt in (self._request_rt, self._work_rt):
            rt.ledger.close()

    def handle(self, press: Interaction) -> Answer:
        rt = self._request_rt
        try:
            inc = rt.ledger.get(press.incident_id)
        except MlpbError:
            return self._refuse(press, f"no incident {press.incident_id} in this receiver's "
                                "ledger (was it deleted, or is the receiver on another "
                                "MLPB_LEDGER_URL?)")
        profile = _profile(inc)
        if profile is None:
            return self._refuse(press, f"{inc.id} names no readable model profile "
                                f"({inc.profile_path or 'none'}): decide with the CLI, "
                                f"`mlpb approve {inc.id} --as NAME`")
        person = _person(profile, press.user_id)
        if press.kind == "ack":
            return self._ack(press, inc, profile, person)
        if press.kind == "reject" and self._can_reject(inc, profile, person, press.plan_hash):
            return self._open_modal(press, inc, profile)
        decision: Literal["approve", "reject"] = (
            "approve" if press.kind == "approve" else "reject")
        # A Reject press that cannot be accepted is refused for its real reason at once (no
        # modal); the placeholder reason only keeps "needs a reason" from masking it.
        reason = press.reason or ("pressed Reject in Slack" if press.kind == "reject" else "")
        try:  # an unknown Slack user decides as the raw id: refused and recorded by decide
            decide(rt, inc.id, decision, approver=person or press.user_id, channel="slack",
                   reason=reason, profile=profile, plan_hash=press.plan_hash)
        except DecisionRefused as exc:
            return self._refuse(press, exc.message + _unmapped(profile, press, person),
                                modal=press.kind == "reject_reason")
        self.background.submit(lambda: self._carry_out(inc.id, decision == "approve"),
                               f"{decision}-{inc.id}")
        return Answer(200, None if press.kind == "reject_reason" else {
            "response_type": "ephemeral", "replace_original": False,
            "text": f"{decision}d {inc.id} as {person}"})

    # -- the steps -------------------------------------------------------------------------
    def _ack(self, press: Interaction, inc: Incident, profile: ModelProfile,
             person: str | None) -> Answer:
        if person is None:
            why = (f"acknowledge by Slack user {press.user_id} refused: not in owners.slack_ids "
                   f"of {profile.name}")
            self._request_rt.ledger.add_event(inc.id, "action_refused", why,
                                              {"by": press.user_id, "channel": "slack"})
            return self._refuse(press, why + _unmapped(profile, press, person))
        try:
            people.acknowledge(self._request_rt, inc.id, who=person, channel="slack")
        except MlpbError as exc:
            return self._refuse(press, exc.message)
        self.background.submit(lambda: self._carry_out(inc.id, False), f"ack-{inc.id}")
        return Answer(200, {"response_type": "ephemeral", "replace_original": False,
                            "text": f"{inc.id} acknowledged by {person}"})

    @staticmethod
    def _can_reject(inc: Incident, profile: ModelProfile, person: str | None,
                    plan_hash: str | None) -> bool:
        """Worth asking for a reason: anything else is refused (and recorded) at once."""
        req = inc.approval
        return (person is not None and is_approver(profile, person) and req is not None
                and inc.status is IncidentStatus.AWAITING_APPROVAL and req.state == "pending"
                and plan_hash in (None, req.plan_hash))

    def _open_modal(self, press: Interaction, inc: Incident, profile: ModelProfile) -> Answer:
        if self.client is None or not press.trigger_id:
            return self._refuse(press, "cannot ask for the rejection reason here (no Slack bot "
                                f"token on the receiver): `mlpb reject {inc.id} --as NAME "
                                "--reason TEXT`")
        assert inc.approval is not None
        view = reject_modal(press, what=inc.approval.remediation_id, model=inc.model,
                            owner=profile.owners.model)
        try:
            self.client.views_open(trigger_id=press.trigger_id, view=view)
        except Exception as exc:  # expired trigger (over 3 s), Slack down: say so
            return self._refuse(press, f"could not open the rejection form ({type(exc).__name__}"
                                f": {exc}); press Reject again or `mlpb reject {inc.id}`")
        return Answer(200, None)

    def _carry_out(self, incident_id: str, approved: bool) -> None:
        """After the answer: deliver what the request queued, then (approved) apply."""
        rt = self._work_rt
        rt.flush_notifications()
        if approved:
            for step in advance_people_safely(rt, incident_id):
                log.info("%s: %s (%s)", step.incident_id, step.action, step.detail)
            rt.flush_notifications()

    def _refuse(self, press: Interaction, text: str, *, modal: bool = False) -> Answer:
        if modal:  # shown under the modal's reason field; the modal stays open
            return Answer(200, {"response_action": "errors", "errors": {"reason": text[:300]}})
        if press.response_url:
            url = press.response_url
            self.background.submit(lambda: _ephemeral(url, text), "ephemeral")
        return Answer(200, {"response_type": "ephemeral", "replace_original": False,
                            "text": f":no_entry: {text}"})


def _ephemeral(url: str, text: str) -> None:
    resp = WebhookClient(url, timeout=5).send(text=f":no_entry: {text}",
                                              response_type="ephemeral", replace_original=False)
    if resp.status_code != 200:
        log.warning("response_url answered %s: %s", resp.status_code, resp.body)


def _profile(inc: Incident) -> ModelProfile | None:
    if not inc.profile_path:
        return None
    try:
        return load_profile(Path(inc.profile_path))
    except MlpbError:
        return None


def _person(profile: ModelProfile, slack_user: str) -> str | None:
    return next((who for who, uid in profile.owners.slack_ids.items() if uid == slack_user), None)


def _unmapped(profile: ModelProfile, press: Interaction, person: str | None) -> str:
    if person is not None:
        return ""
    return (f" (Slack user {press.user_id} is not mapped to a person: add it under "
            f"owners.slack_ids in {profile.name}'s profile)")
