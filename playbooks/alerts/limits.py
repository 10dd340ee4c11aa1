"""What a request body may contain, enforced at parse time so bad input is a 4xx, never a 5xx.

Every string of the decoded JSON (keys too) is checked for what no ledger column can hold: NUL
characters (PostgreSQL text refuses them) and lone UTF-16 surrogates (not encodable as UTF-8).
Every number must be finite: ``NaN``/``Infinity`` and overflowing literals like ``1e999`` are
refused even in fields we ignore, because the raw alert is stored as JSON. Nesting is bounded.
Label names and values have lengths that fit the ledger's columns.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import Field, StringConstraints

__all__ = ["MAX_ALERTS", "MAX_DEPTH", "MAX_LABELS", "MAX_LABEL_NAME", "MAX_LABEL_VALUE",
           "MAX_MODEL", "MAX_PROBLEMS", "MAX_TEXT", "Annotations", "LabelValue", "Labels",
           "json_problems", "printable"]

MAX_DEPTH = 32  # an Alertmanager notification is 4 levels deep, Grafana's 5
MAX_ALERTS = 1000  # per notification; with the 1 MiB body limit a sender rarely gets near
MAX_LABELS = 128  # per alert
MAX_LABEL_NAME = 256
MAX_LABEL_VALUE = 4096
MAX_MODEL = 256  # the `model` and `playbook` labels: the ledger's model column
MAX_TEXT = 64 * 1024  # one annotation (descriptions can be long; the body limit still holds)
MAX_PROBLEMS = 20  # problems named in one answer; the rest are counted

LabelName = Annotated[str, StringConstraints(min_length=1, max_length=MAX_LABEL_NAME)]
LabelValue = Annotated[str, StringConstraints(max_length=MAX_LABEL_VALUE)]
Labels = Annotated[dict[LabelName, LabelValue], Field(max_length=MAX_LABELS)]
Annotations = Annotated[dict[LabelName, Annotated[str, StringConstraints(max_length=MAX_TEXT)]],
                        Field(max_length=MAX_LABELS)]


def printable(s: str) -> str:
    """``s`` safe to echo in an answer or a ledger row: NUL and lone surrogates escaped."""
    return s.replace("\x00", "\\0").encode("utf-8", "backslashreplace").decode("utf-8")


def _string_problem(s: str) -> str | None:
    if "\x00" in s:
        return "contains a NUL character"
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone UTF-16 surrogate (not valid Unicode text)"
    return None


def json_problems(data: Any, limit: int = MAX_PROBLEMS) -> list[tuple[str, str]]:
    """(field path, message) for each string, number or nesting level the ledger cannot
    hold; at most ``limit`` of them. Iterative, so depth cannot exhaust the stack."""
    problems: list[tuple[str, str]] = []
    stack: list[tuple[Any, str, int]] = [(data, "", 0)]
    while stack and len(problems) < limit:
        value, path, depth = stack.pop()
        if isinstance(value, dict):
            if depth >= MAX_DEPTH:
                problems.append((path, f"nested deeper than {MAX_DEPTH} levels"))
                continue
            for key, item in value.items():
                where = f"{path}.{key}" if path else str(key)
                why = _string_problem(key)
                if why:
                    problems.append((f"{path}.<key>" if path else "<key>",
                                     f"field name {why}"))
                    continue
                stack.append((item, where, depth + 1))
        elif isinstance(value, list):
            if depth >= MAX_DEPTH:
                problems.append((path, f"nested deeper than {MAX_DEPTH} levels"))
                continue
            stack.extend((item, f"{path}.{i}" if path else str(i), depth + 1)
                         for i, item in enumerate(value))
        elif isinstance(value, str):
            why = _string_problem(value)
            if why:
                problems.append((path, why))
        elif isinstance(value, float) and not math.isfinite(value):
            problems.append((path, "not a finite number (NaN and Infinity are refused)"))
    return sorted(problems, key=lambda p: _path_key(p[0]))


def _path_key(path: str) -> tuple[tuple[int, int | str], ...]:
    """Sort ``alerts.10`` after ``alerts.2``."""
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in path.split("."))
