"""Notifiers: where incident status goes. Console is the default; Slack plugs in later."""

from playbooks.notify.base import Notification, Notifier, NotifyKind
from playbooks.notify.console import ConsoleNotifier

__all__ = ["ConsoleNotifier", "Notification", "Notifier", "NotifyKind"]
