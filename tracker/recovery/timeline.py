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
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from tracker.analysis.result import AnalysisResult
from tracker.recovery.assessment import Assessment, assess_course
from tracker.recovery.course import session_relative_days

__all__ = ["PhotoPoint", "CoursePoint", "CourseProgress", "course_progress", "days_between"]

TEXTURE_METRIC = "texture_contrast"
_NOT_ANALYSED = AnalysisResult(ok=False)


@dataclass(frozen=True)
class PhotoPoint:
    """One photo of a course with its analysis result."""

    photo_id: int
    taken_at: datetime
    result: AnalysisResult | None  # None: not analysed yet


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
        """``ahead``, ``on_track``, ``slower``, ``review``, or ``not_assessed``."""
        return self.assessment.status if self.assessment else "not_assessed"


def days_between(later: datetime | date, earlier: date) -> int:
    """Whole calendar days from ``earlier`` to the date of ``later``."""
    later_date = later.date() if isinstance(later, datetime) else later
    return (later_date - earlier).days


def course_progress(treatment: str, session_dates: list[date], photos: list[PhotoPoint],
                    skin_type: str | None = None) -> CourseProgress:
    """Place photos on the course time line and assess the course.

    Parameters
    ----------
    treatment : str
        Catalogue key.
    session_dates : list of date
        Treatment sessions, any order; the first is day 0.
    photos : list of PhotoPoint
        The course's photos; the earliest is the baseline.
    skin_type : str, optional
        Fitzpatrick type I-VI.
    """
    sessions = sorted(set(session_dates))
    photos = sorted(photos, key=lambda p: (p.taken_at, p.photo_id))
    if not sessions:
        return CourseProgress(treatment, (), None, "No treatment date is recorded for this area.", ())
    first = sessions[0]
    session_days = tuple(days_between(s, first) for s in sessions)
    baseline = photos[0] if photos else None
    pre_treatment = baseline is not None and days_between(baseline.taken_at, first) <= 0
    base_result = (baseline.result if baseline else None) or _NOT_ANALYSED
    has_control = base_result.metric("redness_delta_a") is not None
    base_texture = base_result.metric(TEXTURE_METRIC)

    days = [days_between(p.taken_at, first) for p in photos]
    # The assessment's own grouping: a photo on a later session's day was taken before that session.
    since_session, session_index = session_relative_days(days, session_days[1:])

    points = []
    for p, day, since, index in zip(photos, days, since_session, session_index):
        session = int(index) + 1 if day > 0 else 0
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
            photo_id=p.photo_id, taken_at=p.taken_at, day=day, session=session, days_since_session=int(since),
            excess_redness=excess, texture_change=texture_change, result=result,
        ))

    usable = [pt for pt in points if pt.ok and pt.excess_redness is not None]
    reason = None
    assessment = None
    if not pre_treatment and not has_control:
        reason = ("Redness cannot be followed: there is no photo from before treatment and no untreated "
                  "control area drawn.")
    elif not any(pt.day > 0 for pt in usable):
        reason = "No photo after treatment has been measured yet."
    else:
        try:
            assessment = assess_course(
                treatment,
                days=[pt.day for pt in usable],
                redness_delta_a=[pt.excess_redness for pt in usable],
                ita_deg=[_nan(pt.result.metric("ita_deg")) for pt in usable],
                melanin_index=[_nan(pt.result.metric("melanin_index")) for pt in usable],
                texture=[_nan(pt.texture_change) for pt in usable],
                quality_ok=[pt.quality_ok is not False for pt in usable],
                skin_type=skin_type,
                session_starts=list(session_days[1:]) or None,
            )
        except ValueError as exc:  # e.g. every post-treatment photo failed the quality gate
            reason = str(exc).splitlines()[0]
    return CourseProgress(treatment, tuple(points), assessment, reason, session_days)


def _nan(value: float | None) -> float:
    return float("nan") if value is None else float(value)
