"""Request authentication: a bearer token, or an HMAC-SHA256 signature of a timestamp and the
raw body, refused outside a ±5-minute window and refused again when replayed.

Secrets are compared with ``hmac.compare_digest`` so timing tells an attacker nothing.
Two signature schemes are understood:

- ours: ``X-MLPB-Timestamp: <unix seconds>`` and ``X-MLPB-Signature: sha256=<hex>``, the HMAC
  of ``f"{timestamp}.{body}"``; the timestamp is required.
- Grafana's: ``X-Grafana-Alerting-Signature: <hex>``; with Grafana's timestamp header
  configured (``X-Grafana-Alerting-Signature-Timestamp``) the HMAC is of
  ``f"{timestamp}:{body}"`` and the window applies. Without it Grafana signs the body alone:
  still accepted, but only the replay memory (the window's length) guards it.

A signature that verified is remembered until its window closes (``ReplayGuard`` in memory,
and the ledger's signature table across receivers): the same request again is a 401.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["GRAFANA_TIMESTAMP_HEADERS", "SIGNATURE_HEADERS", "SKEW_SECONDS", "TIMESTAMP_HEADER",
           "AuthError", "Credentials", "ReplayGuard", "SignedRequest", "sign"]

SIGNATURE_HEADERS = ("x-mlpb-signature", "x-grafana-alerting-signature")
TIMESTAMP_HEADER = "x-mlpb-timestamp"
GRAFANA_TIMESTAMP_HEADERS = ("x-grafana-alerting-signature-timestamp",
                             "x-grafana-alerting-timestamp")
SKEW_SECONDS = 300


def _mac(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int | str | None = None) -> str:
    """The ``X-MLPB-Signature`` value for ``body`` sent with ``X-MLPB-Timestamp: timestamp``
    (None: the body alone, which our header no longer accepts; Grafana's does)."""
    message = body if timestamp is None else f"{timestamp}.".encode() + body
    return "sha256=" + _mac(secret, message)


class AuthError(Exception):
    """A 401 and its reason."""


@dataclass(frozen=True)
class SignedRequest:
    """A verified signature: ``signature`` is what the replay guard remembers until
    ``expires_at`` (unix seconds)."""

    signature: str
    expires_at: float
    timestamped: bool


@dataclass(frozen=True)
class Credentials:
    token: str | None = None
    hmac_secret: str | None = None
    skew_seconds: int = SKEW_SECONDS

    @property
    def configured(self) -> bool:
        return bool(self.token or self.hmac_secret)

    def check_bearer(self, headers: Mapping[str, str]) -> bool:
        scheme, _, value = headers.get("authorization", "").partition(" ")
        return bool(self.token) and scheme.lower() == "bearer" and hmac.compare_digest(
            value.strip().encode(), (self.token or "").encode())

    def signature_header(self, headers: Mapping[str, str]) -> str | None:
        return next((h for h in SIGNATURE_HEADERS if h in headers), None)

    def check_timestamp(self, headers: Mapping[str, str], now: float | None = None) -> str:
        """The signed request's timestamp ("" for an untimed Grafana signature), checked
        before the body is read: required for our header, unix seconds, within the window."""
        name = self.signature_header(headers)
        if name == "x-mlpb-signature":
            ts = headers.get(TIMESTAMP_HEADER, "").strip()
            if not ts:
                raise AuthError("invalid HMAC signature: missing X-MLPB-Timestamp (unix "
                                "seconds, signed with the body as '<timestamp>.<body>')")
        else:
            ts = next((headers[h].strip() for h in GRAFANA_TIMESTAMP_HEADERS if h in headers), "")
        if ts:
            if not ts.isdigit() or len(ts) > 12:
                raise AuthError("invalid HMAC signature: the timestamp is not unix seconds")
            now = time.time() if now is None else now
            if abs(now - int(ts)) > self.skew_seconds:
                raise AuthError(f"stale signature: the timestamp is more than "
                                f"{self.skew_seconds} s from the receiver's clock (a replay, "
                                "or a clock to fix)")
        return ts

    def verify_signature(self, headers: Mapping[str, str], body: bytes,
                         now: float | None = None) -> SignedRequest:
        """The request's verified signature, or AuthError saying what is wrong."""
        name = self.signature_header(headers)
        if not self.hmac_secret or name is None:
            raise AuthError("invalid HMAC signature: no MLPB_RECEIVER_HMAC_SECRET is set")
        now = time.time() if now is None else now
        ts = self.check_timestamp(headers, now)
        sep = b"." if name == "x-mlpb-signature" else b":"
        given = headers[name].strip().removeprefix("sha256=").lower()
        want = _mac(self.hmac_secret, ts.encode() + sep + body if ts else body)
        if not hmac.compare_digest(given.encode(), want.encode()):
            raise AuthError("invalid HMAC signature: expected hex HMAC-SHA256 of "
                            "'<timestamp>.<body>' with MLPB_RECEIVER_HMAC_SECRET")
        expires = (int(ts) if ts else now) + self.skew_seconds
        return SignedRequest(want, expires, bool(ts))


class ReplayGuard:
    """Signatures seen recently (this process); the ledger keeps them across receivers."""

    def __init__(self, max_entries: int = 100_000) -> None:
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()
        self.max_entries = max_entries

    def seen(self, signed: SignedRequest, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        with self._lock:
            expires = self._seen.get(signed.signature)
            return expires is not None and expires >= now

    def remember(self, signed: SignedRequest, now: float | None = None) -> None:
        now = time.time() if now is None else now
        with self._lock:
            if len(self._seen) >= self.max_entries:  # drop the expired; then the oldest
                self._seen = {s: e for s, e in self._seen.items() if e >= now}
                while len(self._seen) >= self.max_entries:
                    self._seen.pop(next(iter(self._seen)))
            self._seen[signed.signature] = signed.expires_at
