"""Assess a patient's course against the expected one: a status with reasons people can act on.

Statuses, most to least urgent: ``review`` (a signal from the review table of the clinical
notes fired), ``slower`` (outside the band, nothing alarming), ``on_track`` and ``ahead``.
Every status comes with patient-facing sentences, which say what the photos show and when to
contact the provider but never name a diagnosis, and provider-facing sentences with the rule,
the figures and the sources.

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
.. [5] Chardon A, Cretois I, Hourseau C. Skin colour typology and suntanning pathways.
   International Journal of Cosmetic Science, 1991.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping, Sequence

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
from .course import CLEAR_CHANGE_DELTA_A, RESOLVED_DELTA_A, session_relative_days, texture_timeline
from .fit import RednessFit, fit_redness_decay

__all__ = [
    "ITA_CHANGE_DEG",
    "MELANIN_CHANGE_FRACTION",
    "STATUSES",
    "Assessment",
    "Signal",
    "assess_course",
]

STATUSES = ("ahead", "on_track", "slower", "review")
"""The possible statuses; ``review`` outranks ``slower``, which outranks the other two."""

ITA_CHANGE_DEG = 8.0
"""Change of ITA° against baseline counted as real darkening or lightening. ITA° =
arctan((L* - 50) / b*) (Chardon 1991) moves by about 2.6° per L* unit for typical skin
(L* 60, b* 16), so the ~3 ΔE upper edge of photographic noise is about 8°."""

MELANIN_CHANGE_FRACTION = 0.10
"""Relative change of the melanin index against baseline counted as real. Provisional: no
published threshold exists for photographic melanin indices, and a relative threshold keeps
the rule independent of the index's scale; to be calibrated on repeat photos."""

_SEVERITY = {"info": -1, "ahead": 0, "on_track": 0, "slower": 1, "review": 2}
# Photos a few days apart differ mostly by photo noise once redness changes slowly (after
# week 3), and their pairwise slopes would swamp the median; a week apart they do not.
_RISING_PAIR_GAP_DAYS = 7.0
_NOT_A_DIAGNOSIS = "This is a measurement from photos, not a diagnosis;"


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
        ``"ahead"``, ``"on_track"``, ``"slower"`` or ``"review"``.
    reasons : tuple of str
        Patient-facing sentences, most important first.
    provider_reasons : tuple of str
        Provider-facing sentences with the rule that fired, the figures and the sources.
    projected_resolution_day : float or None
        Projected day (days since the first session) on which redness fades to
        :data:`~tracker.recovery.course.RESOLVED_DELTA_A`; None when it cannot be projected.
    projected_interval : tuple of float or None
        90% interval for that day; it contains the projection.
    excluded : tuple of int
        Positions of the photos left out (failed quality check or no redness measurement).
    signals : tuple of Signal
        The structured findings, in the order of ``reasons``.
    fit : RednessFit or None
        The fitted redness course of the latest session.
    reference_peak_delta_a : float or None
        The patient's peak Δa*, the highest on days 1-3 of the latest session, else the
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
    array = np.asarray(values, dtype=float)
    if array.shape != (count,):
        raise ValueError(f"{name} needs one value per photo ({count}), got {array.size}.")
    return array


def _day_label(day: float, session: int) -> str:
    return f"day {day:.0f}" if session == 0 else f"day {day:.0f} after session {session + 1}"


def _photos(count: int) -> str:
    return "1 photo" if count == 1 else f"{count} photos"


def _band_text(entry: Treatment) -> str:
    return f"day {entry.resolution_day_low:g}-{entry.resolution_day_high:g}"


def _course_signal(
    entry: Treatment, fit: RednessFit | None, days: np.ndarray, delta_a: np.ndarray, session: int, review_fired: bool
) -> Signal:
    """Compare the latest session's redness with the band: ahead, on_track or slower."""
    low, typical, high = entry.resolution_day_low, entry.resolution_day_typical, entry.resolution_day_high
    band_sources = cite(entry, "resolution_day_low", "resolution_day_typical", "resolution_day_high")
    band = f"band {low:g}-{high:g} d, typical {typical:g} d ({band_sources})"
    late = days > high
    late_median = float(np.median(delta_a[late])) if late.any() else None
    still_red_late = late_median is not None and late_median > CLEAR_CHANGE_DELTA_A
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
    last_day = float(days.max())
    keep_going = (
        f" Keep taking photos; if it is still clearly visible after day {entry.review_after_day:g},"
        " ask your provider to look at them."
        if last_day <= entry.review_after_day and not review_fired
        else ""
    )
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
                f" day {high:g} (clear-change threshold {CLEAR_CHANGE_DELTA_A:g}); {band}; {projected}."
            ),
            figures=MappingProxyType(figures),
        )
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


def _outer_limit_signals(
    entry: Treatment, relative: np.ndarray, session: np.ndarray, delta_a: np.ndarray
) -> list[Signal]:
    """Review when redness is still clearly visible past the treatment's outer limit."""
    signals = []
    for index in np.unique(session):
        late = (session == index) & (relative > entry.review_after_day)
        if not late.any():
            continue
        median = float(np.median(delta_a[late]))
        if median <= CLEAR_CHANGE_DELTA_A:
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
                    f" {_photos(int(late.sum()))} after day {entry.review_after_day:g}); {entry.key} outer limit"
                    f" {entry.review_after_day:g} d ({cite(entry, 'review_after_day')})."
                ),
                figures=MappingProxyType(
                    {
                        "delta_a_median": median,
                        "last_day": last,
                        "photos": int(late.sum()),
                        "outer_limit_day": entry.review_after_day,
                    }
                ),
            )
        )
    return signals


def _rising_slope(days: np.ndarray, values: np.ndarray) -> float | None:
    """Theil-Sen slope over photo pairs at least :data:`_RISING_PAIR_GAP_DAYS` apart."""
    order = np.argsort(days)
    days, values = days[order], values[order]
    first, second = np.triu_indices(days.size, 1)
    gap = days[second] - days[first]
    far = gap >= _RISING_PAIR_GAP_DAYS
    if not far.any():
        return None
    return float(np.median((values[second] - values[first])[far] / gap[far]))


def _rising_signals(entry: Treatment, relative: np.ndarray, session: np.ndarray, delta_a: np.ndarray) -> list[Signal]:
    """Review when redness clearly rises after week 3 of an ablative treatment."""
    if entry.rising_review_after_day is None:
        return []
    signals = []
    for index in np.unique(session):
        window = (session == index) & (relative >= entry.rising_review_after_day)
        days, values = relative[window], delta_a[window]
        slope = _rising_slope(days, values)
        if slope is None:
            continue
        first, last = float(days.min()), float(days.max())
        trend_rise = slope * (last - first)
        # Both the trend and the photos themselves must show the rise: a trend alone can come
        # from a noisy cluster stretched over a long span, a last photo alone from one outlier.
        first_value = float(np.median(values[days == first]))
        last_value = float(np.median(values[days == last]))
        if min(trend_rise, last_value - first_value) <= CLEAR_CHANGE_DELTA_A:
            continue
        signals.append(
            Signal(
                rule="redness_rising_after_week_3",
                status="review",
                message=(
                    f"Your redness has been increasing since {_day_label(first, int(index))}, when it usually fades"
                    f" after this treatment. {_NOT_A_DIAGNOSIS} please contact your provider and share your photos."
                ),
                detail=(
                    f"rule redness_rising_after_week_3: Δa* rose from {first_value:.1f} on day {first:.0f} to"
                    f" {last_value:.1f} on day {last:.0f}; trend +{trend_rise:.1f} (Theil-Sen slope {slope:.2f}/day"
                    f" over {_photos(int(window.sum()))}, pairs at least {_RISING_PAIR_GAP_DAYS:g} days apart); both"
                    f" above the threshold {CLEAR_CHANGE_DELTA_A:g}; rule applies after day"
                    f" {entry.rising_review_after_day:g} ({cite(entry, 'rising_review_after_day')})."
                ),
                figures=MappingProxyType(
                    {
                        "rise_delta_a": last_value - first_value,
                        "trend_rise_delta_a": trend_rise,
                        "slope_per_day": slope,
                        "first_day": first,
                        "last_day": last,
                        "photos": int(window.sum()),
                    }
                ),
            )
        )
    return signals


def _baseline(given: float | None, values: np.ndarray | None, before: np.ndarray) -> float | None:
    if given is not None:
        return float(given)
    if values is None:
        return None
    pre = before & np.isfinite(values)
    return float(np.median(values[pre])) if pre.any() else None


def _colour_change(
    ita: np.ndarray | None,
    melanin: np.ndarray | None,
    ita_baseline: float | None,
    melanin_baseline: float | None,
    window: np.ndarray,
    direction: float,
) -> dict[str, float]:
    """Figures of a colour change in the window; ``direction`` +1 for darkening, -1 for lightening."""
    figures: dict[str, float] = {}
    if ita is not None and ita_baseline is not None:
        inside = window & np.isfinite(ita)
        if inside.any():
            change = ita_baseline - float(np.median(ita[inside]))
            figures["ita_drop_deg"] = change
            figures["ita_photos"] = int(inside.sum())
            if direction * change >= ITA_CHANGE_DEG:
                figures["ita_fired"] = 1.0
    if melanin is not None and melanin_baseline is not None and melanin_baseline != 0:
        inside = window & np.isfinite(melanin)
        if inside.any():
            change = (float(np.median(melanin[inside])) - melanin_baseline) / abs(melanin_baseline)
            figures["melanin_rise_fraction"] = change
            figures["melanin_photos"] = int(inside.sum())
            if direction * change >= MELANIN_CHANGE_FRACTION:
                figures["melanin_fired"] = 1.0
    return figures


def _colour_detail(figures: Mapping[str, float]) -> str:
    parts = []
    if "ita_drop_deg" in figures:
        parts.append(
            f"ITA° {figures['ita_drop_deg']:+.1f}° below baseline (median of {_photos(int(figures['ita_photos']))};"
            f" threshold {ITA_CHANGE_DEG:g}°)"
        )
    if "melanin_rise_fraction" in figures:
        parts.append(
            f"melanin index {figures['melanin_rise_fraction']:+.0%} against baseline (median of"
            f" {_photos(int(figures['melanin_photos']))}; threshold {MELANIN_CHANGE_FRACTION:.0%})"
        )
    return "; ".join(parts)


def _colour_signals(
    entry: Treatment,
    relative: np.ndarray,
    photo_ok: np.ndarray,
    ita: np.ndarray | None,
    melanin: np.ndarray | None,
    ita_baseline: float | None,
    melanin_baseline: float | None,
) -> list[Signal]:
    """Review new darkening in weeks 2-6 and, after ablative treatment, lightening in months 3-12."""
    if ita is None and melanin is None:
        return []
    if ita_baseline is None and melanin_baseline is None:
        return [
            Signal(
                rule="colour_baseline_missing",
                status="info",
                message="Darkening or lightening could not be checked because there is no photo from before treatment.",
                detail=(
                    "rule colour_baseline_missing: no baseline ITA° or melanin index (none given, no photo on day 0"
                    " or earlier)."
                ),
            )
        ]
    w = REVIEW_WINDOWS
    signals = []
    darkening_window = photo_ok & (relative >= w.darkening_from_day) & (relative <= w.darkening_until_day)
    darkening = _colour_change(ita, melanin, ita_baseline, melanin_baseline, darkening_window, +1.0)
    if "ita_fired" in darkening or "melanin_fired" in darkening:
        signals.append(
            Signal(
                rule="new_darkening",
                status="review",
                message=(
                    "Compared with before treatment, the treated skin looks darker in your photos from weeks 2 to 6."
                    f" Your provider will want to see this early. {_NOT_A_DIAGNOSIS} please contact your provider and"
                    " share your photos."
                ),
                detail=(
                    f"rule new_darkening (post-inflammatory hyperpigmentation signal): {_colour_detail(darkening)};"
                    f" window day {w.darkening_from_day:g}-{w.darkening_until_day:g} after a session"
                    f" ({'; '.join(w.sources['darkening_from_day'])}). Risk for this treatment: {entry.pih_risk}"
                    f" ({cite(entry, 'pih_risk')})"
                ),
                figures=MappingProxyType(darkening),
            )
        )
    if entry.ablative:
        lightening_window = photo_ok & (relative >= w.lightening_from_day) & (relative <= w.lightening_until_day)
        lightening = _colour_change(ita, melanin, ita_baseline, melanin_baseline, lightening_window, -1.0)
        if "ita_fired" in lightening or "melanin_fired" in lightening:
            signals.append(
                Signal(
                    rule="lightening_below_baseline",
                    status="review",
                    message=(
                        "Compared with before treatment, the treated skin looks lighter in your photos from 3 months"
                        f" after treatment on. {_NOT_A_DIAGNOSIS} please ask your provider to review your photos."
                    ),
                    detail=(
                        f"rule lightening_below_baseline (hypopigmentation signal): {_colour_detail(lightening)};"
                        f" window day {w.lightening_from_day:g}-{w.lightening_until_day:g} after a session"
                        f" ({'; '.join(w.sources['lightening_from_day'])})."
                    ),
                    figures=MappingProxyType(lightening),
                )
            )
    return signals


def _texture_signal(entry: Treatment, days: np.ndarray, texture: np.ndarray, photo_ok: np.ndarray) -> Signal | None:
    """Report texture change against baseline; it never changes the status."""
    after = photo_ok & (days > 0) & np.isfinite(texture)
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
            f"Skin texture measured from your photos has changed by {abs(change):.0%} since before treatment"
            f" (day {day:.0f}). Texture from photos is a rough guide and does not change this assessment."
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
            f"rule darker_skin_course: Fitzpatrick {_ROMAN_BY_NUMBER[fitzpatrick]}; band"
            f" {entry.resolution_day_low:g}-{entry.resolution_day_high:g} d, outer limit"
            f" {entry.review_after_day:g} d ({cite(entry, 'resolution_day_typical', 'resolution_day_high')})."
        ),
        figures=MappingProxyType({"fitzpatrick": fitzpatrick}),
    )


def assess_course(
    treatment: str,
    days: Sequence[float],
    redness_delta_a: Sequence[float],
    *,
    ita_deg: Sequence[float] | None = None,
    melanin_index: Sequence[float] | None = None,
    texture: Sequence[float] | None = None,
    baseline_ita_deg: float | None = None,
    baseline_melanin_index: float | None = None,
    quality_ok: Sequence[bool] | None = None,
    skin_type: int | str | None = None,
    session_starts: Sequence[float] | None = None,
) -> Assessment:
    """Assess a patient's recovery from their photos' metrics.

    Parameters
    ----------
    treatment : str
        Catalogue key, e.g. ``"fractional_co2"``.
    days : sequence of float
        Day of each photo since the first session (day 0). Photos on day 0 or earlier are
        the pre-treatment baseline.
    redness_delta_a : sequence of float
        Δa* per photo: mean a* of the treated region minus that of an untreated control patch
        (a* units). NaN means not measured.
    ita_deg, melanin_index : sequence of float, optional
        ITA° and melanin index per photo, for the darkening and lightening rules.
    texture : sequence of float, optional
        Relative change of a texture metric against baseline per photo (0.1 = +10%);
        reported, never assessed.
    baseline_ita_deg, baseline_melanin_index : float, optional
        Pre-treatment values; by default the median of the baseline photos (day <= 0).
    quality_ok : sequence of bool, optional
        False for photos that failed the quality gate; they are left out and said so.
    skin_type : int or str, optional
        Fitzpatrick type (1-6 or I-VI); darker types use the catalogue's darker-skin course.
    session_starts : sequence of float, optional
        Days of later sessions in a series. Each session restarts the redness course; the
        status follows the latest session with photos, review rules look at every session.

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
    The status is the most urgent of:

    * ``review``: redness with median Δa* above
      :data:`~tracker.recovery.course.CLEAR_CHANGE_DELTA_A` after the treatment's outer
      limit; for ablative treatments, a clear rise from week 3 on (both the Theil-Sen trend
      over photo pairs at least a week apart and the latest photo against the first one
      above the same threshold); ITA° down by :data:`ITA_CHANGE_DEG` or melanin index up by
      :data:`MELANIN_CHANGE_FRACTION` against baseline in weeks 2-6; after ablative
      treatment, the reverse change in months 3-12 (lightening is not checked after
      non-ablative treatments, which often target pigment on purpose).
    * ``slower``: the projected resolution day is after the band's high edge, or photos
      after that edge are still clearly red. A course whose first photo after the peak is
      already within noise resolved at or before that photo and is never ``slower``.
    * ``ahead``: the whole 90% projection interval is before the band's low edge.
    * ``on_track``: otherwise.

    The projection is :func:`~tracker.recovery.fit.fit_redness_decay` on the latest session.

    Examples
    --------
    >>> a = assess_course("fractional_co2", days=[1, 3, 7, 14], redness_delta_a=[9.0, 7.5, 3.1, 1.2])
    >>> a.status
    'on_track'
    """
    base = get_treatment(treatment)
    entry = adjusted_for_skin_type(base, skin_type)
    days = np.asarray(days, dtype=float)
    if days.ndim != 1 or not np.all(np.isfinite(days)):
        raise ValueError("Every photo needs a day since treatment.")
    count = days.size
    delta_a = _values(redness_delta_a, "redness_delta_a", count)
    quality = np.ones(count, bool) if quality_ok is None else np.asarray(quality_ok, dtype=bool)
    if quality.shape != (count,):
        raise ValueError(f"quality_ok needs one value per photo ({count}), got {quality.size}.")
    ita = _values(ita_deg, "ita_deg", count)
    melanin = _values(melanin_index, "melanin_index", count)
    texture_change = _values(texture, "texture", count)

    measured = np.isfinite(delta_a)
    usable = quality & measured
    relative, session = session_relative_days(days, session_starts)
    starts = [0.0, *sorted(float(s) for s in (session_starts or ()))]
    in_course = usable & (relative > 0)

    info = _exclusion_signals(quality, measured)
    if not in_course.any():
        reason = " ".join(s.message for s in info)
        raise ValueError(
            (reason + " " if reason else "") + "There is no usable photo taken after the treatment to assess yet."
        )

    current = int(session[in_course].max())
    latest = in_course & (session == current)
    fit = fit_redness_decay(
        relative[latest],
        delta_a[latest],
        peak_day=entry.peak_day,
        resolution_days=(entry.resolution_day_low, entry.resolution_day_typical, entry.resolution_day_high),
        session_start_day=starts[current],
    )
    early = latest & (relative >= 1) & (relative <= 3)
    if early.any():
        reference_peak = float(delta_a[early].max())
    elif fit is not None and fit.measurable:
        reference_peak = fit.amplitude_delta_a
    else:
        reference_peak = None

    if fit is not None and fit.measurable and fit.photos_used <= 2:
        info.append(_projection_uncertain_signal(fit))
    if entry is not base:
        info.append(_darker_skin_signal(base, entry, fitzpatrick_type(skin_type)))
    if texture_change is not None:
        texture_signal = _texture_signal(entry, days, texture_change, quality)
        if texture_signal is not None:
            info.append(texture_signal)

    before = quality & (days <= 0)
    review = [
        *_outer_limit_signals(entry, relative[in_course], session[in_course], delta_a[in_course]),
        *_rising_signals(entry, relative[in_course], session[in_course], delta_a[in_course]),
        *_colour_signals(
            entry,
            relative,
            quality & (relative > 0),
            ita,
            melanin,
            _baseline(baseline_ita_deg, ita, before),
            _baseline(baseline_melanin_index, melanin, before),
        ),
    ]
    review_fired = any(s.status == "review" for s in review)
    course_signal = _course_signal(entry, fit, relative[latest], delta_a[latest], current, review_fired)
    signals = (*review, course_signal, *info)
    status = max((s.status for s in signals if s.status != "info"), key=_SEVERITY.__getitem__)
    reasons = [s.message for s in signals]
    if status != "review":
        reasons.append(
            "These figures come from your photos and the typical course for this treatment; they are not a diagnosis."
        )
    projection_ok = fit is not None and fit.fading
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
