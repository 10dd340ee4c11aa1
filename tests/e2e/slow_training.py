"""A training entrypoint that signals it started and then blocks, so a test can kill the
process mid-remediation. Used only by test_killed_run.py (through a profile): it writes one
byte to the pipe whose write end ``$MLPB_TEST_TRAINING_FD`` names, then waits for a signal
that never comes (the test SIGKILLs the run)."""

from __future__ import annotations

import os
import threading
from typing import Any

from playbooks.sandbox.model import train as sandbox_train


def train(frame: Any, **kwargs: Any) -> Any:
    model = sandbox_train(frame, **kwargs)
    os.write(int(os.environ["MLPB_TEST_TRAINING_FD"]), b"t")
    threading.Event().wait()  # killed while blocked here
    return model
