"""Task defaults: no caching (tasks have side effects or take in-memory frames) and no
result persistence."""

from __future__ import annotations

from typing import Any

from prefect.cache_policies import NO_CACHE

__all__ = ["TASK_DEFAULTS"]

TASK_DEFAULTS: dict[str, Any] = {"cache_policy": NO_CACHE, "persist_result": False}
