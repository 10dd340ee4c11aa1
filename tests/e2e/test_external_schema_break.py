"""A current file missing a feature column, through the CLI: data-drift diagnoses a schema
break (exit 0) whose finding names the column, instead of exit 3, and hands over to
data-quality. (Triage on the same files: tests/integration/test_external_triage.py, in
process; one CLI run of each costs a minute of CPU.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.external_triage import build_scenario
from tests.e2e.test_cli import mlpb

pytestmark = pytest.mark.e2e


def _findings(res: dict[str, object], hypothesis: str) -> list[dict[str, object]]:
    hyps = res["hypotheses"]
    assert isinstance(hyps, list)
    found = next(h for h in hyps if h["id"] == hypothesis)
    return list(found["findings"])


def test_a_missing_column_is_a_schema_break_for_data_drift(tmp_path: Path) -> None:
    profile = build_scenario("schema-break", tmp_path / "data")
    home = tmp_path / "home"
    drift = mlpb("run", "data-drift", "--profile", str(profile), "--dry-run", "--json",
                 home=home)  # exit 0, or mlpb raises
    res = json.loads(drift.stdout)
    assert res["root_cause"]["hypothesis_id"] == "schema-break", res["root_cause"]
    assert res["status"] == "handed_over"
    named = {f["feature"] for f in _findings(res, "schema-break") if f["breached"]}
    assert named == {"concavity"}

