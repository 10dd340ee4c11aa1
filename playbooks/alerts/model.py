"""The normalized alert every source is parsed into, and the error bad input raises."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from playbooks.errors import MlpbError, validation_problems

__all__ = ["AlertParseError", "AlertSource", "AlertStatus", "ParsedAlert", "decode_json",
           "validate_body"]

AlertSource = Literal["alertmanager", "grafana", "generic"]
M = TypeVar("M", bound=BaseModel)


class AlertStatus(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


class AlertParseError(MlpbError):
    """A request body that is not a valid notification. ``status_code`` is the HTTP answer
    (400: not JSON, 422: JSON of the wrong shape); ``problems`` are (field path, message)."""

    def __init__(self, status_code: int, message: str,
                 problems: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message, hint="see README 'Alerts and deployments' for the payloads")
        self.status_code = status_code
        self.problems = problems or []

    def to_json(self) -> dict[str, Any]:
        return {"error": self.message,
                "problems": [{"field": loc or "<root>", "message": msg}
                             for loc, msg in self.problems]}


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


def decode_json(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, or a 400 that says why not."""
    try:
        data = json.loads(body.decode("utf-8"))  # decode first: json.loads guesses UTF-16/32
    except UnicodeDecodeError:
        raise AlertParseError(400, "body is not UTF-8 text") from None
    except RecursionError:
        raise AlertParseError(400, "body is nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise AlertParseError(400, f"body is not valid JSON: {exc.msg} at line {exc.lineno}, "
                                   f"column {exc.colno}") from None
    if not isinstance(data, dict):
        raise AlertParseError(400, f"expected a JSON object, got {type(data).__name__}")
    return data


def validate_body(model: type[M], data: dict[str, Any], what: str) -> M:
    """``data`` as a ``model``, or a 422 saying it is not ``what`` and naming each bad field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise AlertParseError(422, f"not {what}", validation_problems(exc)) from None
