"""Prometheus Alertmanager webhook notifications (payload version 4).

Unknown fields are ignored so newer Alertmanagers keep working; the fields we rely on are
checked and a wrong one is a 422 naming its path (e.g. ``alerts.0.status``).
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

__all__ = ["AlertmanagerAlert", "AlertmanagerNotification", "parse_alertmanager"]


class AlertmanagerAlert(BaseModel):
    model_config = ConfigDict(extra="ignore")

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: str | None = None
    endsAt: str | None = None
    generatorURL: str | None = None
    fingerprint: str | None = None


class AlertmanagerNotification(BaseModel):
    model_config = ConfigDict(extra="ignore")

    version: Literal["4"] = Field(description="Webhook payload version; only 4 exists today.")
    groupKey: str
    status: Literal["firing", "resolved"]
    receiver: str = ""
    alerts: list[AlertmanagerAlert] = Field(min_length=1)
    groupLabels: dict[str, str] = Field(default_factory=dict)
    commonLabels: dict[str, str] = Field(default_factory=dict)
    commonAnnotations: dict[str, str] = Field(default_factory=dict)
    externalURL: str = ""
    truncatedAlerts: int = 0


def parse_alertmanager(body: bytes) -> list[ParsedAlert]:
    data = decode_json(body)
    try:
        note = AlertmanagerNotification.model_validate(data)
    except ValidationError as exc:
        raise AlertParseError(422, "not an Alertmanager webhook notification (version 4)",
                              validation_problems(exc)) from None
    raw_alerts: list[Any] = data["alerts"]
    return [ParsedAlert(source="alertmanager", status=AlertStatus(a.status), labels=a.labels,
                        annotations=a.annotations, fingerprint=a.fingerprint,
                        group_key=note.groupKey, starts_at=a.startsAt,
                        raw={"receiver": note.receiver, "groupKey": note.groupKey,
                             "alert": raw_alerts[i]})
            for i, a in enumerate(note.alerts)]
