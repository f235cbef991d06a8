"""tracker.recovery.timeline: a course's photos placed on its time line, and its assessment.

The truth is worked out by hand for each case: calendar days between dates, which session a
day follows, and excess redness and texture change as plain arithmetic on the metrics given.
"""

from __future__ import annotations

from datetime import date, datetime

import pytest

from tracker.analysis import AnalysisResult
from tracker.recovery import assess_course
from tracker.recovery.timeline import PhotoPoint, course_progress, days_between

TREATED_ON = date(2026, 3, 2)


def measured(redness_a: float | None = 10.0, delta_a: float | None = None, texture: float | None = None, *,
             quality_ok: bool = True, ita: float = 40.0, melanin: float = 30.0) -> AnalysisResult:
    """A measured photo; ``delta_a`` None is a course without a control region."""
    metrics = {"redness_a": redness_a, "redness_delta_a": delta_a, "texture_contrast": texture,
               "ita_deg": ita, "melanin_index": melanin}
    issues = [] if quality_ok else ["The photo is too bright: retake it out of direct sunlight."]
    return AnalysisResult(ok=True, quality={"ok": quality_ok, "issues": issues,
                                            "codes": [] if quality_ok else ["overexposed"]}, metrics=metrics)


def photo(photo_id: int, when: date | datetime, result: AnalysisResult | None) -> PhotoPoint:
    taken_at = when if isinstance(when, datetime) else datetime(when.year, when.month, when.day, 10)
    return PhotoPoint(photo_id, taken_at, result)


def on(day: int) -> date:
    return date.fromordinal(TREATED_ON.toordinal() + day)


# --- days and sessions ---------------------------------------------------------------------

def test_days_between_counts_calendar_days_whatever_the_time():
    assert days_between(datetime(2026, 3, 2, 23, 59), TREATED_ON) == 0
    assert days_between(datetime(2026, 3, 3, 0, 1), TREATED_ON) == 1
    assert days_between(date(2026, 2, 27), TREATED_ON) == -3
    assert days_between(date(2027, 3, 2), TREATED_ON) == 365


def test_one_session_numbers_days_and_sessions():
    photos = [photo(1, date(2026, 2, 28), measured()),
              photo(2, datetime(2026, 3, 2, 8, 0), measured()),  # the treatment day, before the 10:00 treatment
              photo(3, datetime(2026, 3, 3, 23, 30), measured()),
              photo(4, date(2026, 4, 1), measured())]
    progress = course_progress("fractional_co2", [datetime(2026, 3, 2, 10, 0)], photos)
    assert progress.session_days == (0,)
    assert [(pt.day, pt.session, pt.days_since_session) for pt in progress.points] == [
        (-2, 0, -2), (0, 0, 0), (1, 1, 1), (30, 1, 30)]
    assert not any(pt.timing_assumed for pt in progress.points)
    # Without the treatment's time, a photo of the treatment day that is not the course's first
    # counts as taken after the treatment, and says that this was assumed.
    unknown = course_progress("fractional_co2", [TREATED_ON], photos)
    assert [(pt.day, pt.session, pt.timing_assumed) for pt in unknown.points] == [
        (-2, 0, False), (0, 1, True), (1, 1, False), (30, 1, False)]


def test_several_sessions_given_in_any_order():
    sessions = [date(2026, 4, 27), TREATED_ON, date(2026, 3, 30)]  # days 56, 0 and 28
    photos = [photo(10, on(-1), measured()), photo(11, on(3), measured()), photo(12, on(27), measured()),
              photo(13, on(31), measured()), photo(14, on(57), measured()), photo(15, on(90), measured())]
    progress = course_progress("non_ablative_fractional", sessions, photos)
    assert progress.session_days == (0, 28, 56)
    assert [(pt.day, pt.session, pt.days_since_session) for pt in progress.points] == [
        (-1, 0, -1), (3, 1, 3), (27, 1, 27), (31, 2, 3), (57, 3, 1), (90, 3, 34)]


def test_a_photo_on_a_later_session_day_was_taken_before_that_session():
    """Like day 0, the day of a later session belongs to the session before it (tracker.recovery.course)."""
    sessions = [TREATED_ON, on(28)]
    photos = [photo(1, on(-1), measured()), photo(2, on(28), measured()), photo(3, on(29), measured())]
    progress = course_progress("non_ablative_fractional", sessions, photos)
    assert [(pt.day, pt.session, pt.days_since_session) for pt in progress.points] == [
        (-1, 0, -1), (28, 1, 28), (29, 2, 1)]


def test_a_session_recorded_twice_counts_once():
    progress = course_progress("non_ablative_fractional", [TREATED_ON, on(28), on(28)],
                               [photo(1, on(-1), measured()), photo(2, on(30), measured())])
    assert progress.session_days == (0, 28)
    assert [(pt.session, pt.days_since_session) for pt in progress.points] == [(0, -1), (2, 2)]


def test_photos_are_ordered_by_time_and_the_earliest_is_the_baseline():
    photos = [photo(3, on(7), measured(redness_a=14.0)), photo(1, on(-1), measured(redness_a=10.0)),
              photo(2, on(3), measured(redness_a=16.0)), photo(0, on(3), measured(redness_a=15.0))]
    progress = course_progress("fractional_co2", [TREATED_ON], photos)
    assert [pt.photo_id for pt in progress.points] == [1, 0, 2, 3]  # same time: by id
    assert [pt.excess_redness for pt in progress.points] == [0.0, 5.0, 6.0, 4.0]


# --- excess redness and texture ------------------------------------------------------------

def test_excess_redness_with_control_and_pre_treatment_baseline_removes_the_baselines_offset():
    # The baseline's treated area is already 1.5 a* redder than its control.
    photos = [photo(1, on(-1), measured(redness_a=12.0, delta_a=1.5)),
              photo(2, on(1), measured(redness_a=20.0, delta_a=9.0)),
              photo(3, on(7), measured(redness_a=17.0, delta_a=4.25))]
    points = course_progress("fractional_co2", [TREATED_ON], photos).points
    assert [pt.excess_redness for pt in points] == [0.0, 7.5, 2.75]


def test_excess_redness_without_control_is_the_change_of_mean_a():
    photos = [photo(1, on(-1), measured(redness_a=12.0)), photo(2, on(1), measured(redness_a=20.5)),
              photo(3, on(7), measured(redness_a=13.25))]
    points = course_progress("fractional_co2", [TREATED_ON], photos).points
    assert [pt.excess_redness for pt in points] == [0.0, 8.5, 1.25]


def test_without_a_pre_treatment_photo_the_control_difference_itself_is_followed():
    photos = [photo(1, on(1), measured(redness_a=20.0, delta_a=8.0)),
              photo(2, on(7), measured(redness_a=16.0, delta_a=3.5))]
    progress = course_progress("fractional_co2", [TREATED_ON], photos)
    assert [pt.excess_redness for pt in progress.points] == [8.0, 3.5]
    assert progress.assessment is not None and progress.not_assessed_reason is None


def test_without_pre_treatment_photo_or_control_the_course_is_not_assessed():
    photos = [photo(1, on(1), measured(redness_a=20.0)), photo(2, on(7), measured(redness_a=16.0))]
    progress = course_progress("fractional_co2", [TREATED_ON], photos)
    assert [pt.excess_redness for pt in progress.points] == [None, None]
    assert progress.status == "not_assessed" and progress.assessment is None
    assert progress.not_assessed_reason == (
        "Redness cannot be followed: there is no photo from before treatment and no untreated control area drawn.")


def test_texture_change_is_relative_to_the_baselines_texture():
    photos = [photo(1, on(-1), measured(texture=0.2)), photo(2, on(7), measured(texture=0.25)),
              photo(3, on(30), measured(texture=0.15)), photo(4, on(40), measured(texture=None))]
    points = course_progress("fractional_co2", [TREATED_ON], photos).points
    assert [pt.texture_change for pt in points[:3]] == pytest.approx([0.0, 0.25, -0.25])
    assert points[3].texture_change is None


@pytest.mark.parametrize("base_texture", [None, 0.0])
def test_no_texture_change_without_a_baseline_texture(base_texture):
    photos = [photo(1, on(-1), measured(texture=base_texture)), photo(2, on(7), measured(texture=0.25))]
    assert [pt.texture_change for pt in course_progress("fractional_co2", [TREATED_ON], photos).points] == [None, None]


# --- assessment and its inputs -------------------------------------------------------------

def test_assessment_is_made_from_the_points_days_and_excess_redness():
    excess = {1: 9.0, 3: 7.5, 7: 3.1, 14: 1.2}
    photos = [photo(0, on(-1), measured(redness_a=12.0, delta_a=1.0, texture=0.2, ita=41.0, melanin=30.0))]
    photos += [photo(day, on(day), measured(redness_a=12.0 + value, delta_a=1.0 + value, texture=0.2 * (1 + day / 100),
                                            ita=41.0 - day / 10, melanin=30.0 + day / 10))
               for day, value in excess.items()]
    progress = course_progress("fractional_co2", [TREATED_ON], photos, skin_type="II")
    by_hand = assess_course("fractional_co2", days=[-1, *excess], redness_delta_a=[0.0, *excess.values()],
                            texture=[0.0, *(d / 100 for d in excess)], quality_ok=[True] * 5, skin_type="II")
    assert progress.status == "on_track" == by_hand.status
    assert progress.assessment.provider_reasons == by_hand.provider_reasons
    assert progress.assessment.projected_resolution_day == pytest.approx(by_hand.projected_resolution_day)


def test_a_photo_failing_the_quality_gate_is_left_out_of_the_assessment_but_kept_on_the_line():
    photos = [photo(1, on(-2), measured(redness_a=12.0, delta_a=1.0)),
              photo(2, on(1), measured(redness_a=20.0, delta_a=9.0)),
              photo(3, on(5), measured(redness_a=30.0, delta_a=19.0, quality_ok=False)),
              photo(4, on(7), measured(redness_a=16.0, delta_a=5.0))]
    progress = course_progress("non_ablative_fractional", [TREATED_ON], photos)
    left_out = progress.points[2]
    assert (left_out.ok, left_out.quality_ok, left_out.usable, left_out.excess_redness) == (True, False, False, 18.0)
    assert progress.assessment.excluded == (2,)
    assert "1 photo was left out because it did not pass the photo quality check." in progress.assessment.reasons


def test_no_session_recorded_is_not_assessed_and_places_nothing():
    progress = course_progress("fractional_co2", [], [photo(1, on(1), measured())])
    assert progress.points == () and progress.session_days == ()
    assert progress.status == "not_assessed"
    assert progress.not_assessed_reason == "No treatment date is recorded for this area."


def test_a_course_without_photos_is_not_assessed():
    """Regions are drawn on the baseline, so without photos there is no control either."""
    progress = course_progress("fractional_co2", [TREATED_ON], [])
    assert (progress.points, progress.session_days, progress.status) == ((), (0,), "not_assessed")
    assert progress.not_assessed_reason.startswith("Redness cannot be followed: there is no photo from before")


def test_only_the_baseline_is_not_assessed_yet():
    progress = course_progress("fractional_co2", [TREATED_ON], [photo(1, on(-1), measured(delta_a=1.0))])
    assert progress.status == "not_assessed"
    assert progress.not_assessed_reason == "No photo after treatment has been measured yet."


def test_every_photo_after_treatment_failing_the_gate_says_why_it_is_not_assessed():
    photos = [photo(1, on(-1), measured(delta_a=1.0)), photo(2, on(3), measured(delta_a=8.0, quality_ok=False)),
              photo(3, on(7), measured(delta_a=5.0, quality_ok=False))]
    progress = course_progress("fractional_co2", [TREATED_ON], photos)
    assert progress.assessment is None and progress.status == "not_assessed"
    assert progress.not_assessed_reason.startswith(
        "2 photos were left out because they did not pass the photo quality check.")
    assert "\n" not in progress.not_assessed_reason


# --- photos not analysed yet ---------------------------------------------------------------

def test_unanalysed_photos_are_placed_but_not_measured():
    photos = [photo(1, on(-1), measured(redness_a=12.0, delta_a=1.0)), photo(2, on(1), None),
              photo(3, on(3), AnalysisResult.failed("The photo could not be aligned with the first photo.")),
              photo(4, on(7), measured(redness_a=16.0, delta_a=4.0))]
    progress = course_progress("fractional_co2", [TREATED_ON], photos)
    waiting, failed = progress.points[1], progress.points[2]
    assert (waiting.day, waiting.session, waiting.ok, waiting.usable, waiting.quality_ok) == (1, 1, False, False, None)
    assert waiting.result == AnalysisResult(ok=False)
    assert (waiting.excess_redness, waiting.texture_change) == (None, None)
    assert (failed.ok, failed.excess_redness, failed.result.problem) == (
        False, None, "The photo could not be aligned with the first photo.")
    assert progress.points[3].excess_redness == 3.0
    assert progress.assessment is not None  # from the baseline and the day-7 photo


def test_an_unanalysed_baseline_leaves_the_course_without_measurements():
    photos = [photo(1, on(-1), None), photo(2, on(3), measured(redness_a=20.0, delta_a=9.0))]
    progress = course_progress("fractional_co2", [TREATED_ON], photos)
    assert [pt.excess_redness for pt in progress.points] == [None, None]
    assert progress.not_assessed_reason == "No photo after treatment has been measured yet."
