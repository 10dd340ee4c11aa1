"""Alerts in: parsing (Alertmanager, Grafana, generic JSON), authentication, routing, dedup,
intake into the ledger, and the dispatch loop. No Prefect and no HTTP framework here."""

from playbooks.alerts.alertmanager import parse_alertmanager
from playbooks.alerts.auth import Credentials, sign
from playbooks.alerts.dedup import alert_dedup_key, labels_fingerprint
from playbooks.alerts.dispatch import Backoff, DispatchLoop, Launcher, LaunchError
from playbooks.alerts.generic import parse_generic
from playbooks.alerts.grafana import parse_grafana
from playbooks.alerts.intake import AlertIntake, IntakeResult, deployment_name
from playbooks.alerts.model import AlertParseError, AlertSource, AlertStatus, ParsedAlert
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
    "Backoff",
    "Credentials",
    "DispatchLoop",
    "IntakeResult",
    "LaunchError",
    "Launcher",
    "ParsedAlert",
    "Route",
    "RouteDecision",
    "RoutingError",
    "RoutingRules",
    "alert_dedup_key",
    "deployment_name",
    "labels_fingerprint",
    "load_routing_rules",
    "parse_alertmanager",
    "parse_generic",
    "parse_grafana",
    "sign",
]

PARSERS = {"alertmanager": parse_alertmanager, "grafana": parse_grafana, "generic": parse_generic}
