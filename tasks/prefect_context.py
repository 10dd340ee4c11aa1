"""What the core library needs from Prefect, handed down as plain callables.

playbooks/ never imports Prefect (DESIGN.md §4); the notifier takes a token loader for
``MLPB_SLACK_TOKEN_BLOCK`` and a provider of the current run's UI link instead, and this
module supplies the Prefect ones. Prefect is imported inside the functions so that the CLI
can import this module before it has set up Prefect's environment (cli/env.py)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from playbooks.engine.decide import Decision
from playbooks.engine.runtime import Runtime
from playbooks.models.incident import Incident

__all__ = ["flow_run_url", "label_flow_run", "log_decision", "outcome", "prefect_runtime",
           "secret_block_token"]


def secret_block_token(name: str) -> str:
    """The value of the Prefect Secret block ``name`` (raises when it cannot be loaded)."""
    from prefect.blocks.system import Secret

    block = Secret.load(name)
    if not isinstance(block, Secret):  # load() returns aload()'s coroutine in an event loop
        block.close()
        raise RuntimeError("secret_block_token() must be called from synchronous code")
    return str(block.get()).strip()


def flow_run_url() -> str | None:
    """The Prefect UI address of the current flow run; None outside a run or without a UI."""
    from prefect.runtime import flow_run

    url = str(flow_run.ui_url or "")
    return url if url.startswith(("http://", "https://")) else None  # "None/…" without a UI


def prefect_runtime(home: str | None = None, *, quiet: bool = False) -> Runtime:
    """``Runtime.from_env`` with Prefect's secret blocks and run links wired in."""
    return Runtime.from_env(home, quiet=quiet, token_loader=secret_block_token,
                            run_url=flow_run_url)


def label_flow_run(*, name: str | None = None, tags: Sequence[str] = ()) -> None:
    """Rename the current flow run and/or add tags (what the UI lists). Cosmetic: outside a
    run it does nothing, and an API hiccup is logged, never raised."""
    from prefect.client.orchestration import get_client
    from prefect.context import FlowRunContext

    ctx = FlowRunContext.get()
    if ctx is None or ctx.flow_run is None:
        return
    run = ctx.flow_run
    try:
        with get_client(sync_client=True) as client:
            current = client.read_flow_run(run.id)
            client.update_flow_run(run.id, name=name or current.name,
                                   tags=sorted({*current.tags, *tags}))
    except Exception as exc:  # the run itself must not fail over its label
        logging.getLogger(__name__).warning("could not label flow run %s: %s: %s", run.id,
                                            type(exc).__name__, exc)


def outcome(inc: Incident) -> tuple[str, str]:
    """(tag word, final-state message) from the incident's status, whatever statuses exist:
    'resolved', 'false_alarm', 'escalated', 'awaiting_approval', 'diagnosed', ..."""
    word = inc.status.value
    text = f"{word.replace('_', ' ')}: {inc.id} ({inc.playbook})"
    if inc.root_cause is not None:
        text += f"; root cause {inc.root_cause.hypothesis_id} " \
                f"({inc.root_cause.confidence:.0%}): {inc.root_cause.summary}"
    if inc.escalated_to:
        text += f"; escalated to {inc.escalated_to}"
    return word, text[:1000]


def log_decision(inc: Incident, decision: Decision) -> None:
    """Root cause and decision into the run's log (the Prefect UI's Logs tab)."""
    from prefect import get_run_logger

    log = get_run_logger()
    root = decision.root_cause
    log.info("%s root cause: %s", inc.id, f"{root.hypothesis_id} ({root.confidence:.0%}): "
             f"{root.summary}" if root else "none supported with enough confidence")
    what = decision.action + (f" with {', '.join(decision.remediations)}"
                              if decision.remediations else "")
    log.info("%s decision: %s; %s", inc.id, what, decision.reason)
