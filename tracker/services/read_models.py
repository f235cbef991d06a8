"""Read models: what a patient list and a patient's page show, assembled for the reader.

Statuses in lists come from the stored course summaries (kept current by
:mod:`tracker.services.analyses` whenever a course's photos, sessions or regions change),
so a long list loads without refitting anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.analysis import Box
from tracker.recovery import STATUSES, CourseProgress, photo_schedule
from tracker.services.access import Actor, check_patient, visible_patient_ids
from tracker.services.analyses import confirmed_baseline, course_progress_of, store_summary
from tracker.services.audit import audited_refusals, record_event
from tracker.services.grades import PhotoGrades, photo_grades
from tracker.store.db import Store
from tracker.store.models import Course, CourseSummary, Patient, Photo, TreatmentSession

__all__ = ["PatientSummary", "CoursePhoto", "CourseDetail", "PatientDetail", "STATUS_ORDER", "course_detail",
           "get_patient", "list_patients"]


@dataclass(frozen=True)
class PatientSummary:
    """One row of a patient list."""

    id: int
    reference: str
    display_name: str
    skin_type: str | None
    status: str  # most urgent status over the patient's courses
    treatments: tuple[str, ...]
    days_since_treatment: int | None  # of the most recent session
    last_photo_at: datetime | None
    photos: int
    trend: float | None  # change of excess redness between the last two measured photos (a* units)
    reasons: tuple[str, ...] = ()
    provider_reasons: tuple[str, ...] = ()  # the provider's sentences behind the status, one per course
    photo_overdue: bool = False  # a suggested photo of one of the courses is overdue (tracker.recovery.schedule)


_URGENT_FIRST = STATUSES[::-1]  # review, check_photos, slower, on_track, ahead
STATUS_ORDER = {status: rank for rank, status in enumerate((*_URGENT_FIRST[:3], "not_assessed", *_URGENT_FIRST[3:]))}
"""Patients sort by the most urgent status of their courses: the recovery model's order, most urgent
first, with a course that cannot be assessed after those that need a look or are slower."""


@dataclass(frozen=True)
class CoursePhoto:
    """One of a course's photos, whether on its time line or not."""

    id: int
    taken_at: datetime
    state: str  # active, held (dated before the baseline, for the provider to review) or hidden
    on_timeline: bool  # measured against the baseline (active and not taken before it)


@dataclass(frozen=True)
class CourseDetail:
    """One treated area with its time line and assessment."""

    id: int
    treatment: str
    area: str
    roi: Box | None
    control: Box | None
    sessions: tuple[date, ...]
    baseline_photo_id: int | None
    baseline_size: tuple[int, int] | None  # (width, height)
    progress: CourseProgress
    baseline_confirmed: bool = False  # chosen by a provider, rather than the earliest photo in use
    photos: tuple[CoursePhoto, ...] = ()  # every photo of the course, oldest first
    treated_extent: str = "face"  # "face" or "region": tracker.analysis.TREATED_EXTENTS
    grades: dict[int, PhotoGrades] = field(default_factory=dict)  # clinicians' grades and patients' answers


@dataclass(frozen=True)
class PatientDetail:
    """A patient's record as the actor may see it."""

    id: int
    reference: str
    display_name: str
    skin_type: str | None
    courses: tuple[CourseDetail, ...] = field(default=())


def course_detail(s: Session, course: Course, skin_type: str | None) -> CourseDetail:
    """A course as the reader sees it, from its current analyses (access checked by the caller)."""
    baseline, sessions, progress = course_progress_of(s, course, skin_type)
    roi = tuple(course.roi) if course.roi else None
    control = tuple(course.control) if course.control else None
    on_timeline = {pt.photo_id for pt in progress.points}
    photos = tuple(CoursePhoto(p.id, p.taken_at, p.state, p.id in on_timeline) for p in s.scalars(
        select(Photo).where(Photo.course_id == course.id).order_by(Photo.taken_at, Photo.id)))
    confirmed = confirmed_baseline(s, course.id)
    return CourseDetail(course.id, course.treatment, course.area, roi, control, tuple(sessions),
                        baseline.id if baseline else None,
                        (baseline.width, baseline.height) if baseline else None, progress,
                        confirmed is not None and baseline is not None and confirmed.id == baseline.id, photos,
                        course.treated_extent, photo_grades(s, [p.id for p in photos]))


@audited_refusals
def get_patient(store: Store, actor: Actor, patient_id: int) -> PatientDetail:
    """A patient's courses, photos (ids), measurements and assessments. Audited as a view."""
    with store.session() as s:
        patient = check_patient(s, actor, patient_id)
        courses = s.scalars(select(Course).where(Course.patient_id == patient_id).order_by(Course.id)).all()
        details = tuple(course_detail(s, c, patient.skin_type) for c in courses)
        record_event(s, actor, "patient_view", patient_id)
        return PatientDetail(patient.id, patient.reference, patient.display_name, patient.skin_type, details)


@audited_refusals
def list_patients(store: Store, actor: Actor) -> list[PatientSummary]:
    """Patients the actor may see, most concerning first (review, slower, ...).

    Statuses come from the stored course summaries (kept current whenever a
    course's photos, sessions or regions change), so a long list loads without
    refitting anything. Administrators get names and identifiers only (to
    manage assignments), with no clinical status.
    """
    with store.session() as s:
        if actor.role == "admin":
            rows = s.scalars(select(Patient).order_by(Patient.reference)).all()
            return [PatientSummary(p.id, p.reference, p.display_name, None, "not_assessed", (), None, None, 0, None)
                    for p in rows]
        visible = visible_patient_ids(s, actor)
        query = (select(Patient, Course, CourseSummary).outerjoin(Course, Course.patient_id == Patient.id)
                 .outerjoin(CourseSummary, CourseSummary.course_id == Course.id).order_by(Patient.id, Course.id))
        if visible is not None:
            query = query.where(Patient.id.in_(visible))
        rows = s.execute(query).all()
        for _, course, summary in rows:
            if course is not None and summary is None:  # e.g. imported without analysis
                store_summary(s, course)
        if any(course is not None and summary is None for _, course, summary in rows):
            rows = s.execute(query).all()
        course_ids = [c.id for _, c, _ in rows if c is not None]
        sessions: dict[int, list[date]] = {}
        for course_id, treated_on in s.execute(select(TreatmentSession.course_id, TreatmentSession.treated_on)
                                               .where(TreatmentSession.course_id.in_(course_ids))):
            sessions.setdefault(course_id, []).append(treated_on)
        photos_taken: dict[int, list[datetime]] = {}
        for course_id, taken_at in s.execute(select(Photo.course_id, Photo.taken_at)
                                             .where(Photo.course_id.in_(course_ids), Photo.state == "active")):
            photos_taken.setdefault(course_id, []).append(taken_at)
        grouped: dict[int, list] = {}
        patients = {}
        for patient, course, summary in rows:
            patients[patient.id] = patient
            grouped.setdefault(patient.id, [])
            if course is not None:
                grouped[patient.id].append((course, summary))
        today = date.today()
        summaries = [_patient_summary(patients[pid], courses, sessions, photos_taken, today)
                     for pid, courses in grouped.items()]
    return sorted(summaries, key=lambda p: (STATUS_ORDER.get(p.status, 9), -(p.trend or 0), p.reference))


def _patient_summary(patient: Patient, courses: list, sessions: dict[int, list[date]],
                     photos_taken: dict[int, list[datetime]], today: date) -> PatientSummary:
    statuses = [summary.status for _, summary in courses] or ["not_assessed"]
    status = min(statuses, key=lambda st: STATUS_ORDER.get(st, 9))
    latest = [summary for _, summary in courses if summary.last_photo_at is not None]
    newest = max(latest, key=lambda sm: sm.last_photo_at, default=None)
    last_sessions = [max(sessions[c.id]) for c, _ in courses if c.id in sessions]
    worst = [summary for _, summary in courses if summary.status == status]
    return PatientSummary(
        id=patient.id, reference=patient.reference, display_name=patient.display_name, skin_type=patient.skin_type,
        status=status, treatments=tuple(c.treatment for c, _ in courses),
        days_since_treatment=(today - max(last_sessions)).days if last_sessions else None,
        last_photo_at=newest.last_photo_at if newest else None,
        photos=sum(summary.photos for _, summary in courses), trend=newest.trend if newest else None,
        reasons=tuple(r for summary in worst for r in summary.reasons[:1]),
        provider_reasons=tuple(r for summary in worst for r in summary.provider_reasons[:1]),
        photo_overdue=any(
            photo_schedule(c.treatment, sessions.get(c.id, []), photos_taken.get(c.id, []), today).overdue
            is not None for c, _ in courses),
    )
