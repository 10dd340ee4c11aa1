"""What the core library needs from Prefect, handed down as plain callables.

playbooks/ never imports Prefect (DESIGN.md §4); the notifier takes a token loader for
``MLPB_SLACK_TOKEN_BLOCK`` and a provider of the current run's UI link instead, and this
module supplies the Prefect ones. Prefect is imported inside the functions so that the CLI
can import this module before it has set up Prefect's environment (cli/env.py)."""

from __future__ import annotations

from playbooks.engine.runtime import Runtime

__all__ = ["flow_run_url", "prefect_runtime", "secret_block_token"]


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
