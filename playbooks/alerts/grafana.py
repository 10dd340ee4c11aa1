"""Grafana (unified) alerting webhook contact point notifications.

Grafana's body is Alertmanager's plus ``orgId``, ``title``, ``message``, ``state`` and per-alert
``values``/``valueString``/URLs; ``groupKey`` and ``fingerprint`` are there too. Unknown fields
are ignored. The legacy (pre-9) ``evalMatches`` format is refused with a 422 that says so.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from playbooks.alerts.model import (
    AlertParseError,
    AlertStatus,
    ParsedAlert,
    decode_json,
)
from playbooks.errors import validation_problems

__all__ = ["GrafanaAlert", "GrafanaNotification", "parse_grafana"]


class GrafanaAlert(BaseModel):
    model_config = ConfigDict(extra="ignore")

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: str | None = None
    fingerprint: str | None = None
    values: dict[str, float | None] | None = None


class GrafanaNotification(BaseModel):
    model_config = ConfigDict(extra="ignore")

    status: Literal["firing", "resolved"]
    alerts: list[GrafanaAlert] = Field(min_length=1)
    receiver: str = ""
    orgId: int | None = None
    groupKey: str | None = None
    title: str = ""


def parse_grafana(body: bytes) -> list[ParsedAlert]:
    data = decode_json(body)
    if "evalMatches" in data and "alerts" not in data:
        raise AlertParseError(422, "legacy Grafana alerting payload (evalMatches) is not supported",
                              [("alerts", "required field is missing; use a Grafana unified "
                                          "alerting webhook contact point")])
    try:
        note = GrafanaNotification.model_validate(data)
    except ValidationError as exc:
        raise AlertParseError(422, "not a Grafana alerting webhook notification",
                              validation_problems(exc)) from None
    raw_alerts: list[Any] = data["alerts"]
    return [ParsedAlert(source="grafana", status=AlertStatus(a.status), labels=a.labels,
                        annotations=a.annotations, fingerprint=a.fingerprint,
                        group_key=note.groupKey, starts_at=a.startsAt,
                        raw={"receiver": note.receiver, "orgId": note.orgId,
                             "groupKey": note.groupKey, "alert": raw_alerts[i]})
            for i, a in enumerate(note.alerts)]
