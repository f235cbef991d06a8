"""When to take the next photo: the catalogue's suggested photo days laid over a course.

Each treatment suggests the days after a session on which a photo is most useful
(:attr:`~tracker.recovery.catalogue.Treatment.photo_days`, the project's estimate, set where the
expected course changes). :func:`photo_schedule` lays them over a course's sessions and photos
and says which photo is due next, which were missed and whether one is overdue.

Notes
-----
*Sessions.* Every session starts its own suggested days. A day that falls on or after the next
session is dropped, and its window ends the day before that session: a photo after a later
session shows that session's course.

*Windows.* A photo counts for a suggested day when taken within :func:`photo_window_days` of
it: ±1 day up to day 7, when the skin changes from day to day (oozing to day 1-3, crusts to day
5-7, small wounds closed in 1-3 days), then ±15 % of the day (±2 on day 14, ±4 on day 28, ±14 on
day 90), when redness fades and texture changes over weeks (Trelles 1998; clinical timelines
notes). Windows start on day 1, since a photo on the treatment day may be from before it.
Neighbouring windows can overlap (day 2 lies within the windows of days 1 and 3); one photo
then counts for both, since the schedule asks for photos at the moments that matter, not for a
number of photos.

*Missed, due and overdue.* A suggested day is missed once its window has closed without a
photo. The next photo due is the first suggested day without a photo whose window is still
open. A photo is overdue when the latest suggested day already past has no photo and none was
taken since: taking any photo clears it. After the last window closes nothing is due.

Examples
--------
>>> from datetime import date
>>> s = photo_schedule("fractional_erbium", [date(2026, 3, 2)], [date(2026, 3, 3)], today=date(2026, 3, 8))
>>> [slot.day for slot in s.missed], s.next_due.day, s.next_due.due_on, s.overdue.day
([3], 7, datetime.date(2026, 3, 9), 3)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Sequence

from .catalogue import get_treatment

__all__ = ["PhotoSlot", "PhotoSchedule", "photo_schedule", "photo_window_days"]

_EARLY_DAYS = 7
_LATE_WINDOW_SHARE = 0.15


@dataclass(frozen=True)
class PhotoSlot:
    """One suggested photo of a course.

    Attributes
    ----------
    session : int
        1-based session whose course the photo follows.
    day : int
        Days after that session.
    due_on : date
        The suggested date.
    earliest, latest : date
        The window in which a photo counts for it (both included).
    taken : bool
        Whether a photo was taken within the window.
    """

    session: int
    day: int
    due_on: date
    earliest: date
    latest: date
    taken: bool


@dataclass(frozen=True)
class PhotoSchedule:
    """A course's suggested photos as of one day.

    Attributes
    ----------
    slots : tuple of PhotoSlot
        Every suggested photo, in date order.
    next_due : PhotoSlot or None
        The first suggested photo not yet taken whose window is still open; None when the
        schedule is done.
    missed : tuple of PhotoSlot
        Suggested photos whose window closed without a photo.
    overdue : PhotoSlot or None
        The latest suggested photo already past its date, when it has no photo and none was
        taken since; else None.
    """

    slots: tuple[PhotoSlot, ...]
    next_due: PhotoSlot | None
    missed: tuple[PhotoSlot, ...]
    overdue: PhotoSlot | None


def photo_window_days(day: int) -> int:
    """How many days either side of a suggested day a photo still counts for it (module notes).

    Examples
    --------
    >>> [photo_window_days(d) for d in (1, 7, 14, 28, 90, 180)]
    [1, 1, 2, 4, 14, 27]
    """
    if day < 1:
        raise ValueError(f"Suggested photo days start on day 1, got {day}.")
    return 1 if day <= _EARLY_DAYS else max(1, round(_LATE_WINDOW_SHARE * day))


def _as_date(value: date | datetime) -> date:
    return value.date() if isinstance(value, datetime) else value


def photo_schedule(treatment: str, session_dates: Sequence[date | datetime],
                   photo_dates: Sequence[date | datetime], today: date) -> PhotoSchedule:
    """Lay a treatment's suggested photo days over a course (module notes).

    Parameters
    ----------
    treatment : str
        Catalogue key.
    session_dates : sequence of date or datetime
        The course's treatment sessions, any order; repeats count once.
    photo_dates : sequence of date or datetime
        When the course's photos were taken (photos before the first session are ignored).
    today : date
        The day the schedule is read on.

    Returns
    -------
    PhotoSchedule
        Empty when no session is recorded.
    """
    entry = get_treatment(treatment)
    sessions = sorted({_as_date(s) for s in session_dates})
    taken_on = sorted({_as_date(p) for p in photo_dates})
    slots = []
    for index, start in enumerate(sessions):
        next_start = sessions[index + 1] if index + 1 < len(sessions) else None
        for day in entry.photo_days:
            due = start + timedelta(days=day)
            if next_start is not None and due >= next_start:
                break
            window = timedelta(days=photo_window_days(day))
            earliest = max(due - window, start + timedelta(days=1))
            latest = due + window if next_start is None else min(due + window, next_start - timedelta(days=1))
            taken = any(earliest <= t <= latest for t in taken_on)
            slots.append(PhotoSlot(index + 1, day, due, earliest, latest, taken))
    missed = tuple(s for s in slots if not s.taken and s.latest < today)
    next_due = next((s for s in slots if not s.taken and s.latest >= today), None)
    past = [s for s in slots if s.due_on < today]
    latest_past = past[-1] if past else None
    overdue = None
    if latest_past is not None and not latest_past.taken and slots[-1].latest >= today and not any(
            latest_past.due_on <= t <= today for t in taken_on):
        overdue = latest_past
    return PhotoSchedule(tuple(slots), next_due, missed, overdue)
