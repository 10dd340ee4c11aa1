"""Console notifier: the default when no Slack token is set."""

from __future__ import annotations

import sys
from typing import TextIO

from playbooks.i18n import process_locale, translator
from playbooks.notify.base import Notification, render_text

__all__ = ["ConsoleNotifier"]


class ConsoleNotifier:
    """Prints each notification in ``locale``, else the process's (``MLPB_LOCALE``, read
    per message so a test or a CLI flag can set it late), else English."""

    def __init__(self, stream: TextIO | None = None, *, quiet: bool = False,
                 locale: str | None = None) -> None:
        self._stream = stream
        self.quiet = quiet
        self.locale = locale
        self.sent: list[Notification] = []

    def send(self, note: Notification) -> None:
        self.sent.append(note)
        if not self.quiet:
            tr = translator(self.locale or process_locale())
            print(render_text(note, tr), file=self._stream or sys.stderr, flush=True)
