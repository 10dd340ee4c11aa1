"""`mlpb audit export|verify`, `mlpb incidents show` with the archived spec, and a live run the
policy refuses: one refusal record, no incident (typer's CliRunner, a SQLite ledger)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
import yaml
from typer.testing import CliRunner

from cli.main import app
from playbooks.archive import archive_spec
from playbooks.ledger import Ledger
from playbooks.loader import CATALOG_DIR, load_spec
from playbooks.models.incident import Incident, IncidentStatus


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    h = tmp_path / "home"
    monkeypatch.setenv("MLPB_HOME", str(h))
    for var in ("MLPB_POLICY", "MLPB_LEDGER_URL", "MLPB_CLOCK"):
        monkeypatch.delenv(var, raising=False)
    return h


def _count(led: Ledger, table: str) -> int:
    with led.engine.connect() as conn:
        return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())


def test_refused_live_run_leaves_one_refusal_and_nothing_else(home: Path,
                                                              tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for name in ("ref", "cur"):
        pd.DataFrame({"ts": pd.date_range("2026-01-01", periods=50, freq="h", tz="UTC"),
                      "x": rng.normal(size=50), "score": rng.uniform(size=50)}).to_csv(
            tmp_path / f"{name}.csv", index=False)
    profile = tmp_path / "profile.yaml"
    profile.write_text(yaml.safe_dump({
        "name": "credit", "features": {"numeric": ["x"]}, "prediction": {"score": "score"},
        "data": {"timestamp": "ts", "reference": {"path": "ref.csv"},
                 "current": {"path": "cur.csv"}}}), encoding="utf-8")
    home.mkdir()
    (home / "policy.yaml").write_text(yaml.safe_dump({"run": {"default": "dry-run"}}),
                                      encoding="utf-8")
    runner = CliRunner()
    res = runner.invoke(app, ["run", "data-drift", "--profile", str(profile), "--as", "eve"])
    assert res.exit_code == 4, res.output
    assert "eve may run 'data-drift' on credit as a dry run only" in res.output

    led = Ledger(f"sqlite:///{home / 'ledger.db'}")
    (r,) = led.refusals.since()
    assert (r.who, r.channel, r.action, r.playbook, r.model) == (
        "eve", "cli", "run-live", "data-drift", "credit")
    assert "dry run only" in r.reason and r.detail["identity"] == "--as"
    assert r.detail["policy"] == str(home / "policy.yaml")
    assert _count(led, "mlpb_incidents") == 0 and _count(led, "mlpb_timeline") == 0
    assert _count(led, "mlpb_remediation_journal") == 0
    # no run began: it would have archived the spec and kept evidence
    assert not (home / "specs").exists() and not (home / "evidence").exists()
    assert not any(p.is_file() for p in home.rglob("*") if p.parent != home)
    led.close()

    exported = runner.invoke(app, ["audit", "export", "--since", "1d"])
    assert exported.exit_code == 0, exported.output
    lines = [json.loads(x) for x in exported.stdout.splitlines()]
    assert [(x["record"], x["who"], x["channel"]) for x in lines] == [
        ("refusal", "eve", "cli")]
    bad = runner.invoke(app, ["audit", "export", "--since", "soon"])
    assert bad.exit_code == 1 and "not a duration" in bad.output


def test_show_export_verify(home: Path, tmp_path: Path) -> None:
    spec = load_spec(CATALOG_DIR / "data-drift.yaml")
    archived = archive_spec(home, spec)
    led = Ledger(f"sqlite:///{home / 'ledger.db'}")
    led.open_incident(Incident(
        id="INC-20260301-aaaa", playbook=spec.id, playbook_version=spec.version,
        playbook_hash=spec.hash, model="credit-risk", dedup_key="k",
        status=IncidentStatus.INVESTIGATING))
    for i in range(3):
        led.add_event("INC-20260301-aaaa", "note", f"note {i}")
    runner = CliRunner()

    shown = runner.invoke(app, ["incidents", "show", "INC-20260301"])
    assert shown.exit_code == 0, shown.output
    assert f"v{spec.version} (hash {spec.hash}) archived at {archived}" in " ".join(
        shown.stdout.split())
    as_yaml = runner.invoke(app, ["incidents", "show", "INC-20260301-aaaa", "--spec"])
    assert as_yaml.exit_code == 0, as_yaml.output
    assert yaml.safe_load(as_yaml.stdout)["hypotheses"] == spec.model_dump(mode="json")[
        "hypotheses"]

    out = tmp_path / "audit" / "inc.jsonl"
    exported = runner.invoke(app, ["audit", "export", "INC-20260301", "--out", str(out)])
    assert exported.exit_code == 0, exported.output
    (rec,) = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert rec["id"] == "INC-20260301-aaaa" and rec["spec"]["archived_path"] == str(archived)
    assert [e["kind"] for e in rec["timeline"]] == ["opened", "note", "note", "note"]
    assert rec["chain"]["intact"] and rec["chain"]["head"] == rec["timeline"][-1]["row_hash"]
    neither = runner.invoke(app, ["audit", "export"])
    assert neither.exit_code == 1 and "name one incident or give --since" in neither.output

    ok = runner.invoke(app, ["audit", "verify"])
    assert ok.exit_code == 0 and "verified 1 timeline chain(s): all intact" in ok.stdout
    seq = rec["timeline"][2]["seq"]
    with led.engine.begin() as conn:
        conn.execute(sa.text("UPDATE mlpb_timeline SET at = '2020-01-01 00:00:00.000000' "
                             "WHERE seq = :s"), {"s": seq})
    led.close()
    broken = runner.invoke(app, ["audit", "verify"])
    assert broken.exit_code == 5, broken.output
    assert f"INC-20260301-aaaa: chain broken at row 3 (seq {seq}): 'note' row was edited" in \
        " ".join(broken.output.split())
    as_json = runner.invoke(app, ["audit", "verify", "--json"])
    assert as_json.exit_code == 5
    assert json.loads(as_json.stdout)["broken"][0]["seq"] == seq


def test_show_spec_not_archived(home: Path) -> None:
    home.mkdir()
    led = Ledger(f"sqlite:///{home / 'ledger.db'}")
    led.open_incident(Incident(id="INC-OLD", playbook="data-drift", playbook_version="0.9.0",
                               playbook_hash="feed", model="m", dedup_key="k"))
    led.close()
    shown = CliRunner().invoke(app, ["incidents", "show", "INC-OLD"])
    assert shown.exit_code == 0 and "not in the spec archive" in shown.stdout
    res = CliRunner().invoke(app, ["incidents", "show", "INC-OLD", "--spec"])
    assert res.exit_code == 1 and "is not in the archive" in res.output
    assert "mlpb spec list data-drift" in res.output
