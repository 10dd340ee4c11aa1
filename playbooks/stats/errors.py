"""Input errors of the drift engine; both are ``DataError`` so the CLI shows them plainly."""

from __future__ import annotations

from playbooks.errors import DataError

__all__ = ["MissingColumnsError", "MixedTypeColumnError"]


class MissingColumnsError(DataError, KeyError):
    """Declared feature columns are absent from a frame (a ``KeyError`` too)."""

    def __init__(self, which: str, missing: list[str], expected: list[str]) -> None:
        self.missing = missing
        self.expected = expected
        super().__init__(
            f"{which} data lacks {len(missing)} declared feature column(s): "
            f"{', '.join(map(repr, missing))}; expected all of {expected}",
            hint="check the column names in the model profile against the data",
        )


class MixedTypeColumnError(DataError, ValueError):
    """A column declared numeric holds values that are not numbers."""
