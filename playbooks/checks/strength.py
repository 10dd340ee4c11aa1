"""The evidence-strength scale every check reports, and how triage ranks failure classes by it.

**Strength of a supported check** (``CheckResult.confidence`` when the verdict is SUPPORTED) is
the posterior probability that its hypothesis holds *at even prior odds*, computed from the
test statistic and the sample size, never set by hand:

1. the check states its null world — the statistic sits exactly at its action threshold (a
   40% null share tested against "5% more nulls than the reference") — and computes the
   one-sided p-value of what it measured there (``playbooks.stats.significance``: binomial
   for shares, noncentral chi-square for PSI, F for score spread, Hanley-McNeil for AUC);
2. the p-value becomes a Bayes factor with the Sellke-Bayarri-Berger bound
   ``BF = 1 / (-e p ln p)`` (p < 1/e; otherwise 1): the most a p-value can favour the
   alternative, so the scale never overstates;
3. the Bayes factor is capped at ``MAX_BAYES_FACTOR`` (10^4): however large the sample, no
   single check is more than 10,000:1 sure, because its model of the data is never exact;
4. strength = BF / (1 + BF), in [0.5, 0.9999]. Evidence that involves no sampling (a column
   absent from every file) takes the cap.

Refuted and inconclusive verdicts keep a confidence in the verdict (how sure the refutation
is); they are not ranked against supported ones.

**Triage** combines a failure class's strength with its prior (``signatures:`` in
``triage.yaml``: the share of vague alerts that class causes, the remainder being false
alarms): posterior odds = prior odds x BF. A class is *supported* when its posterior odds
exceed 1. Classes are ranked by the Jeffreys band of their posterior odds (< 3.2 barely
worth mentioning, < 10 substantial, < 100 strong, else decisive), then by **specificity** of
the evidence (``Specificity``: a check that names the mechanism and the column beats one
that localises the fault, which beats a distribution-level symptom), then by posterior.
"""

from __future__ import annotations

import math
from enum import IntEnum

__all__ = ["MAX_BAYES_FACTOR", "Specificity", "bayes_factor", "jeffreys_band", "posterior",
           "posterior_odds", "strength", "strength_from_bf"]

MAX_BAYES_FACTOR = 1e4
_BANDS = (3.2, 10.0, 100.0)  # Jeffreys (1961): substantial, strong, decisive


class Specificity(IntEnum):
    """How narrowly a supported check pins the cause (ranks classes within a band)."""

    SYMPTOM = 1  # a distribution moved (population shift, AUC decay, score shift)
    LOCALISED = 2  # one component misbehaves, mechanism open (out-of-range, collapse, errors)
    MECHANISM = 3  # the mechanism and its column(s) are named (schema break, swap, x100)


def bayes_factor(p: float) -> float:
    """Sellke-Bayarri-Berger upper bound on the Bayes factor a p-value can carry, capped."""
    if not math.isfinite(p) or p >= 1 / math.e:
        return 1.0
    p = max(p, 1e-300)
    return min(MAX_BAYES_FACTOR, 1.0 / (-math.e * p * math.log(p)))


def strength_from_bf(bf: float) -> float:
    """Posterior at even prior odds, rounded for display (4 decimals keep the cap distinct)."""
    bf = min(max(bf, 1.0), MAX_BAYES_FACTOR)
    return round(bf / (1.0 + bf), 4)


def strength(p: float) -> float:
    """Strength of a supported check whose statistic has one-sided p-value ``p``."""
    return strength_from_bf(bayes_factor(p))


def posterior_odds(strength_: float, prior: float) -> float:
    """Posterior odds of a class with prior ``prior`` whose best check has ``strength_``."""
    s = min(max(strength_, 0.5), strength_from_bf(MAX_BAYES_FACTOR))
    return (s / (1.0 - s)) * (prior / (1.0 - prior))


def posterior(strength_: float, prior: float) -> float:
    odds = posterior_odds(strength_, prior)
    return odds / (1.0 + odds)


def jeffreys_band(odds: float) -> int:
    """0 barely worth mentioning .. 3 decisive."""
    return sum(odds >= b for b in _BANDS)
