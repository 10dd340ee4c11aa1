"""One-sided p-values for "the statistic exceeds its action threshold", from the statistic and
the sample size. They feed the evidence-strength scale (``playbooks.checks.strength``).

Every test here asks the same question: if the truth were exactly *at* the threshold (the
least alarming world a fault would still be in), how surprising is what we measured? A share
of 40% nulls on 500 rows against a 5% threshold is astronomically surprising; 6% on 30 rows
is not. So a statistic barely past its threshold on a small window gives weak evidence, and
the same statistic on a large window gives strong evidence.
"""

from __future__ import annotations

import importlib
import math
from functools import cache
from types import ModuleType

__all__ = ["p_auc_drop", "p_count_below", "p_ks_above", "p_psi_above", "p_rate_change",
           "p_ratio_below", "p_share_above"]

_TINY = 1e-300


@cache
def _sps() -> ModuleType:
    """scipy.stats, imported on the first p-value: it takes ~0.6 s, and `mlpb validate`
    (which imports every check) never asks for one."""
    return importlib.import_module("scipy.stats")


def _clip(p: float) -> float:
    return float(min(max(p, _TINY), 1.0))


def p_share_above(share: float, n: int, threshold: float) -> float:
    """P(a share >= ``share`` of ``n`` rows | the true share is ``threshold``) (binomial)."""
    if n <= 0:
        return 1.0
    t = min(max(threshold, 0.5 / n), 1 - 1e-9)  # a zero threshold still leaves noise room
    k = math.ceil(share * n - 1e-9)
    return _clip(float(_sps().binom.sf(k - 1, n, t)))


def p_psi_above(psi: float, n_ref: int, n_cur: int, bins: int, threshold: float) -> float:
    """P(PSI >= ``psi`` | the true PSI is ``threshold``). ``n_eff * PSI`` is approximately a
    noncentral chi-square with ``bins - 1`` degrees of freedom and noncentrality
    ``n_eff * threshold`` (PSI is the symmetric KL divergence of binned shares)."""
    if n_ref <= 0 or n_cur <= 0 or not math.isfinite(psi):
        return 1.0
    n_eff = n_ref * n_cur / (n_ref + n_cur)
    df = max(bins - 1, 1)
    return _clip(float(_sps().ncx2.sf(n_eff * psi, df, n_eff * threshold)))


def p_ks_above(ks: float, n_ref: int, n_cur: int, threshold: float) -> float:
    """P(KS >= ``ks`` | the true distance is ``threshold``): the two-sample KS tail on the
    excess over the threshold (a shifted asymptotic Kolmogorov bound)."""
    if n_ref <= 0 or n_cur <= 0 or ks <= threshold:
        return 1.0
    n_eff = n_ref * n_cur / (n_ref + n_cur)
    return _clip(float(_sps().kstwobign.sf(math.sqrt(n_eff) * (ks - threshold))))


def p_ratio_below(ratio: float, n_cur: int, n_ref: int, threshold: float) -> float:
    """P(std ratio <= ``ratio`` | the true ratio is ``threshold``) (F test on variances)."""
    if n_cur < 2 or n_ref < 2 or threshold <= 0:
        return 1.0
    if ratio <= 0:
        return _TINY  # no spread at all: nothing sampling could produce from a live score
    f = (ratio / threshold) ** 2
    return _clip(float(_sps().f.cdf(f, n_cur - 1, n_ref - 1)))


def p_auc_drop(drop: float, auc: float, n_pos: int, n_neg: int, threshold: float) -> float:
    """P(an AUC drop >= ``drop`` | the true drop is ``threshold``), with the Hanley-McNeil
    standard error of an AUC of ``n_pos`` positives and ``n_neg`` negatives (twice the
    variance: the baseline AUC is measured as well)."""
    if n_pos < 2 or n_neg < 2:
        return 1.0
    a = min(max(auc, 1e-6), 1 - 1e-6)
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    var = (a * (1 - a) + (n_pos - 1) * (q1 - a * a) + (n_neg - 1) * (q2 - a * a)) / (
        n_pos * n_neg)
    se = math.sqrt(2 * max(var, 1e-12))
    return _clip(float(_sps().norm.sf((drop - threshold) / se)))


def p_count_below(count: float, expected: float, share: float = 1.0) -> float:
    """P(a day has <= ``count`` rows | it is a normal day thinned to ``share`` of
    ``expected``) (Poisson): an empty day of a 2,000-row feed is no accident; of a 2-row feed
    it may be."""
    if expected <= 0:
        return 1.0
    return _clip(float(_sps().poisson.cdf(count, expected * share)))


def p_rate_change(rate: float, n: int, base_rate: float, n_base: int, threshold: float) -> float:
    """P(|rate - base_rate| >= what was seen | the true change is ``threshold``): two
    independent proportions, normal approximation."""
    if n <= 0 or n_base <= 0:
        return 1.0
    var = rate * (1 - rate) / n + base_rate * (1 - base_rate) / n_base
    se = math.sqrt(max(var, 0.25 / max(n, n_base) ** 2))
    return _clip(float(_sps().norm.sf((abs(rate - base_rate) - threshold) / se)))
