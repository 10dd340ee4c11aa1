"""Rejected requests: counted by the receiver's metrics, and only a sample kept in the ledger
(one row per endpoint and status now and then, with a bounded excerpt of the body), so a
flood of bad or unauthenticated requests cannot fill the ledger."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from playbooks.alerts.limits import MAX_PROBLEMS, printable
from playbooks.alerts.model import capped_problems
from playbooks.ledger.alerts import AlertStore, new_alert_id
from playbooks.ledger.store import LedgerError

__all__ = ["EXCERPT", "RejectionSampler", "excerpt"]

log = logging.getLogger("mlpb.rejections")
EXCERPT = 8 * 1024  # how much of a rejected body a sampled rejection row keeps


class RejectionSampler:
    """Rejections are counted by the caller's metrics; only a sample reaches the ledger: the
    first per (source, status) and then at most one every ``every`` seconds, carrying how
    many were not written since. 500 bad requests are a handful of rows, not 500."""

    def __init__(self, store: AlertStore, every: float = 60.0) -> None:
        self.store, self.every = store, every
        self._last: dict[tuple[str, int], float] = {}
        self._skipped: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()

    def reject(self, source: str, http_status: int, reason: str,
               payload: dict[str, Any] | None = None) -> str | None:
        """The sampled row's alert id, or None when this one was only counted."""
        key, now = (source, http_status), time.monotonic()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self.every:
                self._skipped[key] = self._skipped.get(key, 0) + 1
                return None
            self._last[key] = now
            skipped = self._skipped.pop(key, 0)
        alert_id = new_alert_id()
        try:
            self.store.record(alert_id=alert_id, source=source, status="rejected",
                              dispatch_state="none", http_status=http_status,
                              error=printable(reason[:1000]),
                              payload={**(payload or {}), "not_sampled_before": skipped}
                              if payload or skipped else None)
        except (SQLAlchemyError, LedgerError) as exc:  # the answer stays the 4xx it is
            log.warning("could not sample a rejection: %s", exc)
            return None
        return alert_id


def excerpt(body: bytes, problems: list[tuple[str, str]] | None = None) -> dict[str, Any]:
    """What a sampled rejection keeps of its body: size, the first 8 KiB, 20 problems."""
    out: dict[str, Any] = {"size": len(body),
                           "body": printable(body[:EXCERPT].decode("utf-8", errors="replace"))}
    if problems is not None:
        out["problems"] = capped_problems(problems)
        if len(problems) > MAX_PROBLEMS:
            out["more_problems"] = len(problems) - MAX_PROBLEMS
    return out
