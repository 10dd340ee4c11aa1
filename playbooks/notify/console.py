"""Console notifier: the default when no Slack token is set."""

from __future__ import annotations

import sys
from typing import TextIO

from playbooks.notify.base import Notification, render_text

__all__ = ["ConsoleNotifier"]


class ConsoleNotifier:
    def __init__(self, stream: TextIO | None = None, *, quiet: bool = False) -> None:
        self._stream = stream
        self.quiet = quiet
        self.sent: list[Notification] = []

    def send(self, note: Notification) -> None:
        self.sent.append(note)
        if not self.quiet:
            print(render_text(note), file=self._stream or sys.stderr, flush=True)
