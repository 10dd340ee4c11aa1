"""rollback-model, switch-to-fallback and recalibrate-threshold against a real local MLflow
store (the sandbox's): plan → apply → verify → revert restores the exact prior alias / tag."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient

from playbooks.data.io import load_windows
from playbooks.engine.plugins import default_plugins
from playbooks.loader import load_profile
from playbooks.models.evidence import EvidencePackage
from playbooks.modelstore import MlflowModelStore
from playbooks.remediations.base import NotApplicable, RemediationContext
from playbooks.remediations.recalibrate import ThresholdConflict
from playbooks.sandbox import Sandbox, bootstrap_sandbox, inject_fault, make_fault

pytestmark = pytest.mark.integration

SMALL: dict[str, Any] = {  # a fixed timeline: same data every run
    "rows_per_day": 300, "history_days": 14, "reference_rows": 3000,
    "now": datetime(2026, 3, 2, 12, tzinfo=UTC)}


def _sandbox(tmp_path: Path, fault: str, days: int) -> Sandbox:
    sb = bootstrap_sandbox(tmp_path / "state", seed=3, **SMALL)
    inject_fault(sb, make_fault(fault), days=days, seed=5)
    return sb


def _ctx(sb: Sandbox, store: Any | None = None) -> RemediationContext:
    profile = load_profile(sb.profile_path)
    return RemediationContext(
        incident_id="INC-test", profile=profile,
        model_store=store or MlflowModelStore(sb.tracking_uri), state_dir=sb.state_dir,
        evidence=EvidencePackage(incident_id="INC-test", collected_at=datetime.now(UTC)),
        data=load_windows(profile))


def _remediation(name: str, **params: Any) -> tuple[Any, Any]:
    plugin = default_plugins().get("remediation", name)
    return plugin.remediation(), plugin.parse_params(params)


def _alias(sb: Sandbox, alias: str = "champion") -> str:
    return MlflowModelStore(sb.tracking_uri).get_version(sb.model_name, alias).version


def test_rollback_restores_the_previous_version_and_reverts_exactly(tmp_path: Path) -> None:
    sb = _sandbox(tmp_path, "bad-release", 3)
    assert _alias(sb) == "2"
    ctx = _ctx(sb)
    rollback, params = _remediation("rollback-model")
    plan = rollback.plan(ctx, params)
    assert plan["current_version"] == "2" and plan["target_version"] == "1"
    assert "served before" in plan["reason"]
    change = rollback.apply(ctx, params, plan)
    assert _alias(sb) == "1" and change["previous_version"] == "2"
    assert MlflowModelStore(sb.tracking_uri).get_version(
        sb.model_name, "1").tags["mlpb.incident_id"] == "INC-test"
    m = rollback.verify(ctx, params, change)
    assert m["roc_auc_delta_vs_previous"] > 0.03  # the restored v1 beats the bad v2
    assert m["holdout_rows"] >= 200 and m["worst_slice_auc_drop"] <= 0.02
    assert m["restored_latency_p95_ms"] < 120 and m["restored_out_of_range_share"] == 0.0
    assert 0.5 < m["latency_ratio_vs_replaced"] < 2.0  # same architecture: about as fast
    rollback.revert(ctx, change)
    assert _alias(sb) == "2"
    rollback.revert(ctx, change)  # idempotent
    assert _alias(sb) == "2"


def _aliases(sb: Sandbox) -> set[str]:
    return {a for v in MlflowModelStore(sb.tracking_uri).list_versions(sb.model_name)
            for a in v.aliases}


def test_rollback_leaves_previous_on_the_replaced_champion_and_puts_it_back(
    tmp_path: Path
) -> None:
    """Issue 14 (MLflow): like a promotion, a rollback leaves 'previous' on the version it
    replaced; revert puts 'previous' back where it was (here: on the version restored)."""
    sb = _sandbox(tmp_path, "bad-release", 3)
    reg = MlflowModelStore(sb.tracking_uri)
    reg.set_alias(sb.model_name, "previous", "1")  # as the release of v2 would have left it
    ctx = _ctx(sb)
    rollback, params = _remediation("rollback-model", latency_sample_rows=0)
    plan = rollback.plan(ctx, params)
    assert (plan["current_version"], plan["target_version"]) == ("2", "1")
    assert plan["previous_alias_was"] == "1"
    change = rollback.apply(ctx, params, plan)
    assert (_alias(sb), _alias(sb, "previous")) == ("1", "2")
    assert change["alias_change"]["previous_alias_was"] == "1"
    rollback.revert(ctx, change)
    assert (_alias(sb), _alias(sb, "previous")) == ("2", "1")
    rollback.revert(ctx, change)  # idempotent
    assert (_alias(sb), _alias(sb, "previous")) == ("2", "1")
    rollback.apply(ctx, params, plan)  # again, then a "crash": recover from the plan
    assert "'previous' put back" in rollback.recover(ctx, plan)
    assert (_alias(sb), _alias(sb, "previous")) == ("2", "1")


def test_rollback_never_targets_a_version_that_is_gone(tmp_path: Path) -> None:
    sb = _sandbox(tmp_path, "bad-release", 3)
    MlflowClient(sb.tracking_uri).delete_model_version(sb.model_name, "1")
    rollback, params = _remediation("rollback-model")
    with pytest.raises(NotApplicable, match=r"v1 .* no longer exists"):
        rollback.plan(_ctx(sb), params)
    # A vetted version tagged known_good becomes the target instead.
    reg = MlflowModelStore(sb.tracking_uri)
    model = reg.load_model(sb.model_name, "2")
    good = reg.register_model(sb.model_name, model, experiment="t", params={}, metrics={},
                              tags={"known_good": "true"})
    reg.set_alias(sb.model_name, "champion", "2")
    plan = rollback.plan(_ctx(sb), params)
    assert plan["target_version"] == good.version and "known_good" in plan["reason"]
    assert any("no longer exists" in s for s in plan["skipped"])


def test_fallback_switches_to_the_fallback_alias_and_reverts_exactly(tmp_path: Path) -> None:
    sb = _sandbox(tmp_path, "score-collapse", 3)
    assert (_alias(sb), _alias(sb, "fallback")) == ("3", "2")
    ctx = _ctx(sb)
    fallback, params = _remediation("switch-to-fallback", latency_sample_rows=0)
    plan = fallback.plan(ctx, params)
    assert plan["target_version"] == "2" and plan["fallback_alias"] == "fallback"
    change = fallback.apply(ctx, params, plan)
    assert _alias(sb) == "2"
    m = fallback.verify(ctx, params, change)
    assert m["restored_score_std_ratio"] > 0.5  # the fallback's scores vary again
    assert m["restored_out_of_range_share"] == 0.0 and m["restored_decision_rate_shift"] < 0.05
    assert m["roc_auc"] > 0.65
    assert _alias(sb, "previous") == "3"  # the replaced champion, as after a promotion
    fallback.revert(ctx, change)
    assert _alias(sb) == "3" and _alias(sb, "fallback") == "2"
    assert "previous" not in _aliases(sb)
    MlflowModelStore(sb.tracking_uri).set_alias(sb.model_name, "champion", "2")
    with pytest.raises(NotApplicable, match="already serves the fallback"):
        fallback.plan(ctx, params)


def test_fallback_without_a_fallback_alias_is_not_applicable(tmp_path: Path) -> None:
    sb = _sandbox(tmp_path, "bad-release", 3)  # no fallback registered by this fault
    fallback, params = _remediation("switch-to-fallback")
    with pytest.raises(NotApplicable, match="no 'fallback' alias"):
        fallback.plan(_ctx(sb), params)


def test_recalibration_sets_the_version_tag_and_reverts_exactly(tmp_path: Path) -> None:
    sb = _sandbox(tmp_path, "prevalence-shift", 7)
    ctx = _ctx(sb)
    recal, params = _remediation("recalibrate-threshold")
    plan = recal.plan(ctx, params)
    assert plan["version"] == "1" and plan["previous_tag"] == "0.5"
    assert plan["new_threshold"] > 0.5  # more defaulters: cut higher to approve on target
    change = recal.apply(ctx, params, plan)
    reg = MlflowModelStore(sb.tracking_uri)
    assert reg.get_version(sb.model_name, "1").tags["threshold"] == change["new"]
    assert _alias(sb) == "1"  # the model itself is untouched
    m = recal.verify(ctx, params, change)
    assert m["holdout_approval_gap_beyond_tolerance"] == 0.0
    assert abs(m["holdout_approval_rate"] - 0.93) <= 0.05
    assert m["worst_slice_approval_gap_change"] <= 0.05 and m["holdout_rows"] >= 100
    recal.revert(ctx, change)
    assert reg.get_version(sb.model_name, "1").tags["threshold"] == "0.5"
    recal.revert(ctx, change)  # idempotent
    reg.tag_version(sb.model_name, "1", "threshold", "0.77")  # someone else moved it since
    with pytest.raises(ThresholdConflict, match=r"now '0\.77'"):
        recal.revert(ctx, change)


class _TagDeletingRegistry(MlflowModelStore):
    """A registry that can remove a version tag (what an absent prior tag needs)."""

    def delete_version_tag(self, name: str, version: str, key: str) -> None:
        MlflowClient(self.tracking_uri).delete_model_version_tag(name, version, key)


def test_recalibration_revert_removes_a_tag_that_was_not_there(tmp_path: Path) -> None:
    sb = _sandbox(tmp_path, "prevalence-shift", 7)
    MlflowClient(sb.tracking_uri).delete_model_version_tag(sb.model_name, "1", "threshold")
    reg = _TagDeletingRegistry(sb.tracking_uri)
    ctx = _ctx(sb, reg)
    recal, params = _remediation("recalibrate-threshold")
    plan = recal.plan(ctx, params)
    assert plan["previous_tag"] is None and plan["current_threshold"] == 0.5  # the profile's
    change = recal.apply(ctx, params, plan)
    assert "threshold" in reg.get_version(sb.model_name, "1").tags
    recal.revert(ctx, change)
    assert "threshold" not in reg.get_version(sb.model_name, "1").tags


def test_recovery_from_the_plan_leaves_what_someone_else_changed_since(tmp_path: Path) -> None:
    """recover(plan) after a dead apply undoes only what carries this incident's values."""
    sb = _sandbox(tmp_path, "bad-release", 3)
    ctx, reg = _ctx(sb), MlflowModelStore(sb.tracking_uri)
    rollback, params = _remediation("rollback-model")
    plan = rollback.plan(ctx, params)  # v2 -> v1
    assert rollback.recover(ctx, plan).endswith("is on v2, as before: nothing to undo")
    rollback.apply(ctx, params, plan)  # ... and then it died
    assert rollback.recover(ctx, plan).endswith(
        "had moved to v1: moved back to v2; 'previous' put back")
    assert _alias(sb) == "2" and "previous" not in _aliases(sb)
    rollback.apply(ctx, params, plan)
    reg.set_alias(sb.model_name, "champion", "2")  # someone else promoted v2 again ...
    reg.tag_version(sb.model_name, "2", "mlpb.incident_id", "INC-someone")
    assert "is on v2, as before" in rollback.recover(ctx, plan)
    reg.set_alias(sb.model_name, "champion", "1", incident_id="INC-someone")
    retrain = _remediation("retrain")[0]  # ... or a retrain of ours finds a version not its
    assert "is on v1, which this incident did not set: left as is" in retrain.recover(
        ctx, {"current_version": "2"})
    assert _alias(sb) == "1"

    recal, rparams = _remediation("recalibrate-threshold")
    sb2 = _sandbox(tmp_path / "recal", "prevalence-shift", 7)
    ctx2, reg2 = _ctx(sb2), MlflowModelStore(sb2.tracking_uri)
    rplan = recal.plan(ctx2, rparams)
    recal.apply(ctx2, rparams, rplan)
    reg2.tag_version(sb2.model_name, "1", "threshold", "0.77")  # someone moved it since
    assert recal.recover(ctx2, rplan).endswith("left as is (someone changed it since)")
    assert reg2.get_version(sb2.model_name, "1").tags["threshold"] == "0.77"


def test_retrain_leaves_previous_signature_and_window_and_reverts_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 14 (MLflow): the replaced champion gets 'previous'; the retrained version has a
    signature and the training-window tag v1 has. Revert and recovery undo 'previous' too."""
    from mlflow.models import get_model_info

    sb = _sandbox(tmp_path, "covariate-drift", 7)
    ctx = _ctx(sb)
    retrain, params = _remediation("retrain", min_train_rows=100, min_holdout_rows=50)
    plan = retrain.plan(ctx, params)
    assert plan["current_version"] == "1" and plan["previous_alias_was"] is None
    change = retrain.apply(ctx, params, plan)
    store = MlflowModelStore(sb.tracking_uri)
    new = store.get_version(sb.model_name, "champion")
    assert new.version == change["new_version"] == "2"
    assert _alias(sb, "previous") == "1"
    start, end = new.tags["training_window"].split("/")
    assert start == plan["windows"]["train_start"] and end == plan["windows"]["holdout_start"]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", sb.tracking_uri)
    signature = get_model_info(f"models:/{sb.model_name}/2").signature
    profile = load_profile(sb.profile_path)
    assert [c.name for c in signature.inputs.inputs] == profile.features.all

    retrain.revert(ctx, change)
    assert _alias(sb) == "1"
    assert "previous" not in {a for v in store.list_versions(sb.model_name) for a in v.aliases}

    change = retrain.apply(ctx, params, plan)  # again, then a "crash": recover from the plan
    assert _alias(sb) == "3" and _alias(sb, "previous") == "1"
    account = retrain.recover(ctx, plan)
    assert "'previous' put back" in account and _alias(sb) == "1"
    assert "previous" not in {a for v in store.list_versions(sb.model_name) for a in v.aliases}


def test_retrain_refuses_a_training_module_the_operator_did_not_allow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import yaml

    sb = _sandbox(tmp_path, "covariate-drift", 7)
    raw = yaml.safe_load(sb.profile_path.read_text())
    raw["training"]["entrypoint"] = "tests.e2e.slow_training:train"  # importable, not allowed
    sb.profile_path.write_text(yaml.safe_dump(raw))
    retrain, params = _remediation("retrain", min_train_rows=100, min_holdout_rows=50)
    monkeypatch.delenv("MLPB_TRAINING_MODULES", raising=False)
    with pytest.raises(NotApplicable) as refused:
        retrain.plan(_ctx(sb), params)
    assert "'tests.e2e.slow_training:train' is not in an allowed module" in refused.value.message
    assert "MLPB_TRAINING_MODULES=" in str(refused.value.hint)
    monkeypatch.setenv("MLPB_TRAINING_MODULES", "playbooks.sandbox.model, tests.e2e")
    assert retrain.plan(_ctx(sb), params)["entrypoint"] == "tests.e2e.slow_training:train"
    monkeypatch.setenv("MLPB_TRAINING_MODULES", "tests.e2e.slow")  # a prefix of a name only
    with pytest.raises(NotApplicable, match="not in an allowed module"):
        retrain.plan(_ctx(sb), params)
