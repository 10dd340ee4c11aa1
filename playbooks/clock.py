"""The one clock the engine reads "now" from.

Production runs on the system clock. A sandbox sets the time by writing it to
``$MLPB_HOME/clock`` (``mlpb sandbox advance`` moves it with the simulated traffic), so
monitoring windows, approval timeouts and escalation timers wait on simulated time in demos,
drills and tests: nothing sleeps. ``MLPB_CLOCK`` (an ISO timestamp) pins it for one process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from playbooks.errors import ConfigError

__all__ = ["CLOCK_FILE", "Clock", "FileClock", "SystemClock", "clock_for", "set_clock"]

CLOCK_FILE = "clock"


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def __repr__(self) -> str:
        return "SystemClock()"


def _parse(text: str, where: str) -> datetime:
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(f"{where}: {text.strip()!r} is not an ISO timestamp",
                          hint="write e.g. 2026-12-01T10:00:00+00:00, or delete it to use "
                          "the system clock") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@dataclass(frozen=True)
class FileClock:
    """Simulated time: the timestamp in ``path``, re-read on every call (another process,
    e.g. ``mlpb sandbox advance``, may move it)."""

    path: Path

    def now(self) -> datetime:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return datetime.now(UTC)
        return _parse(text, str(self.path))


@dataclass(frozen=True)
class _FixedClock:
    when: datetime

    def now(self) -> datetime:
        return self.when


def clock_for(home: Path) -> Clock:
    """``MLPB_CLOCK`` if set, else the sandbox clock file under ``home`` if there is one,
    else the system clock."""
    if pinned := os.environ.get("MLPB_CLOCK"):
        return _FixedClock(_parse(pinned, "MLPB_CLOCK"))
    path = home / CLOCK_FILE
    return FileClock(path) if path.exists() else SystemClock()


def set_clock(home: Path, when: datetime) -> None:
    """Move the sandbox clock under ``home`` to ``when`` (atomically: readers never see a
    half-written time)."""
    if when.tzinfo is None:
        raise ValueError("the clock is in UTC: pass an aware datetime")
    home.mkdir(parents=True, exist_ok=True)
    tmp = home / f".{CLOCK_FILE}.tmp"
    tmp.write_text(when.astimezone(UTC).isoformat(), encoding="utf-8")
    tmp.replace(home / CLOCK_FILE)
