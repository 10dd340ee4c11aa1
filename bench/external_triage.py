"""Triage on data nobody tuned it for: fault scenarios built from scikit-learn's bundled
breast-cancer data set (not the sandbox simulator), each run through the triage playbook's
evidence, checks and decision in-process, printed as a confusion table.

``python -m bench.external_triage`` prints the table (about a minute). The slow test tier
(tests/integration/test_external_triage.py) asserts it.

The data: 569 diagnosed tumours, 8 of their measurements as numeric features, one categorical
derived from a ninth (``size_band``), the label ``malignant``. A logistic regression trained
on a 300-row reference scores a 7-day inference log bootstrapped from all 569
(timestamps ending now, a request id, a serving version, latency and a status), with labels
a day later. The profile is written by ``mlpb profile init`` (``infer_profile``) from the
clean files, then given the label source; every scenario breaks a copy of the files the
way an upstream fault would.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from playbooks.checks.triage import SIGNATURE_CHECK
from playbooks.engine.decide import assess_severity, decide, rank
from playbooks.engine.diagnosis import assemble_package, test_hypothesis
from playbooks.engine.lifecycle import load_inputs, new_incident
from playbooks.evidence.base import CollectContext
from playbooks.models.incident import Verdict
from playbooks.profile_init import infer_profile

__all__ = ["SCENARIOS", "Outcome", "Scenario", "build_scenario", "main", "run_triage"]

FEATURES = {"mean radius": "radius", "mean texture": "texture", "mean perimeter": "perimeter",
            "mean area": "area", "mean smoothness": "smoothness",
            "mean compactness": "compactness", "mean concavity": "concavity",
            "mean symmetry": "symmetry"}
NUMERIC = list(FEATURES.values())
DAYS, ROWS_PER_DAY, REF_ROWS = 7, 300, 300
WINDOW_DAYS = 3  # the profile's current window: the last 3 of the log's 7 days
FALSE_ALARM = "false alarm"


@dataclass
class Frames:
    """One scenario's files before writing: reference, inference log, labels."""

    reference: pd.DataFrame
    log: pd.DataFrame
    labels: pd.DataFrame
    slo: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Scenario:
    name: str
    expected: str  # the failure class triage must put first (or FALSE_ALARM)
    secondary: frozenset[str]  # classes that must also be reported as distinct faults
    inject: Callable[[Frames, np.random.Generator], None]
    what: str


def _base(seed: int) -> tuple[Frames, Any]:
    raw = load_breast_cancer(as_frame=True)
    frame = raw.frame.rename(columns=FEATURES)
    frame["malignant"] = 1 - frame["target"]
    band = pd.qcut(frame["worst area"], 3, labels=["small", "medium", "large"])
    frame["size_band"] = band.astype(str)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(frame))
    # Production draws from the whole population the reference was sampled from.
    ref, pool = frame.iloc[order[:REF_ROWS]], frame
    cols = [*NUMERIC, "size_band"]
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.3, max_iter=500))
    x_ref = pd.get_dummies(ref[cols], columns=["size_band"], dtype=float)
    model.fit(x_ref, ref["malignant"])
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    n = DAYS * ROWS_PER_DAY
    log = pool.iloc[rng.integers(0, len(pool), n)][[*cols, "malignant"]].reset_index(drop=True)
    gaps = rng.exponential(1.0, n)
    span = DAYS * 86400.0
    log["ts"] = [now - timedelta(seconds=span * (1 - c)) for c in np.cumsum(gaps) / gaps.sum()]
    log["request_id"] = [f"r{seed}-{i:05d}" for i in range(n)]
    log["model_version"] = "1"
    log["latency_ms"] = rng.lognormal(np.log(30), 0.25, n).round(2)
    log["status"] = np.where(rng.random(n) < 0.005, "error", "ok")
    reference = ref[[*cols, "malignant"]].reset_index(drop=True).copy()
    reference["ts"] = [now - timedelta(days=DAYS + 21) + timedelta(seconds=int(s))
                       for s in np.sort(rng.integers(0, 21 * 86400, len(reference)))]
    frames = Frames(reference=reference, log=log, labels=pd.DataFrame())
    return frames, model


def _score(frames: Frames, model: Any) -> None:
    for f in (frames.reference, frames.log):
        x = pd.get_dummies(f[[*NUMERIC, "size_band"]].fillna(0.0), columns=["size_band"],
                           dtype=float)
        x = x.reindex(columns=model.feature_names_in_, fill_value=0.0)
        f["score"] = model.predict_proba(x)[:, 1].round(6)
        f["decision"] = np.where(f["score"] >= 0.5, "malignant", "benign")


def _recent(frames: Frames, days: float) -> pd.Series[bool]:
    ts = frames.log["ts"]
    recent: pd.Series[bool] = ts > ts.max() - pd.Timedelta(days=days)
    return recent


# -- the faults: each changes the frames the way an upstream break would ---------------------


def _unit_change(f: Frames, rng: np.random.Generator) -> None:
    f.log.loc[_recent(f, 3), "area"] *= 100  # cm^2 -> mm^2 upstream


def _swap(f: Frames, rng: np.random.Generator) -> None:
    m = _recent(f, 3)
    f.log.loc[m, ["radius", "smoothness"]] = f.log.loc[m, ["smoothness", "radius"]].to_numpy()


def _nulls(f: Frames, rng: np.random.Generator) -> None:
    f.log.loc[_recent(f, 3) & (rng.random(len(f.log)) < 0.4), "texture"] = np.nan


def _relabel(f: Frames, rng: np.random.Generator) -> None:
    f.log.loc[_recent(f, 3), "size_band"] = f.log.loc[_recent(f, 3), "size_band"].map(
        {"small": "S", "medium": "M", "large": "L"})


def _drop_column(f: Frames, rng: np.random.Generator) -> None:
    f.log = f.log.drop(columns=["concavity"])


def _constant_score(f: Frames, rng: np.random.Generator) -> None:
    m = _recent(f, 2)
    f.log.loc[m, "score"] = 0.37
    f.log.loc[m, "decision"] = "benign"


def _partial_collapse(f: Frames, rng: np.random.Generator) -> None:
    m = _recent(f, 2)
    s = f.log.loc[m, "score"]
    f.log.loc[m, "score"] = (s.mean() + 0.25 * (s - s.mean())).round(6)


def _score_shift(f: Frames, rng: np.random.Generator) -> None:
    m = _recent(f, 2)
    logit = np.log(f.log.loc[m, "score"].clip(1e-6, 1 - 1e-6) /
                   (1 - f.log.loc[m, "score"].clip(1e-6, 1 - 1e-6)))
    f.log.loc[m, "score"] = (1 / (1 + np.exp(-(logit + 2.0)))).round(6)


def _population(f: Frames, rng: np.random.Generator) -> None:
    """The last 3 days over-sample large tumours (a real population change)."""
    m = _recent(f, 3).to_numpy()
    pool = f.log[~m]
    w = pool["area"].rank(pct=True).to_numpy() ** 4
    pick = rng.choice(len(pool), int(m.sum()), p=w / w.sum())
    keep = [c for c in f.log.columns if c not in ("ts", "request_id")]
    f.log.loc[m, keep] = pool.iloc[pick][keep].to_numpy()


def _missing_days(f: Frames, rng: np.random.Generator) -> None:
    day = f.log["ts"].dt.floor("D")
    days = sorted(day.unique())
    f.log = f.log[~day.isin(days[-3:-1])].reset_index(drop=True)  # inside the window


def _stale(f: Frames, rng: np.random.Generator) -> None:
    f.log = f.log[~_recent(f, 2.5)].reset_index(drop=True)


def _errors(f: Frames, rng: np.random.Generator) -> None:
    m = _recent(f, 1.5)
    f.log.loc[m, "status"] = np.where(rng.random(int(m.sum())) < 0.15, "error", "ok")


def _heavy_release(f: Frames, rng: np.random.Generator) -> None:
    m = _recent(f, 2)
    f.log.loc[m, "model_version"] = "2"
    f.log.loc[m, "latency_ms"] = (f.log.loc[m, "latency_ms"] * 3.5).round(2)


def _concept(f: Frames, rng: np.random.Generator) -> None:
    """The relation changed: a third of the window's outcomes no longer follow the inputs."""
    m = _recent(f, 3).to_numpy() & (rng.random(len(f.log)) < 0.35)
    f.log.loc[m, "malignant"] = 1 - f.log.loc[m, "malignant"]


def _prevalence(f: Frames, rng: np.random.Generator) -> None:
    """More borderline tumours turn out malignant: prevalence up, ranking intact, recall of
    the fixed threshold below its floor."""
    m = (_recent(f, 3) & (f.log["malignant"] == 0) & f.log["score"].between(0.05, 0.5)
         ).to_numpy()
    f.log.loc[m, "malignant"] = 1
    f.slo = {"min_recall": 0.9}


def _both(*faults: Callable[[Frames, np.random.Generator], None]
          ) -> Callable[[Frames, np.random.Generator], None]:
    def inject(f: Frames, rng: np.random.Generator) -> None:
        for fault in faults:
            fault(f, rng)
    return inject


def _clean(f: Frames, rng: np.random.Generator) -> None:
    return None


_SCORED_AFTER = {"unit-change", "swapped-columns", "null-spike", "category-relabel",
                 "population-shift", "nulls+population-shift", "unit-change+error-spike"}

SCENARIOS: dict[str, Scenario] = {s.name: s for s in [
    Scenario("unit-change", "data-quality", frozenset(), _unit_change,
             "area x100 (cm^2 -> mm^2) in the last 3 days"),
    Scenario("swapped-columns", "feature-skew", frozenset(), _swap,
             "radius and smoothness swapped in the last 3 days"),
    Scenario("null-spike", "data-quality", frozenset(), _nulls,
             "40% of texture null in the last 3 days"),
    Scenario("category-relabel", "data-quality", frozenset(), _relabel,
             "size_band relabelled small/medium/large -> S/M/L in the last 3 days"),
    Scenario("schema-break", "data-quality", frozenset(), _drop_column,
             "the concavity column is missing from the current file"),
    Scenario("score-collapse", "output-anomaly", frozenset(), _constant_score,
             "every score 0.37 for the last 2 days"),
    Scenario("partial-collapse", "output-anomaly", frozenset(), _partial_collapse,
             "score spread shrunk to a quarter for the last 2 days"),
    Scenario("score-shift", "output-anomaly", frozenset(), _score_shift,
             "scores shifted +2 logits for the last 2 days, inputs unchanged"),
    Scenario("population-shift", "data-drift", frozenset(), _population,
             "recent traffic over-samples large tumours"),
    Scenario("missing-days", "data-freshness", frozenset(), _missing_days,
             "two whole days inside the window have no rows"),
    Scenario("stale-feed", "data-freshness", frozenset(), _stale,
             "no rows for the last 2.5 days"),
    Scenario("error-spike", "serving-latency", frozenset(), _errors,
             "15% of requests fail in the last 36 hours (baseline 0.5%)"),
    Scenario("heavy-release", "serving-latency", frozenset(), _heavy_release,
             "version 2 serves the last 2 days at 3.5x the latency"),
    Scenario("concept-drift", "performance-decay", frozenset(), _concept,
             "35% of the last 3 days' outcomes flipped"),
    Scenario("prevalence-shift", "threshold-miscalibration", frozenset(), _prevalence,
             "borderline benign cases turn malignant; recall floor 0.9"),
    Scenario("nulls+population-shift", "data-quality", frozenset({"data-drift"}),
             _both(_population, _nulls), "a population change and 40% texture nulls"),
    Scenario("unit-change+error-spike", "data-quality", frozenset({"serving-latency"}),
             _both(_unit_change, _errors), "area x100 and 15% failing requests"),
    Scenario("clean", FALSE_ALARM, frozenset(), _clean, "nothing injected"),
]}


def build_scenario(name: str, root: Path, seed: int = 7) -> Path:
    """Write scenario ``name``'s files and profile under ``root / name``; returns the
    profile path."""
    sc = SCENARIOS[name]
    frames, model = _base(seed)
    rng = np.random.default_rng(seed + 1)
    if name in _SCORED_AFTER:  # input faults reach the model: it scores the broken rows
        sc.inject(frames, rng)
        _score(frames, model)
    else:  # output, label and feed faults act on what was served
        _score(frames, model)
        sc.inject(frames, rng)
    out = root / name
    out.mkdir(parents=True, exist_ok=True)
    log = frames.log.sort_values("ts", kind="stable")
    labelled = log[log["ts"] <= log["ts"].max() - pd.Timedelta(days=1)]
    labelled[["request_id", "malignant"]].to_csv(out / "labels.csv", index=False)
    frames.reference.to_csv(out / "reference.csv", index=False)
    log.drop(columns=["malignant"]).to_csv(out / "current.csv", index=False)
    clean = root / "_clean-for-init"
    if not (clean / "profile.yaml").exists():
        _write_clean_profile(clean, seed)
    profile = yaml.safe_load((clean / "profile.yaml").read_text(encoding="utf-8"))
    profile["slo"] = {**profile.get("slo", {}), **frames.slo}
    (out / "profile.yaml").write_text(yaml.safe_dump(profile, sort_keys=False), encoding="utf-8")
    return out / "profile.yaml"


def _write_clean_profile(out: Path, seed: int) -> None:
    """`mlpb profile init` on the clean files, plus what init cannot know (labels)."""
    frames, model = _base(seed)
    _score(frames, model)
    out.mkdir(parents=True, exist_ok=True)
    frames.reference.to_csv(out / "reference.csv", index=False)
    frames.log.drop(columns=["malignant"]).to_csv(out / "current.csv", index=False)
    profile, _notes = infer_profile(
        "tumour-risk", out / "reference.csv", out / "current.csv", output=out / "profile.yaml",
        timestamp="ts", target="malignant", prediction="score", id_column="request_id")
    profile["data"]["reference"]["path"] = "reference.csv"
    profile["data"]["current"] = {"path": "current.csv", "window": f"{WINDOW_DAYS}d"}
    profile["data"]["labels"] = {"path": "labels.csv", "column": "malignant", "delay": "1d"}
    profile["prediction"] |= {"decision": "decision", "positive_decision": "malignant",
                              "latency": "latency_ms", "model_version": "model_version",
                              "status": "status"}
    (out / "profile.yaml").write_text(yaml.safe_dump(profile, sort_keys=False), encoding="utf-8")


@dataclass(frozen=True)
class Outcome:
    top: str  # the class triage hands over to, or FALSE_ALARM / the hypothesis it decided
    secondary: list[str]  # other supported classes reported as distinct faults
    corroborating: list[str]  # other supported classes that explain the same columns
    severity: str
    summary: str


def run_triage(profile: Path) -> Outcome:
    """Triage's evidence, checks and decision on ``profile``, in-process (no Prefect)."""
    inputs = load_inputs("triage", profile)
    inc = new_incident(inputs.spec, inputs.profile, trigger={"source": "bench"}, dry_run=True,
                       drill=False, dedup_key=None)
    ctx = CollectContext(incident_id=inc.id, profile=inputs.profile, spec=inputs.spec,
                         data=inputs.data, model_store=None, state_dir=profile.parent)
    parts = {n: inputs.plugins.get("collector", n).run_collector(ctx)
             for n in inputs.spec.evidence}
    evidence = assemble_package(inc, parts)
    results = [test_hypothesis(inputs, h, evidence) for h in inputs.spec.hypotheses]
    decision = decide(rank(results, inputs.spec), inputs.spec, inputs.profile)
    severity = assess_severity(inputs.spec, inputs.profile, evidence.metrics).value
    by_id = {r.id: r for r in results}
    if decision.action == "handover" and decision.handover_to:
        top = by_id[decision.handover_to]
        second = [str(f.detail["playbook"]) for f in top.findings if f.kind == "secondary_cause"]
        corr = [str(f.detail["playbook"]) for f in top.findings if f.kind == "corroborating"]
        return Outcome(decision.handover_to, second, corr, severity, top.summary)
    signatures = {h.id for h in inputs.spec.hypotheses if h.check == SIGNATURE_CHECK}
    stray = [r.id for r in results if r.id in signatures and r.verdict is Verdict.SUPPORTED]
    top_name = FALSE_ALARM if decision.action == "close" else (
        decision.root_cause.hypothesis_id if decision.root_cause else decision.action)
    return Outcome(top_name, stray, [], severity, decision.reason)


def run_all(root: Path, names: list[str] | None = None) -> list[tuple[Scenario, Outcome]]:
    out = []
    for name in names or list(SCENARIOS):
        out.append((SCENARIOS[name], run_triage(build_scenario(name, root))))
    return out


def correct(sc: Scenario, got: Outcome) -> bool:
    return got.top == sc.expected and sc.secondary <= set(got.secondary)


def render(rows: list[tuple[Scenario, Outcome]]) -> str:
    head = ("scenario", "expected", "top-1", "secondary (distinct)", "corroborating", "sev", "ok")
    lines = [[sc.name, sc.expected + (f" + {', '.join(sorted(sc.secondary))}"
                                      if sc.secondary else ""),
              got.top, ", ".join(got.secondary) or "-", ", ".join(got.corroborating) or "-",
              got.severity, "yes" if correct(sc, got) else "NO"] for sc, got in rows]
    widths = [max(len(h), *(len(r[i]) for r in lines)) for i, h in enumerate(head)]
    fmt = " | ".join(f"{{:<{w}}}" for w in widths)
    rule = "-+-".join("-" * w for w in widths)
    n_ok = sum(correct(sc, got) for sc, got in rows)
    return "\n".join([fmt.format(*head), rule, *(fmt.format(*r) for r in lines),
                      f"\n{n_ok}/{len(rows)} scenarios correct (top-1 and every expected "
                      "secondary fault)"])


def main(argv: list[str] | None = None) -> int:
    names = (sys.argv[1:] if argv is None else argv) or None
    with tempfile.TemporaryDirectory(prefix="mlpb-external-") as tmp:
        rows = run_all(Path(tmp), names)
    print(render(rows))
    return 0 if all(correct(sc, got) for sc, got in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
