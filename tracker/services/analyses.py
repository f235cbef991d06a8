"""The analysis cache: which stored result is current for a photo, and the job that fills it.

A photo's result depends on its course's baseline photo (the one a provider confirmed, else
the earliest photo in use: :func:`baseline_photo`), regions, what was treated (the whole face
or only the region) and the metric version;
:func:`analysis_key` names that combination and this module is its one owner. The job
runner (:func:`analyse_course`) analyses every photo of a course that has no current
result, commits each result on its own (an interrupted run keeps what it finished), and
then refreshes the course's stored summary, from which patient lists are read.

Whatever goes wrong while analysing one photo (a photo the decoder accepts but OpenCV
cannot process, an exhausted memory) is stored as that photo's failed result with one
line of reason, and logged by photo id and error type only: the course and the batch go
on, and the next refresh finds the result instead of failing again. Except a photo whose
file cannot be read from the photo store as it was stored (missing, unreadable, or damaged:
its content no longer has its hash; :class:`PhotoUnavailable`): that is the state of the
store on that machine, not a result of the photo, so nothing is stored and the next run
tries again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime
from functools import lru_cache
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tracker.analysis import (
    AnalysisConfig,
    AnalysisResult,
    Baseline,
    Box,
    PhotoError,
    analyse_baseline,
    analyse_photo,
    decode_photo,
    prepare_baseline,
)
from tracker.analysis import metrics
from tracker.services.access import current_time
from tracker.store.db import Store
from tracker.store.photostore import DamagedPhoto, PhotoStore
from tracker.store.models import Analysis, Course, CourseBaseline, CourseSummary, Patient, Photo, TreatmentSession

if TYPE_CHECKING:  # the recovery model (SciPy) is loaded where a course summary is made: the app, and a batch's
    # worker once it finishes a course, not a worker's start-up
    from tracker.recovery import CourseProgress

_log = logging.getLogger(__name__)


class PhotoUnavailable(Exception):
    """A stored photo's file cannot be read as it was stored: missing, unreadable or damaged (one line)."""


def read_stored(photos: PhotoStore, content_hash: str, what: str = "photo") -> bytes:
    """The stored bytes of a photo, checked against the hash they were stored under.

    Raises :class:`PhotoUnavailable`, saying which of the three it is, where the file is
    missing (a worker that does not mount the whole store), cannot be read, or no longer
    holds what was stored (damaged on disk). ``what`` names the photo in that sentence.
    """
    try:
        return photos.read(content_hash, verify=True)
    except KeyError:
        raise PhotoUnavailable(f"The {what}'s file is missing from the photo store: check that every machine that "
                               "analyses mounts the whole store; the next run tries it again.") from None
    except OSError as exc:
        raise PhotoUnavailable(f"The {what}'s file could not be read from the photo store "
                               f"({exc.strerror or type(exc).__name__}); the next run tries it again.") from None
    except DamagedPhoto:
        raise PhotoUnavailable(f"The stored copy of the {what} is damaged (it no longer matches what was stored): "
                               "restore it from a backup.") from None


#: The reason stored for a photo whose analysis failed for a reason no sentence was written for.
ANALYSIS_FAILED = "This photo could not be analysed; your provider can look at it, or you can take it again."

__all__ = ["ANALYSIS_FAILED", "PhotoUnavailable", "read_stored", "MISMATCH_MIN_PHOTOS", "AnalysisKey",
           "analysis_key", "baseline_photo", "confirmed_baseline", "timeline_photos", "baseline_mismatch",
           "current_results", "analyse_stored_photo", "write_result", "save_result",
           "analyse_course", "course_progress_of", "store_summary", "ensure_summary"]


@dataclass(frozen=True)
class AnalysisKey:
    """What a photo's result depends on besides the photo: baseline, regions, what was treated, metric version."""

    baseline_hash: str
    roi: Box | None
    control: Box | None
    metric_version: str
    treated: str = "face"

    @property
    def regions(self) -> str:
        """The regions and the treated extent as stored in ``analyses.regions_key``."""
        fmt = lambda b: "-" if not b else ",".join(str(int(v)) for v in b)  # noqa: E731
        return f"roi={fmt(self.roi)};control={fmt(self.control)};treated={self.treated}"


def confirmed_baseline(s: Session, course_id: int) -> Photo | None:
    """The baseline a provider chose and confirmed for the course, if any (and still in use)."""
    chosen = s.get(CourseBaseline, course_id)
    photo = s.get(Photo, chosen.photo_id) if chosen is not None else None
    return photo if photo is not None and photo.state == "active" else None


def baseline_photo(s: Session, course_id: int) -> Photo | None:
    """The course's baseline: the one a provider confirmed, else its earliest photo in use.

    Photos held for review (a patient's upload dated before the baseline) and photos a provider
    hid are never the baseline, so no upload can make itself the course's reference.
    """
    return confirmed_baseline(s, course_id) or s.scalar(
        select(Photo).where(Photo.course_id == course_id, Photo.state == "active")
        .order_by(Photo.taken_at, Photo.id).limit(1))


def timeline_photos(s: Session, course_id: int, baseline: Photo | None) -> list[Photo]:
    """The photos measured against the baseline: the baseline and every photo in use taken after it."""
    if baseline is None:
        return []
    photos = s.scalars(select(Photo).where(Photo.course_id == course_id, Photo.state == "active")
                       .order_by(Photo.taken_at, Photo.id)).all()
    return [p for p in photos if (p.taken_at, p.id) >= (baseline.taken_at, baseline.id)]


def analysis_key(s: Session, course: Course) -> AnalysisKey | None:
    """The key current results of the course are stored under; None without a baseline photo."""
    baseline = baseline_photo(s, course.id)
    if baseline is None:
        return None
    return AnalysisKey(baseline.content_hash, tuple(course.roi) if course.roi else None,
                       tuple(course.control) if course.control else None, metrics.METRIC_VERSION,
                       course.treated_extent)


def current_results(s: Session, key: AnalysisKey | None, photo_ids: list[int]) -> dict[int, AnalysisResult]:
    """The stored results of these photos under ``key``, by photo id."""
    if key is None or not photo_ids:
        return {}
    rows = s.scalars(select(Analysis).where(
        Analysis.photo_id.in_(photo_ids), Analysis.baseline_hash == key.baseline_hash,
        Analysis.metric_version == key.metric_version, Analysis.regions_key == key.regions))
    return {a.photo_id: AnalysisResult.from_dict(a.result) for a in rows}


@lru_cache(maxsize=2)
def _prepared_baseline(photos: PhotoStore, content_hash: str, roi: Box | None, control: Box | None,
                       treated: str) -> Baseline:
    # Two: a batch works through one course at a time (jobs are claimed in course order), and the
    # app's interleaved courses stay cheap; a prepared 12-MP baseline holds a few hundred MB.
    return prepare_baseline(decode_photo(read_stored(photos, content_hash, "baseline photo")).rgb, roi, control,
                            AnalysisConfig(treated=treated))


def analyse_stored_photo(photos: PhotoStore, key: AnalysisKey, photo_id: int, content_hash: str) -> AnalysisResult:
    """The result of a stored photo under ``key``: measured, or failed with one line of reason.

    The one analysis of a stored photo, for the app's course refresh and for batch workers
    alike; it never raises for a bad photo or baseline (module notes), only
    :class:`PhotoUnavailable` for a file the store cannot give back as stored.
    """
    try:
        prepared = _prepared_baseline(photos, key.baseline_hash, key.roi, key.control, key.treated)
    except PhotoUnavailable:
        raise
    except ValueError as exc:  # regions that no longer fit the baseline (PhotoError is a ValueError too)
        return AnalysisResult.failed(str(exc).splitlines()[0])
    except Exception as exc:  # noqa: BLE001 - one bad baseline must not stop the batch
        _log.warning("analysis of photo %d failed preparing its baseline: %s", photo_id, type(exc).__name__)
        return AnalysisResult.failed(ANALYSIS_FAILED)
    if content_hash == key.baseline_hash:
        return _analysed(photo_id, lambda: analyse_baseline(prepared).to_result())
    data = read_stored(photos, content_hash)
    return _analysed(photo_id, lambda: analyse_photo(decode_photo(data).rgb, prepared).to_result())


def write_result(s: Session, photo_id: int, key: AnalysisKey, result: AnalysisResult, *, replace: bool) -> None:
    """Store a photo's result under ``key`` in the session's transaction; one row per key, ever.

    An existing row under the same key is kept (``replace=False``: the same inputs give the same
    result) or overwritten (``replace=True``: a forced re-analysis).
    """
    values = dict(ok=result.ok, quality_ok=result.quality_ok, redness_delta_a=result.metric("redness_delta_a"),
                  result=result.to_dict(), computed_at=current_time())
    where = (Analysis.photo_id == photo_id, Analysis.baseline_hash == key.baseline_hash,
             Analysis.metric_version == key.metric_version, Analysis.regions_key == key.regions)
    existing = s.scalar(select(Analysis).where(*where))
    if existing is None:
        try:
            with s.begin_nested():
                s.add(Analysis(photo_id=photo_id, baseline_hash=key.baseline_hash, metric_version=key.metric_version,
                               regions_key=key.regions, **values))
            return
        except IntegrityError:  # another process stored the same key first
            existing = s.scalar(select(Analysis).where(*where))
    if replace:
        for name, value in values.items():
            setattr(existing, name, value)


def save_result(store: Store, photo_id: int, key: AnalysisKey, result: AnalysisResult) -> None:
    """Store a photo's result under ``key`` (kept if another process stored the same first)."""
    with store.session() as s:
        write_result(s, photo_id, key, result, replace=False)


def analyse_course(store: Store, course_id: int,
                   progress: Callable[[int, int], None] | None = None) -> dict[int, AnalysisResult]:
    """Analyse every photo of a course that has no current result; returns every photo's result.

    Access is checked by the callers (:func:`tracker.services.records.refresh_analyses` and the
    services that add photos or change regions). ``progress(done, total)`` follows the photos
    analysed. Batches of many courses go through :mod:`tracker.services.batch` instead.
    """
    with store.session() as s:
        course = s.get(Course, course_id)
        key = None if course is None else analysis_key(s, course)
        if key is None:
            return {}
        photos = timeline_photos(s, course_id, baseline_photo(s, course_id))
        current = current_results(s, key, [p.id for p in photos])
        todo = [(p.id, p.content_hash) for p in photos if p.id not in current]
    if not todo:
        ensure_summary(store, course_id)
        return current
    for done, (photo_id, content_hash) in enumerate(todo, start=1):
        try:
            result = analyse_stored_photo(store.photos, key, photo_id, content_hash)
        except PhotoUnavailable:  # shown as not analysed, not stored: the next refresh tries again
            _log.warning("photo %d not analysed: its file cannot be read from the photo store as stored", photo_id)
            current[photo_id] = AnalysisResult.failed(ANALYSIS_FAILED)
        else:
            save_result(store, photo_id, key, result)
            current[photo_id] = result
        if progress:
            progress(done, len(todo))
    with store.session() as s:
        store_summary(s, s.get(Course, course_id))
    return current


def _analysed(photo_id: int, analyse: Callable[[], AnalysisResult]) -> AnalysisResult:
    """``analyse()``, or the failed result it comes to: a photo that cannot be read says why in its
    own words; anything else is logged by photo id and type (its message could hold personal data)."""
    try:
        return analyse()
    except PhotoError as exc:
        return AnalysisResult.failed(str(exc))
    except Exception as exc:  # noqa: BLE001 - stored as the photo's result, so the course goes on
        _log.warning("analysis of photo %d failed: %s", photo_id, type(exc).__name__)
        return AnalysisResult.failed(ANALYSIS_FAILED)


# --- the course on its time line, and its stored summary ----------------------------------

def course_progress_of(s: Session, course: Course,
                       skin_type: str | None) -> tuple[Photo | None, list[date], CourseProgress]:
    """The course's baseline photo, session dates, and its photos' current results on its time line.

    A course whose baseline most of its photos could not be aligned to is not assessed
    (:func:`baseline_mismatch`): a status measured against the wrong reference would mislead.
    """
    key = analysis_key(s, course)
    baseline = None if key is None else baseline_photo(s, course.id)
    photos = timeline_photos(s, course.id, baseline)
    results = current_results(s, key, [p.id for p in photos])
    sessions = sorted(t.treated_on for t in s.scalars(
        select(TreatmentSession).where(TreatmentSession.course_id == course.id)))
    from tracker.recovery import PhotoPoint, course_progress

    points = [PhotoPoint(p.id, p.taken_at, results.get(p.id), before_session=p.before_session, camera=p.camera_key)
              for p in photos]
    progress = course_progress(course.treatment, sessions, points, skin_type)
    mismatch = baseline_mismatch(baseline, results)
    if mismatch is not None:
        progress = replace(progress, assessment=None, not_assessed_reason=mismatch)
    return baseline, sessions, progress


#: Follow-up photos needed before a failure to align most of them says the baseline is wrong.
MISMATCH_MIN_PHOTOS = 2


def baseline_mismatch(baseline: Photo | None, results: dict[int, AnalysisResult]) -> str | None:
    """Why the course cannot be assessed against its baseline, or None when most photos align to it."""
    if baseline is None:
        return None
    follow_ups = [r for photo_id, r in results.items() if photo_id != baseline.id]
    failed = sum(not r.ok for r in follow_ups)
    if len(follow_ups) < MISMATCH_MIN_PHOTOS or 2 * failed <= len(follow_ups):
        return None
    return (f"{failed} of {len(follow_ups)} photos could not be lined up with the baseline photo, so progress "
            "is not assessed: the provider should check that the baseline shows this treated area and choose "
            "another if it does not.")


def store_summary(s: Session, course: Course) -> None:
    """Recompute and store a course's summary from its current analyses."""
    patient = s.get(Patient, course.patient_id)
    _, _, progress = course_progress_of(s, course, patient.skin_type)
    measured = [pt for pt in progress.points if pt.excess_redness is not None and pt.day > 0]
    assessment = progress.assessment
    values = dict(
        status=progress.status,
        reasons=list(assessment.reasons) if assessment else [progress.not_assessed_reason or ""],
        provider_reasons=list(assessment.provider_reasons) if assessment else [progress.not_assessed_reason or ""],
        projected_resolution_day=assessment.projected_resolution_day if assessment else None,
        last_photo_at=max((pt.taken_at for pt in progress.points), default=None),
        photos=len(progress.points),
        trend=measured[-1].excess_redness - measured[-2].excess_redness if len(measured) >= 2 else None,
        # To the microsecond, as a batch's jobs finish: a summary stored in the second its course's last job
        # finished is then seen to be current (batch.refresh_summaries).
        computed_at=datetime.now(),
    )
    summary = s.get(CourseSummary, course.id)
    if summary is None:
        try:
            with s.begin_nested():
                s.add(CourseSummary(course_id=course.id, **values))
            return
        except IntegrityError:  # another process stored it first (PostgreSQL; SQLite has one writer)
            summary = s.get(CourseSummary, course.id)
    for key, value in values.items():
        setattr(summary, key, value)


def ensure_summary(store: Store, course_id: int) -> None:
    """Store the course's summary if it has none yet."""
    with store.session() as s:
        if s.get(CourseSummary, course_id) is None:
            store_summary(s, s.get(Course, course_id))
