"""The crash matrix: every remediation, SIGKILLed at every step boundary of its apply, is
recovered from the journal alone, and the world ends as it was.

For each remediation and kill point: a real sandbox (MLflow registry, parquet log) with the
fault that calls for that remediation; a REMEDIATING incident and the journalled intent (the
plan); a child process applies the remediation the way the runner does (under the model's
lease, journalling "applied") and SIGKILLs itself at the kill point (``MLPB_CRASH_AT``, see
playbooks/crashpoints.py). Then ``recover_unfinished(force=True)`` - what ``mlpb recover``
runs - and the invariants: the alias points at the version it did before (which exists), no
unverified new version serves, tags, files and marks are as before, the journal is closed,
the incident is escalated and its timeline says what recovery found.
"""

from __future__ import annotations

import hashlib
import re
import signal
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from playbooks.engine import diagnosis
from playbooks.engine.lifecycle import Inputs, load_inputs, recover_unfinished
from playbooks.engine.runtime import Runtime
from playbooks.models import Incident
from playbooks.models.evidence import EvidencePackage
from playbooks.models.incident import IncidentStatus
from playbooks.modelstore import INCIDENT_TAG, MlflowModelStore
from playbooks.remediations.mark_window import read_marks
from playbooks.remediations.retrain import REMEDIATION_TAG
from playbooks.sandbox import Sandbox, bootstrap_sandbox, inject_fault, make_fault
from tests.e2e.crash_driver import (
    AFTER_JOURNAL,
    SET_ALIAS_BEFORE_TAG,
    ApplyCase,
    context,
    forkserver,
    run_apply,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
ROOT = Path(__file__).parents[2]

SMALL: dict[str, Any] = {  # tiny and fixed: the whole matrix runs in a few minutes
    "seed": 3, "rows_per_day": 300, "history_days": 14, "reference_rows": 3000,
    "now": datetime(2026, 3, 2, 12, tzinfo=UTC)}

# What recovery must report having found, by what the killed apply got done.
UNTOUCHED_ALIAS = "as before: nothing to undo"
ALIAS_BACK = "moved back to v"
CHANGE_REVERTED = "the journalled change was reverted"


@dataclass(frozen=True)
class Setup:
    """One remediation's sandbox: the playbook and fault that call for it."""

    playbook: str
    fault: str
    days: int
    moves: int = 0  # quarantine-batch: files the plan moves
    tags: int = 0  # restore-feature-mapping: tags the plan writes


SETUPS = {
    "retrain": Setup("data-drift", "covariate-drift", 7),
    "rollback-model": Setup("bad-release", "bad-release", 3),
    "switch-to-fallback": Setup("output-anomaly", "score-collapse", 3),
    "recalibrate-threshold": Setup("threshold-miscalibration", "prevalence-shift", 7),
    "restore-feature-mapping": Setup("feature-skew", "stale-pipeline", 3, tags=2),
    "quarantine-batch": Setup("data-quality", "null-spike", 2, moves=3),
    "mark-window": Setup("data-freshness", "stale-partitions", 2),
}

# remediation -> [(kill point, what recovery must say it found)], in apply's order.
MATRIX: dict[str, list[tuple[str, str]]] = {
    "retrain": [
        ("retrain:before-train", UNTOUCHED_ALIAS),
        ("retrain:before-register", UNTOUCHED_ALIAS),
        ("retrain:after-register", UNTOUCHED_ALIAS),  # a version, never promoted
        (SET_ALIAS_BEFORE_TAG, ALIAS_BACK),
        ("retrain:after-set-alias", ALIAS_BACK),
        (AFTER_JOURNAL, CHANGE_REVERTED),
    ],
    **{rid: [
        ("alias-swap:before-set-alias", UNTOUCHED_ALIAS),
        (SET_ALIAS_BEFORE_TAG, ALIAS_BACK),  # the alias moved, its target is not tagged yet
        ("alias-swap:after-set-alias", ALIAS_BACK),
        (AFTER_JOURNAL, CHANGE_REVERTED),
    ] for rid in ("rollback-model", "switch-to-fallback")},
    "recalibrate-threshold": [
        ("recalibrate-threshold:before-tag", "'0.5', as before"),
        ("recalibrate-threshold:after-tag", "restored to '0.5'"),
        (AFTER_JOURNAL, CHANGE_REVERTED),
    ],
    "restore-feature-mapping": [
        ("restore-feature-mapping:before-tag-0",
         "mlpb.feature_mapping, mlpb.required_feature_version as before"),
        ("restore-feature-mapping:before-tag-1",
         "restored mlpb.feature_mapping; mlpb.required_feature_version as before"),
        ("restore-feature-mapping:after-tags",
         "restored mlpb.feature_mapping, mlpb.required_feature_version"),
        (AFTER_JOURNAL, CHANGE_REVERTED),
    ],
    "quarantine-batch": [
        *[(f"quarantine-batch:{when}-move-{i}", f"{i + (when == 'after')} of 3 file(s) found")
          for i in range(3) for when in ("before", "after")],
        (AFTER_JOURNAL, CHANGE_REVERTED),
    ],
    "mark-window": [
        ("mark-window:before-write", "nothing to remove"),
        ("mark-window:tmp-written", "nothing to remove"),  # a temp file, never renamed
        ("mark-window:after-write", "removed the 1 window(s)"),
        (AFTER_JOURNAL, CHANGE_REVERTED),
    ],
}
CASES = [(rid, point, found) for rid, points in MATRIX.items() for point, found in points]


@dataclass
class World:
    """Everything a remediation may change, as comparable data."""

    aliases: dict[str, str]
    tags: dict[str, dict[str, str]]  # version -> tags (no audit tag, "" meaning unset)
    files: dict[str, str]  # path under the sandbox -> sha256
    marks: list[dict[str, Any]]


@dataclass
class Prepared:
    sb: Sandbox
    rt: Runtime
    inputs: Inputs
    evidence: EvidencePackage
    baseline: World


def _world(p: Prepared | tuple[Sandbox, Runtime]) -> World:
    sb, rt = (p.sb, p.rt) if isinstance(p, Prepared) else p
    versions = MlflowModelStore(sb.tracking_uri).list_versions(sb.model_name)
    return World(
        aliases={a: v.version for v in versions for a in v.aliases},
        # mlpb.incident_id records the last incident that pointed an alias at the version:
        # an audit trail set_alias writes, not state a consumer reads.
        tags={v.version: {k: t for k, t in v.tags.items() if k != INCIDENT_TAG and t != ""}
              for v in versions},
        files={str(f.relative_to(sb.root)): hashlib.sha256(f.read_bytes()).hexdigest()
               for f in sorted(sb.root.rglob("*")) if f.is_file()},
        marks=read_marks(rt.settings.home, sb.model_name),
    )


def _changed(p: Prepared) -> list[str]:
    """How the world differs from the baseline (empty: as it was). Versions a retrain
    registered may stay in the registry, but only unserved."""
    world, base = _world(p), p.baseline
    store = MlflowModelStore(p.sb.tracking_uri)
    out = []
    if world.aliases != base.aliases:
        out.append(f"aliases {world.aliases}, were {base.aliases}")
    out += [f"alias {a} points at v{v}, which does not exist" for a, v in world.aliases.items()
            if not store.version_exists(p.sb.model_name, v)]
    for version, tags in world.tags.items():
        if version in base.tags and tags != base.tags[version]:
            out.append(f"tags of v{version} {tags}, were {base.tags[version]}")
        elif version not in base.tags:
            info = store.get_version(p.sb.model_name, version)
            if info.tags.get(REMEDIATION_TAG) != "retrain" or info.aliases:
                out.append(f"v{version} is new and not an unserved retrain: {info}")
    if world.files != base.files:
        out.append(f"files differ: {sorted(set(world.files.items()) ^ set(base.files.items()))}")
    if world.marks != base.marks:
        out.append(f"marks {world.marks}, were {base.marks}")
    if stale := list((p.rt.settings.home / "marks").glob(".*.tmp")):
        out.append(f"half-written marks left: {stale}")
    return out


class _Sandboxes(dict[str, Prepared]):
    """One sandbox per remediation, built when its first case asks for it."""

    def __init__(self, factory: pytest.TempPathFactory) -> None:
        super().__init__()
        self.factory = factory

    def __missing__(self, rid: str) -> Prepared:
        s = SETUPS[rid]
        home = self.factory.mktemp(rid)
        sb = bootstrap_sandbox(home, **SMALL)
        inject_fault(sb, make_fault(s.fault), days=s.days, seed=5)
        rt = Runtime.from_env(str(home), quiet=True)
        inputs = load_inputs(s.playbook, sb.profile_path)
        probe = _incident(inputs, f"INC-{rid}-probe")
        cctx = diagnosis.collect_context(rt, inputs, probe)
        parts = {n: inputs.plugins.get("collector", n).run_collector(cctx)
                 for n in inputs.spec.evidence}
        self[rid] = Prepared(sb, rt, inputs, diagnosis.assemble_package(probe, parts),
                             _world((sb, rt)))
        return self[rid]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Prepared]:
    """Sandboxes shared by each remediation's kill points: every case starts from - and
    must leave - the same world."""
    return _Sandboxes(tmp_path_factory)


def _incident(inputs: Inputs, iid: str) -> Incident:
    return Incident(id=iid, playbook=inputs.spec.id, playbook_version=inputs.spec.version,
                    playbook_hash=inputs.spec.hash, model=inputs.profile.name,
                    dedup_key=f"crash:{iid}", status=IncidentStatus.REMEDIATING)


@pytest.mark.parametrize(("rid", "point", "found"), CASES,
                         ids=[f"{rid}@{point}" for rid, point, _ in CASES])
def test_killed_apply_is_recovered(prepared: dict[str, Prepared], rid: str, point: str,
                                   found: str) -> None:
    p = prepared[rid]
    assert _changed(p) == [], "an earlier case left the world changed"
    rt, inputs = p.rt, p.inputs
    inc, _ = rt.ledger.open_incident(_incident(inputs, f"INC-{re.sub(r'[^a-z0-9]+', '-', point)}"
                                               f"-{rid}"))
    entry = inputs.spec.remediation(rid)
    plugin = inputs.plugins.get("remediation", entry.action)
    ctx = context(rt, inputs.profile, inc.id, p.evidence, inputs.data)
    plan = plugin.remediation().plan(ctx, plugin.parse_params(entry.params))
    assert len(plan.get("moves", [])) == SETUPS[rid].moves, "the matrix names every move"
    assert len(plan.get("tags", {})) == SETUPS[rid].tags, "the matrix names every tag"
    seq = rt.ledger.journal_intent(inc.id, inc.model, entry.id, entry.action, plan)

    child = forkserver().Process(target=run_apply, args=(ApplyCase(
        home=str(rt.settings.home), playbook=inputs.spec.id,
        profile_path=str(inputs.profile_path), remediation_id=rid, incident_id=inc.id,
        seq=seq, plan=plan, evidence_json=p.evidence.model_dump_json(), crash_at=point),))
    child.start()
    child.join(timeout=300)
    assert child.exitcode == -signal.SIGKILL, f"kill point {point} not reached ({child.exitcode})"

    (open_entry,) = rt.ledger.journal(unfinished=True)
    assert open_entry.phase == ("applied" if point == AFTER_JOURNAL else "intent")
    # The dead child's lease has not expired: plain recovery leaves its work alone ...
    lease = rt.ledger.leases.get(inc.model)
    assert lease is not None and f":{child.pid}:" in lease.holder and not lease.expired
    assert recover_unfinished(rt, inputs.profile) == []
    # ... `mlpb recover` (force) is a person saying the run is gone.
    assert recover_unfinished(rt, inputs.profile, force=True) == [inc.id]
    # Forced recovery leaves the dead holder's lease to expire by itself (TTL); the next
    # case must not wait for that.
    rt.ledger.leases.release(inc.model, lease.holder)

    assert _changed(p) == [], "the world is as it was before the run"
    assert not (rt.settings.home / "quarantine" / inc.id).exists()
    assert rt.ledger.journal(unfinished=True) == []
    assert [e.phase for e in rt.ledger.journal(incident_id=inc.id)] == ["reverted"]

    after = rt.ledger.get(inc.id)
    assert after.status is IncidentStatus.ESCALATED
    (recovered,) = [e for e in after.timeline if e.kind == "recovered"]
    print(f"\n| {rid} | {point} | {recovered.message} |")
    assert found in recovered.message, "the timeline says what recovery found"


def test_every_kill_point_in_the_code_is_in_the_matrix() -> None:
    """A crash_point added to a remediation without a matrix row fails here."""
    names = {point for points in MATRIX.values() for point, _ in points}
    for src in (ROOT / "playbooks").rglob("*.py"):
        if src.name == "crashpoints.py":
            continue  # the hook itself (its docstring shows the call)
        for literal in re.findall(r"crash_point\(f?\"([^\"]+)\"\)", src.read_text()):
            pattern = re.sub(r"\\\{[^}]*\\\}", r"\\d+", re.escape(literal))
            assert any(re.fullmatch(pattern, n) for n in names), (
                f"{src.relative_to(ROOT)}: kill point {literal!r} has no case in MATRIX")
