"""Prometheus Alertmanager webhook notifications (payload version 4).

Unknown fields are ignored so newer Alertmanagers keep working; the fields we rely on are
checked and a wrong one is a 422 naming its path (e.g. ``alerts.0.status``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from playbooks.alerts.model import (
    AlertSource,
    AlertStatus,
    ParsedAlert,
    decode_json,
    validate_body,
)

__all__ = ["AlertmanagerAlert", "AlertmanagerNotification", "parse_alertmanager",
           "webhook_alerts"]


class AlertmanagerAlert(BaseModel):
    """One alert of a notification; Grafana's alerts have this shape too."""

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


def webhook_alerts(source: AlertSource, alerts: Sequence[AlertmanagerAlert],
                   data: dict[str, Any], group_key: str | None,
                   context: dict[str, Any]) -> list[ParsedAlert]:
    """One ParsedAlert per alert of an Alertmanager-shaped notification ``data``; each keeps
    its own JSON beside the notification's ``context`` (receiver, group...) for the ledger."""
    raw_alerts: list[Any] = data["alerts"]
    return [ParsedAlert(source=source, status=AlertStatus(a.status), labels=a.labels,
                        annotations=a.annotations, fingerprint=a.fingerprint,
                        group_key=group_key, starts_at=a.startsAt,
                        raw={**context, "alert": raw_alerts[i]})
            for i, a in enumerate(alerts)]


def parse_alertmanager(body: bytes) -> list[ParsedAlert]:
    data = decode_json(body)
    note = validate_body(AlertmanagerNotification, data,
                         "an Alertmanager webhook notification (version 4)")
    return webhook_alerts("alertmanager", note.alerts, data, note.groupKey,
                          {"receiver": note.receiver, "groupKey": note.groupKey})
