"""Small shared types."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

__all__ = ["Duration", "SpecBase", "StrictModel", "StrictParams", "format_duration",
           "parse_duration"]

from pydantic import BaseModel, ConfigDict, Field

_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")


def parse_duration(value: object) -> timedelta:
    """Parse ``"7d"``, ``"12h"``, ``"30m"`` (or a timedelta / number of seconds)."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=float(value))
    if isinstance(value, str) and (m := _DURATION.match(value)):
        return timedelta(**{_UNITS[m.group(2)]: float(m.group(1))})
    raise ValueError(f"expected a duration like '7d', '12h' or '30m', got {value!r}")


def format_duration(td: timedelta) -> str:
    secs = int(td.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs and secs % size == 0:
            return f"{secs // size}{unit}"
    return f"{secs}s"


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": r"^\d+(\.\d+)?[smhdw]$", "examples": ["7d"]}),
]


class StrictModel(BaseModel):
    """Spec-file models: unknown keys are errors (a typo must not be silently ignored)."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class StrictParams(StrictModel):
    """Base of every plugin's ``*Params`` model (checks, collectors, remediations): params
    come from spec files, so they are validated as strictly as the rest of the spec."""


class SpecBase(StrictModel):
    """The spec a team playbook extends, as it was when merged (set at load)."""

    id: str = Field(description="Catalog playbook extended.")
    version: str = Field(description="Its version that was merged.")
    hash: str = Field(description="Its content hash.")
    own_hash: str = Field(description="Digest of the extending file's own content (minus its "
                          "changelog): what `mlpb validate` compares when only the base moved.")
