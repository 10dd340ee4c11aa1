"""The group-fairness collector on a real sandbox (MLflow registry, parquet log): a release is
compared with the version that served before it, on the same requests, per sensitive group;
the fairness-regression check reads it."""

from __future__ import annotations

from pathlib import Path

import pytest

from playbooks.data.io import load_windows
from playbooks.engine.plugins import default_plugins
from playbooks.evidence.base import CollectContext
from playbooks.evidence.fairness import GroupFairnessParams, collect_group_fairness
from playbooks.loader import load_profile, load_spec, resolve_spec_path
from playbooks.models import EvidencePackage
from playbooks.models.incident import Verdict, utcnow
from playbooks.sandbox import bootstrap_sandbox, inject_fault, make_fault

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_a_release_is_compared_with_its_predecessor_per_group(tmp_path: Path) -> None:
    sb = bootstrap_sandbox(tmp_path / "sb", seed=3, rows_per_day=400, history_days=21)
    inject_fault(sb, make_fault("bad-release"), days=7, seed=5)
    prof = load_profile(sb.profile_path)
    data = load_windows(prof)  # a strict load reads the sensitive attribute too
    assert "area" in data.log.columns
    ctx = CollectContext("INC-t", prof, load_spec(resolve_spec_path("bad-release")), data,
                         sb.model_store(), tmp_path)
    part = collect_group_fairness(ctx, GroupFairnessParams())
    assert (part.data["serving_version"], part.data["previous_version"]) == ("2", "1")
    m = part.metrics
    assert m["group_gap_widening"] == pytest.approx(m["group_gap_serving"]
                                                    - m["group_gap_previous"])
    assert m["group_gap_widening_low"] < m["group_gap_widening"]  # the bootstrap's low bound
    area = part.data["attributes"]["area"]
    assert set(area["rows"]) == {"rural", "urban"} and min(area["rows"].values()) >= 100
    # The bad release ranks worse but treats rural and urban applicants alike: refuted.
    ev = EvidencePackage(incident_id="INC-t", collected_at=utcnow(), metrics=m)
    result = default_plugins().get("check", "fairness-regression").run_check(
        ev, {"max_widening": 0.05})
    assert result.verdict is Verdict.REFUTED, result.summary
