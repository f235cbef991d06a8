"""Agreement between a photo metric and a clinician's grade: Spearman's ρ with a confidence interval.

Photo metrics need checking against clinicians' grades before they are trusted (Logger 2020
found Δa* agreed only weakly with clinical grades of rosacea, ρ = 0.30). Pure functions over
numbers; the cohort page hands in the export's columns.

>>> a = spearman_agreement([0, 1, 1, 2, 2, 3, 3, 4, 4, 4], [0.5, 1.9, 1.1, 3.0, 2.2, 4.1, 3.9, 6.0, 5.2, 7.7])
>>> round(a.rho, 3), a.n
(0.979, 10)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

__all__ = ["MIN_PAIRS", "METHOD", "SOURCE", "Agreement", "spearman_agreement", "spearman_rho"]

#: Fewer graded photos than this give an interval too wide to say anything (at n = 10 a ρ of 0.5
#: spans about -0.2 to 0.86), so no ρ is shown below it.
MIN_PAIRS = 10
METHOD = ("Spearman's rank correlation (ties given their mean rank) between the photo's Δa* and the clinician's "
          "erythema grade (CEA), with a confidence interval from Fisher's z transform using the variance "
          "(1 + ρ²/2)/(n − 3) of Bonett and Wright (2000).")
SOURCE = ("Bonett DG, Wright TA. Sample size requirements for estimating Pearson, Kendall and Spearman "
          "correlations. Psychometrika 2000;65(1):23-28")


@dataclass(frozen=True)
class Agreement:
    """Spearman's ρ of n pairs and its confidence interval."""

    rho: float
    low: float
    high: float
    n: int
    confidence: float


def _ranks(values: np.ndarray) -> np.ndarray:
    """Ranks from 1, ties given the mean of the ranks they span."""
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values))
    sorted_values = values[order]
    start = 0
    for end in range(1, len(values) + 1):
        if end == len(values) or sorted_values[end] != sorted_values[start]:
            ranks[order[start:end]] = (start + end + 1) / 2
            start = end
    return ranks


def spearman_rho(x, y) -> float:
    """Spearman's ρ: Pearson's correlation of the ranks (mean ranks for ties); NaN when either is constant."""
    rx, ry = _ranks(np.asarray(x, float)), _ranks(np.asarray(y, float))
    dx, dy = rx - rx.mean(), ry - ry.mean()
    denominator = math.sqrt(float(dx @ dx) * float(dy @ dy))
    return float(dx @ dy) / denominator if denominator else math.nan


def spearman_agreement(x, y, confidence: float = 0.95) -> Agreement | None:
    """Spearman's ρ of paired values with its Fisher-z (Bonett-Wright) interval; None below :data:`MIN_PAIRS`.

    Parameters
    ----------
    x, y : sequences of float
        Paired values (e.g. Δa* and the CEA grade of the same photos); pairs with a NaN are dropped.
    confidence : float
        Coverage of the interval, in (0, 1).

    Notes
    -----
    z = atanh(ρ) is taken as normal with variance (1 + ρ²/2)/(n − 3) (Bonett & Wright 2000), so the
    interval is tanh(z ± z_{(1+c)/2} · √((1 + ρ²/2)/(n − 3))). A |ρ| of 1 gives the interval [ρ, ρ].

    References
    ----------
    Bonett DG, Wright TA. Psychometrika 2000;65(1):23-28. doi:10.1007/BF02294183
    """
    if not 0 < confidence < 1:
        raise ValueError(f"the confidence must lie between 0 and 1, not {confidence}")
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError("x and y must be paired sequences of the same length")
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    n = len(x)
    if n < MIN_PAIRS:
        return None
    rho = spearman_rho(x, y)
    if not math.isfinite(rho):
        return None
    if abs(rho) == 1:
        return Agreement(rho, rho, rho, n, confidence)
    half = NormalDist().inv_cdf((1 + confidence) / 2) * math.sqrt((1 + rho**2 / 2) / (n - 3))
    z = math.atanh(rho)
    return Agreement(rho, math.tanh(z - half), math.tanh(z + half), n, confidence)
