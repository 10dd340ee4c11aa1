"""An expected outcome is a result, not a failed task: a remediation that does not apply
(NotApplicable) completes its plan task (no ERROR traceback in the Prefect logs) and the
runner still sees NotApplicable."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from prefect import flow

from playbooks.engine.lifecycle import load_inputs
from playbooks.models import EvidencePackage
from playbooks.remediations.base import NotApplicable, RemediationContext
from tasks.remediate import Inapplicable, PrefectSteps, plan_remediation
from tests.unit.test_data_windows import _write_log

pytestmark = pytest.mark.flows


def test_a_plan_that_does_not_apply_completes_as_a_result(tmp_path: Path) -> None:
    _write_log(tmp_path)
    profile = tmp_path / "profile.yaml"
    profile.write_text(yaml.safe_dump({
        "name": "m", "data": {"timestamp": "ts", "reference": {"path": "ref.parquet"},
                              "current": {"path": "log/**/*.parquet", "window": "3d"}},
        "features": {"numeric": ["x", "y"], "categorical": ["colour"]}}))
    inputs = load_inputs("data-quality", profile)
    entry = next(r for r in inputs.spec.remediations if r.action == "quarantine-batch")
    ctx = RemediationContext(  # no data-quality evidence: quarantine cannot pick files
        incident_id="INC-t", profile=inputs.profile, model_store=None,
        state_dir=tmp_path / "state", data=inputs.data,
        evidence=EvidencePackage(incident_id="INC-t", collected_at=datetime.now(UTC)))

    @flow
    def plan_it() -> tuple[bool, object, str]:
        state = plan_remediation(inputs, ctx, entry, return_state=True)
        try:
            PrefectSteps(rt=None, inputs=inputs, ctx=ctx).plan(entry)  # type: ignore[arg-type]
        except NotApplicable as exc:
            raised = exc.message
        return state.is_completed(), state.result(), raised

    completed, result, raised = plan_it()
    assert completed
    assert isinstance(result, Inapplicable) and "data-quality evidence" in result.message
    assert raised == result.message
