"""Assess a patient's course against the expected one: a status with reasons people can act on.

Statuses, most to least urgent: ``review`` (a signal from the review table of the clinical
notes fired), ``check_photos`` (the measurements are implausible: more likely a misplaced
region or a failed measurement than a change of the skin), ``slower`` (outside the band,
nothing alarming), ``on_track`` and ``ahead``. Every status comes with patient-facing
sentences, which say what the photos show and when to contact the provider but never name a
diagnosis, and provider-facing sentences that start with the rule that fired and give the
figures and the sources.

Every threshold is a multiple of the photo noise measured by ``validation/photo_noise.py``
(:data:`~tracker.recovery.course.PHOTO_NOISE_SD_DELTA_A`,
:data:`~tracker.recovery.course.PHOTO_NOISE_SD_MELANIN`), chosen so that the false ``review``
rate on simulated typical courses stays at or under 2 % (``validation/status_monte_carlo.py``;
VALIDITY.md gives the rates and the detection figures).

References
----------
.. [1] Trelles MA et al. The origin and role of erythema after carbon dioxide laser
   resurfacing. Dermatologic Surgery, 1998.
.. [2] Graber EM, Tanzi EL, Alster TS. Side effects and complications of fractional laser
   photothermolysis: experience with 961 treatments. Dermatologic Surgery, 2008.
.. [3] Ko NY et al. Analysis of erythema after Er:YAG laser skin resurfacing. Dermatologic
   Surgery, 2007.
.. [4] Ward PD, Baker SR. Long-term results of carbon dioxide laser resurfacing of the face.
   Archives of Facial Plastic Surgery, 2008.
.. [5] Takiwaki H et al. Measurement of skin color: practical application and theoretical
   considerations. Journal of Medical Investigation, 1998 (the haemoglobin and melanin
   decomposition of L*a*b* behind ``melanin_takiwaki``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from types import MappingProxyType
from typing import Callable, Mapping, Sequence

import numpy as np

from .catalogue import (
    _ROMAN_BY_NUMBER,
    REVIEW_WINDOWS,
    Treatment,
    adjusted_for_skin_type,
    cite,
    day_range,
    fitzpatrick_type,
    get_treatment,
)
from .course import (
    CLEAR_Z,
    PHOTO_NOISE_SD_DELTA_A,
    PHOTO_NOISE_SD_MELANIN,
    RESOLVED_DELTA_A,
    clear_excess_delta_a,
    median_noise_factor,
    session_relative_days,
    texture_timeline,
)
from .fit import RednessFit, fit_redness_decay

__all__ = [
    "EARLY_BELOW_Z",
    "FOCAL_PHOTO_DAYS",
    "MELANIN_Z",
    "REBOUND_Z",
    "REBOUND_Z_SINGLE",
    "STATUSES",
    "Assessment",
    "Signal",
    "assess_course",
    "early_below_control_delta_a",
    "melanin_change_threshold",
    "rebound_threshold",
    "texture_in_words",
]

STATUSES = ("ahead", "on_track", "slower", "check_photos", "review")
"""The possible statuses, least to most urgent."""

REBOUND_Z = 2.0
"""Multiple of the noise of a rise that redness must exceed on two or three photos in a row to
count as coming back (:func:`rebound_threshold`)."""

REBOUND_Z_SINGLE = 2.4
"""The same for a rise seen on one photo alone: stricter, because a single photo is also what
one bad photo looks like."""

MELANIN_Z = 2.8
"""Multiple of the noise of a change of ``melanin_takiwaki`` against the baseline that counts as
darkening or lightening (:func:`melanin_change_threshold`)."""

EARLY_BELOW_Z = 1.645
"""Multiple of the noise below the control that photos taken before the band's early edge (when
nearly every patient is still red) may read before they are flagged for checking
(:func:`early_below_control_delta_a`): one-sided 5 % for skin whose excess is exactly 0, far less
for skin that is still red, as it then is."""


def early_below_control_delta_a(photos: int) -> float:
    """How far below the control (a* units) ``photos`` photos taken before the band's early edge may read.

    ``EARLY_BELOW_Z · σ · sqrt(1 + m(n))``, the noise of :func:`~tracker.recovery.course.clear_excess_delta_a`
    with the one-sided 95 % multiple and no floor: 2.8 a* units for one photo, 2.4 for two or
    three, 2.3 for four. Later, when redness may truly be gone, the clear-excess threshold applies.

    Examples
    --------
    >>> [round(early_below_control_delta_a(n), 1) for n in (1, 2, 3, 4)]
    [2.8, 2.4, 2.4, 2.3]
    """
    return EARLY_BELOW_Z * PHOTO_NOISE_SD_DELTA_A * float(np.sqrt(1.0 + median_noise_factor(photos)))


FOCAL_PHOTO_DAYS = 2
"""Photo days in a row, the latest, on which a patch must read focal (``redness_focal_a`` at or
above :data:`FOCAL_THRESHOLD_A`) for :func:`assess_course` to ask for review."""

FOCAL_THRESHOLD_A = 3.0
"""``redness_focal_a`` (a* units) from which a photo shows a patch redder than the rest of the
region: the engine's :data:`tracker.analysis.metrics.FOCAL_THRESHOLD_A` (equal, tested; the
recovery model reads no image code), above every repeat photo of unchanged skin (VALIDITY.md)."""


_SEVERITY = {"info": -1, "ahead": 0, "on_track": 0, "slower": 1, "check_photos": 2, "review": 3}
_NOT_A_DIAGNOSIS = "This is a measurement from photos, not a diagnosis;"
_CHECK_PHOTOS = (
    "The treated area may be marked in the wrong place in the photos, or the photos may be hard to"
    " measure; your provider will check them."
)
# A rise is looked for on up to this many photos in a row: longer runs add little once two or
# three photos agree, and a short run keeps the rule about a recent change.
_LONGEST_RUN = 3


def rebound_threshold(photos: int, low_photos: int = 2) -> float:
    """Rise (a* units) above the lowest point that ``photos`` photos in a row must show.

    The lowest point is the lowest mean of ``low_photos`` photos in a row since the peak (one
    photo while only one precedes the run). The run's mean minus it has noise
    ``σ · sqrt(1/photos + 1/low_photos)``; the threshold is :data:`REBOUND_Z` times that (one
    photo: :data:`REBOUND_Z_SINGLE`). Against a two-photo low: 3.5 a* units on one photo, 2.4 on
    two, 2.2 on three.

    Examples
    --------
    >>> [round(rebound_threshold(n), 1) for n in (1, 2, 3)]
    [3.5, 2.4, 2.2]
    """
    z = REBOUND_Z_SINGLE if photos == 1 else REBOUND_Z
    return z * PHOTO_NOISE_SD_DELTA_A * float(np.sqrt(1.0 / photos + 1.0 / low_photos))


def melanin_change_threshold(photos: int, baseline_photos: int = 1) -> float:
    """Change of ``melanin_takiwaki`` against baseline that ``photos`` photos in a row must show.

    :data:`MELANIN_Z` times the noise of the run's mean against the baseline's median,
    ``σ_mel · sqrt(1/photos + m(baseline_photos))`` with ``σ_mel`` =
    :data:`~tracker.recovery.course.PHOTO_NOISE_SD_MELANIN`. About 13 units for two photos
    against one baseline photo, i.e. L* about 9 darker at unchanged a*: photos taken in
    uncontrolled light show only marked darkening.

    Examples
    --------
    >>> round(melanin_change_threshold(2), 1)
    13.4
    """
    noise = PHOTO_NOISE_SD_MELANIN * float(np.sqrt(1.0 / photos + median_noise_factor(baseline_photos)))
    return MELANIN_Z * noise


@dataclass(frozen=True)
class Signal:
    """One finding behind an assessment.

    Attributes
    ----------
    rule : str
        Name of the rule, e.g. ``"redness_beyond_outer_limit"``.
    status : str
        The status this finding supports (one of :data:`STATUSES`), or ``"info"``.
    message : str
        Patient-facing sentence(s).
    detail : str
        Provider-facing sentence: rule, figures and sources.
    figures : Mapping[str, float]
        The numbers behind the finding.
    """

    rule: str
    status: str
    message: str
    detail: str
    figures: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}), hash=False)


@dataclass(frozen=True)
class Assessment:
    """How a patient's recovery compares with the expected course.

    Attributes
    ----------
    treatment : str
        Catalogue key.
    status : str
        One of :data:`STATUSES`.
    reasons : tuple of str
        Patient-facing sentences, most important first.
    provider_reasons : tuple of str
        Provider-facing sentences with the rule that fired, the figures and the sources.
    projected_resolution_day : float or None
        Projected day (days since the first session) on which redness fades to
        :data:`~tracker.recovery.course.RESOLVED_DELTA_A`; None when it cannot be projected.
        Never before a photo that is still clearly red.
    projected_interval : tuple of float or None
        90% interval for that day; it contains the projection.
    excluded : tuple of int
        Positions of the photos left out (failed quality check or no redness measurement).
    signals : tuple of Signal
        The structured findings, in the order of ``reasons``.
    fit : RednessFit or None
        The fitted redness course of the latest session.
    reference_peak_delta_a : float or None
        The patient's peak Δa*, the highest on days 0-3 after the latest session, else the
        fitted peak; scales :func:`~tracker.recovery.course.expected_course` for display.
    """

    treatment: str
    status: str
    reasons: tuple[str, ...]
    provider_reasons: tuple[str, ...]
    projected_resolution_day: float | None
    projected_interval: tuple[float, float] | None
    excluded: tuple[int, ...]
    signals: tuple[Signal, ...]
    fit: RednessFit | None
    reference_peak_delta_a: float | None


def _values(values: Sequence[float] | None, name: str, count: int) -> np.ndarray | None:
    if values is None:
        return None
    array = np.asarray([np.nan if v is None else v for v in values], dtype=float)
    if array.shape != (count,):
        raise ValueError(f"{name} needs one value per photo ({count}), got {array.size}.")
    return array


def _day_label(day: float, session: int) -> str:
    return f"day {day:.0f}" if session == 0 else f"day {day:.0f} after session {session + 1}"


def _photos(count: int) -> str:
    return "1 photo" if count == 1 else f"{count} photos"


def _days_photos(per_day: np.ndarray) -> str:
    """Values of :func:`_one_per_day`, given by how many photos each stands for, in words: "3 photos",
    or, when a day had several, "3 days' photos (5 photos, one median a day)"."""
    days, photos = int(per_day.size), int(per_day.sum())
    if photos == days:
        return _photos(days)
    return f"{days} days' photos ({photos} photos, one median a day)" if days > 1 else f"{photos} photos of 1 day (median)"


def _estimate(entry: Treatment, *field_names: str) -> str:
    return " (an estimate)" if entry.is_estimate(*field_names) else ""


def _band_text(entry: Treatment) -> str:
    band = f"day {entry.resolution_day_low:g}-{entry.resolution_day_high:g}"
    return band + _estimate(entry, "resolution_day_low", "resolution_day_high")


def _band_detail(entry: Treatment) -> str:
    low, typical, high = entry.resolution_day_low, entry.resolution_day_typical, entry.resolution_day_high
    sources = cite(entry, "resolution_day_low", "resolution_day_typical", "resolution_day_high")
    estimate = "; estimate" if entry.is_estimate("resolution_day_low", "resolution_day_high") else ""
    return f"band {low:g}-{high:g} d (5th-95th percentile{estimate}), typical {typical:g} d ({sources})"


def _last_clearly_red_day(entry: Treatment, days: np.ndarray, delta_a: np.ndarray) -> float | None:
    """The last day a photo, or the photos after the band's late edge together, still show clear redness."""
    red = delta_a > clear_excess_delta_a(1)
    candidates = list(days[red])
    late = days > entry.resolution_day_high
    if late.any() and float(np.median(delta_a[late])) > clear_excess_delta_a(int(late.sum())):
        candidates.append(float(days[late].max()))
    return float(max(candidates)) if candidates else None


def _band_high_at(entry: Treatment, day: float, peak_delta_a: float) -> float:
    """Δa* the late edge of the band expects on ``day`` for a course peaking at ``peak_delta_a``."""
    if peak_delta_a <= RESOLVED_DELTA_A:
        return max(peak_delta_a, 0.0)
    span = entry.resolution_day_high - entry.peak_day
    return peak_delta_a * (RESOLVED_DELTA_A / peak_delta_a) ** (max(day - entry.peak_day, 0.0) / span)


def _course_signal(
    entry: Treatment,
    fit: RednessFit | None,
    days: np.ndarray,
    delta_a: np.ndarray,
    session: int,
    review_fired: bool,
    reference_peak: float | None,
) -> Signal:
    """Compare the latest session's redness with the band: ahead, on_track or slower."""
    low, typical, high = entry.resolution_day_low, entry.resolution_day_typical, entry.resolution_day_high
    band = _band_detail(entry)
    late = days > high
    late_median = float(np.median(delta_a[late])) if late.any() else None
    late_threshold = clear_excess_delta_a(int(late.sum())) if late.any() else None
    still_red_late = late_median is not None and late_median > late_threshold
    last_day = float(days.max())
    keep_going = (
        f" Keep taking photos; if it is still clearly visible after day {entry.review_after_day:g},"
        " ask your provider to look at them."
        if last_day <= entry.review_after_day and not review_fired
        else ""
    )
    if fit is None:
        return Signal(
            rule="redness_before_peak",
            status="on_track",
            message=(
                f"Redness after this treatment is strongest around day {entry.peak_day:g}; a projection of when"
                " it fades starts with photos from then on."
            ),
            detail=(
                f"rule redness_before_peak: no photo on or after the day-{entry.peak_day:g} peak"
                f" ({cite(entry, 'peak_day')}); {band}."
            ),
            figures=MappingProxyType({"peak_day": entry.peak_day}),
        )
    figures = {
        "resolution_day": fit.resolution_day,
        "interval_low": fit.interval[0],
        "interval_high": fit.interval[1],
        "band_low": low,
        "band_typical": typical,
        "band_high": high,
        "photos_used": fit.photos_used,
        "fitted_peak_delta_a": fit.amplitude_delta_a,
    }
    if still_red_late:
        figures["late_delta_a_median"] = late_median
        last = float(days[late].max())
        return Signal(
            rule="redness_slower_than_band",
            status="slower",
            message=(
                "Your redness is fading more slowly than is typical after this treatment: your photos still show"
                f" clear redness on {_day_label(last, session)}, and it usually fades by {_band_text(entry)}."
                + keep_going
            ),
            detail=(
                f"rule redness_slower_than_band: median Δa* {late_median:.1f} on {_photos(int(late.sum()))} after"
                f" day {high:g} (clearly red above {late_threshold:.1f}: {CLEAR_Z:g} × photo noise"
                f" {PHOTO_NOISE_SD_DELTA_A:g} against the baseline); {band}."
            ),
            figures=MappingProxyType(figures),
        )
    if fit.measurable and not fit.identifiable:
        return _unprojected_signal(entry, days, delta_a, session, keep_going, reference_peak, figures)
    if not fit.fading:
        return Signal(
            rule="redness_not_fading",
            status="slower",
            message=(
                f"Your redness is not fading in your photos so far; it usually fades by {_band_text(entry)}."
                + keep_going
            ),
            detail=f"rule redness_not_fading: the fit reached its longest allowed course; {band}.",
            figures=MappingProxyType(figures),
        )
    if fit.measurable:
        projected = (
            f"projected resolution {_day_label(fit.resolution_day, session)} (90% interval"
            f" {fit.interval[0]:.1f}-{fit.interval[1]:.1f}) from a robust fit on {_photos(fit.photos_used)}"
            f" (fitted peak Δa* {fit.amplitude_delta_a:.1f})"
        )
    else:
        projected = (
            f"Δa* within photo noise (<= {RESOLVED_DELTA_A:g}) from {_day_label(fit.resolution_day, session)} on"
            f" {_photos(fit.photos_used)}"
        )
    likely = (
        f"around {_day_label(fit.resolution_day, session)} (likely between day {fit.interval[0]:.0f} and"
        f" {_day_label(fit.interval[1], session)})"
    )
    if fit.measurable and fit.resolution_day > high:
        return Signal(
            rule="redness_slower_than_band",
            status="slower",
            message=(
                f"Your redness is fading more slowly than is typical after this treatment: it is projected to be"
                f" gone {likely}, later than the usual {_band_text(entry)}." + keep_going
            ),
            detail=f"rule redness_slower_than_band: {projected} is later than the {band}.",
            figures=MappingProxyType(figures),
        )
    if fit.interval[1] < low:
        message = (
            f"Your redness was already too faint for photos to tell apart from untreated skin on"
            f" {_day_label(fit.resolution_day, session)}, earlier than the usual {_band_text(entry)}."
            if not fit.measurable
            else (
                "Your redness is fading faster than is typical after this treatment: it is projected to be gone"
                f" {likely}, earlier than the usual {_band_text(entry)}."
            )
        )
        return Signal(
            rule="redness_resolved_early",
            status="ahead",
            message=message,
            detail=f"rule redness_resolved_early: {projected}; the whole interval is before the {band}.",
            figures=MappingProxyType(figures),
        )
    message = (
        f"Your redness was already too faint for photos to tell apart from untreated skin on"
        f" {_day_label(fit.resolution_day, session)}, as expected after this treatment."
        if not fit.measurable
        else (
            f"Your redness is fading as expected after this treatment: it is projected to be gone {likely}; it"
            f" usually fades by {_band_text(entry)}."
        )
    )
    return Signal(
        rule="redness_within_band",
        status="on_track",
        message=message,
        detail=f"rule redness_within_band: {projected}, within the {band}.",
        figures=MappingProxyType(figures),
    )


def _unprojected_signal(
    entry: Treatment,
    days: np.ndarray,
    delta_a: np.ndarray,
    session: int,
    keep_going: str,
    reference_peak: float | None,
    figures: dict[str, float],
) -> Signal:
    """What the photos say when the fit cannot pin the course down: still red on day N against the band."""
    red = delta_a > clear_excess_delta_a(1)
    index = int(np.flatnonzero(red)[np.argmax(days[red])]) if red.any() else int(np.argmax(days))
    day, value = float(days[index]), float(delta_a[index])
    figures = {**figures, "last_red_day": day, "last_red_delta_a": value}
    band = _band_detail(entry)
    expected = None if reference_peak is None else _band_high_at(entry, day, reference_peak)
    unprojected = (
        f"the fit is not identifiable from {_photos(int(days.size))} (it ends on a bound of its parameters), so"
        " no day is projected"
    )
    after = days > day
    after_median = float(np.median(delta_a[after])) if after.any() else None
    if after_median is not None and after_median <= RESOLVED_DELTA_A and day <= entry.resolution_day_high:
        # Photos after the last red one show none: whether that photo was odd or the redness went
        # soon after, it had faded by the first of them, within the band.
        gone_by = float(days[after].min())
        figures["resolved_by_day"] = gone_by
        return Signal(
            rule="redness_within_band",
            status="on_track",
            message=(
                f"Your redness has faded: your photos from {_day_label(gone_by, session)} on show none, within the"
                f" usual course after this treatment (it usually fades by {_band_text(entry)})."
            ),
            detail=(
                f"rule redness_within_band: Δa* {value:.1f} on {_day_label(day, session)}, then a median of"
                f" {after_median:.1f} (at most the resolved level {RESOLVED_DELTA_A:g}) on"
                f" {_photos(int(after.sum()))} from {_day_label(gone_by, session)}: resolved by then, within the"
                f" {band}; {unprojected}."
            ),
            figures=MappingProxyType(figures),
        )
    if day > entry.resolution_day_high or (expected is not None and value - expected > clear_excess_delta_a(1)):
        against = (
            f"after the band's late edge (day {entry.resolution_day_high:g})"
            if expected is None or day > entry.resolution_day_high
            else f"{value - expected:.1f} above the {expected:.1f} the band's late edge expects then from the"
            f" day-0-3 peak of {reference_peak:.1f}"
        )
        if expected is not None:
            figures["band_high_delta_a_then"] = expected
        return Signal(
            rule="redness_slower_than_band",
            status="slower",
            message=(
                f"Your redness is fading more slowly than is typical after this treatment: your photos still show"
                f" clear redness on {_day_label(day, session)}, and it usually fades by {_band_text(entry)}."
                + keep_going
            ),
            detail=(
                f"rule redness_slower_than_band: Δa* {value:.1f} on {_day_label(day, session)}, {against};"
                f" {unprojected}; {band}."
            ),
            figures=MappingProxyType(figures),
        )
    slow_end = day > entry.resolution_day_typical
    return Signal(
        rule="redness_still_red_within_band",
        status="on_track",
        message=(
            f"Your photos still show redness on {_day_label(day, session)}, which is"
            f" {'at the slow end of' if slow_end else 'within'} the usual course after this treatment (it usually"
            f" fades by {_band_text(entry)}). More photos over the coming days will show when it fades." + keep_going
        ),
        detail=(
            f"rule redness_still_red_within_band: Δa* {value:.1f} on {_day_label(day, session)}; {unprojected};"
            f" {band}."
        ),
        figures=MappingProxyType(figures),
    )


def _outer_limit_signals(
    entry: Treatment, relative: np.ndarray, session: np.ndarray, delta_a: np.ndarray, per_day: np.ndarray
) -> list[Signal]:
    """Review when redness is still clearly visible past the treatment's review limit."""
    signals = []
    for index in np.unique(session):
        late = (session == index) & (relative > entry.review_after_day)
        if not late.any():
            continue
        median = float(np.median(delta_a[late]))
        threshold = clear_excess_delta_a(int(late.sum()))
        if median <= threshold:
            continue
        last = float(relative[late].max())
        signals.append(
            Signal(
                rule="redness_beyond_outer_limit",
                status="review",
                message=(
                    f"Your photos still show clear redness on {_day_label(last, int(index))}, longer than is usual"
                    f" after this treatment (it usually fades by {_band_text(entry)}). {_NOT_A_DIAGNOSIS} please ask"
                    " your provider to review your photos."
                ),
                detail=(
                    f"rule redness_beyond_outer_limit: Δa* {median:.1f} on {_day_label(last, int(index))} (median of"
                    f" {_days_photos(per_day[late])} after day"
                    f" {entry.review_after_day:g}; clearly red above"
                    f" {threshold:.1f}); {entry.key} review limit {entry.review_after_day:g} d"
                    f"{_estimate(entry, 'review_after_day')} ({cite(entry, 'review_after_day')})."
                ),
                figures=MappingProxyType(
                    {
                        "delta_a_median": median,
                        "threshold": threshold,
                        "last_day": last,
                        "photos": int(late.sum()),
                        "outer_limit_day": entry.review_after_day,
                    }
                ),
            )
        )
    return signals


REBOUND_PAIR_Z = 3.29
"""A photo lower than both its neighbours by more than this multiple of the noise of a difference
(``σ √2``; 0.1 % two-sided for photos of unchanged skin) is a dip, not a level: it is off (a region
that slipped, a failed photo), so a pair that holds it counts at its other photo
(:func:`_lowest_point`)."""


def _dips(values: np.ndarray) -> np.ndarray:
    """Photos below both neighbours by more than :data:`REBOUND_PAIR_Z` × the noise of a difference
    (the first and latest photos have one neighbour and are never dips)."""
    spread = REBOUND_PAIR_Z * PHOTO_NOISE_SD_DELTA_A * np.sqrt(2.0)
    dip = np.zeros(values.size, bool)
    dip[1:-1] = (values[1:-1] < values[:-2] - spread) & (values[1:-1] < values[2:] - spread)
    return dip


def _lowest_point(values: np.ndarray) -> tuple[float, int, int]:
    """The lowest level of the photos: the lowest mean of two in a row (one alone if only one).

    Returns the level, the position of the later photo of the pair, and how many photos it
    averages. A pair's mean is far less pulled down by one noisy photo than the lowest single
    photo, which over a long plateau sits well below the truth. A pair that holds a dip (a photo
    below both neighbours by more than noise allows, :data:`REBOUND_PAIR_Z`) counts at its other
    photo: one grossly low photo (9, -3.5, 5, 4.5 after fractional CO2) would otherwise make the
    normal photos after it look like redness coming back.
    """
    if values.size == 1:
        return float(values[0]), 0, 1
    pairs = (values[:-1] + values[1:]) / 2
    dip = _dips(values)
    pairs = np.where(dip[:-1] | dip[1:], np.maximum(values[:-1], values[1:]), pairs)
    index = int(np.argmin(pairs))
    return float(pairs[index]), index + 1, 2


def _strongest_rise(days: np.ndarray, values: np.ndarray) -> dict[str, float] | None:
    """The run of photos that rises furthest beyond :func:`rebound_threshold` above the lowest point before it."""
    best = None
    for start in range(1, days.size):
        # Dips are judged among the photos before the run: a photo just before it is never one,
        # as a real low that redness leaves for the run is what a rebound looks like.
        lowest, low_index, low_photos = _lowest_point(values[:start])
        # Redness does not truly fall below the untreated baseline: a lower level is photo noise.
        low = max(lowest, 0.0)
        for count in range(1, min(_LONGEST_RUN, days.size - start) + 1):
            run = values[start:start + count]
            if run.min() <= low:
                break
            if count == 1 and start < days.size - 1:
                continue  # one photo alone counts only while it is the latest: later photos confirm or undo it
            rise = float(run.mean()) - low
            threshold = rebound_threshold(count, low_photos)
            if rise > threshold and (best is None or rise / threshold > best["rise_delta_a"] / best["threshold"]):
                best = {
                    "rise_delta_a": rise,
                    "threshold": threshold,
                    "low_delta_a": low,
                    "lowest_level_delta_a": lowest,
                    "low_day": float(days[low_index]),
                    "low_photos": low_photos,
                    "first_day": float(days[start]),
                    "last_day": float(days[start + count - 1]),
                    "run_mean_delta_a": float(run.mean()),
                    "photos": count,
                }
    return best


def _one_per_day(
    relative: np.ndarray, session: np.ndarray, values: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Photos of the same session and day as one photo: their median, on their first (time-ordered) day,
    with how many photos each value stands for.

    Photos taken together share their light, so several of one day agree with each other far
    better than photos of different days: counted apart, a burst of three photos in one odd light
    would pass for three photos in a row. The review rules therefore see one value per day.

    Examples
    --------
    >>> _one_per_day(np.array([1.0, 14.0, 14.2, 14.5]), np.zeros(4, int), np.array([9.0, 6.0, 7.0, 5.0]))
    (array([ 1., 14.]), array([0, 0]), array([9., 6.]), array([1, 3]))
    """
    whole = np.floor(relative)
    keys = sorted(set(zip(session.tolist(), whole.tolist())))
    if len(keys) == relative.size:
        return relative, session, values, np.ones(relative.size, dtype=int)
    out_relative, out_session, out_values, out_photos = [], [], [], []
    for index, day in keys:
        mine = (session == index) & (whole == day)
        out_relative.append(float(relative[mine].min()))
        out_session.append(index)
        out_values.append(float(np.median(values[mine])))
        out_photos.append(int(mine.sum()))
    return (np.array(out_relative), np.array(out_session, dtype=session.dtype), np.array(out_values),
            np.array(out_photos, dtype=int))


def _rebound_signals(
    entry: Treatment, relative: np.ndarray, session: np.ndarray, delta_a: np.ndarray, per_day: np.ndarray
) -> list[Signal]:
    """Review when redness rises again above its lowest point since the peak, beyond photo noise."""
    signals = []
    for index in np.unique(session):
        mine = (session == index) & (relative >= entry.peak_day)
        order = np.argsort(relative[mine], kind="stable")
        rise = _strongest_rise(relative[mine][order], delta_a[mine][order])
        if rise is None:
            continue
        label = int(index)
        in_run = mine & (relative >= rise["first_day"]) & (relative <= rise["last_day"])
        run_days = (
            _day_label(rise["first_day"], label)
            if rise["photos"] == 1
            else f"{_days_photos(per_day[in_run])}"
            f" from {_day_label(rise['first_day'], label)}"
            f" to day {rise['last_day']:.0f} (mean)"
        )
        clamped = (
            f" (measured {rise['lowest_level_delta_a']:.1f}; below the baseline counts as 0)"
            if rise["lowest_level_delta_a"] < 0
            else ""
        )
        level = "mean of 2 photos to" if rise["low_photos"] == 2 else "1 photo on"
        signals.append(
            Signal(
                rule="redness_rebound",
                status="review",
                message=(
                    f"Your redness had faded to its lowest on {_day_label(rise['low_day'], label)} and has since come"
                    " back, which is not the usual course after this treatment. "
                    f"{_NOT_A_DIAGNOSIS} please contact your provider and share your photos."
                ),
                detail=(
                    "rule redness_rebound: Δa* rose from its lowest level since the peak,"
                    f" {rise['low_delta_a']:.1f} ({level} {_day_label(rise['low_day'], label)}){clamped},"
                    f" to {rise['run_mean_delta_a']:.1f} on {run_days}:"
                    f" +{rise['rise_delta_a']:.1f} against a threshold of {rise['threshold']:.1f}"
                    f" ({REBOUND_Z_SINGLE if rise['photos'] == 1 else REBOUND_Z:g} × photo noise"
                    f" {PHOTO_NOISE_SD_DELTA_A:g} × √(1/{int(rise['photos'])} + 1/{int(rise['low_photos'])})). A rise"
                    " after fading can mean"
                    " infection, contact dermatitis or early scarring (clinical notes, review table)."
                ),
                figures=MappingProxyType(rise),
            )
        )
    return signals


def _focal_signals(
    entry: Treatment, relative: np.ndarray, session: np.ndarray, focal: np.ndarray, current: int
) -> list[Signal]:
    """Review when a patch has stayed redder than the rest of the region on the latest photo days,
    from the band's typical resolution day on (when most patients' redness has faded); on the
    latest photo day alone, an info note that asks for another photo."""
    mine = (session == current) & np.isfinite(focal) & (relative >= entry.resolution_day_typical)
    if not mine.any():
        return []
    days, _, values, per_day = _one_per_day(relative[mine], session[mine], focal[mine])
    latest = values[-FOCAL_PHOTO_DAYS:]
    label = int(current)
    persisting = days.size >= FOCAL_PHOTO_DAYS and bool((latest >= FOCAL_THRESHOLD_A).all())
    if not persisting:
        return [] if values[-1] < FOCAL_THRESHOLD_A else [
            Signal(
                rule="focal_redness_one_photo",
                status="info",
                message=(
                    "In your latest photo part of the treated area looks redder than the rest of it. One photo can"
                    " mislead (a shadow, the light), so please take another in about a week, in the same light and"
                    " place; if it shows the same, your provider will want to see it."
                ),
                detail=(
                    f"rule focal_redness_one_photo: redness_focal_a {values[-1]:.1f} on"
                    f" {_day_label(days[-1], label)}, at or above {FOCAL_THRESHOLD_A:g}; focal_redness_persisting"
                    f" needs {FOCAL_PHOTO_DAYS} photo days in a row, so the status is unchanged until the next photo."
                ),
                figures=MappingProxyType({"focal_latest": float(values[-1]), "threshold": FOCAL_THRESHOLD_A,
                                          "day": float(days[-1])}),
            )
        ]
    shown = ", ".join(f"{v:.1f}" for v in latest)
    return [
        Signal(
            rule="focal_redness_persisting",
            status="review",
            message=(
                "Part of the treated area has stayed redder than the rest of it on your latest"
                f" {FOCAL_PHOTO_DAYS} photo days, from {_day_label(days[-FOCAL_PHOTO_DAYS], label)}, after the time"
                " by which redness has usually faded. "
                f"{_NOT_A_DIAGNOSIS} please show your photos to your provider."
            ),
            detail=(
                f"rule focal_redness_persisting: redness_focal_a (90th percentile minus median of the per-pixel"
                f" Δa* map over the region) {shown} on {_days_photos(per_day[-FOCAL_PHOTO_DAYS:])} from"
                f" {_day_label(days[-FOCAL_PHOTO_DAYS], label)} to day {days[-1]:.0f}, each at or above"
                f" {FOCAL_THRESHOLD_A:g} (above every repeat photo of unchanged skin, VALIDITY.md), from day"
                f" {entry.resolution_day_typical:g} (the band's median resolution) on. A patch that stays red while"
                " the rest fades preceded hypertrophic scars by about 3 weeks (Avram 2009); see the Δa* map."
            ),
            figures=MappingProxyType({"focal_latest": float(latest[-1]), "threshold": FOCAL_THRESHOLD_A,
                                      "first_day": float(days[-FOCAL_PHOTO_DAYS]), "last_day": float(days[-1]),
                                      "photos": int(per_day[-FOCAL_PHOTO_DAYS:].sum())}),
        )
    ]


def _implausible_signals(
    entry: Treatment, relative: np.ndarray, session: np.ndarray, delta_a: np.ndarray, per_day: np.ndarray,
    ahead: bool = False,
) -> list[Signal]:
    """Flag redness below the control, or none where every patient is red, for checking.

    Below the control: the median of a session's photos, or of its latest two or three (a
    region that slipped, or a control that moved onto redder skin, part-way through), below minus
    the clear-excess threshold for that many photos; before the band's early edge, or on any day
    when the course would otherwise read ``ahead`` (``ahead=True``), below minus the weaker
    :func:`early_below_control_delta_a`: a claim of fast healing is not made from readings below
    the control.
    """
    signals = []
    for index in np.unique(session):
        mine = session == index
        label = int(index)
        order = np.argsort(relative[mine], kind="stable")
        below = _below_control(delta_a[mine][order], per_day[mine][order])
        when, z = "", CLEAR_Z
        early = mine if ahead else mine & (relative < entry.resolution_day_low)
        # Even one such photo is checked, whatever follows: the fit would otherwise use it (and read
        # the course as ahead), and the provider can hide a photo that is simply odd.
        if below is None and early.any():
            # While nearly every patient is still red, a reading below the control is implausible
            # at a weaker multiple: the true excess is then positive, not 0.
            order = np.argsort(relative[early], kind="stable")
            below = _below_control(delta_a[early][order], per_day[early][order], early_below_control_delta_a,
                                   any_run=ahead)
            when = (" (the course would otherwise read as ahead of the band, which readings below the control do not"
                    " show)" if ahead else
                    f" before day {entry.resolution_day_low:g} (the band's early edge, when nearly every patient is"
                    " still red)")
            z = EARLY_BELOW_Z
        if below is not None:
            median, count, which, threshold = below
            signals.append(
                Signal(
                    rule="redness_below_control",
                    status="check_photos",
                    message=(
                        "Your photos show the treated area as less red than the untreated skin it is compared with,"
                        f" which treatment does not do. {_CHECK_PHOTOS}"
                    ),
                    detail=(
                        f"rule redness_below_control: median Δa* {median:.1f} on {which} after"
                        f" session {label + 1}{when}, below -{threshold:.1f} ({z:g} × photo noise"
                        f" {PHOTO_NOISE_SD_DELTA_A:g} against the baseline):"
                        " the treated region is less red than its control beyond noise, more likely a misplaced"
                        " region or control, or a failed measurement, than healing; check the regions and photos."
                    ),
                    figures=MappingProxyType({"delta_a_median": median, "threshold": -threshold, "photos": count}),
                )
            )
        if entry.universal_redness_until_day is None:
            continue
        early = mine & (relative <= entry.universal_redness_until_day)
        if not early.any():
            continue
        early_median = float(np.median(delta_a[early]))
        if early_median > RESOLVED_DELTA_A:
            continue
        first = float(relative[early].min())
        signals.append(
            Signal(
                rule="no_redness_after_treatment",
                status="check_photos",
                message=(
                    f"Your photos show no redness on {_day_label(first, label)}, although this treatment reddens the"
                    f" skin of everyone treated for the first days. {_CHECK_PHOTOS}"
                ),
                detail=(
                    f"rule no_redness_after_treatment: Δa* {early_median:.1f} (median of"
                    f" {_days_photos(per_day[early])}"
                    f" on days 0-{entry.universal_redness_until_day:g} after session {label + 1}) at or below the"
                    f" resolved level {RESOLVED_DELTA_A:g}, while every patient is red until day"
                    f" {entry.universal_redness_until_day:g} ({cite(entry, 'universal_redness_until_day')}): more"
                    " likely a misplaced region or a failed measurement than fast healing; check the regions and"
                    " photos."
                ),
                figures=MappingProxyType(
                    {"delta_a_median": early_median, "photos": int(early.sum()), "first_day": first}
                ),
            )
        )
    return signals


def _below_control(
    values: np.ndarray, per_day: np.ndarray, threshold: Callable[[int], float] = clear_excess_delta_a,
    any_run: bool = False,
) -> tuple[float, int, str, float] | None:
    """``(median, photos, which, threshold)`` when a session's photos (``values`` in time order), or
    its latest three or two, have a median Δa* below minus ``threshold(photos)`` (by default the
    clear-excess threshold); else None. The latest photo alone does not count (unless it is the
    only one), nor the latest two or three unless each is below 0: one odd photo is more often an
    odd photo than a moved region. ``any_run``: any three or two photo days in a row count, not
    only the latest (before a course is called ahead)."""
    runs = [(values, _days_photos(per_day))]
    # The latest two or three count only if each reads below the control: one grossly low photo
    # among them is an odd photo, not a region that moved.
    ends = range(values.size, 1, -1) if any_run else [values.size]
    runs += [(values[end - k:end], f"{'the latest ' if end == values.size else ''}{_days_photos(per_day[end - k:end])}")
             for end in ends for k in (3, 2)
             if k <= end and k < values.size and values[end - k:end].max() < 0]
    for run, which in runs:
        median, limit = float(np.median(run)), threshold(int(run.size))
        if median < -limit:
            return median, int(run.size), which, limit
    return None


def _pigment_run(
    days: np.ndarray, change: np.ndarray, direction: float, baseline_photos: int
) -> dict[str, float] | None:
    """The latest two or three photos, when their mean change (in ``direction``) exceeds the threshold.

    Darkening lasts months, so it shows on the latest photos while it matters; two photos, since
    one may be a bad photo. Judging only the latest run keeps one course from being tested again
    and again over a half-year window.
    """
    best = None
    signed = direction * change
    for count in range(2, min(_LONGEST_RUN, days.size) + 1):
        start = days.size - count
        run = signed[start:]
        if run.min() <= 0:
            break
        threshold = melanin_change_threshold(count, baseline_photos)
        if run.mean() > threshold and (best is None or run.mean() / threshold > best["change"] / best["threshold"]):
            best = {
                "change": float(run.mean()),
                "threshold": threshold,
                "first_day": float(days[start]),
                "last_day": float(days[-1]),
                "photos": count,
            }
    return best


def _pigment_signals(
    entry: Treatment,
    days: np.ndarray,
    usable_after: np.ndarray,
    melanin: np.ndarray | None,
    baseline: float | None,
    baseline_photos: int,
    last_session_day: float,
    fitzpatrick: int | None,
) -> list[Signal]:
    """Review darkening (and, after ablative treatment, lightening) of the redness-corrected pigment."""
    w = REVIEW_WINDOWS
    in_darkening = usable_after & (days >= w.darkening_from_day) & (days - last_session_day <= w.darkening_until_day)
    in_lightening = usable_after & (days >= w.lightening_from_day) & (days - last_session_day <= w.lightening_until_day)
    if not in_darkening.any() and not (entry.ablative and in_lightening.any()):
        return []
    if melanin is None or not np.isfinite(melanin[in_darkening | in_lightening]).any():
        return [
            Signal(
                rule="darkening_not_checked",
                status="info",
                message="Darkening of the treated skin cannot be checked from these photos yet.",
                detail=(
                    "rule darkening_not_checked: no redness-corrected pigment measure (melanin_takiwaki) for these"
                    " photos. ITA° and the melanin index are not used: redness alone lowers them (ΔL* ≈ -0.74 Δa*,"
                    " Takiwaki), so they would call redness darkening."
                ),
            )
        ]
    if baseline is None:
        return [
            Signal(
                rule="darkening_not_checked",
                status="info",
                message=(
                    "Darkening of the treated skin cannot be checked because there is no photo from before treatment."
                ),
                detail=(
                    "rule darkening_not_checked: no pre-treatment melanin_takiwaki (none given, no photo before"
                    " treatment)."
                ),
            )
        ]
    darker_note = (
        f" Fitzpatrick {_ROMAN_BY_NUMBER[fitzpatrick]} skin carries more of this risk."
        if fitzpatrick is not None and fitzpatrick >= 4
        else ""
    )
    checks = [("new_darkening", in_darkening, 1.0, w.darkening_from_day, w.darkening_until_day, "darkening_until_day")]
    if entry.ablative:
        checks.append(("lightening_below_baseline", in_lightening, -1.0, w.lightening_from_day, w.lightening_until_day,
                       "lightening_from_day"))
    signals = []
    for rule, window, direction, from_day, until_day, window_source in checks:
        finite = window & np.isfinite(melanin)
        order = np.argsort(days[finite], kind="stable")
        seen, _, change, per_day = _one_per_day(days[finite][order], np.zeros(int(finite.sum()), int),
                                       melanin[finite][order] - baseline)
        run = _pigment_run(seen, change, direction, baseline_photos)
        if run is None:
            if rule == "new_darkening" and finite.any():
                signals.extend(_one_darker_photo(seen, change, baseline_photos))
            continue
        run["baseline"] = baseline
        photos = (
            f"on day {run['first_day']:.0f}"
            if run["photos"] == 1
            else f"on {_days_photos(per_day[-int(run['photos']):])} from day"
            f" {run['first_day']:.0f} to day {run['last_day']:.0f}"
        )
        if rule == "new_darkening":
            message = (
                f"Compared with before treatment, the treated skin looks darker in your photos from day"
                f" {run['first_day']:.0f} on. Your provider will want to see this early. {_NOT_A_DIAGNOSIS} please"
                " contact your provider and share your photos."
            )
            reading = (
                f"post-inflammatory hyperpigmentation signal; risk for this treatment: {entry.pih_risk}"
                f" ({cite(entry, 'pih_risk')}).{darker_note}"
            )
        else:
            message = (
                "Compared with before treatment, the treated skin looks lighter in your photos from 3 months after"
                f" treatment on. {_NOT_A_DIAGNOSIS} please ask your provider to review your photos."
            )
            reading = "hypopigmentation signal (Ward & Baker 2008)."
        signals.append(
            Signal(
                rule=rule,
                status="review",
                message=message,
                detail=(
                    f"rule {rule}: redness-corrected melanin (melanin_takiwaki) {direction * run['change']:+.1f}"
                    f" against the pre-treatment {baseline:.1f} (mean {photos}); threshold {run['threshold']:.1f} ="
                    f" {MELANIN_Z:g} × photo noise {PHOTO_NOISE_SD_MELANIN:g} × √(1/{int(run['photos'])} +"
                    f" {median_noise_factor(baseline_photos):.2g}); window day {from_day:g} after the first session to"
                    f" day {until_day:g} after the last ({'; '.join(w.sources[window_source])});"
                    f" {reading}"
                ),
                figures=MappingProxyType(run),
            )
        )
    return signals


def _one_darker_photo(days: np.ndarray, change: np.ndarray, baseline_photos: int) -> list[Signal]:
    """An ``info`` note when the latest photo alone reads darker beyond the one-photo threshold.

    Two photos in a row are needed for ``new_darkening`` (one may be a bad photo); a single one
    asks for the next photo soon rather than changing the status.
    """
    threshold = melanin_change_threshold(1, baseline_photos)
    if change[-1] <= threshold:
        return []
    return [
        Signal(
            rule="darkening_one_photo",
            status="info",
            message=(
                "Your latest photo looks darker than before treatment. One photo can mislead (the light, the"
                " camera), so please take another in about a week, in the same light and place; if it looks"
                " darker too, your provider will want to see it."
            ),
            detail=(
                f"rule darkening_one_photo: melanin_takiwaki {change[-1]:+.1f} against the pre-treatment baseline"
                f" on day {days[-1]:.0f}, above the one-photo threshold {threshold:.1f}; new_darkening needs two"
                " photos in a row, so the status is unchanged until the next photo."
            ),
            figures=MappingProxyType({"change": float(change[-1]), "threshold": threshold, "day": float(days[-1])}),
        )
    ]


def texture_in_words(change: float) -> str:
    """A relative change of texture contrast against the baseline in words, with its sign.

    Higher GLCM contrast of lightness is coarser, rougher-looking skin; lower is smoother.

    Examples
    --------
    >>> texture_in_words(-0.126), texture_in_words(0.04), texture_in_words(0.001)
    ('13% smoother', '4% rougher', 'unchanged')
    """
    if abs(change) < 0.005:
        return "unchanged"
    return f"{abs(change):.0%} {'smoother' if change < 0 else 'rougher'}"


def _compared_with_before(change: float) -> str:
    words = texture_in_words(change)
    return "unchanged since before treatment" if words == "unchanged" else f"{words} than before treatment"


def _texture_signal(entry: Treatment, days: np.ndarray, texture: np.ndarray, photo_ok: np.ndarray) -> Signal | None:
    """Report texture change against baseline; it never changes the status."""
    after = photo_ok & np.isfinite(texture)
    if not after.any():
        return None
    latest = int(np.flatnonzero(after)[np.argmax(days[after])])
    change, day = float(texture[latest]), float(days[latest])
    try:
        (visible_low, visible_high), (plateau_low, plateau_high) = texture_timeline(entry)
        expected = (
            f"gains usually show from day {day_range(visible_low, visible_high)} and level off by day"
            f" {day_range(plateau_low, plateau_high)} after the last session"
            f" ({cite(entry, 'texture_visible_day_low', 'texture_plateau_day_high')})"
        )
    except ValueError:
        expected = "no texture timeline in the catalogue"
    return Signal(
        rule="texture_change",
        status="info",
        message=(
            f"Skin texture measured from your photos: {_compared_with_before(change)} (day {day:.0f}). Texture from photos is a rough guide and does not change this assessment."
        ),
        detail=(
            f"rule texture_change: {change:+.0%} against baseline on day {day:.0f}; {expected}. Photo texture is not"
            " validated against profilometry, so it is reported, not assessed."
        ),
        figures=MappingProxyType({"texture_change": change, "day": day}),
    )


def _exclusion_signals(quality: np.ndarray, measured: np.ndarray) -> list[Signal]:
    """Say how many photos were left out, and why."""
    signals = []
    failed = int((~quality).sum())
    if failed:
        signals.append(
            Signal(
                rule="photos_excluded",
                status="info",
                message=(
                    f"{failed} photos were left out because they did not pass the photo quality check."
                    if failed > 1
                    else "1 photo was left out because it did not pass the photo quality check."
                ),
                detail=(
                    f"rule photos_excluded: {failed} of {quality.size} photos failed the quality gate and were not"
                    " used."
                ),
                figures=MappingProxyType({"photos": failed}),
            )
        )
    unmeasured = int((quality & ~measured).sum())
    if unmeasured:
        signals.append(
            Signal(
                rule="photos_unmeasured",
                status="info",
                message=(
                    f"{_photos(unmeasured)} had no redness measurement and"
                    f" {'was' if unmeasured == 1 else 'were'} left out."
                ),
                detail=f"rule photos_unmeasured: {unmeasured} photos have no Δa* value.",
                figures=MappingProxyType({"photos": unmeasured}),
            )
        )
    return signals


def _photo_when(days: np.ndarray, taken_on: Sequence | None, i: int) -> str:
    """Photo ``i`` named in a sentence: its date when known, else its day ("day 14")."""
    if taken_on is not None and isinstance(taken_on[i], (date, datetime)):
        return f"{taken_on[i]:%Y-%m-%d}"
    return f"day {days[i]:.0f}"


def _timing_signals(
    days: np.ndarray, placed_after: np.ndarray, assumed: np.ndarray, session: np.ndarray, taken_on: Sequence | None
) -> list[Signal]:
    """Say which photos on a treatment day were placed by assumption, and ask to confirm."""
    signals = []
    for i in np.flatnonzero(assumed):
        when = _photo_when(days, taken_on, i)
        if not placed_after[i]:
            counted = "before the treatment"
            reading = "before the treatment, as the course's baseline (its first photo)"
        elif days[i] == 0:
            counted, reading = "after the treatment", "after the treatment, as an earlier photo is the baseline"
        else:
            counted = "before that day's treatment"
            reading = f"before that day's treatment, closing the course of session {int(session[i]) + 1}"
        signals.append(
            Signal(
                rule="photo_timing_assumed",
                status="info",
                message=(
                    f"Your photo of {when} was taken on a treatment day and was counted as taken {counted}."
                    " If that is wrong, please tell your provider."
                ),
                detail=(
                    f"rule photo_timing_assumed: the photo of {when} falls on a session day with no record of whether"
                    f" it was taken before or after the treatment; it is counted as taken {reading}. Confirm whether"
                    f" the photo of {when} was taken before the treatment."
                ),
                figures=MappingProxyType({"day": float(days[i])}),
            )
        )
    return signals


OTHER_CAMERA_DELTA_A = 1.0
"""About how far another camera's colour rendering moves Δa* (a* units): a follow-up 20 % less
colourful than the baseline reads a +6 rise 1.0 low, one 25 % more colourful 1.1 high (medians
of 6 draws), after the colour normalisation (VALIDITY.md, "Another camera";
``validation/other_camera.py``)."""


def _other_camera_signals(days: np.ndarray, used: np.ndarray, other_camera: Sequence[bool | None],
                          taken_on: Sequence | None) -> list[Signal]:
    """Say which photos were taken with another camera than the baseline photo, from when."""
    other = used & np.array([flag is True for flag in other_camera], dtype=bool)
    if not other.any():
        return []
    first = int(np.flatnonzero(other)[0])
    when = _photo_when(days, taken_on, first)
    count, total = int(other.sum()), int(used.sum())
    return [Signal(
        rule="other_camera",
        status="info",
        message=(
            f"{'Your photo' if count == 1 else f'{count} of your photos'} from {when} on {'was' if count == 1 else 'were'}"
            " taken with another camera than your first photo. Cameras show colours differently, so please take every"
            " photo with the same phone or camera."
        ),
        detail=(
            f"rule other_camera: {count} of {total} photos after treatment, from {when}, were taken with another"
            " camera than the baseline photo (EXIF maker and model differ). The colour normalisation matches each"
            " channel's gain and tone curve, not a camera's colourfulness, which can move Δa* by about"
            f" {OTHER_CAMERA_DELTA_A:g} a* unit (a 20 % difference); read a change of redness that starts with them"
            " with care."
        ),
        figures=MappingProxyType({"photos": count, "day": float(days[first])}),
    )]


def _projection_uncertain_signal(fit: RednessFit) -> Signal:
    """Warn that a projection from one or two photos mostly restates the catalogue band."""
    return Signal(
        rule="projection_uncertain",
        status="info",
        message=(
            f"With only {_photos(fit.photos_used)} so far, the projected day leans on the typical course for"
            " this treatment; more photos will make it yours."
        ),
        detail=(
            f"rule projection_uncertain: {fit.photos_used} photos in the fit; the interval mostly reflects the"
            " catalogue band used as prior."
        ),
        figures=MappingProxyType({"photos_used": fit.photos_used}),
    )


def _darker_skin_signal(base: Treatment, entry: Treatment, fitzpatrick: int) -> Signal:
    """Say that the darker-skin course and darkening risk apply."""
    return Signal(
        rule="darker_skin_course",
        status="info",
        message=(
            f"Your expected course uses the figures for darker skin (Fitzpatrick"
            f" {_ROMAN_BY_NUMBER[base.darker_skin.from_fitzpatrick]} and darker). {entry.pih_risk}"
        ),
        detail=(
            f"rule darker_skin_course: Fitzpatrick {_ROMAN_BY_NUMBER[fitzpatrick]}; {_band_detail(entry)}, review"
            f" limit {entry.review_after_day:g} d."
        ),
        figures=MappingProxyType({"fitzpatrick": fitzpatrick}),
    )


def _not_compared_signal() -> Signal:
    """Stand in for the course comparison while the photos are implausible."""
    return Signal(
        rule="course_not_compared",
        status="info",
        message="Until the photos are checked, your course is not compared with the usual one.",
        detail="rule course_not_compared: an implausible-measurement rule fired, so no ahead/on-track/slower reading.",
    )


def _baseline(given: float | None, values: np.ndarray | None, before: np.ndarray) -> tuple[float | None, int]:
    if given is not None:
        return float(given), 1
    if values is None:
        return None, 0
    pre = before & np.isfinite(values)
    return (float(np.median(values[pre])), int(pre.sum())) if pre.any() else (None, 0)


def assess_course(
    treatment: str,
    days: Sequence[float],
    redness_delta_a: Sequence[float],
    *,
    melanin_corrected: Sequence[float | None] | None = None,
    baseline_melanin_corrected: float | None = None,
    texture: Sequence[float] | None = None,
    quality_ok: Sequence[bool] | None = None,
    skin_type: int | str | None = None,
    session_starts: Sequence[float] | None = None,
    before_session: Sequence[bool | None] | None = None,
    taken_on: Sequence[date | datetime] | None = None,
    other_camera: Sequence[bool | None] | None = None,
    redness_focal: Sequence[float | None] | None = None,
) -> Assessment:
    """Assess a patient's recovery from their photos' metrics.

    Parameters
    ----------
    treatment : str
        Catalogue key, e.g. ``"fractional_co2"``.
    days : sequence of float
        Day of each photo since the first session (day 0), in the order the photos were taken.
        Photos before day 0 are the pre-treatment baseline; see ``before_session`` for day 0.
    redness_delta_a : sequence of float
        Excess Δa* per photo: mean a* of the treated region minus that of an untreated control
        patch, less the baseline's (a* units). NaN means not measured.
    melanin_corrected : sequence of float, optional
        ``melanin_takiwaki`` per photo (``-1.06 a* - 1.44 L*`` of the region, Takiwaki): a
        pigment measure that redness alone does not move. Its change against the baseline drives
        the darkening and lightening rules; without it they say darkening cannot be checked.
    baseline_melanin_corrected : float, optional
        Pre-treatment ``melanin_takiwaki``; by default the median of the baseline photos.
    texture : sequence of float, optional
        Relative change of a texture metric against baseline per photo (0.1 = +10%);
        reported, never assessed.
    quality_ok : sequence of bool, optional
        False for photos that failed the quality gate; they are left out and said so.
    skin_type : int or str, optional
        Fitzpatrick type (1-6 or I-VI); darker types use the catalogue's darker-skin course.
    session_starts : sequence of float, optional
        Days of later sessions in a series. Each session restarts the redness course; the
        status follows the latest session with photos, review rules look at every session.
    before_session : sequence of bool or None, optional
        Per photo taken on a session's day: True before the treatment, False after, None
        unknown (:func:`~tracker.recovery.course.session_relative_days`; an assumed placement is
        said and the provider is asked to confirm it).
    taken_on : sequence of date, optional
        When each photo was taken, to name photos in sentences (else "day N").
    other_camera : sequence of bool or None, optional
        Per photo, True when it was taken with another camera than the baseline photo (None: not
        known). Such photos are used, and said (``other_camera``): another camera's colour
        rendering can move Δa* by about 1 a* unit, which the colour normalisation does not undo.
    redness_focal : sequence of float or None, optional
        ``redness_focal_a`` per photo (90th percentile minus median of the per-pixel Δa* map over
        the region, a* units). At or above :data:`FOCAL_THRESHOLD_A` on the latest
        :data:`FOCAL_PHOTO_DAYS` photo days from the band's median resolution day on, the course is
        ``review`` (``focal_redness_persisting``): a patch that stays red while the rest fades.

    Returns
    -------
    Assessment

    Raises
    ------
    ValueError
        If no photo after treatment can be assessed, or the inputs do not line up.
    UnknownTreatmentError
        For a key that is not in the catalogue.

    Notes
    -----
    Redness resolves when Δa* falls to :data:`~tracker.recovery.course.RESOLVED_DELTA_A`.
    σ is the photo noise :data:`~tracker.recovery.course.PHOTO_NOISE_SD_DELTA_A`. The status is
    the most urgent of:

    * ``review`` (``redness_beyond_outer_limit``): the median Δa* of the photos after the
      treatment's review limit is above :func:`~tracker.recovery.course.clear_excess_delta_a`.
    * ``review`` (``redness_rebound``): from the peak day on, for every treatment, two or three
      photos in a row each above the lowest level before them (the lowest mean of two photos in
      a row) and on average above it by more than :func:`rebound_threshold` (2.4 on two, 2.2 on
      three), or the latest photo alone above it by more than 3.5 (later photos then confirm or
      undo it). The lowest level counts as no lower than the baseline: redness does not truly
      fall below untreated skin.
    * ``review`` (``new_darkening``): ``melanin_corrected`` above baseline by more than
      :func:`melanin_change_threshold` on one to three photos in a row, from day 14 after the
      first session to 180 days after the last; after ablative treatment, the reverse change
      in months 3-12 (``lightening_below_baseline``). Lightening is not checked after
      non-ablative treatments, which often target pigment on purpose.
    * ``review`` (``focal_redness_persisting``): a patch redder than the rest of the region
      (``redness_focal``) on the latest two photo days from the band's median resolution day on.
    * ``check_photos`` (``redness_below_control``): a session's median Δa* (or that of its
      latest two or three photos) below minus the clear threshold, or, for photos before the
      band's early edge, when nearly every patient is still red, or when the course would
      otherwise read ``ahead`` (then also any two or three photo days in a row, each below 0),
      below minus :func:`early_below_control_delta_a`: the treated area is less red than its
      control beyond noise.
    * ``check_photos`` (``no_redness_after_treatment``): Δa* at or below the resolved level on
      the days every patient is red (``universal_redness_until_day``). Either makes the data
      more likely wrong than the healing fast, so the course is then not called ``ahead``.
    * ``slower``: the projected resolution day is after the band's late edge, or photos after
      that edge are still clearly red; when the fit cannot pin the course down (it ends on a
      bound), a photo still clearly red after the late edge, or above what the late edge
      expects then from the day-0-3 peak. A course whose first photo after the peak is already
      within noise resolved at or before that photo and is never ``slower``.
    * ``ahead``: the whole 90% projection interval is before the band's early edge.
    * ``on_track``: otherwise.

    The projection is :func:`~tracker.recovery.fit.fit_redness_decay` on the latest session,
    never before its last photo that is still clearly red.

    Examples
    --------
    >>> a = assess_course("fractional_co2", days=[1, 3, 7, 14], redness_delta_a=[9.0, 7.5, 3.1, 1.2])
    >>> a.status
    'on_track'
    >>> assess_course("fractional_co2", days=[1, 3, 7, 10, 14, 21],
    ...               redness_delta_a=[9.0, 7.0, 4.0, 2.5, 5.0, 7.5]).status
    'review'
    """
    base = get_treatment(treatment)
    entry = adjusted_for_skin_type(base, skin_type)
    fitzpatrick = fitzpatrick_type(skin_type)
    days = np.asarray(days, dtype=float)
    if days.ndim != 1 or not np.all(np.isfinite(days)):
        raise ValueError("Every photo needs a day since treatment.")
    count = days.size
    delta_a = _values(redness_delta_a, "redness_delta_a", count)
    quality = np.ones(count, bool) if quality_ok is None else np.asarray(quality_ok, dtype=bool)
    if quality.shape != (count,):
        raise ValueError(f"quality_ok needs one value per photo ({count}), got {quality.size}.")
    melanin = _values(melanin_corrected, "melanin_corrected", count)
    texture_change = _values(texture, "texture", count)
    if taken_on is not None and len(taken_on) != count:
        raise ValueError(f"taken_on needs one value per photo ({count}), got {len(taken_on)}.")
    if other_camera is not None and len(other_camera) != count:
        raise ValueError(f"other_camera needs one value per photo ({count}), got {len(other_camera)}.")
    focal = _values(redness_focal, "redness_focal", count)

    measured = np.isfinite(delta_a)
    usable = quality & measured
    placed = session_relative_days(days, session_starts, before_session)
    relative, session = placed.relative, placed.session
    starts = [0.0, *sorted(float(s) for s in (session_starts or ()))]
    in_course = usable & placed.after

    info = _exclusion_signals(quality, measured)
    if not in_course.any():
        reason = " ".join(s.message for s in info)
        raise ValueError(
            (reason + " " if reason else "") + "There is no usable photo taken after the treatment to assess yet."
        )

    current = int(session[in_course].max())
    latest = in_course & (session == current)
    early = latest & (relative <= 3)
    reference_peak = float(delta_a[early].max()) if early.any() else None
    fit = fit_redness_decay(
        relative[latest],
        delta_a[latest],
        peak_day=entry.peak_day,
        resolution_days=(entry.resolution_day_low, entry.resolution_day_typical, entry.resolution_day_high),
        session_start_day=starts[current],
        still_red_until=_last_clearly_red_day(entry, relative[latest], delta_a[latest]),
    )
    if reference_peak is None and fit is not None and fit.measurable and fit.identifiable:
        reference_peak = fit.amplitude_delta_a

    info.extend(_timing_signals(days, placed.after, placed.assumed & quality, session, taken_on))
    if other_camera is not None:
        info.extend(_other_camera_signals(days, usable & placed.after, other_camera, taken_on))
    if fit is not None and fit.measurable and fit.identifiable and fit.photos_used <= 2:
        info.append(_projection_uncertain_signal(fit))
    if entry is not base:
        info.append(_darker_skin_signal(base, entry, fitzpatrick))
    if texture_change is not None:
        texture_signal = _texture_signal(entry, days, texture_change, quality & placed.after)
        if texture_signal is not None:
            info.append(texture_signal)

    melanin_baseline, baseline_photos = _baseline(baseline_melanin_corrected, melanin, quality & ~placed.after)
    pigment = _pigment_signals(
        entry, days, quality & placed.after, melanin, melanin_baseline, baseline_photos, starts[-1], fitzpatrick
    )
    info.extend(s for s in pigment if s.status == "info")
    focal_signals = [] if focal is None else _focal_signals(
        entry, relative[in_course], session[in_course], focal[in_course], current)
    info.extend(s for s in focal_signals if s.status == "info")
    daily = _one_per_day(relative[in_course], session[in_course], delta_a[in_course])
    review = [
        *_outer_limit_signals(entry, *daily),
        *_rebound_signals(entry, *daily),
        *(s for s in pigment if s.status == "review"),
        *(s for s in focal_signals if s.status == "review"),
    ]
    implausible = _implausible_signals(entry, *daily)
    review_fired = bool(review)
    if not implausible:
        course_signal = _course_signal(
            entry, fit, relative[latest], delta_a[latest], current, review_fired, reference_peak
        )
        if course_signal.status == "ahead":
            implausible = _implausible_signals(entry, *daily, ahead=True)
    if implausible:
        course_signal = _not_compared_signal()
    signals = (*review, *implausible, course_signal, *info)
    status = max((s.status for s in signals if s.status != "info"), default="on_track", key=_SEVERITY.__getitem__)
    reasons = [s.message for s in signals]
    if status != "review":
        reasons.append(
            "These figures come from your photos and the typical course for this treatment; they are not a diagnosis."
        )
    projection_ok = fit is not None and fit.fading and fit.identifiable and not implausible
    return Assessment(
        treatment=entry.key,
        status=status,
        reasons=tuple(reasons),
        provider_reasons=tuple(s.detail for s in signals),
        projected_resolution_day=fit.session_start_day + fit.resolution_day if projection_ok else None,
        projected_interval=(
            (fit.session_start_day + fit.interval[0], fit.session_start_day + fit.interval[1])
            if projection_ok
            else None
        ),
        excluded=tuple(int(i) for i in np.flatnonzero(~usable)),
        signals=signals,
        fit=fit,
        reference_peak_delta_a=reference_peak,
    )
