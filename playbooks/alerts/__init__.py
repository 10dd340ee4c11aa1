"""Alerts in: parsing (Alertmanager, Grafana, generic JSON) with the limits bad input meets,
authentication (bearer, timestamped HMAC, replay guard), routing, dedup and grouping, intake
into the ledger, metrics, and the dispatch loop. No Prefect and no HTTP framework here."""

from playbooks.alerts.alertmanager import parse_alertmanager
from playbooks.alerts.auth import AuthError, Credentials, ReplayGuard, SignedRequest, sign
from playbooks.alerts.dedup import alert_dedup_key, incident_key, labels_fingerprint, member_key
from playbooks.alerts.dispatch import Backoff, DispatchLoop, Launcher, LaunchError
from playbooks.alerts.generic import parse_generic
from playbooks.alerts.grafana import parse_grafana
from playbooks.alerts.intake import (
    AlertIntake,
    IntakeResult,
    NotRecorded,
    Outcome,
    Replayed,
    deployment_name,
)
from playbooks.alerts.metrics import ReceiverMetrics
from playbooks.alerts.model import (
    AlertParseError,
    AlertSource,
    AlertStatus,
    Parsed,
    ParsedAlert,
    RejectedAlert,
)
from playbooks.alerts.rejections import excerpt
from playbooks.alerts.routing import (
    Route,
    RouteDecision,
    RoutingError,
    RoutingRules,
    load_routing_rules,
)

__all__ = [
    "PARSERS",
    "AlertIntake",
    "AlertParseError",
    "AlertSource",
    "AlertStatus",
    "AuthError",
    "Backoff",
    "Credentials",
    "DispatchLoop",
    "IntakeResult",
    "LaunchError",
    "Launcher",
    "NotRecorded",
    "Outcome",
    "Parsed",
    "ParsedAlert",
    "ReceiverMetrics",
    "RejectedAlert",
    "ReplayGuard",
    "Replayed",
    "Route",
    "RouteDecision",
    "RoutingError",
    "RoutingRules",
    "SignedRequest",
    "alert_dedup_key",
    "deployment_name",
    "excerpt",
    "incident_key",
    "labels_fingerprint",
    "load_routing_rules",
    "member_key",
    "parse_alertmanager",
    "parse_generic",
    "parse_grafana",
    "sign",
]

PARSERS = {"alertmanager": parse_alertmanager, "grafana": parse_grafana, "generic": parse_generic}
