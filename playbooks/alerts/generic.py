"""Any JSON webhook: one alert per request in our own documented shape.

```json
{"model": "credit-risk", "playbook": "data-drift", "status": "firing",
 "labels": {"alertname": "FeatureDrift"}, "annotations": {"summary": "PSI 0.4 on age"},
 "fingerprint": "optional-stable-id"}
```
``model`` and ``playbook`` become the ``model`` and ``playbook`` labels (they win over labels of
the same name). Unknown top-level fields are refused so typos are caught.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from playbooks.alerts.limits import Annotations, Labels
from playbooks.alerts.model import (
    AlertStatus,
    Parsed,
    ParsedAlert,
    decode_json,
    validate_body,
)

__all__ = ["GenericAlert", "parse_generic"]

_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"


class GenericAlert(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(pattern=_ID, description="Model name (the profile's `name`).")
    playbook: str | None = Field(None, pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", max_length=128,
                                 description="Catalog playbook id; default: the routing rules.")
    status: Literal["firing", "resolved"] = "firing"
    labels: Labels = Field(default_factory=dict)
    annotations: Annotations = Field(default_factory=dict)
    fingerprint: str | None = Field(None, min_length=1, max_length=256,
                                    description="Stable id of the alert; default: from labels.")


def parse_generic(body: bytes) -> Parsed:
    data = decode_json(body)
    alert = validate_body(GenericAlert, data, "a generic alert (see playbooks/alerts/generic.py)")
    labels = {**alert.labels, "model": alert.model}
    if alert.playbook:
        labels["playbook"] = alert.playbook
    return Parsed([ParsedAlert(source="generic", status=AlertStatus(alert.status), labels=labels,
                               annotations=alert.annotations, fingerprint=alert.fingerprint,
                               raw=data)])
