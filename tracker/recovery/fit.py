"""Fit a patient's redness after one session and project the day it resolves.

Notes
-----
The model is the catalogue's own curve (:func:`tracker.recovery.course.redness_fraction`)
scaled to Δa*: after the peak day ``P``,

    Δa*(t) = A · (c / A) ** ((t - P) / (R - P)),

an exponential fade from the peak ``A`` that reaches the resolution level
``c = RESOLVED_DELTA_A`` on day ``R``. The parameters are ``a = ln A`` and
``u = ln(R - P)``; the fit is a maximum a posteriori estimate:

* each photo contributes a soft-L1 residual ``(Δa* - model) / σ`` with
  ``σ = PHOTO_NOISE_SD_DELTA_A``, so one outlier photo weighs like the square root of its
  error instead of its square;
* the catalogue band is a Cauchy prior on ``u``, centred on the typical resolution day. Its
  scale puts the band's edges where a Gaussian would have its 5th/95th percentiles (the
  wider side when the band is skewed), so near the typical day it weighs like that
  Gaussian; its heavy tails let a run of consistent photos override it, because a minority
  of patients truly heal far outside the band (prolonged redness, Graber 2008).

A projection never lies before a photo that is still clearly red: ``R`` is bounded below by
the last such day (``still_red_until``). A fit that ends on a bound of its parameters (the
peak at the resolution level or at its ceiling, ``R`` at that last red day or at the longest
course) is not identifiable from the photos: it is returned with ``identifiable`` False, and
the assessment falls back to what the photos show instead of projecting.

The interval for ``R`` is a 90% Laplace interval on ``u`` from the Gauss-Newton Hessian,
inflated by the residual scatter when there are 3 or more photos. With one photo it is about
as wide as the catalogue band; it narrows only as photos pin the patient's own course. It is
symmetric in ``u``, its upper end capped at the longest allowed course and its lower end at
the last clearly red photo, so it always contains the point estimate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares

from .course import BAND_Z, PHOTO_NOISE_SD_DELTA_A, RESOLVED_DELTA_A

__all__ = ["RednessFit", "fit_redness_decay"]

# Twice the longest sourced course (98% of Er:YAG redness gone within 12 months, Ko 2007): a
# fit that runs into this bound means the photos show no fading.
_LONGEST_SPAN_DAYS = 730.0
_SHORTEST_SPAN_DAYS = 0.05
_LARGEST_PEAK_DELTA_A = 1000.0
# A fitted peak at the resolution level says nothing about a resolution day; the first photo
# within noise then dates it.
_MEASURABLE_PEAK_RATIO = 1.05
# Distance (in the log parameters) within which a solution counts as sitting on a bound.
_ON_BOUND = 0.02


@dataclass(frozen=True)
class RednessFit:
    """A patient's fitted redness course after one session.

    Attributes
    ----------
    session_start_day : float
        Day of the session, on the caller's axis (days since the first session).
    peak_day : float
        Catalogue peak day, days since the session.
    amplitude_delta_a : float
        Fitted Δa* at the peak; 0 when redness was within photo noise on every photo.
    resolution_day : float
        Days since the session at which the fitted course reaches :data:`RESOLVED_DELTA_A`.
    interval : tuple of float
        90% interval for ``resolution_day``.
    photos_used : int
        Photos on or after the peak day that entered the fit.
    measurable : bool
        False when every photo already showed redness within noise: ``resolution_day`` is
        then the first such photo and the interval runs from the peak day to it.
    fading : bool
        False when the fit ran to its longest allowed course (two years), i.e. the photos
        show no fading.
    identifiable : bool
        False when the fit ended on a bound of its parameters (module notes): the photos do not
        pin the course down and ``resolution_day`` is no projection.
    """

    session_start_day: float
    peak_day: float
    amplitude_delta_a: float
    resolution_day: float
    interval: tuple[float, float]
    photos_used: int
    measurable: bool
    fading: bool
    identifiable: bool = True

    def delta_a_at(self, days: np.ndarray | float) -> np.ndarray:
        """Fitted Δa* on the given days (the caller's axis); 0 before the session."""
        t = np.asarray(days, dtype=float) - self.session_start_day
        if not self.measurable:
            return np.zeros_like(t)
        exponent = np.clip(t - self.peak_day, 0.0, None) / (self.resolution_day - self.peak_day)
        course = self.amplitude_delta_a * (RESOLVED_DELTA_A / self.amplitude_delta_a) ** exponent
        return np.where(t <= 0, 0.0, course)


def _soft_l1(r: np.ndarray) -> np.ndarray:
    # The square of the result is scipy's soft_l1 loss, 2 * (sqrt(1 + r**2) - 1); shaping the
    # residuals here, not via least_squares(loss=...), lets the prior take its own shape.
    return np.sign(r) * np.sqrt(2.0 * (np.sqrt(1.0 + r * r) - 1.0))


def _cauchy(z: float) -> float:
    # The square of the result is the Cauchy negative log-density, log(1 + z**2).
    return float(np.sign(z) * np.sqrt(np.log1p(z * z)))


def _unmeasurable(days: np.ndarray, delta_a: np.ndarray, peak_day: float, session_start_day: float) -> RednessFit:
    first_resolved = float(days[delta_a <= RESOLVED_DELTA_A].min())
    return RednessFit(
        session_start_day=session_start_day,
        peak_day=peak_day,
        amplitude_delta_a=0.0,
        resolution_day=first_resolved,
        interval=(peak_day, first_resolved),
        photos_used=len(days),
        measurable=False,
        fading=True,
    )


def fit_redness_decay(
    days_since_session: np.ndarray,
    delta_a: np.ndarray,
    *,
    peak_day: float,
    resolution_days: tuple[float, float, float],
    session_start_day: float = 0.0,
    still_red_until: float | None = None,
) -> RednessFit | None:
    """Fit the fade of redness after one session and project its resolution day.

    Parameters
    ----------
    days_since_session : ndarray
        Days since the session of photos taken after the treatment that passed the quality
        check (0 for a photo taken after treatment on the session's day).
    delta_a : ndarray
        Their Δa* (ROI a* minus control-patch a*, a* units).
    peak_day : float
        Catalogue peak day; earlier photos are not used (the course is still rising).
    resolution_days : tuple of float
        (low, typical, high) catalogue resolution days, after any skin-type adjustment; the
        prior on the patient's resolution day.
    session_start_day : float, optional
        Day of the session on the caller's axis, stored for :meth:`RednessFit.delta_a_at`.
    still_red_until : float, optional
        Last day since the session with a photo still clearly red: the resolution day is not
        projected before it.

    Returns
    -------
    RednessFit or None
        None when no photo falls on or after the peak day.

    Notes
    -----
    See the module notes for the model, the robust loss and the interval.
    """
    days = np.asarray(days_since_session, dtype=float)
    delta_a = np.asarray(delta_a, dtype=float)
    after_peak = days >= peak_day
    if not after_peak.any():
        return None
    days, delta_a = days[after_peak], delta_a[after_peak]
    if np.all(delta_a <= RESOLVED_DELTA_A):
        return _unmeasurable(days, delta_a, peak_day, session_start_day)

    low, typical, high = (r - peak_day for r in resolution_days)
    prior_u = np.log(typical)
    prior_sd = max(np.log(typical / low), np.log(high / typical), 0.05) / BAND_Z  # a Cauchy scale
    log_resolved = np.log(RESOLVED_DELTA_A)

    def residuals(theta: np.ndarray) -> np.ndarray:
        a, u = theta
        model = np.exp(a + (log_resolved - a) * (days - peak_day) / np.exp(u))
        photo = _soft_l1((delta_a - model) / PHOTO_NOISE_SD_DELTA_A)
        return np.append(photo, _cauchy((u - prior_u) / prior_sd))

    shortest = _SHORTEST_SPAN_DAYS
    if still_red_until is not None and still_red_until > peak_day:
        shortest = min(max(shortest, still_red_until - peak_day), _LONGEST_SPAN_DAYS / 2)
    lower = [log_resolved + 1e-3, np.log(shortest)]
    upper = [np.log(_LARGEST_PEAK_DELTA_A), np.log(_LONGEST_SPAN_DAYS)]
    start = [
        np.clip(np.log(delta_a.max()), lower[0] + 1e-3, upper[0] - 1e-3),
        np.clip(max(prior_u, lower[1] + 0.1), lower[1], upper[1]),
    ]
    solution = least_squares(residuals, start, bounds=(lower, upper), method="trf")
    a, u = solution.x
    collapsed = np.exp(a) <= _MEASURABLE_PEAK_RATIO * RESOLVED_DELTA_A and np.any(delta_a <= RESOLVED_DELTA_A)
    if collapsed and (still_red_until is None or still_red_until < days[delta_a <= RESOLVED_DELTA_A].min()):
        return _unmeasurable(days, delta_a, peak_day, session_start_day)
    on_bound = collapsed or (
        a - lower[0] < _ON_BOUND or upper[0] - a < _ON_BOUND
        or (shortest > _SHORTEST_SPAN_DAYS and u - lower[1] < _ON_BOUND)
    )

    covariance = np.linalg.pinv(solution.jac.T @ solution.jac)
    photo_residuals = solution.fun[:-1]
    scatter = max(1.0, float(photo_residuals @ photo_residuals) / (len(days) - 2)) if len(days) >= 3 else 1.0
    sd_u = float(np.sqrt(max(covariance[1, 1], 0.0) * scatter))
    return RednessFit(
        session_start_day=session_start_day,
        peak_day=peak_day,
        amplitude_delta_a=float(np.exp(a)),
        resolution_day=float(peak_day + np.exp(u)),
        interval=(
            float(peak_day + np.exp(max(u - BAND_Z * sd_u, lower[1]))),
            float(peak_day + np.exp(min(u + BAND_Z * sd_u, upper[1]))),
        ),
        photos_used=len(days),
        measurable=True,
        fading=bool(u < upper[1] - 1e-3),
        identifiable=not on_bound,
    )
