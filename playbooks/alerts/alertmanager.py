"""Prometheus Alertmanager webhook notifications (payload version 4).

Unknown fields are ignored so newer Alertmanagers keep working; the fields we rely on are
checked and a wrong one is a 422 naming its path (e.g. ``alerts.0.status``). A bad alert in a
group is refused on its own: the group's good alerts are still recorded (see ``split_alerts``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from playbooks.alerts.limits import MAX_ALERTS, Annotations, Labels
from playbooks.alerts.model import (
    AlertSource,
    AlertStatus,
    Parsed,
    ParsedAlert,
    decode_json,
    split_alerts,
)

__all__ = ["AlertmanagerAlert", "AlertmanagerNotification", "parse_alertmanager",
           "webhook_alert"]

_ID = Field(None, max_length=256)


class AlertmanagerAlert(BaseModel):
    """One alert of a notification; Grafana's alerts have this shape too."""

    model_config = ConfigDict(extra="ignore")

    status: Literal["firing", "resolved"]
    labels: Labels
    annotations: Annotations = Field(default_factory=dict)
    startsAt: str | None = Field(None, max_length=64)
    endsAt: str | None = Field(None, max_length=64)
    generatorURL: str | None = Field(None, max_length=4096)
    fingerprint: str | None = _ID


class AlertmanagerNotification(BaseModel):
    """The envelope; each alert is validated on its own (``AlertmanagerAlert``)."""

    model_config = ConfigDict(extra="ignore")

    version: Literal["4"] = Field(description="Webhook payload version; only 4 exists today.")
    groupKey: str = Field(min_length=1, max_length=4096)
    status: Literal["firing", "resolved"]
    receiver: str = Field("", max_length=256)
    alerts: list[Any] = Field(min_length=1, max_length=MAX_ALERTS)
    groupLabels: Labels = Field(default_factory=dict)
    commonLabels: Labels = Field(default_factory=dict)
    commonAnnotations: Annotations = Field(default_factory=dict)
    externalURL: str = Field("", max_length=4096)
    truncatedAlerts: int = Field(0, ge=0)


def webhook_alert(source: AlertSource, alert: AlertmanagerAlert, raw: Any,
                  group_key: str | None, context: dict[str, Any]) -> ParsedAlert:
    """The ParsedAlert of one alert of an Alertmanager-shaped notification; it keeps its own
    JSON ``raw`` beside the notification's ``context`` (receiver, group...) for the ledger."""
    return ParsedAlert(source=source, status=AlertStatus(alert.status), labels=alert.labels,
                       annotations=alert.annotations, fingerprint=alert.fingerprint,
                       group_key=group_key, starts_at=alert.startsAt,
                       raw={**context, "alert": raw})


def parse_alertmanager(body: bytes) -> Parsed:
    data = decode_json(body)
    what = "an Alertmanager webhook notification (version 4)"
    context = {"receiver": data.get("receiver"), "groupKey": data.get("groupKey")}
    return split_alerts(data, AlertmanagerNotification, AlertmanagerAlert, what,
                        lambda i, a: webhook_alert("alertmanager", a, data["alerts"][i],
                                                   data["groupKey"], context))
