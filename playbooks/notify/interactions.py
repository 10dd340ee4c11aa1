"""Slack interactivity, the pure part: check a request's signature (slack-sdk's
``SignatureVerifier``: ``v0=`` HMAC-SHA256 over ``v0:timestamp:body``, 5-minute window), parse
the form-encoded ``payload`` of a button press or of the rejection modal's submission, and
build that modal. deployments/slack_interactions.py acts on what comes out."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qs

from slack_sdk.signature import SignatureVerifier

from playbooks.notify.blocks import ACK, APPROVE, REJECT, clip, escape, parse_button_value

__all__ = ["MAX_AGE_S", "REJECT_MODAL", "Interaction", "InteractionError", "header_problem",
           "parse_interaction", "reject_modal", "signature_problem"]

MAX_AGE_S = 5 * 60  # Slack's documented replay window
REJECT_MODAL = "mlpb_reject"  # the modal's callback_id
_REASON = "reason"  # block_id and action_id of the modal's text input


class InteractionError(Exception):
    """A request that is not a usable interaction (the HTTP status says which kind)."""

    def __init__(self, http_status: int, message: str) -> None:
        super().__init__(message)
        self.http_status, self.message = http_status, message


@dataclass(frozen=True)
class Interaction:
    kind: Literal["approve", "reject", "ack", "reject_reason"]
    incident_id: str
    plan_hash: str | None
    user_id: str  # Slack's user id (U…): mapped to a person by the profile's owners.slack_ids
    user_name: str
    trigger_id: str | None = None  # opens the rejection modal (valid 3 s)
    response_url: str | None = None  # where ephemeral answers go (block actions)
    reason: str = ""


def header_problem(secret: str | None, headers: Any, *, now: float | None = None) -> str | None:
    """What can be refused before the body is read: no signing secret configured, missing
    signature headers, a timestamp outside the window. ``headers``: a mapping with
    case-insensitive ``get`` (Starlette's) or lower-case keys."""
    if not secret:
        return ("Slack interactivity is not configured on this receiver: set "
                "SLACK_SIGNING_SECRET to the app's Signing Secret (Slack app → Basic "
                "Information → App Credentials) and restart it")
    ts, sig = headers.get("x-slack-request-timestamp"), headers.get("x-slack-signature")
    if not ts or not sig:
        return ("missing Slack signature: X-Slack-Request-Timestamp and X-Slack-Signature "
                "are required (requests must come from Slack)")
    if not str(ts).isdigit():
        return "X-Slack-Request-Timestamp is not a Unix time in seconds"
    clock = time.time() if now is None else now
    if abs(clock - int(ts)) > MAX_AGE_S:
        return (f"stale Slack request: its timestamp is {int(clock - int(ts))} s from this "
                f"receiver's clock (at most {MAX_AGE_S} s); check the receiver's clock (NTP)")
    return None


def signature_problem(secret: str | None, headers: Any, body: bytes, *,
                      now: float | None = None) -> str | None:
    """Why the request is not verifiably from Slack, or None (slack-sdk's verifier)."""
    problem = header_problem(secret, headers, now=now)
    if problem is not None or secret is None:
        return problem
    verifier = SignatureVerifier(secret)
    if not verifier.is_valid(body=body, timestamp=str(headers.get("x-slack-request-timestamp")),
                             signature=str(headers.get("x-slack-signature"))):
        return ("invalid Slack signature: the body was not signed with this app's signing "
                "secret (check SLACK_SIGNING_SECRET)")
    return None


def _payload(body: bytes) -> dict[str, Any]:
    try:
        form = parse_qs(body.decode("utf-8"), strict_parsing=True, max_num_fields=4)
        data = json.loads(form["payload"][0])
    except (UnicodeDecodeError, ValueError, KeyError, IndexError):
        raise InteractionError(400, "expected a form-encoded 'payload' field holding Slack's "
                               "interaction JSON") from None
    if not isinstance(data, dict):
        raise InteractionError(400, "the interaction payload is not a JSON object")
    return data


def _obj(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def _user(data: dict[str, Any]) -> tuple[str, str]:
    user = _obj(data, "user")
    uid = str(user.get("id") or "")
    if not uid:
        raise InteractionError(400, "the interaction names no user (user.id)")
    return uid, str(user.get("username") or user.get("name") or uid)


def parse_interaction(body: bytes) -> Interaction:
    """A button press (block_actions) or the rejection modal (view_submission)."""
    data = _payload(body)
    uid, name = _user(data)
    if data.get("type") == "view_submission":
        view = _obj(data, "view")
        if view.get("callback_id") != REJECT_MODAL:
            raise InteractionError(400, f"unknown modal {view.get('callback_id')!r}")
        try:
            meta = json.loads(view.get("private_metadata") or "{}")
            values = view["state"]["values"][_REASON][_REASON]
        except (ValueError, KeyError, TypeError):
            raise InteractionError(400, "the rejection modal came back without its incident "
                                   "or reason field") from None
        return Interaction("reject_reason", str(meta.get("incident") or ""),
                           meta.get("plan_hash") or None, uid, name,
                           response_url=meta.get("response_url") or None,
                           reason=str(values.get("value") or "").strip())
    if data.get("type") != "block_actions":
        raise InteractionError(400, f"unsupported interaction type {data.get('type')!r} "
                               "(block_actions and view_submission are handled)")
    actions = data.get("actions")
    if not isinstance(actions, list) or not actions or not isinstance(actions[0], dict):
        raise InteractionError(400, "block_actions without actions")
    action = actions[0]
    kinds = {APPROVE: "approve", REJECT: "reject", ACK: "ack"}
    kind = kinds.get(str(action.get("action_id")))
    if kind is None:
        raise InteractionError(400, f"unknown action_id {action.get('action_id')!r}")
    incident_id, plan = parse_button_value(str(action.get("value") or ""))
    if not incident_id:
        raise InteractionError(400, "the button carries no incident id")
    return Interaction(kind, incident_id, plan, uid, name,  # type: ignore[arg-type]
                       trigger_id=data.get("trigger_id") or None,
                       response_url=data.get("response_url") or None)


def reject_modal(press: Interaction, *, what: str, model: str, owner: str) -> dict[str, Any]:
    """The modal a Reject press opens: the reason is required (it is recorded)."""
    meta = json.dumps({"incident": press.incident_id, "plan_hash": press.plan_hash or "",
                       "response_url": press.response_url or ""})
    return {
        "type": "modal", "callback_id": REJECT_MODAL, "private_metadata": meta[:3000],
        "title": {"type": "plain_text", "text": "Reject the change"},
        "submit": {"type": "plain_text", "text": "Reject"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": clip(
                f"Reject *{escape(what)}* on *{escape(model)}* ({escape(press.incident_id)})? "
                f"Nothing is applied; the incident goes to {escape(owner)}.", 2900)}},
            {"type": "input", "block_id": _REASON,
             "label": {"type": "plain_text", "text": "Why not? (recorded on the incident)"},
             "element": {"type": "plain_text_input", "action_id": _REASON, "multiline": True,
                         "min_length": 3, "max_length": 2000}},
        ],
    }
