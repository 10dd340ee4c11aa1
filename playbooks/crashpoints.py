"""Kill points: a test hook that lets the crash-matrix tests kill a process at an exact step.

Code that changes the world calls ``crash_point("<remediation>:<step>")`` at each step
boundary (before/after every external call). When the environment variable ``MLPB_CRASH_AT``
equals that name, the process SIGKILLs itself there - no cleanup, no ``finally``, exactly like
a machine dying - so a test can check that recovery undoes whatever got done. Otherwise it
is a no-op costing one dictionary lookup. Never set ``MLPB_CRASH_AT`` outside tests.
"""

from __future__ import annotations

import os
import signal

__all__ = ["CRASH_ENV", "crash_point"]

CRASH_ENV = "MLPB_CRASH_AT"


def crash_point(name: str) -> None:
    """Die here, at once and without cleanup, when ``$MLPB_CRASH_AT == name`` (tests only)."""
    if os.environ.get(CRASH_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
