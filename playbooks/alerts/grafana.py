"""Grafana (unified) alerting webhook contact point notifications.

Grafana's body is Alertmanager's plus ``orgId``, ``title``, ``message``, ``state`` and per-alert
``values``/``valueString``/URLs; ``groupKey`` and ``fingerprint`` are there too. Unknown fields
are ignored. The legacy (pre-9) ``evalMatches`` format is refused with a 422 that says so.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from playbooks.alerts.alertmanager import AlertmanagerAlert, webhook_alerts
from playbooks.alerts.model import AlertParseError, ParsedAlert, decode_json, validate_body

__all__ = ["GrafanaAlert", "GrafanaNotification", "parse_grafana"]


class GrafanaAlert(AlertmanagerAlert):
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
    note = validate_body(GrafanaNotification, data, "a Grafana alerting webhook notification")
    return webhook_alerts("grafana", note.alerts, data, note.groupKey,
                          {"receiver": note.receiver, "orgId": note.orgId,
                           "groupKey": note.groupKey})
