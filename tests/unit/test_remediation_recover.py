"""Recovery from an intent-only journal entry (no Change: the run died inside apply), for the
file-based remediations, plus quarantine's refusal to follow links out of the data directory
and revert_change's choice between revert(change) and recover(plan). The registry-based
remediations are covered against real MLflow by tests/e2e/test_crash_matrix.py."""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from playbooks.data.io import DataWindows
from playbooks.engine.plugins import PluginTable, remediation
from playbooks.engine.revert import Undo, revert_change
from playbooks.errors import MlpbError
from playbooks.ledger import Ledger
from playbooks.models import EvidencePackage, ModelProfile
from playbooks.models.common import StrictParams
from playbooks.remediations.base import (
    NotApplicable,
    Remediation,
    RemediationContext,
    RevertContext,
)
from playbooks.remediations.mark_window import MarkWindow, MarkWindowParams, read_marks
from playbooks.remediations.quarantine import QuarantineBatch, QuarantineParams
from tests.unit._support import T0

EMPTY = pd.DataFrame()


def _profile(base: Path) -> ModelProfile:
    return ModelProfile.model_validate({
        "name": "credit", "data": {"timestamp": "ts", "reference": {"path": "ref.csv"},
                                   "current": {"path": "cur/day=*/*.csv"}},
        "features": {"numeric": ["x"], "categorical": []}}).model_copy(update={"base_dir": base})


def _ctx(base: Path, incident: str = "INC-r", files: list[Path] | None = None,
         parts: dict[str, Any] | None = None) -> RemediationContext:
    part = {"files": [{"path": str(f), "failed_checks": 1, "rows": 10, "start": None,
                       "end": None, "kinds": ["missing_values"]} for f in files or []]}
    ev = EvidencePackage(incident_id=incident, collected_at=T0,
                         parts=parts if parts is not None else {"data-quality": part})
    return RemediationContext(incident_id=incident, profile=_profile(base), model_store=None,
                              state_dir=base / "state", evidence=ev,
                              data=DataWindows(reference=EMPTY, log=EMPTY, current=EMPTY,
                                               labelled=None))


def _days(base: Path, n: int = 3) -> list[Path]:
    out = []
    for day in range(n):
        f = base / "cur" / f"day={day}" / "part.csv"
        f.parent.mkdir(parents=True)
        f.write_text(f"x\n{day}\n" * 50)
        out.append(f)
    return out


def _contents(base: Path) -> dict[str, str]:
    return {str(f.relative_to(base)): f.read_text() for f in sorted((base / "cur").rglob("*"))
            if f.is_file()}


def test_quarantine_recovers_a_move_that_died_part_way(tmp_path: Path) -> None:
    files = _days(tmp_path)
    before = _contents(tmp_path)
    ctx = _ctx(tmp_path, files=files)
    q, params = QuarantineBatch(), QuarantineParams()
    plan = q.plan(ctx, params)
    q.apply(ctx, params, {**plan, "moves": plan["moves"][:1]})  # ... and then it died
    assert not files[0].exists() and not files[0].parent.exists()  # the emptied partition

    account = q.recover(ctx, plan)
    assert account == "1 of 3 file(s) found in quarantine and moved back, 2 still in place"
    assert _contents(tmp_path) == before
    assert not (tmp_path / "state" / "quarantine" / "INC-r").exists()
    assert q.recover(ctx, plan).startswith("0 of 3")  # idempotent


def test_quarantine_recovery_drops_a_half_copy_but_keeps_a_different_file(
        tmp_path: Path) -> None:
    files = _days(tmp_path, 2)
    ctx = _ctx(tmp_path, files=files)
    q = QuarantineBatch()
    plan = q.plan(ctx, QuarantineParams())
    half, other = (Path(m["dst"]) for m in plan["moves"])
    half.parent.mkdir(parents=True)
    half.write_bytes(files[0].read_bytes()[:7])  # died inside a copy across file systems
    other.parent.mkdir(parents=True)
    other.write_text("someone else's file")

    account = q.recover(ctx, plan)
    assert "1 half-copied duplicate(s) dropped" in account
    assert f"{files[1]} exist(s) in both places and differ: both kept" in account
    assert not half.exists() and other.read_text() == "someone else's file"
    assert files[0].read_text() == "x\n0\n" * 50


def test_quarantine_never_follows_a_link_out_of_the_data_directory(tmp_path: Path) -> None:
    secret = tmp_path / "outside" / "secret.csv"
    secret.parent.mkdir()
    secret.write_text("not the log's")
    (tmp_path / "cur" / "day=0").mkdir(parents=True)
    link = tmp_path / "cur" / "day=0" / "part.csv"
    link.symlink_to(secret)
    with pytest.raises(NotApplicable, match=r"part\.csv is a symbolic link"):
        QuarantineBatch().plan(_ctx(tmp_path, files=[link]), QuarantineParams())

    (tmp_path / "cur" / "day=1").symlink_to(secret.parent, target_is_directory=True)
    via_dir = tmp_path / "cur" / "day=1" / "secret.csv"
    with pytest.raises(NotApplicable, match="not inside the data directory"):
        QuarantineBatch().plan(_ctx(tmp_path, files=[via_dir]), QuarantineParams())
    assert secret.read_text() == "not the log's" and link.is_symlink()


def test_quarantine_apply_looks_again_at_what_the_plan_named(tmp_path: Path) -> None:
    files = _days(tmp_path, 2)
    ctx = _ctx(tmp_path, files=files)
    q, params = QuarantineBatch(), QuarantineParams()
    plan = q.plan(ctx, params)  # e.g. pinned while awaiting approval ...
    outside = tmp_path / "elsewhere.csv"
    outside.write_text("precious")
    files[1].unlink()
    files[1].symlink_to(outside)  # ... and a link put in a planned file's place since
    with pytest.raises(MlpbError, match="symbolic link"):
        q.apply(ctx, params, plan)
    assert files[0].is_file() and outside.read_text() == "precious"  # all or nothing
    assert not (tmp_path / "state" / "quarantine" / "INC-r").exists()


def _mark_ctx(tmp_path: Path, incident: str) -> RemediationContext:
    return _ctx(tmp_path, incident, parts={})


def _mark_plan(tmp_path: Path) -> dict[str, Any]:
    return {"path": str(tmp_path / "state" / "marks" / "credit.json"),
            "windows": [{"start": "2026-01-01T00:00:00+00:00",
                         "end": "2026-01-02T00:00:00+00:00", "kind": "missing"}]}


def test_mark_window_recovery_removes_only_this_incidents_marks(tmp_path: Path) -> None:
    mark, params, plan = MarkWindow(), MarkWindowParams(), _mark_plan(tmp_path)
    mark.apply(_mark_ctx(tmp_path, "INC-other"), params, plan)
    ctx = _mark_ctx(tmp_path, "INC-dead")
    assert mark.recover(ctx, plan).startswith("no window marked by this incident")
    mark.apply(ctx, params, plan)  # ... and then it died
    stale = Path(plan["path"]).with_name(".credit.json.0123.tmp")  # a writer died mid-write
    stale.write_text("{")
    assert mark.recover(ctx, plan).startswith("removed the 1 window(s)")
    assert [w["incident_id"] for w in read_marks(ctx.state_dir, "credit")] == ["INC-other"]
    assert not stale.exists()


def test_concurrent_marks_are_all_kept(tmp_path: Path) -> None:
    """Read-modify-write under the lock: no writer's marks are lost to another's."""
    mark, params, plan = MarkWindow(), MarkWindowParams(), _mark_plan(tmp_path)
    start = threading.Barrier(8)

    def writer(i: int) -> None:
        start.wait()
        for j in range(5):
            mark.apply(_mark_ctx(tmp_path, f"INC-{i}-{j}"), params, plan)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(read_marks(tmp_path / "state", "credit")) == 40


class _Params(StrictParams):
    pass


calls: list[tuple[str, dict[str, Any]]] = []


@remediation("probe", params=_Params, requires_clean_data=False, metrics={})
class _Probe(Remediation[_Params]):
    def plan(self, ctx: RemediationContext, params: _Params) -> dict[str, Any]:
        return {}

    def apply(self, ctx: RemediationContext, params: _Params,
              plan: dict[str, Any]) -> dict[str, Any]:
        return {}

    def verify(self, ctx: RemediationContext, params: _Params,
               change: dict[str, Any]) -> dict[str, float]:
        return {}

    def revert(self, ctx: RevertContext, change: dict[str, Any]) -> None:
        calls.append(("revert", change))

    def recover(self, ctx: RevertContext, plan: dict[str, Any]) -> str:
        calls.append(("recover", plan))
        return "found the alias on v2: moved back to v1"


@remediation("legacy", params=_Params, requires_clean_data=False, metrics={})
class _Legacy(_Probe):
    """A plugin written before recover() existed."""

    recover = Remediation.recover  # the protocol's default, which raises


@pytest.mark.parametrize("pass_plan", [True, False])
def test_revert_change_recovers_from_the_plan_when_no_change_was_journalled(
        tmp_path: Path, pass_plan: bool) -> None:
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    plugins = PluginTable.from_modules([sys.modules[__name__]])
    plan = {"summary": "move 'champion' from v1 to v2", "current_version": "1"}
    seq = ledger.journal_intent("INC-p", "credit", "probe", "probe", plan)
    undo = Undo("INC-p", "probe", "probe", seq, _profile(tmp_path), tmp_path,
                plan=plan if pass_plan else None)
    calls.clear()
    account = revert_change(undo, None, ledger=ledger, store=None, plugins=plugins)
    assert calls == [("recover", plan)]
    assert account == "no change was journalled; found the alias on v2: moved back to v1"
    assert ledger.journal(unfinished=True) == []

    calls.clear()
    seq = ledger.journal_intent("INC-p", "credit", "probe", "probe", plan)
    account = revert_change(Undo("INC-p", "probe", "probe", seq, _profile(tmp_path), tmp_path),
                            {"v": "2"}, ledger=ledger, store=None, plugins=plugins)
    assert calls == [("revert", {"v": "2"})]
    assert account == ("the journalled change was reverted (it was: move 'champion' from v1 "
                       "to v2)")

    seq = ledger.journal_intent("INC-p", "credit", "legacy", "legacy", plan)
    account = revert_change(Undo("INC-p", "legacy", "legacy", seq, _profile(tmp_path),
                                 tmp_path), None, ledger=ledger, store=None, plugins=plugins)
    assert account.startswith("no change was journalled; _Legacy cannot tell what its apply "
                              "did: check by hand (move 'champion'")
    assert ledger.journal(unfinished=True) == []

