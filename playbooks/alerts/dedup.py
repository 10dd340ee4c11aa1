"""Dedup keys: which open incident an alert belongs to.

- An alert that came in a notification group (Alertmanager ``groupKey``, Grafana's group key)
  belongs to the group's incident for its playbook and model: ``group:<playbook>:<model>:<h>``
  (``h`` a hash of the group key). Three per-feature drift alerts grouped by Alertmanager are
  one incident and one run; a group that spans models has one incident per model (a playbook
  runs on one model).
- Otherwise (generic webhooks, drills) the alert's own identity decides:
  ``alert:<playbook>:<model>:<fingerprint>``, the sender's fingerprint, else a hash of the
  sorted labels.
- An alert nothing can route waits for a human in ``unrouted:<model>:<group or identity>``.

``member_key`` is an alert's identity inside its incident's group (the members table).
"""

from __future__ import annotations

import hashlib
import json
import re

from playbooks.alerts.model import ParsedAlert

__all__ = ["alert_dedup_key", "incident_key", "labels_fingerprint", "member_key",
           "unrouted_key"]

_SAFE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


def _h(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "backslashreplace")).hexdigest()[:16]


def labels_fingerprint(labels: dict[str, str]) -> str:
    canon = json.dumps(sorted(labels.items()), separators=(",", ":"), ensure_ascii=False)
    return _h(canon)


def member_key(alert: ParsedAlert) -> str:
    """The sender's fingerprint when short and printable, else a hash (of it, or of the
    labels when there is none): at most 64 characters."""
    fp = alert.fingerprint or ""
    if _SAFE.match(fp):
        return fp
    return _h(fp) if fp else labels_fingerprint(alert.labels)


def _model(alert: ParsedAlert) -> str:
    return (alert.model or "-")[:128]


def alert_dedup_key(alert: ParsedAlert, playbook: str) -> str:
    return f"alert:{playbook}:{_model(alert)}:{member_key(alert)}"


def incident_key(alert: ParsedAlert, playbook: str) -> str:
    """The dedup key of the incident a routed alert belongs to (see the module doc)."""
    if alert.group_key:
        return f"group:{playbook}:{_model(alert)}:{_h(alert.group_key)}"
    return alert_dedup_key(alert, playbook)


def unrouted_key(alert: ParsedAlert) -> str:
    ident = _h(alert.group_key) if alert.group_key else member_key(alert)
    return f"unrouted:{_model(alert)}:{ident}"
