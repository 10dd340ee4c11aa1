"""The Prefect side of dispatch: start a playbook's deployment, read run states.

``create_flow_run_from_deployment(..., idempotency_key=incident id)``: Prefect returns the
existing run for a key it has seen, so a retry after a lost answer starts nothing new.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import httpx

from playbooks.alerts.dispatch import LaunchError

__all__ = ["PrefectLauncher"]


class PrefectLauncher:
    def __init__(self, api_url: str, *, timeout: float = 10.0,
                 not_found_attempts: int = 30) -> None:
        self.api_url = api_url.rstrip("/")
        self.timeout = timeout
        # A missing deployment is usually `serve` still starting (retry), but one that never
        # appears (a playbook removed from the catalog) must end in an escalation, not a loop.
        self.not_found_attempts = not_found_attempts

    def _client(self) -> Any:
        from prefect.client.orchestration import SyncPrefectClient

        # A fresh client per call: Prefect's client does not retry a refused connection
        # before its first success, so an outage fails fast and our backoff takes over.
        return SyncPrefectClient(self.api_url, httpx_settings={"timeout": self.timeout})

    def launch(self, deployment: str, parameters: dict[str, Any], idempotency_key: str) -> str:
        from prefect.exceptions import ObjectNotFound, PrefectHTTPStatusError

        try:
            with self._client() as client:
                dep = client.read_deployment_by_name(deployment)
                run = client.create_flow_run_from_deployment(
                    dep.id, parameters=parameters, idempotency_key=idempotency_key,
                    tags=["mlpb", "alert"])
                return str(run.id)
        except ObjectNotFound:
            raise LaunchError(f"Prefect deployment '{deployment}' not found at {self.api_url}; "
                              "start the deployments (`make serve` or "
                              "`python -m deployments.serve`)", retryable=True,
                              give_up_after=self.not_found_attempts) from None
        except PrefectHTTPStatusError as exc:
            code = exc.response.status_code
            raise LaunchError(f"Prefect API answered {code} for '{deployment}': "
                              f"{exc.response.text[:300]}",
                              retryable=code >= 500 or code in (408, 429)) from None
        except (httpx.TransportError, OSError) as exc:
            raise LaunchError(f"Prefect API unreachable at {self.api_url}: "
                              f"{type(exc).__name__}: {exc}", retryable=True) from None

    def run_states(self, run_ids: list[str]) -> dict[str, str]:
        from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

        try:
            with self._client() as client:
                runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(
                    id=FlowRunFilterId(any_=[UUID(r) for r in run_ids])), limit=len(run_ids))
        except (httpx.HTTPError, OSError) as exc:
            raise LaunchError(f"Prefect API unreachable: {exc}", retryable=True) from None
        return {str(r.id): r.state_type.value for r in runs if r.state_type is not None}
