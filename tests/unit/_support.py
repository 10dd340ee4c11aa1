"""Test support: synthetic applicant data, and a spec's hypotheses checked against evidence and
ranked as the engine does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd

from playbooks.engine.decide import rank
from playbooks.engine.plugins import default_plugins
from playbooks.models import EvidencePackage, HypothesisResult
from playbooks.models.spec import PlaybookSpec
from playbooks.sandbox.simulator import PopulationShift, simulate_applications

__all__ = ["T0", "applications", "ranked_hypotheses"]

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def applications(n: int, seed: int, *, start: datetime = T0,
                 strength: float = 0.0) -> pd.DataFrame:
    """``n`` simulated applications over the week from ``start``; ``strength`` > 0 shifts the
    population. Request ids are unique per seed."""
    shift = PopulationShift(strength=strength) if strength else None
    return simulate_applications(n, start, start + timedelta(days=7), seed=seed, shift=shift,
                                 id_prefix=f"s{seed}")


def ranked_hypotheses(spec: PlaybookSpec, evidence: EvidencePackage) -> list[HypothesisResult]:
    """Every hypothesis of ``spec`` run with its spec params on ``evidence``, best first."""
    plugins = default_plugins()
    results = []
    for h in spec.hypotheses:
        r = plugins.get("check", h.check).run_check(evidence, h.params)
        results.append(HypothesisResult(id=h.id, check=h.check, verdict=r.verdict,
                                        confidence=r.confidence, summary=r.summary,
                                        findings=r.findings))
    return rank(results, spec)
