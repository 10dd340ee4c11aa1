"""Notifiers: where incident status goes. Console is the default; Slack when a token is set."""

from playbooks.notify.base import Notification, Notifier, NotifyKind
from playbooks.notify.console import ConsoleNotifier
from playbooks.notify.slack import SlackNotifier, SlackSettings, slack_configured

__all__ = ["ConsoleNotifier", "Notification", "Notifier", "NotifyKind", "SlackNotifier",
           "SlackSettings", "slack_configured"]
