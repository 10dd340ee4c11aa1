"""Which Prefect task runner the playbook flow submits its evidence collectors to.

Unset (the default): Prefect's thread pool in the flow-run process. ``MLPB_TASK_RUNNER=dask``:
prefect-dask's DaskTaskRunner, on the cluster at ``MLPB_DASK_ADDRESS`` (``tcp://host:8786``)
when set, else a local cluster started for the run. Read once, when flows/engine.py is
imported, so a worker's environment (or a work pool's job variables) decides it for every run
it starts. Collectors then read their windows on the Dask workers: the profile's data paths
must be reachable from there (object storage, a shared volume).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from playbooks.errors import ConfigError

__all__ = ["TASK_RUNNER_ENV", "task_runner_from_env"]

TASK_RUNNER_ENV = "MLPB_TASK_RUNNER"
DASK_ADDRESS_ENV = "MLPB_DASK_ADDRESS"


def task_runner_from_env(env: Mapping[str, str] | None = None) -> Any:
    """The task runner ``env`` (default: this process's) asks for, or None for Prefect's
    default; a ``task_runner=`` argument of ``@flow`` / ``Flow.with_options``."""
    env = os.environ if env is None else env
    kind = env.get(TASK_RUNNER_ENV, "").strip().lower()
    if kind in ("", "default", "thread"):
        return None
    if kind == "dask":
        from prefect_dask.task_runners import DaskTaskRunner

        address = env.get(DASK_ADDRESS_ENV, "").strip()
        return DaskTaskRunner(address=address) if address else DaskTaskRunner()
    raise ConfigError(f"{TASK_RUNNER_ENV}={kind!r} is not a task runner",
                      hint=f"use {TASK_RUNNER_ENV}=dask (with {DASK_ADDRESS_ENV}=tcp://host:8786 "
                      "for an existing cluster), or leave it unset for Prefect's thread pool")
