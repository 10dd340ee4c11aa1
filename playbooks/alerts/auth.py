"""Request authentication: a bearer token or an HMAC-SHA256 signature of the raw body.

Secrets are compared with ``hmac.compare_digest`` so timing tells an attacker nothing.
Two signature headers are understood: ours, ``X-MLPB-Signature: sha256=<hex>``, and Grafana's
``X-Grafana-Alerting-Signature: <hex>`` (configure Grafana without a timestamp header).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["SIGNATURE_HEADERS", "Credentials", "sign"]

SIGNATURE_HEADERS = ("x-mlpb-signature", "x-grafana-alerting-signature")


def sign(secret: str, body: bytes) -> str:
    """The ``X-MLPB-Signature`` value for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Credentials:
    token: str | None = None
    hmac_secret: str | None = None

    @property
    def configured(self) -> bool:
        return bool(self.token or self.hmac_secret)

    def check_bearer(self, headers: Mapping[str, str]) -> bool:
        scheme, _, value = headers.get("authorization", "").partition(" ")
        return bool(self.token) and scheme.lower() == "bearer" and hmac.compare_digest(
            value.strip().encode(), (self.token or "").encode())

    def signature_header(self, headers: Mapping[str, str]) -> str | None:
        return next((h for h in SIGNATURE_HEADERS if h in headers), None)

    def check_signature(self, headers: Mapping[str, str], body: bytes) -> bool:
        name = self.signature_header(headers)
        if not self.hmac_secret or name is None:
            return False
        given = headers[name].strip().removeprefix("sha256=")
        want = hmac.new(self.hmac_secret.encode(), body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(given.lower().encode(), want.encode())
