"""Expected course after a treatment: redness and texture bands over days since treatment.

A band is three curves over the requested days: ``low`` (the course that resolves earliest),
``typical`` and ``high`` (the course that resolves latest), built from a catalogue entry.

Notes
-----
Redness is followed as Δa*, the CIELAB a* of the treated region minus that of an untreated
control patch in the same photo (Logger 2020 used Δa* to follow treatment), so that lighting
and camera drift cancel to first order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from .catalogue import Treatment, adjusted_for_skin_type, get_treatment

__all__ = [
    "BAND_Z",
    "CLEAR_CHANGE_DELTA_A",
    "CLEAR_Z",
    "CLEAR_Z_ONE_PHOTO",
    "PHOTO_NOISE_SD_DELTA_A",
    "PHOTO_NOISE_SD_MELANIN",
    "RESOLVED_DELTA_A",
    "RESOLVED_FRACTION_OF_PEAK",
    "RednessBand",
    "SessionDays",
    "TextureBand",
    "clear_excess_delta_a",
    "expected_course",
    "expected_texture_course",
    "median_noise_factor",
    "redness_fraction",
    "session_relative_days",
    "texture_timeline",
]

RESOLVED_DELTA_A = 2.0
"""Δa* (a* units) at or below which redness counts as resolved: photo differences under ~2-3
ΔE are within noise (project clinical notes), so the lower edge is used."""

PHOTO_NOISE_SD_DELTA_A = 1.2
"""Standard deviation of Δa* (treated region minus control, a* units) between repeat photos of
unchanged skin.

Derived by ``validation/photo_noise.py`` (VALIDITY.md, "Recovery status"): repeat photos of a
real face (``skimage.data.astronaut``) with hand-held pose, global light, sensor noise and JPEG
changes, plus local light across the face whose amplitude is set so that the median colour
difference between repeat measurements of unchanged skin matches the published reproducibility
of calibrated clinical photos, 3.43 ΔE (Van Poucke et al. 2010), run through the real engine.
It measured 1.18 on 150 repeat photos with metric version 2.0 (rounded up here; 1.29 before the
smooth light model of 2.0); pose and global light alone, which the engine corrects, leave
0.09. The earlier value of 1 read the ~2-3 ΔE noise as 2-3 SD, which is optimistic."""

PHOTO_NOISE_SD_MELANIN = 3.9
"""Standard deviation of ``melanin_takiwaki`` (``-1.06 a* - 1.44 L*`` of the treated region,
Takiwaki 1998; Yamamoto et al. 2008) between repeat photos of unchanged skin: 3.89 in the same simulation
(rounded up here).

It is read from the engine where it reports the metric, else from the region's a* and L*, and it
equals the propagation of their noise (SD 1.22 and 2.47, correlated) through the coefficients:
``sqrt(1.06² var a* + 1.44² var L* + 2·1.06·1.44 cov(a*, L*))``. L* dominates it: lighting changes move lightness most, and unlike
Δa* this measure has no control patch to cancel them."""

CLEAR_Z = 2.33
"""One-sided normal quantile of the "clearly" thresholds: photo noise alone crosses them 1 time
in 100."""

CLEAR_Z_ONE_PHOTO = 2.6
"""The same for a single photo, which is also what one bad photo looks like: 1 time in 200."""

CLEAR_CHANGE_DELTA_A = 2.8
"""Δa* that photos show clearly however many there are: ``CLEAR_Z · PHOTO_NOISE_SD_DELTA_A``
(the noise of the one baseline photo every excess is measured against), rounded. With few
photos the threshold is higher: :func:`clear_excess_delta_a`."""

RESOLVED_FRACTION_OF_PEAK = 0.15
"""Remaining fraction of the peak counted as resolved when the peak's size in a* units is
unknown. A model choice, not a literature value: it equals :data:`RESOLVED_DELTA_A` for a peak
Δa* of about 13."""

BAND_Z = 1.645
"""The band's low/high edges are the 5th/95th percentiles of the resolution day, derived from
the published statistics (:mod:`tracker.recovery.catalogue`); projection intervals are 90%
intervals to match."""


def median_noise_factor(photos: int) -> float:
    """Variance of the median of ``photos`` noisy photos, in units of one photo's variance.

    1 and 1/2 for one and two photos (the median is the mean); ``π / (2n)`` from three on, the
    large-sample value, which slightly overstates the variance for small n.
    """
    if photos < 1:
        raise ValueError("A median needs at least one photo.")
    return 1.0 / photos if photos <= 2 else np.pi / (2.0 * photos)


def clear_excess_delta_a(photos: int) -> float:
    """Median Δa* above which ``photos`` photos clearly show redness left over.

    ``z · σ · sqrt(1 + m(n))``: the median's noise ``m(n)`` (:func:`median_noise_factor`) and
    that of the one pre-treatment photo the excess is measured against, with z =
    :data:`CLEAR_Z` (:data:`CLEAR_Z_ONE_PHOTO` for a single photo). 4.4 a* units for one photo,
    3.4 for two, 3.2 for five; never below :data:`CLEAR_CHANGE_DELTA_A`.

    Examples
    --------
    >>> round(clear_excess_delta_a(1), 1), round(clear_excess_delta_a(2), 1), round(clear_excess_delta_a(4), 1)
    (4.4, 3.4, 3.3)
    """
    noise = PHOTO_NOISE_SD_DELTA_A * float(np.sqrt(1.0 + median_noise_factor(photos)))
    return max(CLEAR_CHANGE_DELTA_A, (CLEAR_Z_ONE_PHOTO if photos == 1 else CLEAR_Z) * noise)


@dataclass(frozen=True, eq=False)
class RednessBand:
    """Expected redness per day: the early-resolving, typical and late-resolving course.

    Attributes
    ----------
    treatment : str
        Catalogue key.
    days : ndarray
        Days since the first session, as requested.
    low, typical, high : ndarray
        Expected redness per day; ``low <= typical <= high`` everywhere. In ``unit``.
    unit : str
        ``"fraction of peak"`` (1 = the patient's peak redness) or ``"delta_a"`` (a* units).
    resolution_days : tuple of float
        (low, typical, high) day by which redness fades, after any skin-type adjustment.
    review_after_day : float
        Outer limit after which redness still clearly visible warrants review.
    """

    treatment: str
    days: np.ndarray
    low: np.ndarray
    typical: np.ndarray
    high: np.ndarray
    unit: str
    resolution_days: tuple[float, float, float]
    review_after_day: float


@dataclass(frozen=True, eq=False)
class TextureBand:
    """Expected share of the eventual texture gain reached per day.

    Attributes
    ----------
    treatment : str
        Catalogue key.
    days : ndarray
        Days since the first session, as requested.
    low, typical, high : ndarray
        Fraction (0-1) of the eventual texture gain expected by each day; ``low`` is the
        slowest course. ``low <= typical <= high`` everywhere.
    visible_days, plateau_days : tuple of float
        (low, high) days when the gain becomes visible and when it levels off, the plateau
        counted from the last session.
    """

    treatment: str
    days: np.ndarray
    low: np.ndarray
    typical: np.ndarray
    high: np.ndarray
    visible_days: tuple[float, float]
    plateau_days: tuple[float, float]


def _readonly(values: np.ndarray) -> np.ndarray:
    values.setflags(write=False)
    return values


@dataclass(frozen=True, eq=False)
class SessionDays:
    """Where each photo of a course falls among its sessions (:func:`session_relative_days`).

    Attributes
    ----------
    relative : ndarray
        Days since the session the photo follows; pre-treatment photos keep their day (<= 0).
    session : ndarray of int
        Index of that session (0 = first).
    after : ndarray of bool
        Taken after a treatment; False for the pre-treatment baseline.
    assumed : ndarray of bool
        Taken on a session's day with no word on whether before or after the treatment: the
        placement is assumed and should be confirmed.
    """

    relative: np.ndarray
    session: np.ndarray
    after: np.ndarray
    assumed: np.ndarray


def session_relative_days(
    days: Iterable[float],
    session_starts: Sequence[float] | None = None,
    before_session: Sequence[bool | None] | None = None,
) -> SessionDays:
    """Days since the session each photo follows, for a series of sessions.

    Parameters
    ----------
    days : iterable of float
        Days since the first session (day 0), in the order the photos were taken.
    session_starts : sequence of float, optional
        Days of the later sessions, counted from the first session.
    before_session : sequence of bool or None, optional
        Per photo, for a photo taken on a session's day: True if taken before that session's
        treatment, False if after, None if unknown. Ignored on other days.

    Returns
    -------
    SessionDays

    Notes
    -----
    Sessions are recorded as dates, so a photo on a session's day is ambiguous:

    * before the treatment: on the first session's day it is the pre-treatment baseline; on a
      later session's day it closes the previous session's course;
    * after the treatment: day 0 of that session's course;
    * unknown: on the first session's day the earliest photo of the course is taken as the
      baseline and any later one as taken after the treatment; on a later session's day the
      photo closes the previous session's course (most photos on that day are taken before
      treatment). Each such placement is marked ``assumed`` so the assessment asks for it.

    Examples
    --------
    >>> placed = session_relative_days([0, 0, 3, 30, 33], session_starts=[30])
    >>> placed.relative.tolist(), placed.session.tolist(), placed.after.tolist(), placed.assumed.tolist()
    ([0.0, 0.0, 3.0, 30.0, 3.0], [0, 0, 0, 0, 1], [False, True, True, True, True], [True, True, False, True, False])
    """
    days = np.asarray(list(days), dtype=float)
    starts = np.array([0.0, *sorted(float(s) for s in (session_starts or ()))])
    if np.any(starts[1:] <= 0) or np.any(np.diff(starts) == 0):
        raise ValueError("Later sessions must fall on distinct days after the first session (day 0).")
    flags = [None] * days.size if before_session is None else list(before_session)
    if len(flags) != days.size:
        raise ValueError(f"before_session needs one value per photo ({days.size}), got {len(flags)}.")
    session = np.clip(np.searchsorted(starts, days, side="left") - 1, 0, None)
    after = days > 0
    assumed = np.zeros(days.size, dtype=bool)
    earliest = int(np.argmin(days)) if days.size else -1
    for i, day in enumerate(days):
        on = np.flatnonzero(starts == day)
        if not on.size:
            continue
        k, flag = int(on[0]), flags[i]
        assumed[i] = flag is None
        if k == 0:
            after[i] = flag is False or (flag is None and i != earliest)
        elif flag is False:
            session[i] = k
    relative = np.where(after | (days > 0), days - starts[session], days)
    return SessionDays(relative=relative, session=session, after=after, assumed=assumed)


def redness_fraction(
    days_since_session: np.ndarray | float, *, peak_day: float, resolution_day: float, resolved_fraction: float
) -> np.ndarray:
    """Remaining redness as a fraction of the peak, for one session.

    Parameters
    ----------
    days_since_session : array_like
        Days since the session; values <= 0 are before treatment.
    peak_day : float
        Day of the strongest redness.
    resolution_day : float
        Day the curve reaches ``resolved_fraction``; must exceed ``peak_day``.
    resolved_fraction : float
        Fraction of the peak (0-1) that counts as resolved.

    Returns
    -------
    ndarray
        0 before treatment, 1 from treatment to the peak, then an exponential decay
        ``resolved_fraction ** ((t - peak) / (resolution - peak))``.

    Notes
    -----
    For a fixed day after the peak the value rises with ``resolution_day``, so curves built
    from ordered resolution days are ordered at every day: the band's ordering holds by
    construction. For fully ablative CO2 the plateau from day 0 to the peak (day 14, Trelles
    1998) is pragmatic: redness under the crusts is hidden until about day 8, but photos of
    raw skin on days 1-3 are as red as the later peak, and photos before the peak are not
    used to project resolution.
    """
    t = np.asarray(days_since_session, dtype=float)
    decay = np.power(resolved_fraction, np.clip(t - peak_day, 0.0, None) / (resolution_day - peak_day))
    return np.where(t <= 0, 0.0, np.where(t <= peak_day, 1.0, decay))


def expected_course(
    treatment: str,
    days: Iterable[float],
    *,
    peak_delta_a: float | None = None,
    skin_type: int | str | None = None,
    session_starts: Sequence[float] | None = None,
) -> RednessBand:
    """Expected redness band over days since treatment.

    Parameters
    ----------
    treatment : str
        Catalogue key, e.g. ``"fractional_co2"``.
    days : iterable of float
        Days since the first session, e.g. ``range(0, 91)``.
    peak_delta_a : float, optional
        The patient's peak Δa* (a* units), normally the highest Δa* on days 1-3. Without it
        the band is in fractions of the peak; with it, in Δa*.
    skin_type : int or str, optional
        Fitzpatrick type; darker types use the catalogue's darker-skin course.
    session_starts : sequence of float, optional
        Days of later sessions; each session restarts the course.

    Returns
    -------
    RednessBand

    Notes
    -----
    Each edge is :func:`redness_fraction` with the catalogue's low, typical or high
    resolution day. "Resolved" means the redness has fallen to :data:`RESOLVED_DELTA_A`
    when the peak is known, else to :data:`RESOLVED_FRACTION_OF_PEAK` of the peak.

    Examples
    --------
    >>> band = expected_course("fractional_co2", days=range(0, 91))
    >>> bool((band.low <= band.typical).all() and (band.typical <= band.high).all())
    True
    """
    entry = adjusted_for_skin_type(get_treatment(treatment), skin_type)
    days = np.asarray(list(days), dtype=float)
    relative = session_relative_days(days, session_starts).relative
    if peak_delta_a is not None and peak_delta_a > RESOLVED_DELTA_A:
        scale, resolved_fraction, unit = peak_delta_a, RESOLVED_DELTA_A / peak_delta_a, "delta_a"
    elif peak_delta_a is not None:
        scale, resolved_fraction, unit = peak_delta_a, RESOLVED_FRACTION_OF_PEAK, "delta_a"
    else:
        scale, resolved_fraction, unit = 1.0, RESOLVED_FRACTION_OF_PEAK, "fraction of peak"
    resolution_days = (entry.resolution_day_low, entry.resolution_day_typical, entry.resolution_day_high)
    low, typical, high = (
        _readonly(
            scale
            * redness_fraction(relative, peak_day=entry.peak_day, resolution_day=r, resolved_fraction=resolved_fraction)
        )
        for r in resolution_days
    )
    return RednessBand(
        treatment=entry.key,
        days=_readonly(days),
        low=low,
        typical=typical,
        high=high,
        unit=unit,
        resolution_days=resolution_days,
        review_after_day=entry.review_after_day,
    )


def _texture_ramp(days: np.ndarray, visible_day: float, plateau_day: float) -> np.ndarray:
    return np.clip((days - visible_day) / (plateau_day - visible_day), 0.0, 1.0)


def texture_timeline(entry: Treatment) -> tuple[tuple[float, float], tuple[float, float]]:
    """When a treatment's texture gain shows and levels off.

    Parameters
    ----------
    entry : Treatment
        A catalogue entry.

    Returns
    -------
    tuple
        ((visible low, visible high), (plateau low, plateau high)) in days.

    Raises
    ------
    ValueError
        If the catalogue has no texture timeline for the treatment.
    """
    if entry.texture_visible_day_low is None:
        raise ValueError(
            f"The catalogue has no texture timeline for {entry.key}"
            + (f": {entry.texture_note}" if entry.texture_note else ".")
        )
    return (
        (entry.texture_visible_day_low, entry.texture_visible_day_high),
        (entry.texture_plateau_day_low, entry.texture_plateau_day_high),
    )


def expected_texture_course(
    treatment: str, days: Iterable[float], *, session_starts: Sequence[float] | None = None
) -> TextureBand:
    """Expected share of the eventual texture gain over days since the first session.

    Parameters
    ----------
    treatment : str
        Catalogue key.
    days : iterable of float
        Days since the first session.
    session_starts : sequence of float, optional
        Days of later sessions; the plateau is counted from the last one, since the sources
        time the best result after the series.

    Returns
    -------
    TextureBand
        0 until the gain becomes visible, then a linear rise to 1 at the plateau.

    Raises
    ------
    ValueError
        If the catalogue has no texture timeline for the treatment (IPL).

    Notes
    -----
    The band says *when*, not *how much*: the sources give times, not sizes, and texture
    measured from 2D photos (GLCM, Haralick 1973; LBP, Ojala 2002; high-frequency energy)
    has no validation against profilometry on post-laser skin. Report a patient's texture
    only as change against their own baseline. The linear ramp falls as the visible or
    plateau day moves later, so the band is ordered by construction.
    """
    entry = get_treatment(treatment)
    (visible_low, visible_high), (plateau_low, plateau_high) = texture_timeline(entry)
    days = np.asarray(list(days), dtype=float)
    last_session = max([0.0, *(float(s) for s in (session_starts or ()))])
    visible_mid = (visible_low + visible_high) / 2
    plateau_mid = (plateau_low + plateau_high) / 2
    return TextureBand(
        treatment=entry.key,
        days=_readonly(days),
        low=_readonly(_texture_ramp(days, visible_high, last_session + plateau_high)),
        typical=_readonly(_texture_ramp(days, visible_mid, last_session + plateau_mid)),
        high=_readonly(_texture_ramp(days, visible_low, last_session + plateau_low)),
        visible_days=(visible_low, visible_high),
        plateau_days=(last_session + plateau_low, last_session + plateau_high),
    )
