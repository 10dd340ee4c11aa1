"""JSON-able copies of computed statistics: numpy scalars become Python numbers, NaN/inf None.

Evidence parts are stored as JSON (the ledger, the Prefect artifacts), where numpy types do not
serialise and NaN is not valid JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, overload

import numpy as np

__all__ = ["to_jsonable"]


@overload
def to_jsonable(value: Mapping[Any, object]) -> dict[str, Any]: ...
@overload
def to_jsonable(value: list[Any] | tuple[Any, ...] | set[Any]) -> list[Any]: ...
@overload
def to_jsonable(value: object) -> object: ...


def to_jsonable(value: object) -> object:
    """A copy of ``value`` fit for JSON: mapping keys as strings, tuples and sets as lists,
    numpy integers as ints, floats finite or None. Anything else is returned as it is."""
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if np.isfinite(value) else None
    return value
