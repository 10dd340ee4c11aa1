"""A chart is a PNG file and what it shows."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from matplotlib.figure import Figure

__all__ = ["BAD", "GOOD", "NEUTRAL", "REFERENCE", "Chart", "figure", "png_bytes", "save"]

REFERENCE, CURRENT = "#4c72b0", "#dd8452"
GOOD, BAD, NEUTRAL = "#55a868", "#c44e52", "#8c8c8c"


@dataclass(frozen=True)
class Chart:
    name: str  # the file's stem, e.g. "drift-statistics"
    title: str  # alt text and caption
    path: Path


def figure(width: float = 8.0, height: float = 4.0, *, left: float = 0.1) -> Figure:
    """Fixed margins instead of a layout engine: constrained layout measured every label
    and doubled the cost of a chart (charts are drawn at every close)."""
    fig = Figure(figsize=(width, height), dpi=90)
    fig.subplots_adjust(left=left, right=0.97, top=0.86, bottom=0.16, hspace=0.65, wspace=0.3)
    return fig


def save(fig: Figure, path: Path, *, name: str, title: str) -> Chart:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", metadata={"Software": None})  # no version: stable bytes
    return Chart(name=name, title=title, path=path)


def png_bytes(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()
