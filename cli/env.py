"""Process environment for embedded Prefect, set before Prefect is imported."""

from __future__ import annotations

import os

from playbooks.config import Settings

__all__ = ["prepare_prefect_env"]


def prepare_prefect_env(settings: Settings, *, verbose: bool = False) -> None:
    """Keep Prefect's embedded state in the state dir unless the user configured Prefect."""
    if not os.environ.get("PREFECT_API_URL"):
        os.environ.setdefault("PREFECT_HOME", str(settings.home / "prefect"))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO" if verbose else "WARNING")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
