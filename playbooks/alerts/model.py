"""The normalized alert every source is parsed into, the error bad input raises, and the
per-alert parse result (a notification's good alerts are kept when one of them is bad)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from playbooks.alerts.limits import MAX_MODEL, MAX_PROBLEMS, json_problems, printable
from playbooks.errors import MlpbError, validation_problems

__all__ = ["AlertParseError", "AlertSource", "AlertStatus", "Parsed", "ParsedAlert",
           "RejectedAlert", "capped_problems", "decode_json", "validate_body"]

AlertSource = Literal["alertmanager", "grafana", "generic"]
M = TypeVar("M", bound=BaseModel)
_FIELD_CHARS, _MESSAGE_CHARS = 200, 300  # a field path can quote a hostile key: cut it


class AlertStatus(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


def capped_problems(problems: Sequence[tuple[str, str]],
                    limit: int = MAX_PROBLEMS) -> list[dict[str, str]]:
    """The first ``limit`` problems as JSON, each field and message cut to a readable size
    (a 600 KB bad body must not come back as a 21 MB answer)."""
    return [{"field": printable((loc or "<root>")[:_FIELD_CHARS]),
             "message": printable(msg[:_MESSAGE_CHARS])} for loc, msg in problems[:limit]]


class AlertParseError(MlpbError):
    """A request body that is not a valid notification. ``status_code`` is the HTTP answer
    (400: not JSON, 422: JSON of the wrong shape); ``problems`` are (field path, message)."""

    def __init__(self, status_code: int, message: str,
                 problems: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message, hint="see README 'Alerts and deployments' for the payloads")
        self.status_code = status_code
        self.problems = problems or []

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": printable(self.message[:_MESSAGE_CHARS]),
                               "problems": capped_problems(self.problems)}
        if len(self.problems) > MAX_PROBLEMS:
            out["more_problems"] = len(self.problems) - MAX_PROBLEMS
        return out


class ParsedAlert(BaseModel):
    """One alert, whatever sent it. ``raw`` keeps the alert's own JSON for the ledger."""

    model_config = ConfigDict(frozen=True)

    source: AlertSource
    status: AlertStatus
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    fingerprint: str | None = Field(None, description="Sender's identity of the alert.")
    group_key: str | None = Field(None, description="Alertmanager/Grafana notification group.")
    starts_at: str | None = None
    raw: dict[str, Any] = Field(default_factory=dict)

    @property
    def model(self) -> str | None:
        return self.labels.get("model")

    @property
    def playbook(self) -> str | None:
        return self.labels.get("playbook")

    @property
    def drill(self) -> bool:
        return self.labels.get("drill", "").lower() in ("1", "true", "yes")


@dataclass(frozen=True)
class RejectedAlert:
    """One alert of a notification that was not recorded, and why."""

    index: int
    problems: list[tuple[str, str]]
    fingerprint: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"index": self.index, "problems": capped_problems(self.problems)}
        if self.fingerprint:
            out["fingerprint"] = printable(self.fingerprint[:_FIELD_CHARS])
        return out


@dataclass(frozen=True)
class Parsed:
    """A notification's valid alerts (``indexes``: their positions in it) and the rejected."""

    alerts: list[ParsedAlert]
    indexes: list[int] = field(default_factory=list)
    rejected: list[RejectedAlert] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.indexes:
            object.__setattr__(self, "indexes", list(range(len(self.alerts))))


def decode_json(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, or a 400 that says why not."""
    try:
        # decode first: json.loads guesses UTF-16/32. NaN/Infinity are let through here and
        # refused by json_problems, which knows their field path.
        data = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise AlertParseError(400, "body is not UTF-8 text") from None
    except RecursionError:
        raise AlertParseError(400, "body is nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise AlertParseError(400, f"body is not valid JSON: {exc.msg} at line {exc.lineno}, "
                                   f"column {exc.colno}") from None
    except ValueError as exc:  # an integer literal past Python's digit limit
        raise AlertParseError(422, "body has a number too large to read",
                              [("<root>", str(exc)[:_MESSAGE_CHARS])]) from None
    if not isinstance(data, dict):
        raise AlertParseError(400, f"expected a JSON object, got {type(data).__name__}")
    return data


def validate_body(model: type[M], data: Any, what: str) -> M:
    """``data`` as a ``model``, or a 422 saying it is not ``what`` and naming each bad field."""
    problems = json_problems(data)
    if problems:
        raise AlertParseError(422, f"not {what}", problems)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise AlertParseError(422, f"not {what}", validation_problems(exc)) from None


def label_problems(labels: dict[str, str], prefix: str) -> list[tuple[str, str]]:
    """The labels that name a model or playbook must fit the ledger's columns."""
    return [(f"{prefix}.{name}", f"longer than {MAX_MODEL} characters")
            for name in ("model", "playbook") if len(labels.get(name, "")) > MAX_MODEL]


def split_alerts(data: dict[str, Any], envelope: type[BaseModel], alert: type[M], what: str,
                 build: Callable[[int, M], ParsedAlert]) -> Parsed:
    """A notification whose ``alerts`` are judged one by one: the envelope (every field but
    the alerts) must be valid or the whole body is a 422; a bad alert is rejected with its
    problems (``alerts.<i>.…``) while the good ones go on; all bad is a 422."""
    items = data.get("alerts")
    rest = {k: v for k, v in data.items() if k != "alerts"}
    envelope_problems = json_problems(rest if isinstance(items, list) else data)
    if not envelope_problems:
        try:
            envelope.model_validate(data)
        except ValidationError as exc:
            envelope_problems = validation_problems(exc)
    good: list[ParsedAlert] = []
    indexes: list[int] = []
    rejected: list[RejectedAlert] = []
    for i, item in enumerate(items if isinstance(items, list) else []):
        where = f"alerts.{i}"
        bad = [(f"{where}.{loc}" if loc else where, msg) for loc, msg in json_problems(item)]
        parsed: M | None = None
        if not bad:
            try:
                parsed = alert.model_validate(item)
            except ValidationError as exc:
                bad = [(f"{where}.{loc}" if loc else where, msg)
                       for loc, msg in validation_problems(exc)]
        if parsed is not None:
            bad = label_problems(getattr(parsed, "labels", {}), f"{where}.labels")
        if bad or parsed is None:
            fp = item.get("fingerprint") if isinstance(item, dict) else None
            rejected.append(RejectedAlert(i, bad, fp if isinstance(fp, str) else None))
            continue
        if not envelope_problems:
            good.append(build(i, parsed))
            indexes.append(i)
    if envelope_problems:  # the whole body is refused: say everything that is wrong
        raise AlertParseError(422, f"not {what}",
                              envelope_problems + [p for r in rejected for p in r.problems])
    if not good:
        raise AlertParseError(422, f"not {what}: no alert in it is valid",
                              [p for r in rejected for p in r.problems])
    return Parsed(good, indexes, rejected)
