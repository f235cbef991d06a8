"""tracker.web.views: the tables, chart specifications and images pages show.

Truth is computed apart from the code under test: figures by hand, warps by
``skimage.transform.warp``, CIELAB by ``skimage.color.rgb2lab``, blurs by
``scipy.ndimage``, medians and quartiles by ``numpy.percentile``, shrinking by block means.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage
from skimage.color import rgb2lab
from skimage.transform import ProjectiveTransform, warp

from tracker.analysis import AnalysisResult
from tracker.analysis import simulate as sim
from tracker.analysis.align import RegionAlignment
from tracker.recovery import expected_course
from tracker.recovery.timeline import CoursePoint, CourseProgress, PhotoPoint, course_progress
from tracker.services import PhotoOutcome
from tracker.web import views

TREATED_ON = date(2026, 3, 2)
ORANGE, BLUE = (230, 159, 0), (0, 114, 178)


def measured(redness_a=10.0, delta_a=1.0, texture=0.2, *, quality_ok=True, ita=41.0, melanin=30.0,
             issues=()) -> AnalysisResult:
    return AnalysisResult(ok=True, quality={"ok": quality_ok, "issues": list(issues), "codes": []},
                          metrics={"redness_a": redness_a, "redness_delta_a": delta_a, "texture_contrast": texture,
                                   "ita_deg": ita, "melanin_index": melanin})


def point(photo_id, day, excess, texture_change=None, result=None, session=1) -> CoursePoint:
    return CoursePoint(photo_id=photo_id, taken_at=datetime(2026, 3, 2, 10) + timedelta(days=day), day=day,
                       session=session if day > 0 else 0, days_since_session=day, excess_redness=excess,
                       texture_change=texture_change, result=result or measured())


def typical_course(sessions=(TREATED_ON,), skin_type="II") -> CourseProgress:
    """Ana-like course: Δa* 9.0 above the baseline on day 1, 7.5 on day 3, fading after."""
    excess = {1: 9.0, 3: 7.5, 7: 3.1, 14: 1.2, 21: 0.6}
    photos = [PhotoPoint(0, datetime(2026, 3, 1, 10), measured(delta_a=1.0))]
    photos += [PhotoPoint(day, datetime(2026, 3, 2, 10) + timedelta(days=day), measured(delta_a=1.0 + value))
               for day, value in excess.items()]
    return course_progress("fractional_co2", list(sessions), photos, skin_type=skin_type)


def layers(chart) -> list[dict]:
    """The chart's layers, each with its rows (the inline dataset resolved)."""
    spec = chart.to_dict()
    datasets = spec.get("datasets", {})
    shared = spec.get("data", {})  # Altair lifts the data of a lone layer to the top
    return [dict(layer, rows=datasets.get(layer.get("data", shared).get("name"), [])) for layer in spec["layer"]]


# --- a course over time ------------------------------------------------------------------

def test_course_frame_has_one_row_per_photo_with_the_figures():
    glare = measured(quality_ok=False, issues=("Glare on the skin.", "Move out of direct light."))
    progress = CourseProgress("fractional_co2", (
        point(5, -1, 0.0, 0.0, session=0), point(6, 3, 7.5, 0.125), point(7, 5, 12.0, None, glare),
        point(8, 7, None, -0.05, AnalysisResult.failed("Could not be aligned."))), None, None, (0,))
    frame = views.course_frame(progress)
    assert list(frame.columns) == ["photo_id", "taken_at", "day", "session", "excess_redness", "texture_change_pct",
                                   "usable", "photo", "issues"]
    assert frame["photo_id"].tolist() == [5, 6, 7, 8]
    assert frame["day"].tolist() == [-1, 3, 5, 7] and frame["session"].tolist() == [0, 1, 1, 1]
    assert frame["taken_at"].tolist() == [datetime(2026, 3, 1, 10), datetime(2026, 3, 5, 10),
                                          datetime(2026, 3, 7, 10), datetime(2026, 3, 9, 10)]
    assert frame["excess_redness"].tolist()[:3] == [0.0, 7.5, 12.0] and pd.isna(frame["excess_redness"][3])
    assert frame["texture_change_pct"].tolist()[:2] == [0.0, 12.5] and pd.isna(frame["texture_change_pct"][2])
    assert frame["texture_change_pct"][3] == pytest.approx(-5.0)
    assert frame["usable"].tolist() == [True, True, False, False]
    assert frame["photo"].tolist() == ["usable", "usable", "left out (photo quality)", "left out (photo quality)"]
    assert frame["issues"].tolist() == ["", "", "Glare on the skin. Move out of direct light.", ""]


def test_course_frame_of_a_course_without_photos_is_empty_with_its_columns():
    frame = views.course_frame(CourseProgress("fractional_co2", (), None, "No photos.", (0,)))
    assert frame.empty and "excess_redness" in frame.columns and "texture_change_pct" in frame.columns


def test_redness_band_frame_scales_the_expected_course_to_the_patients_peak():
    progress = typical_course()
    assert progress.assessment.reference_peak_delta_a == 9.0  # the highest excess on days 1-3
    band = views.redness_band_frame(progress, "II")
    assert band["day"].tolist() == list(range(0, 22))  # to the last photo (day 21)
    expected = expected_course("fractional_co2", range(22), peak_delta_a=9.0, skin_type="II")
    for edge in ("low", "typical", "high"):
        assert np.allclose(band[edge], getattr(expected, edge)), edge
    assert (band["low"] <= band["typical"]).all() and (band["typical"] <= band["high"]).all()
    assert band["typical"].max() == pytest.approx(9.0, rel=0.2)  # in a* units, not fractions of the peak
    assert views.redness_band_frame(progress, "II", last_day=40)["day"].max() == 40


def test_redness_band_frame_restarts_at_a_later_session_and_follows_skin_type():
    excess = {1: 9.0, 3: 7.5, 7: 3.1, 13: 1.2, 15: 8.0, 17: 6.5, 21: 3.0}  # a second session on day 14
    photos = [PhotoPoint(0, datetime(2026, 3, 1, 10), measured(delta_a=1.0))]
    photos += [PhotoPoint(day, datetime(2026, 3, 2, 10) + timedelta(days=day), measured(delta_a=1.0 + value))
               for day, value in excess.items()]
    two_sessions = course_progress("fractional_co2", [TREATED_ON, date(2026, 3, 16)], photos, skin_type="II")
    assert two_sessions.assessment.reference_peak_delta_a == 8.0  # the latest session's days 1-3
    band = views.redness_band_frame(two_sessions, "II")
    assert band["day"].tolist() == list(range(22))
    expected = expected_course("fractional_co2", range(22), peak_delta_a=8.0, skin_type="II", session_starts=[14])
    assert np.allclose(band["typical"], expected.typical)
    assert band["typical"][15] > band["typical"][13]  # the second session brings redness back
    darker = views.redness_band_frame(typical_course(skin_type="V"), "V")
    assert not np.allclose(darker["high"], views.redness_band_frame(typical_course(), "II")["high"])


def test_no_band_without_an_assessment_or_a_peak():
    assert views.redness_band_frame(CourseProgress("fractional_co2", (), None, "No photos.", (0,))) is None
    no_peak = SimpleNamespace(assessment=SimpleNamespace(reference_peak_delta_a=None))
    assert views.redness_band_frame(no_peak) is None


def test_redness_chart_draws_the_band_the_usable_line_and_every_measured_point():
    frame = pd.DataFrame({"day": [-1, 1, 5, 7], "excess_redness": [0.0, 9.0, 12.0, None],
                          "usable": [True, True, False, True],
                          "photo": ["usable", "usable", "left out (photo quality)", "usable"]})
    band = pd.DataFrame({"day": [0, 1, 2], "low": [0.0, 5.0, 4.0], "typical": [0.0, 8.0, 7.0],
                         "high": [0.0, 11.0, 10.0]})
    area, typical, line, points = layers(views.redness_chart(frame, band))
    assert area["mark"]["type"] == "area" and area["encoding"]["y"]["field"] == "low"
    assert area["encoding"]["y2"]["field"] == "high" and area["mark"]["color"] == views.OKABE_ITO["sky"]
    assert [r["high"] for r in area["rows"]] == [0.0, 11.0, 10.0]
    assert typical["mark"]["type"] == "line" and typical["encoding"]["y"]["field"] == "typical"
    assert line["mark"]["type"] == "line" and line["transform"] == [{"filter": "datum.usable"}]
    assert points["mark"]["type"] == "point"
    # The unmeasured photo is in neither; the left-out one is a grey cross among the points.
    assert [r["day"] for r in line["rows"]] == [-1, 1, 5] == [r["day"] for r in points["rows"]]
    shape = points["encoding"]["shape"]["scale"]
    assert dict(zip(shape["domain"], shape["range"])) == {"usable": "circle", "left out (photo quality)": "cross"}
    colour = points["encoding"]["color"]["scale"]
    assert dict(zip(colour["domain"], colour["range"]))["left out (photo quality)"] == views.OKABE_ITO["grey"]
    assert "Δa*" in line["encoding"]["y"]["title"]


def test_redness_chart_without_band_or_measurements_still_has_a_day_axis():
    frame = pd.DataFrame({"day": [3], "excess_redness": [None], "usable": [False], "photo": ["usable"]})
    (only,) = layers(views.redness_chart(frame, None))
    assert only["mark"]["opacity"] == 0 and only["encoding"]["x"]["field"] == "day"


@pytest.mark.parametrize("treatment,mark,window", [
    ("non_ablative_fractional", "rect", (60, 90)),  # the sources give a range: a band
    ("fractional_co2", "rule", (30, 30)),  # one day: a line
])
def test_texture_chart_marks_when_improvement_usually_shows(treatment, mark, window):
    frame = pd.DataFrame({"day": [7, 30, 60], "texture_change_pct": [None, 4.0, -6.0]})
    marker, line = layers(views.texture_chart(frame, treatment))
    assert marker["mark"]["type"] == mark
    assert (marker["rows"][0]["start"], marker["rows"][0]["end"]) == window
    assert line["encoding"]["y"]["field"] == "texture_change_pct"
    assert [(r["day"], r["texture_change_pct"]) for r in line["rows"]] == [(30, 4.0), (60, -6.0)]


def test_texture_chart_without_a_window_or_measurements():
    frame = pd.DataFrame({"day": [7], "texture_change_pct": [None]})
    (only,) = layers(views.texture_chart(frame, "ipl"))  # IPL has no texture window
    assert only["mark"]["opacity"] == 0


def test_measured_points_are_the_aligned_photos_after_treatment():
    progress = CourseProgress("fractional_co2", (
        point(1, -1, 0.0), point(2, 0, 0.0), point(3, 3, 7.5), point(4, 5, None, result=AnalysisResult.failed("x")),
        point(5, 7, 4.0, result=measured(quality_ok=False))), None, None, (0,))
    assert [pt.photo_id for pt in views.measured_points(progress)] == [3, 5]


def test_photo_figures_format_each_value():
    pt = point(3, 7, 4.25, -0.126, measured(ita=38.04, melanin=31.96))
    assert views.photo_figures(pt) == [("Redness above before (Δa*)", "4.2"), ("ITA°", "38.0"),
                                       ("Melanin index", "32.0"), ("Texture vs before", "13% smoother")]
    unmeasured = point(4, 9, None, None, AnalysisResult.failed("Could not be aligned."))
    assert [value for _, value in views.photo_figures(unmeasured)] == ["-", "-", "-", "-"]
    assert views.photo_figures(point(5, 9, 1.0, 0.04))[3] == ("Texture vs before", "4% rougher")
    blurred = measured()
    blurred = AnalysisResult(ok=True, quality={**blurred.quality, "texture_withheld": "Texture not compared: focus."},
                             metrics={**blurred.metrics, "texture_contrast": None})
    assert views.photo_figures(point(6, 9, 1.0, None, blurred))[3] == ("Texture vs before", "not compared")


# --- uploads -----------------------------------------------------------------------------

def test_upload_time_keeps_the_photos_own_time_when_its_date_was_kept():
    taken = datetime(2026, 3, 9, 18, 12, 5)
    assert views.upload_time(taken, date(2026, 3, 9)) == (taken, "exif")
    aware = datetime(2026, 3, 9, 18, 12, tzinfo=timezone(timedelta(hours=2)))
    assert views.upload_time(aware, date(2026, 3, 9)) == (datetime(2026, 3, 9, 18, 12), "exif")


def test_upload_time_is_noon_of_the_chosen_date_otherwise():
    assert views.upload_time(datetime(2026, 3, 9, 18, 12), date(2026, 3, 8)) == (datetime(2026, 3, 8, 12), "entered")
    assert views.upload_time(None, date(2026, 3, 8)) == (datetime(2026, 3, 8, 12), "entered")


@pytest.mark.parametrize("outcome,verdict", [
    (PhotoOutcome(1, False, None, False), ("info", "day7.jpg was added before.")),
    (PhotoOutcome(1, True, None, True), ("success", "day7.jpg is now your first (reference) photo.")),
    (PhotoOutcome(1, True, measured(), True), ("success", "day7.jpg is now your first (reference) photo.")),
    (PhotoOutcome(1, True, AnalysisResult.failed("The baseline photo has no colour."), True),
     ("warning", "day7.jpg is now your first (reference) photo, but it is not good enough to measure your later "
                 "photos against. The baseline photo has no colour. Add a better photo from before treatment, or "
                 "ask your provider to choose another first photo.")),
    (PhotoOutcome(1, True, measured(quality_ok=False, issues=("Out of focus.",)), True),
     ("warning", "day7.jpg is now your first (reference) photo, but it is not good enough to measure your later "
                 "photos against. Out of focus. Add a better photo from before treatment, or ask your provider to "
                 "choose another first photo.")),
    (PhotoOutcome(1, True, measured(), False),
     ("success", "day7.jpg is usable and has been added to your progress chart.")),
    (PhotoOutcome(1, True, measured(), False, other_camera=True),
     ("info", "day7.jpg is usable and has been added to your progress chart. It was taken with another camera than"
              " your first photo: cameras show colours differently, so please take every photo with the same phone"
              " or camera.")),
    (PhotoOutcome(1, True, measured(quality_ok=False, issues=("The photo is blurred.", "Hold still.")), False),
     ("warning", "day7.jpg was saved but cannot be used for your chart. The photo is blurred. Hold still.")),
    (PhotoOutcome(1, True, AnalysisResult.failed("It does not show the same area."), False),
     ("warning", "day7.jpg was saved but cannot be used for your chart. It does not show the same area.")),
    (PhotoOutcome(1, True, None, False), ("warning", "day7.jpg was saved but cannot be used for your chart.")),
])
def test_upload_verdict(outcome, verdict):
    assert views.upload_verdict("day7.jpg", outcome) == verdict


# --- lists ---------------------------------------------------------------------------------

OUTER_LIMIT = ("rule redness_beyond_outer_limit: Δa* 6.0 on day 40 (median of 2 photos after day 30; clearly red "
               "above 3.7); fractional_co2 review limit 30 d (an estimate) (Clinical timelines notes).")


def list_rows():
    return [
        SimpleNamespace(id=7, display_name="Ben Example", reference="demo-ben", status="review",
                        treatments=("non_ablative_fractional",), days_since_treatment=51,
                        last_photo_at=datetime(2026, 3, 9, 10, 18), photos=9, trend=-0.8449,
                        provider_reasons=(OUTER_LIMIT,), photo_overdue=False),
        SimpleNamespace(id=3, display_name="Ana Example", reference="demo-ana", status="on_track",
                        treatments=("fractional_co2", "made_up_key"), days_since_treatment=None, last_photo_at=None,
                        photos=0, trend=None, provider_reasons=(), photo_overdue=True),
        SimpleNamespace(id=5, display_name="Cy Example", reference="demo-cy", status="not_assessed",
                        treatments=("ipl",), days_since_treatment=4, last_photo_at=datetime(2026, 3, 1, 9),
                        photos=1, trend=None, provider_reasons=("No photo after treatment has been measured yet.",),
                        photo_overdue=True),
    ]


def test_patient_list_frame_in_the_providers_words_and_in_the_order_given():
    frame = views.patient_list_frame(list_rows())
    assert frame["id"].tolist() == [7, 3, 5] and frame["identifier"].tolist() == ["demo-ben", "demo-ana", "demo-cy"]
    assert frame["status"].tolist() == ["needs review: redness beyond the outer limit on day 40", "on track",
                                        "not assessed: no photo after treatment has been measured yet"]
    assert frame["status_key"].tolist() == ["review", "on_track", "not_assessed"]
    assert frame["treatment"].tolist()[:2] == ["Non-ablative fractional laser (1,550 / 1,540 nm)",
                                               "Fractional ablative CO2 laser (10,600 nm), made_up_key"]
    assert frame["last photo"].tolist()[0] == date(2026, 3, 9) and frame["last photo"].tolist()[1] is None
    assert frame["trend (Δa*)"].tolist()[0] == -0.8 and pd.isna(frame["trend (Δa*)"][1])
    assert frame["photos"].tolist() == [9, 0, 1]
    assert frame["photo overdue"].tolist() == [False, True, True]
    assert frame["treatment_keys"].tolist()[:2] == [("non_ablative_fractional",), ("fractional_co2", "made_up_key")]
    assert views.patient_list_frame([]).empty


@pytest.mark.parametrize(("filters", "expected"), [
    ({}, ["demo-ben", "demo-ana", "demo-cy"]),
    ({"statuses": ["review", "not_assessed"]}, ["demo-ben", "demo-cy"]),
    ({"treatments": ["fractional_co2", "ipl"]}, ["demo-ana", "demo-cy"]),
    ({"days_since_treatment": (0, 10)}, ["demo-cy"]),  # Ana has no session: left out of a range
    ({"days_since_treatment": (4, 51)}, ["demo-ben", "demo-cy"]),
    ({"overdue_only": True}, ["demo-ana", "demo-cy"]),
    ({"last_photo_before": date(2026, 3, 5)}, ["demo-ana", "demo-cy"]),  # none yet counts as before
    ({"overdue_only": True, "statuses": ["on_track"]}, ["demo-ana"]),
])
def test_filter_patient_list_keeps_the_rows_matching_every_filter(filters, expected):
    frame = views.patient_list_frame(list_rows())
    assert views.filter_patient_list(frame, **filters)["identifier"].tolist() == expected


@pytest.mark.parametrize(("order", "expected"), [
    ("Concern (review first)", ["demo-ben", "demo-ana", "demo-cy"]),
    ("Photo overdue first", ["demo-ana", "demo-cy", "demo-ben"]),
    ("Days since treatment, fewest first", ["demo-cy", "demo-ben", "demo-ana"]),
    ("Last photo, oldest first", ["demo-cy", "demo-ben", "demo-ana"]),
    ("Patient", ["demo-ana", "demo-ben", "demo-cy"]),
])
def test_sort_patient_list(order, expected):
    assert order in views.PATIENT_LIST_ORDERS
    frame = views.patient_list_frame(list_rows())
    assert views.sort_patient_list(frame, order)["identifier"].tolist() == expected


# --- statuses in the provider's words ---------------------------------------------------------

def _assessed(treatment, days, delta_a, session_starts=None):
    from tracker.recovery import assess_course

    return assess_course(treatment, days=days, redness_delta_a=delta_a, session_starts=session_starts)


@pytest.mark.parametrize(("course", "wording"), [
    (("fractional_co2", [1, 3, 7, 14, 28, 35, 40], [9, 8, 7, 6.5, 6, 6, 6]),
     "needs review: redness beyond the outer limit on day 40"),
    (("fractional_co2", [1, 3, 7, 14, 60, 62, 64, 70, 95, 100], [9, 7, 3, 1, 9, 8, 7, 6.5, 6, 6], [56]),
     "needs review: redness beyond the outer limit on day 44 after session 2"),
    (("fractional_co2", [1, 3, 7, 10, 14, 18, 21], [9, 6, 2, 1, 1, 6, 7]),
     "needs review: redness came back after fading on day 18"),
    (("fractional_co2", [1, 3, 7, 10, 14, 14, 14, 18, 18], [9, 6, 4, 3, 7, 7.5, 8, 8, 8.5]),
     "needs review: redness came back after fading on day 14"),
    (("fractional_co2", [1, 3, 7, 14, 28, 28, 35, 35, 40], [9, 8, 7, 6.5, 6, 6, 6, 6, 6]),
     "needs review: redness beyond the outer limit on day 40"),
    (("fully_ablative_co2", [1, 2, 3, 7], [0, 0, 0, 0]),
     "check the photos and regions: no redness in the days every patient is red"),
    (("fractional_co2", [1, 3, 7, 14, 21, 25], [9, 8.5, 8, 7.5, 7, 6.8]),
     "slower than typical: redness fading slower than the expected band"),
    (("fractional_co2", [1, 3, 7, 14], [9, 7.5, 3.1, 1.2]),
     "on track: redness fading within the expected band"),
])
def test_provider_status_names_the_rule_that_fired_and_its_day(course, wording):
    assessment = _assessed(*course)
    assert views.provider_status(assessment.status, assessment.provider_reasons) == wording
    # The patient reads the plain label, never the rule.
    assert "rule" not in views.status_label(assessment.status)


def test_provider_status_of_an_unknown_rule_and_of_no_reason():
    assert views.provider_status("review", ["rule some_new_rule: Δa* 5 on day 9."]) == \
        "needs review: some new rule on day 9"
    assert views.provider_status("on_track", []) == "on track"


def test_course_provider_status_of_a_course_not_assessed():
    progress = CourseProgress("ipl", (), None, "No treatment date is recorded for this area.", ())
    assert views.course_provider_status(progress) == "not assessed: no treatment date is recorded for this area"


# --- photo schedule ---------------------------------------------------------------------------

def _course(treatment, sessions, photos):
    return SimpleNamespace(treatment=treatment, sessions=tuple(sessions), photos=tuple(photos))


def test_course_schedule_counts_only_photos_in_use():
    start = date(2026, 3, 2)
    photos = [SimpleNamespace(taken_at=datetime(2026, 3, 3, 9), state="active"),
              SimpleNamespace(taken_at=datetime(2026, 3, 5, 9), state="hidden")]
    schedule = views.course_schedule(_course("ipl", [start], photos), today=date(2026, 3, 8))
    assert [(s.day, s.taken) for s in schedule.slots] == [(1, True), (3, False), (10, False), (28, False)]


def test_schedule_sentences_say_what_is_next_and_what_was_missed():
    start = date(2026, 3, 2)
    photos = [SimpleNamespace(taken_at=datetime(2026, 3, 3, 9), state="active")]
    today = date(2026, 3, 8)  # day 6: day 3 (±1) missed and overdue; day 10 (±2) next
    sentences = views.schedule_sentences(views.course_schedule(_course("ipl", [start], photos), today), today)
    assert sentences == [
        "Your photo for day 3 after treatment (5 March) has not come yet. Please take one as soon as you can.",
        "Your next photo: day 10 after treatment (12 March). Any day from 10 March to 14 March is fine.",
        "Photos missed: day 3 after treatment (5 March). That is fine; the next ones still help.",
    ]


def test_provider_schedule_line_counts_what_was_missed_and_names_the_overdue_photo():
    start = date(2026, 3, 2)
    photos = [SimpleNamespace(taken_at=datetime(2026, 3, 3, 9), state="active")]
    schedule = views.course_schedule(_course("ipl", [start], photos), today=date(2026, 3, 8))
    assert views.provider_schedule_line(schedule) == (
        "Photos at the suggested days (the project's estimate): photo overdue: day 3 after treatment (5 March); "
        "next day 10 after treatment (12 March), counted 10 March to 14 March; "
        "missed 1 of 4: day 3 after treatment (5 March).")
    done = views.course_schedule(_course("ipl", [start], photos), today=date(2027, 1, 1))
    assert views.provider_schedule_line(done) == (
        "Photos at the suggested days (the project's estimate): no more suggested days; missed 3 of 4: "
        "day 3 after treatment (5 March), day 10 after treatment (12 March), day 28 after treatment (30 March).")
    assert views.provider_schedule_line(views.course_schedule(_course("ipl", [], []), date(2026, 3, 3))) is None


def test_schedule_sentences_when_a_photo_is_due_today_and_after_the_schedule():
    start, second = date(2026, 3, 2), date(2026, 3, 30)
    due_now = views.course_schedule(_course("ipl", [start, second], []), today=date(2026, 3, 31))
    assert views.schedule_sentences(due_now, date(2026, 3, 31))[-2:] == [
        "A photo is due now: day 1 after treatment 2 (31 March). It still counts until 1 April.",
        "Photos missed: day 1 after treatment 1 (3 March), day 3 after treatment 1 (5 March), "
        "day 10 after treatment 1 (12 March). That is fine; the next ones still help.",
    ]
    done = views.course_schedule(_course("ipl", [start], []), today=date(2027, 1, 1))
    assert views.schedule_sentences(done, date(2027, 1, 1))[0].startswith("No more photos are suggested")
    assert views.schedule_sentences(views.course_schedule(_course("ipl", [], []), date(2026, 3, 3)),
                                    date(2026, 3, 3)) == []


# --- images --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def smooth_face(astronaut) -> np.ndarray:
    """The astronaut, blurred a little so resampling at half size does not alias."""
    return ndimage.gaussian_filter(astronaut, sigma=(2, 2, 0))


def photo_from(baseline: np.ndarray, photo_to_baseline: np.ndarray, shape) -> np.ndarray:
    """The photo a camera takes when its pixel p shows baseline pixel M p (skimage's warp, not OpenCV's)."""
    out = warp(baseline, ProjectiveTransform(matrix=photo_to_baseline), output_shape=shape[:2], order=3,
               preserve_range=True)
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


TURN = np.array([[np.cos(0.08), -np.sin(0.08), 30.0], [np.sin(0.08), np.cos(0.08), -12.0], [2e-5, -1e-5, 1.0]])


def interior(valid: np.ndarray, margin: int = 4) -> np.ndarray:
    return ndimage.binary_erosion(valid, iterations=margin)


def block_mean(image: np.ndarray, k: int) -> np.ndarray:
    h, w = image.shape[0] // k * k, image.shape[1] // k * k
    return image[:h, :w].reshape(h // k, k, w // k, k, -1).mean(axis=(1, 3))


@pytest.mark.parametrize("photo_scale,baseline_scale", [(1.0, 1.0), (0.5, 1.0), (1.0, 0.5)])
def test_aligned_pair_lines_the_photo_up_with_the_baseline(smooth_face, photo_scale, baseline_scale):
    photo = photo_from(smooth_face, TURN, (480, 560))
    base_given = smooth_face if baseline_scale == 1 else block_mean(smooth_face, 2).round().astype(np.uint8)
    photo_given = photo if photo_scale == 1 else block_mean(photo, 2).round().astype(np.uint8)
    base_small, warped, valid = views.aligned_pair(base_given, photo_given, TURN, 200, baseline_scale=baseline_scale,
                                                   photo_scale=photo_scale)
    assert base_small.shape == warped.shape == (200, 200, 3) and valid.shape == (200, 200)
    inside = interior(valid)
    assert 0.5 < inside.mean() < 0.99  # some of the baseline is outside the photo
    error = np.abs(warped.astype(float) - base_small)[inside].mean()
    assert error < 2.5, error
    # A matrix one baseline pixel off in x lines up measurably worse: the check can tell.
    _, off, _ = views.aligned_pair(base_given, photo_given, np.array([[1, 0, 3], [0, 1, 0], [0, 0, 1]]) @ TURN, 200,
                                   baseline_scale=baseline_scale, photo_scale=photo_scale)
    assert np.abs(off.astype(float) - base_small)[inside].mean() > 1.5 * error


@pytest.mark.parametrize("photo_scale,baseline_scale", [(1.0, 1.0), (0.5, 1.0), (1.0, 0.5)])
def test_aligned_pair_draws_the_region_through_its_own_registration(smooth_face, photo_scale, baseline_scale):
    """A face that moved 6 px right of where the global homography says: drawn through the region's
    registration (window over the face, displacement (6, 0)), it lines up there; through the global
    homography alone, it does not."""
    moved = np.roll(smooth_face, 6, axis=1)  # baseline (x, y) is photo (x + 6, y)
    window = (150, 80, 200, 200)
    region = RegionAlignment(ok=True, matrix=np.eye(3), window=window,
                             displacement=np.tile(np.float32([6, 0]), (4, 4, 1)))
    base_given = smooth_face if baseline_scale == 1 else block_mean(smooth_face, 2).round().astype(np.uint8)
    photo_given = moved if photo_scale == 1 else block_mean(moved, 2).round().astype(np.uint8)
    face = np.zeros((256, 256), bool)
    face[90:130, 90:130] = True  # inside the window, at display scale 0.5
    errors = {}
    for name, local in (("region", region), ("global", None)):
        base_small, aligned, valid = views.aligned_pair(base_given, photo_given, np.eye(3), 256, region=local,
                                                        baseline_scale=baseline_scale, photo_scale=photo_scale)
        errors[name] = np.abs(aligned.astype(float) - base_small)[face & valid].mean()
    assert errors["region"] < 1.0 and errors["global"] > 3 * max(errors["region"], 1.0), errors


def test_aligned_pair_marks_where_the_photo_does_not_reach(smooth_face):
    shift_right = np.array([[1, 0, 100.0], [0, 1, 0], [0, 0, 1]])  # photo x=0 shows baseline x=100
    photo = photo_from(smooth_face, shift_right, smooth_face.shape)
    _, warped, valid = views.aligned_pair(smooth_face, photo, shift_right, 512)
    assert not valid[:, :99].any() and valid[:, 101:].all()
    assert (warped[:, :98] == 0).all()  # left black, not guessed
    assert np.abs(warped[:, 104:].astype(float) - smooth_face[:, 104:]).mean() < 1.0


def test_fit_within_shrinks_by_area_averaging_and_leaves_small_images_alone(astronaut):
    assert views.fit_within(astronaut, 512) is astronaut and views.fit_within(astronaut, 900) is astronaut
    half = views.fit_within(astronaut, 256)
    assert half.shape == (256, 256, 3)
    assert np.abs(half.astype(float) - block_mean(astronaut, 2)).max() <= 1.0
    wide = views.fit_within(astronaut[:200], 128)
    assert wide.shape == (50, 128, 3)  # aspect kept: 200 x 512 -> 50 x 128


def redness_result(colour=None) -> AnalysisResult:
    return AnalysisResult(ok=True, colour=colour, metrics={"redness_a": 1.0})


def test_redness_heatmap_finds_added_redness_where_it_was_added(astronaut):
    baseline = np.ascontiguousarray(astronaut[60:260, 120:320])
    mask = np.zeros(baseline.shape[:2], bool)
    mask[60:140, 50:150] = True
    reddened = sim.add_redness(baseline, mask, 6.0)
    valid = np.ones(mask.shape, bool)
    valid[:, :20] = False  # a strip the photo did not reach
    overlay, delta = views.redness_heatmap(baseline, reddened, valid, redness_result())

    truth = ndimage.gaussian_filter(rgb2lab(reddened)[..., 1] - rgb2lab(baseline)[..., 1], 2.0)
    core = ndimage.binary_erosion(mask, iterations=8)
    far = ~ndimage.binary_dilation(mask, iterations=8) & valid
    far[:, :28] = False
    assert np.nanmean(delta[core]) == pytest.approx(6.0, abs=0.3)
    assert np.abs(delta[core | far] - truth[core | far]).max() < 0.5
    assert np.abs(delta[far]).max() < 0.3
    assert np.isnan(delta[~valid]).all() and not np.isnan(delta[valid]).any()
    # Outside the photo the overlay is the baseline in grey (ITU-R 601 luma); redder pixels are brighter.
    grey = baseline.astype(float) @ [0.299, 0.587, 0.114]
    assert np.abs(overlay[~valid].astype(float) - grey[~valid][:, None]).max() <= 1.0
    luma = overlay.astype(float) @ [0.299, 0.587, 0.114]
    assert luma[core].mean() > luma[far].mean() + 40


def test_redness_heatmap_undoes_the_photos_light_before_comparing(astronaut):
    baseline = np.ascontiguousarray(astronaut[60:260, 120:320])
    darker = sim.change_lighting(baseline, sim.Lighting(exposure=0.6))
    valid = np.ones(baseline.shape[:2], bool)
    # log(linear out) = log(1 / 0.6) + 1 * log(linear in): brightens linear light back by 1 / 0.6.
    correction = {"method": "reference_skin", "parameters": [[float(np.log(1 / 0.6)), 1.0]] * 3}
    _, corrected = views.redness_heatmap(baseline, darker, valid, redness_result(correction))
    _, uncorrected = views.redness_heatmap(baseline, darker, valid, redness_result())
    lit = (baseline > 20).all(axis=-1) & (baseline < 235).all(axis=-1)  # not at the sensor's limits
    assert np.abs(corrected[lit]).mean() < 0.4
    assert np.abs(uncorrected[lit]).mean() > 2 * np.abs(corrected[lit]).mean()


def test_draw_regions_outlines_each_box_in_its_colour(astronaut):
    roi, control = (100, 120, 80, 60), (300, 350, 60, 40)
    original = astronaut.copy()
    out = views.draw_regions(astronaut, roi, control)
    assert np.array_equal(astronaut, original)  # drawn on a copy
    for (x, y, w, h), colour in ((roi, ORANGE), (control, BLUE)):
        for px, py in ((x + w // 2, y), (x + w // 2, y + h), (x, y + h // 2), (x + w, y + h // 2),
                       (x + w // 2, y + 1), (x + 1, y + h // 2)):
            assert tuple(out[py, px]) == colour, (px, py)
        # Inside, away from the line (2 px thick at this size), the photo is untouched.
        assert np.array_equal(out[y + 4: y + h - 3, x + 4: x + w - 3], astronaut[y + 4: y + h - 3, x + 4: x + w - 3])
    assert tuple(out[350 + 20, 300 + 60]) == BLUE and tuple(out[120 + 30, 100 + 80]) == ORANGE
    # The label is written above the box, in its colour.
    label = out[120 - 16: 120 - 3, 100: 180].reshape(-1, 3)
    assert (label == ORANGE).all(axis=1).sum() > 20


def test_draw_regions_scales_the_boxes_and_skips_a_missing_control(astronaut):
    out = views.draw_regions(astronaut, (200, 240, 160, 120), None, scale=0.5)
    assert tuple(out[120, 140]) == ORANGE and tuple(out[180, 140]) == ORANGE  # top and bottom at half the size
    assert tuple(out[150, 100]) == ORANGE and tuple(out[150, 180]) == ORANGE
    assert not (out.reshape(-1, 3) == BLUE).all(axis=1).any()
    # The line grows with the photo (max(2, side / 300) px), so it stays visible on a large one.
    thin = views.draw_regions(np.zeros((400, 500, 3), np.uint8), (100, 200, 200, 100), None)
    thick = views.draw_regions(np.zeros((1200, 1500, 3), np.uint8), (100, 300, 400, 300), None)
    assert (thick[290:311, 300] == ORANGE).all(axis=1).sum() > (thin[190:211, 200] == ORANGE).all(axis=1).sum() + 2


# --- cohorts -------------------------------------------------------------------------------

def test_cohort_curves_are_medians_and_quartiles_per_treatment_and_week():
    rows = [  # treatment, pseudonym, day, excess, quality
        ("fractional_co2", "p1", 2, 8.0, True), ("fractional_co2", "p2", 3, 6.0, True),
        ("fractional_co2", "p2", 5, 9.0, True), ("fractional_co2", "p3", 6, 5.0, True),
        ("fractional_co2", "p3", 4, 30.0, False),  # failed the quality gate
        ("fractional_co2", "p1", 0, 0.0, True), ("fractional_co2", "p1", -1, 0.5, True),  # before treatment
        ("fractional_co2", "p4", 3, None, True),  # not measured
        ("fractional_co2", "p1", 9, 3.0, True), ("fractional_co2", "p2", 13, 2.0, True),
        ("ipl", "p5", 7, 1.0, True), ("ipl", "p5", 8, 2.0, True), ("ipl", "p6", 10, 4.0, True),
    ]
    table = pd.DataFrame(rows, columns=["treatment", "patient_pseudonym", "days_since_treatment", "excess_redness",
                                        "quality_ok"])
    curves = views.cohort_curves(table).set_index(["treatment", "day"])
    assert list(curves.index) == [("fractional_co2", 3.5), ("fractional_co2", 10.5), ("ipl", 10.5)]
    week1 = [8.0, 6.0, 9.0, 5.0]
    row = curves.loc[("fractional_co2", 3.5)]
    assert row["median"] == np.median(week1) == 7.0
    assert (row["q25"], row["q75"]) == tuple(np.percentile(week1, [25, 75])) == (5.75, 8.25)
    assert (row["photos"], row["patients"]) == (4, 3)
    row = curves.loc[("ipl", 10.5)]
    assert (row["median"], row["q25"], row["q75"], row["photos"], row["patients"]) == (2.0, 1.5, 3.0, 3, 2)
    assert curves.loc[("fractional_co2", 10.5), "median"] == 2.5
    fortnights = views.cohort_curves(table, bin_days=14)
    assert fortnights["day"].tolist() == [7.0, 7.0] and fortnights["photos"].tolist() == [6, 3]


def test_cohort_curves_without_usable_photos_is_empty_with_its_columns():
    table = pd.DataFrame({"treatment": ["ipl"], "patient_pseudonym": ["p"], "days_since_treatment": [3],
                          "excess_redness": [4.0], "quality_ok": [False]})
    curves = views.cohort_curves(table)
    assert curves.empty and list(curves.columns) == ["treatment", "day", "median", "q25", "q75", "photos", "patients"]


def test_status_and_treatment_names():
    assert views.status_label("slower") == "Slower than typical" and views.status_label("odd") == "odd"
    assert views.treatment_name("ipl") == "Intense pulsed light (IPL)" and views.treatment_name("odd") == "odd"


def test_focal_redness_is_flagged_for_the_provider_only_above_its_threshold():
    from tracker.analysis.metrics import FOCAL_THRESHOLD_A

    def with_focal(focal, area=None):
        result = measured()
        metrics = {**result.metrics, "redness_focal_a": focal, "redness_change_p90": 7.6,
                   "erythema_area_fraction": 0.27, "erythema_area_cm2": area}
        return point(9, 30, 1.5, result=AnalysisResult(ok=True, quality=result.quality, metrics=metrics))

    assert views.focal_redness_note(with_focal(FOCAL_THRESHOLD_A - 0.1)) is None
    assert views.focal_redness_note(with_focal(None)) is None
    note = views.focal_redness_note(with_focal(5.4))
    assert note.startswith("Focal redness on day 30") and "5.4 a* units" in note and "27% of the area" in note
    assert "not a diagnosis" in note and "cm²" not in note
    assert "(2.3 cm²)" in views.focal_redness_note(with_focal(5.4, area=2.31))


def test_a_black_and_white_first_photo_is_saved_with_a_warning_and_a_colour_follow_up_with_the_reason(tmp_path):
    """Through the services on a real SQLite store: the patient learns at once that her first photo cannot
    serve as the reference, and a later colour photo says why it cannot be measured."""
    import io as _io
    from pathlib import Path

    from PIL import Image

    from tracker import services as sv
    from tracker.store.db import open_store

    sample = Path(__file__).resolve().parent.parent / "sample_images" / "demo-ana"
    colour = (sample / "day-01_baseline.jpg").read_bytes()
    mono = _io.BytesIO()
    Image.open(_io.BytesIO(colour)).convert("L").save(mono, "JPEG", quality=90)
    store = open_store(tmp_path / "data", None)
    patient = sv.create_patient(store, sv.SYSTEM, "bw-1", "B. W.", "III")
    course = sv.add_course(store, sv.SYSTEM, patient, "fractional_co2", date(2026, 3, 2))
    first = sv.add_photo(store, sv.SYSTEM, course, mono.getvalue(), datetime(2026, 3, 1, 9))
    kind, text = views.upload_verdict("first.jpg", first)
    assert first.is_baseline and kind == "warning"
    assert "is now your first (reference) photo, but it is not good enough" in text and "no colour" in text
    later = sv.add_photo(store, sv.SYSTEM, course, colour, datetime(2026, 3, 4, 9))
    kind, text = views.upload_verdict("later.jpg", later)
    assert kind == "warning" and "The baseline photo has no colour" in text
