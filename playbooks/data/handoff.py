"""One load handed to the next identical load in the same process, once.

``mlpb run`` loads the data to fail fast on bad input before Prefect starts; the flow then
loads the same windows again. Inside ``hand_off_loads()`` a load is kept, and the next load
with the same profile, options and file identities (size, change stamp / ETag: cheap) takes
it instead of reading again. Taken once, so no two runs ever share frames.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

__all__ = ["hand_off_loads", "keeping", "put", "take"]

T = TypeVar("T")
_keeping: ContextVar[bool] = ContextVar("mlpb_keep_loads", default=False)
_kept: dict[Hashable, Any] = {}


@contextmanager
def hand_off_loads() -> Iterator[None]:
    token = _keeping.set(True)
    try:
        yield
    finally:
        _keeping.reset(token)


def keeping() -> bool:
    return _keeping.get()


def put(key: Hashable, value: object) -> None:
    _kept.clear()  # one load at a time: the latest validated run
    _kept[key] = value


def take(key: Hashable, check: Callable[[], bool] | None = None) -> Any | None:
    """The kept load for ``key`` (removed), or None."""
    value = _kept.pop(key, None)
    return value if value is not None and (check is None or check()) else None
