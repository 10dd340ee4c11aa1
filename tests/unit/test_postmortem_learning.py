"""Post-mortems that teach, rendered the way the close does (``postmortem_path`` under a
real state dir, a real SQLite ledger): charts beside the file, owned action items kept in
the ledger, recurrence of the same root cause on the same model, completeness, lessons."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from playbooks.archive import keep_samples, load_samples
from playbooks.config import load_settings
from playbooks.data.io import DataWindows
from playbooks.engine.postmortem import render_postmortem
from playbooks.evidence import collect_feature_drift
from playbooks.ledger import ActionStore, Ledger
from playbooks.loader import CATALOG_DIR, load_spec
from playbooks.models import EvidencePackage, Incident
from playbooks.models.incident import IncidentStatus, RootCause, Severity
from playbooks.models.profile import ModelProfile
from playbooks.report.learning import completeness, lessons
from tests.unit._support import T0, applications

SPEC = load_spec(CATALOG_DIR / "data-drift.yaml")


def _scored(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(score=1 / (1 + np.exp((frame["credit_score"] - 620) / 40)))


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("MLPB_LEDGER_URL", raising=False)  # the ledger of this state dir
    (tmp_path / "postmortems").mkdir()
    return tmp_path


def _profile(home: Path) -> ModelProfile:
    """The profile, also written where the incident names it (the close reads it back for
    the owners and column roles)."""
    data = {
        "name": "credit-risk",
        "data": {"timestamp": "ts", "reference": {"path": "ref.parquet"},
                 "current": {"path": "log.parquet"}},
        "features": {"numeric": ["age", "annual_income", "credit_score"],
                     "categorical": ["region"]},
        "prediction": {"score": "score"},
        "model": {"registry_name": "credit-risk", "threshold": 0.5},
        "owners": {"model": "ml-credit", "data": "data-eng", "oncall": "ml-oncall"},
    }
    (home / "profile.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    return ModelProfile.model_validate(data)


def _drifted_run(home: Path, incident_id: str) -> tuple[Incident, EvidencePackage]:
    """A population shift: evidence measured and row samples kept as a run keeps them."""
    profile = _profile(home)
    ref = _scored(applications(3000, 1))
    before = _scored(applications(1500, 2, start=T0 + timedelta(days=7)))
    cur = _scored(applications(1500, 3, start=T0 + timedelta(days=14), strength=1.0))
    data = DataWindows(reference=ref, log=pd.concat([before, cur], ignore_index=True),
                       current=cur, labelled=None)
    rows, metrics = collect_feature_drift(profile, data, SPEC.drift)
    keep_samples(home, incident_id, data, profile, max_rows=1200)
    evidence = EvidencePackage.model_validate({
        "incident_id": incident_id, "collected_at": T0 + timedelta(days=21),
        "feature_drift": rows, "metrics": metrics})
    inc = _incident(incident_id, T0 + timedelta(days=21), home)
    return inc, evidence


def _incident(incident_id: str, at: object, home: Path, *, model: str = "credit-risk",
              rc: str | None = "population-shift", drill: bool = False) -> Incident:
    return Incident.model_validate({
        "id": incident_id, "playbook": "data-drift", "playbook_version": SPEC.version,
        "playbook_hash": SPEC.hash, "model": model, "dedup_key": f"k-{incident_id}",
        "severity": Severity.SEV2, "status": IncidentStatus.RESOLVED, "owner": "ml-oncall",
        "drill": drill, "profile_path": str(home / "profile.yaml"),
        "root_cause": RootCause(hypothesis_id=rc, confidence=0.9, summary="shifted")
        if rc else None,
        "detected_at": at, "onset_at": T0 + timedelta(days=14),
        "postmortem_path": str(home / "postmortems" / f"{incident_id}.md")})


def test_post_mortem_embeds_charts_on_disk_and_keeps_owned_dated_actions(home: Path) -> None:
    inc, evidence = _drifted_run(home, "INC-A")
    text = render_postmortem(inc, SPEC, evidence)

    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert {Path(link).name for link in links} >= {"drift-statistics.png", "distributions.png",
                                                  "scores.png"}
    for link in links:  # relative to the post-mortem, and real PNGs
        png = home / "postmortems" / link
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", link
    for section in ("## Impact", "## Detection", "## Lineage", "## Action items",
                    "## Post-mortem completeness"):
        assert section in text
    assert re.search(r"Negative decisions \(score ≥ 0\.5\): [\d.]+% before the window → "
                     r"[\d.]+% in it", text)
    assert "first signal to fire would have been drift on" in text

    items = ActionStore(Ledger(load_settings(home).ledger_url)).list(incident_id="INC-A")
    assert items and all(a.owner == "ml-credit" and a.due > inc.detected_at for a in items)
    assert f"{items[0].id} **ml-credit**, due {items[0].due:%Y-%m-%d}" in text
    assert (home / "specs" / "data-drift" / f"{SPEC.hash}.json").exists()

    render_postmortem(inc, SPEC, evidence)  # the controller may write it again
    assert len(ActionStore(Ledger(load_settings(home).ledger_url)).list(
        incident_id="INC-A")) == len(items)


def test_third_incident_with_the_same_cause_in_30_days_says_so_and_proposes_the_fix(
        home: Path) -> None:
    ledger = Ledger(load_settings(home).ledger_url)
    now = T0 + timedelta(days=40)
    earlier: list[tuple[str, datetime, dict[str, Any]]] = [
                        ("INC-OLD1", now - timedelta(days=20), {}),
                        ("INC-OLD2", now - timedelta(days=5), {}),
                        ("INC-TOO-OLD", now - timedelta(days=45), {}),
                        ("INC-OTHER-MODEL", now - timedelta(days=3), {"model": "fraud"}),
                        ("INC-OTHER-CAUSE", now - timedelta(days=2),
                         {"rc": "upstream-unit-change"}),
                        ("INC-DRILL", now - timedelta(days=1), {"drill": True})]
    for iid, at, kw in earlier:
        ledger.open_incident(_incident(iid, at, home, **kw))
    inc, evidence = _drifted_run(home, "INC-NOW")
    inc = inc.model_copy(update={"detected_at": now})
    text = render_postmortem(inc, SPEC, evidence)

    assert "3rd time in 30 days" in text
    assert "INC-OLD1" in text and "INC-OLD2" in text
    for other in ("INC-TOO-OLD", "INC-OTHER-MODEL", "INC-OTHER-CAUSE", "INC-DRILL"):
        assert other not in text.split("## Timeline")[0]
    assert "schedule retraining" in text  # data-drift's population shift prescribes retrain
    keys = {a.key for a in ActionStore(ledger).list(incident_id="INC-NOW")}
    assert "permanent-fix" in keys


def test_completeness_scores_sections_owners_and_confidence(home: Path) -> None:
    inc = _incident("INC-C", T0, home)
    full = "\n".join(["## Summary", "## Impact", "## Detection", "## Lineage", "## Timeline",
                      "## Evidence", "## Hypotheses", "## Remediation", "## Verification",
                      "## Action items"])
    from playbooks.ledger.actions import NewAction

    owned = [NewAction("review", "review", "ml-credit", T0)]
    assert completeness(full, inc, owned).score == round(50 + 25 + 25 * 0.9)
    weak = completeness(full.replace("## Lineage", ""), inc.model_copy(
        update={"root_cause": None}), [NewAction("x", "y", "unassigned", T0)])
    assert weak.score == round(50 * 9 / 10)
    assert "section Lineage" in weak.missing and "no root cause" in weak.missing
    assert "1 action item(s) without an owner" in weak.missing


def test_lessons_gather_closed_incidents_by_root_cause(home: Path) -> None:
    incs = [_incident(f"INC-{n}", T0 + timedelta(days=n), home) for n in range(3)]
    incs.append(_incident("INC-FA", T0, home, rc="no-material-drift").model_copy(
        update={"status": IncidentStatus.FALSE_ALARM}))
    incs.append(_incident("INC-OPEN", T0, home).model_copy(
        update={"status": IncidentStatus.MONITORING}))
    out = lessons("data-drift", incs, SPEC)
    assert out["closed_incidents"] == 4
    top = out["causes"][0]
    assert (top["root_cause"], top["incidents"]) == ("population-shift", 3)
    assert "schedule retraining" in top["permanent_fix"]
    assert out["causes"][1]["false_alarms"] == 1


def test_samples_are_bounded_and_written_once(home: Path) -> None:
    _drifted_run(home, "INC-S")
    s = load_samples(home, "INC-S")
    assert s is not None and set(s.frames) == {"reference", "current", "baseline"}
    assert all(len(f) == 1200 for f in s.frames.values())
    assert s.role("score") == "score" and "region" in s.categorical
    first = (home / "evidence" / "INC-S" / "current.parquet").read_bytes()
    _drifted_run(home, "INC-S")
    assert (home / "evidence" / "INC-S" / "current.parquet").read_bytes() == first


def test_a_path_outside_a_state_dir_renders_from_the_incident_alone(tmp_path: Path) -> None:
    inc = _incident("INC-X", T0, tmp_path).model_copy(
        update={"postmortem_path": str(tmp_path / "elsewhere" / "INC-X.md")})
    text = render_postmortem(inc, SPEC, None)
    assert "## Action items" in text and "![" not in text
    assert list(tmp_path.iterdir()) == []  # no ledger, charts or archive written anywhere
