"""Grafana (unified) alerting webhook contact point notifications.

Grafana's body is Alertmanager's plus ``orgId``, ``title``, ``message``, ``state`` and per-alert
``values``/``valueString``/URLs; ``groupKey`` and ``fingerprint`` are there too. Unknown fields
are ignored. The legacy (pre-9) ``evalMatches`` format is refused with a 422 that says so.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from playbooks.alerts.alertmanager import AlertmanagerAlert, webhook_alert
from playbooks.alerts.limits import MAX_ALERTS
from playbooks.alerts.model import AlertParseError, Parsed, decode_json, split_alerts

__all__ = ["GrafanaAlert", "GrafanaNotification", "parse_grafana"]


class GrafanaAlert(AlertmanagerAlert):
    values: dict[str, float | None] | None = Field(None, max_length=128)


class GrafanaNotification(BaseModel):
    model_config = ConfigDict(extra="ignore")

    status: Literal["firing", "resolved"]
    alerts: list[Any] = Field(min_length=1, max_length=MAX_ALERTS)
    receiver: str = Field("", max_length=256)
    orgId: int | None = None
    groupKey: str | None = Field(None, max_length=4096)
    title: str = Field("", max_length=4096)


def parse_grafana(body: bytes) -> Parsed:
    data = decode_json(body)
    if "evalMatches" in data and "alerts" not in data:
        raise AlertParseError(422, "legacy Grafana alerting payload (evalMatches) is not supported",
                              [("alerts", "required field is missing; use a Grafana unified "
                                          "alerting webhook contact point")])
    group = data.get("groupKey") or None
    context = {"receiver": data.get("receiver"), "orgId": data.get("orgId"), "groupKey": group}
    return split_alerts(data, GrafanaNotification, GrafanaAlert,
                        "a Grafana alerting webhook notification",
                        lambda i, a: webhook_alert("grafana", a, data["alerts"][i], group,
                                                   context))
