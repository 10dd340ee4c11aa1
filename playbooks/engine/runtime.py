"""What a playbook run needs besides its inputs: ledger, notifier, model registry.

One place picks the implementations (DESIGN.md §8: external services behind a Protocol)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from playbooks.clock import Clock, clock_for
from playbooks.config import Settings, load_settings
from playbooks.engine.transitions import Event, record_event
from playbooks.errors import MlpbError
from playbooks.ledger import Ledger
from playbooks.models.incident import Incident
from playbooks.models.profile import ModelProfile
from playbooks.modelstore.base import ModelStore
from playbooks.notify import (
    ConsoleNotifier,
    FanoutNotifier,
    Notification,
    Notifier,
    PagerDutyNotifier,
    PagerDutySettings,
    SlackNotifier,
    SlackSettings,
)
from playbooks.notify.slack import RunUrl, TokenLoader

__all__ = ["Runtime"]


@dataclass
class Runtime:
    settings: Settings
    notifier: Notifier = field(default_factory=ConsoleNotifier)

    @classmethod
    def from_env(cls, home: str | None = None, *, quiet: bool = False,
                 token_loader: TokenLoader | None = None, run_url: RunUrl | None = None,
                 ) -> Runtime:
        """``token_loader``/``run_url``: see playbooks.notify.slack (tasks/ passes Prefect's);
        the same loader resolves ``MLPB_PAGERDUTY_KEY_BLOCK``."""
        rt = cls(load_settings(home).ensure(), ConsoleNotifier(quiet=quiet))
        try:  # None without SLACK_BOT_TOKEN / MLPB_SLACK_TOKEN_BLOCK: the console stays
            slack = SlackSettings.from_env(token_loader=token_loader)
        except MlpbError as exc:  # an unloadable token block must not stop the playbook
            logging.getLogger(__name__).warning("Slack disabled, using the console: %s", exc)
            slack = None
        if slack is not None:
            rt.notifier = SlackNotifier(slack, rt.ledger, postmortem_dir=rt.settings.postmortem_dir,
                                        run_url=run_url)
        try:  # PagerDuty beside Slack / the console when a routing key is configured
            pager = PagerDutySettings.from_env(key_loader=token_loader)
        except MlpbError as exc:
            logging.getLogger(__name__).warning("PagerDuty disabled: %s", exc)
            pager = None
        if pager is not None:
            rt.notifier = FanoutNotifier([rt.notifier, PagerDutyNotifier(pager, rt.ledger)])
        return rt

    @cached_property
    def ledger(self) -> Ledger:
        return Ledger(self.settings.ledger_url)

    @cached_property
    def clock(self) -> Clock:
        return clock_for(self.settings.home)

    def now(self) -> datetime:
        return self.clock.now()

    def record(self, inc: Incident, event: Event, message: str, *,
               data: Mapping[str, Any] | None = None, **updates: Any) -> Incident:
        """Apply ``event`` at the engine clock's now and persist it (see transitions)."""
        return record_event(self.ledger, inc, event, message, data=data, at=self.now(),
                            **updates)

    def model_store(self, profile: ModelProfile) -> ModelStore | None:
        """The MLflow model store the profile's model lives in; None without a model."""
        if profile.model is None:
            return None
        from playbooks.modelstore import MlflowModelStore  # lazy: mlflow is slow to import

        trusted = profile.model.trusted_types  # skops may load these too (the profile's own)
        if profile.model.tracking_uri:
            return MlflowModelStore(profile.model.tracking_uri, trusted_types=trusted)
        return MlflowModelStore.local(self.settings.home, trusted_types=trusted)

    def flush_notifications(self) -> None:
        """Deliver notifications an earlier outage left in the outbox; never raises."""
        flush = getattr(self.notifier, "flush", None)
        if flush is None:
            return
        try:
            flush()
        except Exception as exc:  # the backlog waits for the next run or `mlpb notify flush`
            logging.getLogger(__name__).warning("notification flush failed: %s: %s",
                                                type(exc).__name__, exc)

    def notify(self, note: Notification) -> None:
        try:
            self.notifier.send(note)
        except Exception as exc:  # a notifier outage must never fail the playbook
            self.ledger.add_event(note.incident.id, "notify_failed", f"{type(exc).__name__}: {exc}")
