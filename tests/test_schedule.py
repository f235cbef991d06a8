"""The suggested photo schedule (tracker.recovery.schedule) on constructed courses.

Expected days are written out by hand from the catalogue's photo days, not computed by the
module under test.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from tracker.recovery import TREATMENTS, catalogue, describe_treatment, photo_schedule, photo_window_days

START = date(2026, 3, 2)


def on(day: int, start: date = START) -> date:
    return start + timedelta(days=day)


def days_of(slots) -> list[int]:
    return [s.day for s in slots]


def test_every_treatment_suggests_rising_photo_days_marked_as_the_projects_estimate():
    for key, treatment in TREATMENTS.items():
        assert treatment.photo_days, key
        assert list(treatment.photo_days) == sorted(set(treatment.photo_days)) and treatment.photo_days[0] >= 1
        assert treatment.is_estimate("photo_days"), key
        assert "suggestion" in treatment.notes["photo_days"], key


def test_ablative_treatments_suggest_more_photos_than_non_ablative_ones():
    ablative = [len(t.photo_days) for t in TREATMENTS.values() if t.ablative]
    other = [len(t.photo_days) for t in TREATMENTS.values() if not t.ablative]
    assert min(ablative) > max(other)
    assert TREATMENTS["fully_ablative_co2"].photo_days[:5] == (1, 3, 7, 14, 28)


@pytest.mark.parametrize(("day", "window"), [(1, 1), (3, 1), (7, 1), (14, 2), (28, 4), (60, 9), (90, 14),
                                             (180, 27)])
def test_window_is_one_day_early_and_fifteen_percent_later(day, window):
    assert photo_window_days(day) == window


def test_window_refuses_the_treatment_day():
    with pytest.raises(ValueError, match="day 1"):
        photo_window_days(0)


def test_on_time_photos_leave_only_the_next_day_due():
    # fractional_erbium suggests days 1, 3, 7, 14, 28, 60, 90.
    photos = [datetime.combine(on(d), datetime.min.time()) for d in (1, 3, 7)]
    s = photo_schedule("fractional_erbium", [START], photos, today=on(10))
    assert days_of(s.slots) == [1, 3, 7, 14, 28, 60, 90]
    assert days_of(s.slots[:3]) == [1, 3, 7] and all(slot.taken for slot in s.slots[:3])
    assert s.missed == ()
    assert s.next_due.day == 14 and s.next_due.due_on == date(2026, 3, 16)
    assert (s.next_due.earliest, s.next_due.latest) == (on(12), on(16))
    assert s.overdue is None


def test_photos_a_little_off_the_day_count_and_further_off_do_not():
    # Day 2 lies in the windows of days 1 and 3; day 16 in day 14's (±2); day 24 in day 28's (±4).
    s = photo_schedule("fractional_erbium", [START], [on(2), on(16), on(24)], today=on(29))
    assert [(slot.day, slot.taken) for slot in s.slots[:5]] == [(1, True), (3, True), (7, False), (14, True),
                                                                (28, True)]
    assert days_of(s.missed) == [7]
    # Day 9 is outside day 7's ±1 window: still missed.
    assert days_of(photo_schedule("fractional_erbium", [START], [on(9)], today=on(12)).missed) == [1, 3, 7]


def test_missed_days_and_an_overdue_photo():
    # Photos on day 1 only; on day 9 days 3 and 7 are missed and nothing has been taken since day 7.
    s = photo_schedule("fractional_erbium", [START], [on(1)], today=on(9))
    assert days_of(s.missed) == [3, 7]
    assert s.overdue.day == 7
    assert s.next_due.day == 14
    # Any photo since the overdue day clears it, even outside that day's window.
    later = photo_schedule("fractional_erbium", [START], [on(1), on(9)], today=on(10))
    assert later.overdue is None and days_of(later.missed) == [3, 7]


def test_a_day_is_not_overdue_on_the_day_itself_and_due_while_its_window_is_open():
    s = photo_schedule("fractional_erbium", [START], [on(1), on(3)], today=on(7))
    assert s.overdue is None and s.next_due.day == 7 and s.missed == ()
    s = photo_schedule("fractional_erbium", [START], [on(1), on(3)], today=on(8))
    assert s.overdue.day == 7 and s.next_due.day == 7 and s.missed == ()


def test_each_session_starts_its_own_days_and_cuts_the_previous_ones():
    # non_ablative_fractional suggests days 1, 3, 7, 28, 90, 180; sessions 21 days apart.
    second = on(21)
    s = photo_schedule("non_ablative_fractional", [second, START], [on(1), on(3), on(7), on(1, second)],
                       today=on(5, second))
    assert [(slot.session, slot.day) for slot in s.slots] == [
        (1, 1), (1, 3), (1, 7),
        (2, 1), (2, 3), (2, 7), (2, 28), (2, 90), (2, 180)]
    assert days_of(s.missed) == [3]  # day 3 after the second session
    assert (s.next_due.session, s.next_due.day) == (2, 7)
    assert s.overdue.session == 2 and s.overdue.day == 3


def test_a_window_stops_the_day_before_the_next_session():
    # Day 7 after the first session (±1) would reach day 8, the second session's day 1.
    second = on(8)
    s = photo_schedule("non_ablative_fractional", [START, second], [on(8)], today=on(2, second))
    day_seven = s.slots[2]
    assert (day_seven.session, day_seven.day, day_seven.latest) == (1, 7, on(7))
    assert not day_seven.taken


def test_a_course_past_the_end_of_its_schedule_has_nothing_due():
    s = photo_schedule("ipl", [START], [on(1)], today=on(400))
    assert s.next_due is None and s.overdue is None
    assert days_of(s.missed) == [3, 10, 28]


def test_photos_before_treatment_and_repeated_sessions_do_not_count():
    s = photo_schedule("ipl", [START, START], [on(-3)], today=on(3))
    assert days_of(s.slots) == [1, 3, 10, 28]
    assert days_of(s.missed) == [1] and s.overdue.day == 1 and s.next_due.day == 3


def test_no_session_no_schedule():
    s = photo_schedule("ipl", [], [on(1)], today=on(2))
    assert s.slots == () and s.next_due is None and s.missed == () and s.overdue is None


def test_unknown_treatment_is_refused():
    with pytest.raises(ValueError, match="Unknown treatment"):
        photo_schedule("laser_of_the_future", [START], [], today=START)


def test_the_treatment_description_gives_the_photo_days_as_an_estimate():
    text = describe_treatment("ipl")
    assert "Photos are most useful on days 1, 3, 10, 28 after each session (the project's suggestion, an estimate)." \
        in text


@pytest.mark.parametrize(("entry", "message"), [
    ({"days": [1, 3], "sources": ["Weiss 2006"], "note": "where the course changes"}, "estimate"),
    ({"days": [1, 3], "statistic": "estimate", "sources": ["Weiss 2006"]}, "note"),
    ({"days": [3, 1], "statistic": "estimate", "sources": ["Weiss 2006"], "note": "n"}, "rising whole days"),
    ({"days": [0, 3], "statistic": "estimate", "sources": ["Weiss 2006"], "note": "n"}, "from day 1"),
    ({"days": [1, 2.5], "statistic": "estimate", "sources": ["Weiss 2006"], "note": "n"}, "whole days"),
    ({"days": [1, 3], "statistic": "estimate", "note": "n"}, "no source"),
])
def test_the_loader_refuses_photo_days_that_are_unsourced_unexplained_or_out_of_order(entry, message):
    with pytest.raises(ValueError, match=message):
        catalogue._parse_photo_days(entry, "treatments.ipl.photo_days", catalogue.BIBLIOGRAPHY)
