"""Where state lives. One state directory holds the ledger, the MLflow store, the sandbox
and post-mortems; ``MLPB_HOME`` moves it, ``MLPB_LEDGER_URL`` moves only the ledger."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Settings", "load_settings"]


@dataclass(frozen=True)
class Settings:
    home: Path
    ledger_url: str

    @property
    def postmortem_dir(self) -> Path:
        return self.home / "postmortems"

    @property
    def sandbox_dir(self) -> Path:
        return self.home / "sandbox"

    def ensure(self) -> Settings:
        self.home.mkdir(parents=True, exist_ok=True)
        self.postmortem_dir.mkdir(parents=True, exist_ok=True)
        return self


def load_settings(home: str | Path | None = None) -> Settings:
    """Read settings from the environment; ``home`` overrides ``MLPB_HOME``."""
    root = Path(home or os.environ.get("MLPB_HOME") or ".mlpb").expanduser().resolve()
    url = os.environ.get("MLPB_LEDGER_URL") or f"sqlite:///{root / 'ledger.db'}"
    return Settings(home=root, ledger_url=url)
