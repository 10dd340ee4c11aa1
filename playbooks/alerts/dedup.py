"""Dedup keys: one open incident per (playbook, model, alert identity).

The identity is the sender's fingerprint (Alertmanager and Grafana hash the label set; generic
senders may give one), else a hash of the sorted labels. The notification group is left out on
purpose: the same alert routed through two Alertmanager groups is still one problem.
"""

from __future__ import annotations

import hashlib
import json
import re

from playbooks.alerts.model import ParsedAlert

__all__ = ["alert_dedup_key", "labels_fingerprint"]

_SAFE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


def labels_fingerprint(labels: dict[str, str]) -> str:
    canon = json.dumps(sorted(labels.items()), separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canon.encode()).hexdigest()[:16]


def alert_dedup_key(alert: ParsedAlert, playbook: str) -> str:
    fp = alert.fingerprint or ""
    if not _SAFE.match(fp):  # absent, long or odd: hash it so keys stay short and printable
        fp = (hashlib.sha256(fp.encode()).hexdigest()[:16] if fp
              else labels_fingerprint(alert.labels))
    model = alert.model or "-"
    return f"alert:{playbook}:{model[:128]}:{fp}"
