"""Process environment for Prefect, set before Prefect is imported."""

from __future__ import annotations

import os

from playbooks.config import Settings

__all__ = ["prepare_prefect_env"]


def prepare_prefect_env(settings: Settings, *, verbose: bool = False) -> str | None:
    """Point Prefect at the server `make serve` runs for this state dir when it answers, else
    keep Prefect's embedded state in the state dir; a user-set PREFECT_API_URL wins over both.
    Returns the API URL of the server used (None: the embedded one, or the user's)."""
    found = None
    if not os.environ.get("PREFECT_API_URL"):
        from deployments.server_record import RECORD_NAME, live_server_url

        found = live_server_url(settings.home)
        if found:
            os.environ["PREFECT_API_URL"] = found
            from cli.output import err

            err.print(f"[dim]Prefect: the server `make serve` runs for this state dir, {found} "
                      f"({settings.home / RECORD_NAME})[/]", highlight=False, soft_wrap=True)
        # Client-side state (and the embedded server's database) stays in the state dir.
        os.environ.setdefault("PREFECT_HOME", str(settings.home / "prefect"))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO" if verbose else "WARNING")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
    return found
