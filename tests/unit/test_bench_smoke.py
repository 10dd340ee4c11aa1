"""The benchmark's core runs end to end at a tiny size (no timing asserts)."""

from __future__ import annotations

import math

from bench.__main__ import render
from bench.drift_bench import generate, run_size


def test_generate_plants_large_and_small_changes() -> None:
    reference, current, planted = generate(2_000, 20, seed=3)
    assert reference.shape == current.shape == (2_000, 20)
    assert sorted(planted.values()) == ["mean+0.03sd", "mean+0.03sd", "mean+0.5sd", "mean+1sd"]
    again = generate(2_000, 20, seed=3)
    assert again[0].equals(reference) and again[2] == planted


def test_run_size_row_has_sane_fields() -> None:
    messages: list[str] = []
    row = run_size(5_000, 10, skip_evidently=True, progress=messages.append)
    assert (row.rows, row.features) == (5_000, 10)
    assert row.ours_seconds > 0 and math.isfinite(row.ours_seconds)
    assert row.input_mb == 2 * 5_000 * 10 * 8 / 1e6
    assert row.ours_peak_mb > 0 and row.memory_ratio == row.ours_peak_mb / row.input_mb
    assert row.ours_truth_agreement == 1.0  # planted large changes found, small ones not
    assert row.evidently_seconds is None and row.speedup is None
    assert row.verdict_agreement is None and row.evidently_note is None
    assert messages[0].startswith("generating 5,000 x 10")
    assert render([row]).row_count == 1
