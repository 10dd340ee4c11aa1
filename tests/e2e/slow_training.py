"""A training entrypoint that signals it started and then blocks, so a test can kill the
process mid-remediation. Used only by test_killed_run.py (through a profile)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from playbooks.sandbox.model import train as sandbox_train


def train(frame: Any, **kwargs: Any) -> Any:
    model = sandbox_train(frame, **kwargs)
    marker = Path(os.environ["MLPB_TEST_TRAINING_MARKER"])
    marker.write_text("training")
    time.sleep(600)  # killed long before this ends
    return model
