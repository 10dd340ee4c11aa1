"""Errors a user can act on: each says what was wrong and what to do about it."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError

__all__ = [
    "ConfigError",
    "DataError",
    "MlpbError",
    "SpecError",
    "UnknownNameError",
    "validation_problems",
]


class MlpbError(Exception):
    """Base class for errors shown to users without a stack trace (unless --debug)."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n  hint: {self.hint}" if self.hint else self.message


class ConfigError(MlpbError):
    """Environment or settings are wrong (state dir, ledger URL, ...)."""


class SpecError(MlpbError):
    """A spec, profile or routing file failed validation.

    ``problems`` holds one ``(field_path, message)`` pair per problem so callers and tests can
    look at them without parsing text.
    """

    exit_code = 2

    def __init__(self, path: str, problems: list[tuple[str, str]], *, hint: str | None = None):
        self.path = path
        self.problems = problems
        lines = [f"{path}: {len(problems)} problem(s)"]
        lines += [f"  - {loc or '<root>'}: {msg}" for loc, msg in problems]
        super().__init__("\n".join(lines), hint=hint)


class UnknownNameError(MlpbError):
    """A playbook, check, remediation or model name that does not exist."""

    exit_code = 2


class DataError(MlpbError):
    """Input data cannot be used: missing files or columns, undecodable text, mixed types."""

    exit_code = 3


def validation_problems(
    exc: ValidationError, *, unknown: str = "unknown field (check the spelling)"
) -> list[tuple[str, str]]:
    """pydantic's errors as (field path, message) pairs, worded for people: ``unknown`` for a
    field the model does not have (say what the fields are: spec fields, parameters...), "is
    missing" for a required one, a validator's own message without pydantic's prefix."""
    problems = []
    for e in exc.errors():
        if e["type"] == "extra_forbidden":
            msg = unknown
        elif e["type"] == "missing":
            msg = "required field is missing"
        else:
            msg = str(e["msg"]).removeprefix("Value error, ")
        problems.append((".".join(str(p) for p in e["loc"]), msg))
    return problems
