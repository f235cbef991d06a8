"""A course's photos as a time series, and its assessment against the expected course.

Pure functions over the analysis results of one treated area (no database):
the service layer, the app, the PDF report and the exports all build their
timelines and statuses here, so they agree.

Excess redness
--------------
The recovery model follows *excess* redness: the redness the treatment added.

* With a pre-treatment photo (day <= 0) as baseline: the photo's Δa* (region
  minus control) minus the baseline's Δa*, or, without a control region, the
  photo's mean a* minus the baseline's.
* Without a pre-treatment photo but with a control region: the photo's Δa*
  itself (untreated skin is assumed to match the region's natural colour).
* Otherwise it cannot be known, and the course is not assessed.

Photos on a treatment day
-------------------------
Sessions are stored as dates, so a photo taken on a session's day may be from before or after
that treatment. :attr:`PhotoPoint.before_session` says which when it is known; a session given
as a ``datetime`` settles it from the photo's time. Otherwise the photo is placed by the rule of
:func:`tracker.recovery.course.session_relative_days` (the earliest photo on the first session's
day is the baseline; on a later session's day a photo closes the previous course) and the
assessment says the placement is assumed and asks the provider to confirm it.

Pigment
-------
Darkening is judged on the redness-corrected pigment measure ``melanin_takiwaki`` of each
result; where the analysis has not measured it the assessment says darkening cannot be checked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from tracker.analysis.result import AnalysisResult, camera_differs
from tracker.recovery.assessment import Assessment, assess_course
from tracker.recovery.course import session_relative_days

__all__ = ["PhotoPoint", "CoursePoint", "CourseProgress", "course_progress", "days_between"]

TEXTURE_METRIC = "texture_contrast"
PIGMENT_METRIC = "melanin_takiwaki"
FOCAL_METRIC = "redness_focal_a"
_NOT_ANALYSED = AnalysisResult(ok=False)


@dataclass(frozen=True)
class PhotoPoint:
    """One photo of a course with its analysis result.

    ``before_session`` matters only for a photo taken on a session's day: True if taken before
    that treatment, False if after, None if not known (module notes). ``camera`` tells cameras
    apart (any value equal for photos of one camera, such as a digest of EXIF's maker and model),
    None when not known.
    """

    photo_id: int
    taken_at: datetime
    result: AnalysisResult | None  # None: not analysed yet
    before_session: bool | None = None
    camera: str | None = None


@dataclass(frozen=True)
class CoursePoint:
    """A photo placed on the course's time line."""

    photo_id: int
    taken_at: datetime
    day: int  # days since the first session (negative before treatment)
    session: int  # 1-based session the photo follows (0 before treatment)
    days_since_session: int
    excess_redness: float | None
    texture_change: float | None  # relative change of texture contrast against the baseline
    result: AnalysisResult = field(repr=False, default=_NOT_ANALYSED)
    timing_assumed: bool = False  # on a session's day, before or after the treatment not known
    other_camera: bool | None = None  # taken with another camera than the baseline; None: not known

    @property
    def ok(self) -> bool:
        """Whether the photo was measured."""
        return self.result.ok

    @property
    def quality_ok(self) -> bool | None:
        return self.result.quality_ok

    @property
    def quality_issues(self) -> tuple[str, ...]:
        return self.result.quality_issues

    @property
    def usable(self) -> bool:
        """Measured and not refused by the quality gate (:attr:`AnalysisResult.usable`)."""
        return self.result.usable


@dataclass(frozen=True)
class CourseProgress:
    """The time line of a course and, when it can be assessed, its assessment."""

    treatment: str
    points: tuple[CoursePoint, ...]
    assessment: Assessment | None
    not_assessed_reason: str | None
    session_days: tuple[int, ...]

    @property
    def status(self) -> str:
        """One of :data:`~tracker.recovery.assessment.STATUSES`, or ``not_assessed``."""
        return self.assessment.status if self.assessment else "not_assessed"


def days_between(later: datetime | date, earlier: date) -> int:
    """Whole calendar days from ``earlier`` to the date of ``later``."""
    later_date = later.date() if isinstance(later, datetime) else later
    earlier_date = earlier.date() if isinstance(earlier, datetime) else earlier
    return (later_date - earlier_date).days


def _before_session(photo: PhotoPoint, sessions: list[date]) -> bool | None:
    """The photo's own flag, else what a session's time says about a photo on that day."""
    if photo.before_session is not None:
        return photo.before_session
    for session in sessions:
        if isinstance(session, datetime) and session.date() == photo.taken_at.date():
            return photo.taken_at < session
    return None


def course_progress(treatment: str, session_dates: list[date], photos: list[PhotoPoint],
                    skin_type: str | None = None) -> CourseProgress:
    """Place photos on the course time line and assess the course.

    Parameters
    ----------
    treatment : str
        Catalogue key.
    session_dates : list of date
        Treatment sessions, any order; the first is day 0. A ``datetime`` gives the time of the
        treatment, which places photos taken that day before or after it.
    photos : list of PhotoPoint
        The course's photos; the earliest is the baseline when it was taken before treatment.
    skin_type : str, optional
        Fitzpatrick type I-VI.
    """
    # A session recorded twice counts once.
    sessions = sorted(set(session_dates), key=lambda s: (s.date() if isinstance(s, datetime) else s, str(s)))
    photos = sorted(photos, key=lambda p: (p.taken_at, p.photo_id))
    if not sessions:
        return CourseProgress(treatment, (), None, "No treatment date is recorded for this area.", ())
    first = sessions[0]
    session_days = tuple(days_between(s, first) for s in sessions)
    days = [days_between(p.taken_at, first) for p in photos]
    flags = [_before_session(p, sessions) for p in photos]
    placed = session_relative_days(days, session_days[1:], flags)
    baseline = photos[0] if photos else None
    pre_treatment = baseline is not None and not placed.after[0]
    base_result = (baseline.result if baseline else None) or _NOT_ANALYSED
    has_control = base_result.metric("redness_delta_a") is not None
    base_texture = base_result.metric(TEXTURE_METRIC)

    points = []
    for i, p in enumerate(photos):
        after = bool(placed.after[i])
        result = p.result or _NOT_ANALYSED
        if pre_treatment:
            key = "redness_delta_a" if has_control else "redness_a"
            value, reference = result.metric(key), base_result.metric(key)
            excess = None if value is None or reference is None else value - reference
        else:
            excess = result.metric("redness_delta_a")
        texture = result.metric(TEXTURE_METRIC)
        texture_change = (texture / base_texture - 1.0) if texture is not None and base_texture else None
        points.append(CoursePoint(
            photo_id=p.photo_id, taken_at=p.taken_at, day=days[i], session=int(placed.session[i]) + 1 if after else 0,
            days_since_session=int(placed.relative[i]), excess_redness=excess, texture_change=texture_change,
            result=result, timing_assumed=bool(placed.assumed[i]),
            other_camera=camera_differs(p.camera, baseline.camera),
        ))

    usable = [(pt, flag) for pt, flag in zip(points, flags) if pt.ok and pt.excess_redness is not None]
    reason = None
    assessment = None
    if not pre_treatment and not has_control:
        reason = ("Redness cannot be followed: there is no photo from before treatment and no untreated "
                  "control area drawn.")
    elif not any(pt.session > 0 for pt, _ in usable):
        reason = "No photo after treatment has been measured yet."
    else:
        try:
            assessment = assess_course(
                treatment,
                days=[pt.day for pt, _ in usable],
                redness_delta_a=[pt.excess_redness for pt, _ in usable],
                melanin_corrected=[_nan(pt.result.metric(PIGMENT_METRIC)) for pt, _ in usable],
                texture=[_nan(pt.texture_change) for pt, _ in usable],
                quality_ok=[pt.quality_ok is not False for pt, _ in usable],
                skin_type=skin_type,
                session_starts=list(session_days[1:]) or None,
                before_session=[flag for _, flag in usable],
                taken_on=[pt.taken_at for pt, _ in usable],
                other_camera=[pt.other_camera for pt, _ in usable],
                redness_focal=[_nan(pt.result.metric(FOCAL_METRIC)) for pt, _ in usable],
            )
        except ValueError as exc:  # e.g. every post-treatment photo failed the quality gate
            reason = str(exc).splitlines()[0]
    return CourseProgress(treatment, tuple(points), assessment, reason, session_days)


def _nan(value: float | None) -> float:
    return float("nan") if value is None else float(value)
