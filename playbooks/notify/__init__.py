"""Notifiers: where incident status goes. Console is the default; Slack when a token is set;
PagerDuty beside either when a routing key is set (FanoutNotifier)."""

from playbooks.notify.base import (
    FanoutNotifier,
    Notification,
    Notifier,
    NotifyKind,
    find_notifier,
)
from playbooks.notify.console import ConsoleNotifier
from playbooks.notify.pagerduty import PagerDutyNotifier, PagerDutySettings
from playbooks.notify.slack import (
    RunUrl,
    SlackNotifier,
    SlackSettings,
    TokenLoader,
    slack_configured,
)

__all__ = ["ConsoleNotifier", "FanoutNotifier", "Notification", "Notifier", "NotifyKind",
           "PagerDutyNotifier", "PagerDutySettings", "RunUrl", "SlackNotifier", "SlackSettings",
           "TokenLoader", "find_notifier", "slack_configured"]
