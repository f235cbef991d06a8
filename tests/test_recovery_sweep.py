"""Invariants of the recovery status over families of constructed courses, for every treatment.

The cases of ``test_recovery_cases.py`` are single courses; the checks here vary where, how
often and how strongly the same kinds of course happen (VALIDITY.md, "Readings below the control
while everyone is still red", found by the first version of this sweep), so that a status right
for the issue's example is also right for its neighbours.
"""

from __future__ import annotations

import numpy as np
import pytest

from tracker.recovery import (
    TREATMENTS,
    assess_course,
    clear_excess_delta_a,
    early_below_control_delta_a,
    melanin_change_threshold,
)

KEYS = sorted(TREATMENTS)


def _rules(a) -> list[str]:
    return [s.rule for s in a.signals]


@pytest.mark.parametrize("key", KEYS)
def test_a_clear_rebound_is_review_wherever_and_however_often_photographed(key):
    """Faded to 20 % of its peak, then 5 a* units above that low on two photos: review, by the rebound rule."""
    peak_day = TREATMENTS[key].peak_day
    for start in (peak_day + 1, peak_day + 3, max(peak_day + 7, 10), 45):
        for gap in (1, 3, 7):
            for peak in (6.0, 12.0):
                fading = [peak, peak * 0.6, peak * 0.35, peak * 0.2]
                values = fading + [min(fading) + 5, min(fading) + 5.5]
                days = [start + gap * i for i in range(len(values))]
                a = assess_course(key, days=days, redness_delta_a=values)
                assert a.status == "review" and "redness_rebound" in _rules(a), (days, values, _rules(a))


@pytest.mark.parametrize("key", KEYS)
def test_still_red_photos_are_never_projected_as_resolved_earlier_nor_ahead(key):
    """One or two photos clearly red on day N: no projection before N; never ahead; past the band, not on track."""
    entry = TREATMENTS[key]
    for day in (3, 10, 18, 40, 100, 200):
        if day <= entry.peak_day:
            continue
        for red in (5.0, 9.0):
            for days, values in (([day], [red]), ([day - max(2, day // 4), day], [red + 1, red])):
                a = assess_course(key, days=days, redness_delta_a=values)
                case = (days, values, a.status, _rules(a), a.projected_resolution_day)
                assert a.projected_resolution_day is None or a.projected_resolution_day >= day, case
                assert a.status != "ahead", case
                if day > entry.resolution_day_high:
                    assert a.status in ("slower", "review"), case


@pytest.mark.parametrize("key", KEYS)
def test_readings_below_the_control_are_never_ahead_and_checked_beyond_noise(key):
    """-3 to -5: checked when beyond the threshold for when they were taken, never ahead."""
    entry = TREATMENTS[key]
    for level in (-3.0, -3.5, -4.0, -5.0):
        for days in ([1, 3, 7, 14], [2, 5], [7], [0.4, 1.2]):
            values = [level + 0.3 * i for i in range(len(days))]
            a = assess_course(key, days=days, redness_delta_a=values)
            case = (days, values, a.status, _rules(a))
            assert a.status != "ahead", case
            median = float(np.median(values))
            early = max(days) < entry.resolution_day_low
            if median < -clear_excess_delta_a(len(values)) or (
                    early and median < -early_below_control_delta_a(len(values))):
                assert a.status == "check_photos" and "redness_below_control" in _rules(a), case


@pytest.mark.parametrize("key", KEYS)
def test_darkening_anywhere_in_the_window_is_review_and_redness_alone_never_is(key):
    pigment = melanin_change_threshold(2)
    for day in (21, 60, 150, 175):
        darker = assess_course(key, days=[-1, 1, 7, 14, day, day + 5], redness_delta_a=[0, 8, 4, 2, 0.5, 0.5],
                               melanin_corrected=[0, 0, 0, 0, pigment + 1.5, pigment + 2])
        assert darker.status == "review" and "new_darkening" in _rules(darker), (day, _rules(darker))
        redness = np.array([0, 10, 9, 8, 7, 6, 5.0])
        a_star, l_star = 12 + redness, 62 - 0.74 * redness  # erythema alone (Takiwaki)
        red = assess_course(key, days=[-1, 1, 7, 14, day, day + 5, day + 10], redness_delta_a=redness,
                            melanin_corrected=-1.06 * a_star - 1.44 * l_star)
        assert not {"new_darkening", "darkening_one_photo"} & set(_rules(red)), (day, _rules(red))


@pytest.mark.parametrize("key", KEYS)
def test_a_clean_course_that_fades_within_the_band_is_not_reviewed_nor_checked(key):
    entry = TREATMENTS[key]
    for fraction in (0.5, 1.0):
        resolution = entry.resolution_day_typical * fraction
        p = entry.peak_day
        days = sorted({p + 1, p + 3, p + 7, p + 14, int(resolution), int(resolution * 1.3) + 1})
        values = [max(0.0, 9 * (1 - (d - p) / resolution)) for d in days]
        a = assess_course(key, days=days, redness_delta_a=values)
        assert a.status not in ("review", "check_photos"), (days, values, _rules(a))


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("skin_type", [None, 2, 5])
def test_noise_sized_wiggles_are_not_rebounds_and_late_redness_is_reviewed(key, skin_type):
    """In lighter and darker skin alike: +1.2 over the low is photo noise; clearly red past the review limit is review."""
    entry = TREATMENTS[key]
    for start in (entry.peak_day + 1, entry.peak_day + 5):
        days = [start + 2 * i for i in range(7)]
        a = assess_course(key, days=days, redness_delta_a=[9, 6, 4, 3, 4.2, 3.8, 4.0], skin_type=skin_type)
        assert "redness_rebound" not in _rules(a), (days, _rules(a))
    late = [entry.peak_day + 1, entry.review_after_day + 5, entry.review_after_day + 12]
    a = assess_course(key, days=late, redness_delta_a=[10, 7, 7], skin_type=skin_type)
    assert a.status == "review", (late, _rules(a))
    if entry.peak_day >= 7:  # redness rising to a late peak is the course, not a rebound
        a = assess_course(key, days=[1, 3, 7, entry.peak_day], redness_delta_a=[5, 7, 9, 11], skin_type=skin_type)
        assert "redness_rebound" not in _rules(a), _rules(a)
