"""Notifiers: where incident status goes. Console is the default; Slack when a token is set."""

from playbooks.notify.base import Notification, Notifier, NotifyKind
from playbooks.notify.console import ConsoleNotifier
from playbooks.notify.slack import (
    RunUrl,
    SlackNotifier,
    SlackSettings,
    TokenLoader,
    slack_configured,
)

__all__ = ["ConsoleNotifier", "Notification", "Notifier", "NotifyKind", "RunUrl", "SlackNotifier",
           "SlackSettings", "TokenLoader", "slack_configured"]
