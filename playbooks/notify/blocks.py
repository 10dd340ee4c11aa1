"""Block Kit messages that always fit Slack's limits.

Slack rejects a message outright (``invalid_blocks`` / ``msg_too_long``) when a limit is
exceeded, so content is truncated here, with a pointer to the full record, instead. The
limits are below Slack's documented ones (50 blocks, 3000-char section text, 150-char
header, 40000-char text) to leave room for escaping and for our own pointer lines."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

__all__ = ["ACK", "APPROVE", "LIMITS", "REJECT", "Button", "Limits", "Message", "build_message",
           "button_value", "clip", "escape", "parse_button_value"]

# action_ids of our buttons; the receiver's /slack/interactions dispatches on them.
APPROVE, REJECT, ACK = "mlpb_approve", "mlpb_reject", "mlpb_ack"


@dataclass(frozen=True)
class Button:
    action_id: str
    text: str
    value: str  # button_value(): the incident id, and for decisions the pinned plan's hash
    style: str | None = None  # "primary" | "danger"
    confirm: str | None = None  # ask "are you sure?" with this text before sending


def button_value(incident_id: str, plan_hash: str = "") -> str:
    """What a button carries back: ``INC-…`` or ``INC-…|sha256:…`` (Slack: <= 2000 chars)."""
    return f"{incident_id}|{plan_hash}" if plan_hash else incident_id


def parse_button_value(value: str) -> tuple[str, str | None]:
    """(incident id, plan hash or None) from ``button_value``'s output."""
    incident_id, _, plan = value.partition("|")
    return incident_id.strip(), plan.strip() or None


def _button(b: Button) -> ButtonElement:
    confirm = None if b.confirm is None else ConfirmObject(
        title="Are you sure?", text=clip(b.confirm, 300), confirm=clip(b.text, 30),
        deny="Cancel")
    return ButtonElement(text=clip(b.text, 75), action_id=b.action_id, value=b.value,
                         style=b.style, confirm=confirm)


@dataclass(frozen=True)
class Limits:
    blocks: int = 45  # Slack: 50 per message
    section_text: int = 2900  # Slack: 3000
    field_text: int = 1900  # Slack: 2000 per section field
    fields: int = 10  # Slack: 10 per section
    header_text: int = 148  # Slack: 150
    context_elements: int = 10  # Slack: 10
    text: int = 3900  # Slack: 40000; the fallback text is a summary, not the whole story
    total_block_text: int = 12_000  # keeps a message readable and well under payload caps


LIMITS = Limits()


@dataclass(frozen=True)
class Message:
    """A rendered message: JSON-ready, so it can sit in the outbox as is."""

    text: str
    blocks: list[dict[str, Any]]

    def to_payload(self) -> dict[str, Any]:
        return {"text": self.text, "blocks": self.blocks}


def escape(s: str) -> str:
    """Slack's three control characters in mrkdwn/plain text."""
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(s: str, limit: int, marker: str = "…") -> str:
    return s if len(s) <= limit else s[: max(limit - len(marker), 0)] + marker


def _chunks(lines: Sequence[str], size: int) -> list[str]:
    """Join lines into texts of at most ``size`` characters; a longer line is split."""
    out: list[str] = []
    cur = ""
    for line in lines:
        while len(line) > size:  # one huge line: hard-split it
            if cur:
                out.append(cur)
                cur = ""
            out.append(line[:size])
            line = line[size:]
        if cur and len(cur) + 1 + len(line) > size:
            out.append(cur)
            cur = line
        else:
            cur = f"{cur}\n{line}" if cur else line
    if cur:
        out.append(cur)
    return out


def build_message(*, header: str | None, body: Sequence[str], fields: Sequence[str] = (),
                  context: Sequence[str] = (), text: str, pointer: str,
                  buttons: Sequence[Button] = (), limits: Limits = LIMITS) -> Message:
    """Header, optional field grid, body sections (mrkdwn lines), buttons, a context line.

    When the body does not fit, it is cut at a line boundary where possible and ``pointer``
    (e.g. "… truncated; full post-mortem: PATH") is added as the last section."""
    blocks: list[Block] = []
    if header:
        blocks.append(HeaderBlock(text=PlainTextObject(text=clip(header, limits.header_text),
                                                       emoji=True)))
    if fields:
        blocks.append(SectionBlock(fields=[MarkdownTextObject(text=clip(f, limits.field_text))
                                           for f in fields[: limits.fields]]))
    reserve = 4  # buttons + divider + context + pointer
    room = limits.blocks - len(blocks) - reserve
    budget = limits.total_block_text - sum(len(f) for f in fields)
    chunks = _chunks([ln for ln in body if ln.strip()], limits.section_text)
    truncated = False
    for chunk in chunks:
        if room <= 0 or budget <= 0:
            truncated = True
            break
        if len(chunk) > budget:
            chunk, truncated = clip(chunk, budget), True
        blocks.append(SectionBlock(text=MarkdownTextObject(text=chunk)))
        room, budget = room - 1, budget - len(chunk)
        if truncated:
            break
    if truncated:
        note = clip(pointer, limits.section_text)
        blocks.append(SectionBlock(text=MarkdownTextObject(text=note)))
    if buttons:  # never cut: they are how people answer
        blocks.append(ActionsBlock(block_id="mlpb_actions",
                                   elements=[_button(b) for b in buttons[:5]]))
    if context:
        blocks.append(DividerBlock())
        blocks.append(ContextBlock(elements=[
            MarkdownTextObject(text=clip(c, limits.field_text))
            for c in context[: limits.context_elements]]))
    fallback = clip(text, limits.text)
    if truncated:
        fallback = clip(text, limits.text - len(pointer) - 1) + "\n" + pointer
    return Message(text=clip(fallback, limits.text), blocks=[b.to_dict() for b in blocks])
