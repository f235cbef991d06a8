"""Clinician grades of photos and patients' answers to the questionnaire sent with their photos.

This module is the only writer of ``clinician_grades`` and ``patient_reports``. A grade is
stored with its scale's version (:data:`tracker.recovery.scales.SCALES`), an answer set with the
questionnaire's; both are audited by id, never by content. Grades and answers are read with a
course (:func:`photo_grades`, for :mod:`tracker.services.read_models`), so the provider's time
line, the PDF report and the export show the same ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.recovery.scales import QUESTIONNAIRE_VERSION, SCALES, check_answers, check_grade
from tracker.services.access import HIDDEN, Actor, InputError, NotFound, check_course, current_time, require
from tracker.services.audit import audited_refusals, record_event
from tracker.store.db import Store
from tracker.store.models import ClinicianGrade, PatientReport, Photo

__all__ = ["Grade", "PhotoGrades", "grade_photo", "answer_questionnaire", "photo_grades"]


@dataclass(frozen=True)
class Grade:
    """A clinician's grade of a photo on one scale."""

    scale: str  # a key of SCALES
    scale_version: str
    score: float
    items: dict[str, int]
    graded_at: datetime


@dataclass(frozen=True)
class PhotoGrades:
    """What was recorded about one photo beside its measurements: the newest grade per scale, the answers."""

    grades: dict[str, Grade]  # by scale
    answers: dict  # question key -> answer; empty when the patient answered nothing
    questionnaire_version: str | None = None


def _patient_of_photo(s: Session, actor: Actor, photo_id: int) -> int:
    """The patient id of the photo, if the actor may see it."""
    photo = s.get(Photo, photo_id)
    if photo is None:
        raise NotFound(HIDDEN)
    return check_course(s, actor, photo.course_id).patient_id


@audited_refusals
def grade_photo(store: Store, actor: Actor, photo_id: int, scale: str, items: dict[str, int]) -> int:
    """Record a provider's grade of a photo on ``scale`` (item key -> grade); returns the grade's id.

    A one-item scale takes ``{"grade": n}``. A later grade on the same scale supersedes the earlier
    one, which is kept.
    """
    require(actor, "provider")
    definition = SCALES.get(scale)
    if definition is None:
        raise InputError(f"Unknown scale {scale!r}; choose one of: {', '.join(SCALES)}.")
    try:
        checked = check_grade(definition, items)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    with store.session() as s:
        patient_id = _patient_of_photo(s, actor, photo_id)
        row = ClinicianGrade(photo_id=photo_id, scale=scale, scale_version=definition.version,
                             score=float(sum(checked.values())), items=checked, graded_by=actor.user_id,
                             graded_at=current_time())
        s.add(row)
        s.flush()
        record_event(s, actor, "grade_add", patient_id, f"photo {photo_id} scale {scale}")
        return row.id


@audited_refusals
def answer_questionnaire(store: Store, actor: Actor, photo_id: int, answers: dict) -> None:
    """Record the patient's answers for a photo (the patient, or a provider from a paper form).

    Every answer is optional; nothing is recorded when none is given. Answering again replaces
    the earlier answers.
    """
    require(actor, "patient", "provider")
    try:
        checked = check_answers(answers)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    with store.session() as s:
        patient_id = _patient_of_photo(s, actor, photo_id)
        if not checked:
            return
        row = s.get(PatientReport, photo_id)
        if row is None:
            s.add(PatientReport(photo_id=photo_id, questionnaire_version=QUESTIONNAIRE_VERSION, answers=checked,
                                answered_at=current_time()))
        else:
            row.questionnaire_version, row.answers, row.answered_at = QUESTIONNAIRE_VERSION, checked, current_time()
        record_event(s, actor, "questionnaire_answer", patient_id, f"photo {photo_id}")


def photo_grades(s: Session, photo_ids: list[int]) -> dict[int, PhotoGrades]:
    """Grades and answers of these photos, by photo id (access checked by the caller)."""
    grades: dict[int, dict[str, Grade]] = {}
    for row in s.scalars(select(ClinicianGrade).where(ClinicianGrade.photo_id.in_(photo_ids))
                         .order_by(ClinicianGrade.graded_at, ClinicianGrade.id)):
        grades.setdefault(row.photo_id, {})[row.scale] = Grade(row.scale, row.scale_version, row.score,
                                                               dict(row.items or {}), row.graded_at)
    reports = {r.photo_id: r for r in s.scalars(select(PatientReport).where(PatientReport.photo_id.in_(photo_ids)))}
    return {pid: PhotoGrades(grades.get(pid, {}), dict(reports[pid].answers) if pid in reports else {},
                             reports[pid].questionnaire_version if pid in reports else None)
            for pid in photo_ids if pid in grades or pid in reports}
