"""Clinical records: patients, treated areas (courses), sessions, photos, regions and notes.

This module is the only writer of these tables. The app, the importer, the demo and the
benchmarks all create records through the functions here, so every record passes the same
validation (:func:`validate_skin_type`, :func:`validate_treatment`, region bounds) and the
same audit.

Photos are written to the photo store (atomically, metadata stripped) before the row that
refers to them is committed; the same photo added twice to a course is recorded once.

The baseline of a course is the reference every photo is measured against, so no upload can
make itself the baseline: a patient's photo dated before the course's baseline is *held*
(stored, not used, shown to the provider as held for review). Providers confirm the baseline
(:func:`set_baseline`, which also accepts a held photo) and take a photo off a course or put
it back (:func:`hide_photo`, :func:`unhide_photo`); each is audited.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tracker.analysis import (
    TREATED_EXTENTS,
    AnalysisResult,
    Box,
    Photo as DecodedPhoto,
    check_box,
    decode_photo,
    parse_box,
)
from tracker.analysis.result import camera_differs
from tracker.recovery import TREATMENTS
from tracker.services.access import (
    HIDDEN,
    Actor,
    InputError,
    NotFound,
    check_course,
    check_patient,
    current_time,
    require,
    visible_patient_ids,
)
from tracker.services.analyses import analyse_course, baseline_photo, confirmed_baseline, store_summary
from tracker.services.audit import audited_refusals, record_event
from tracker.services.consent import pseudonym
from tracker.store.db import Store
from tracker.store.models import (
    Course,
    CourseBaseline,
    Note,
    Patient,
    Photo,
    ProviderAssignment,
    TreatmentSession,
    User,
)
from tracker.store.photostore import strip_metadata

__all__ = [
    "FITZPATRICK_TYPES", "MAX_PHOTO_BYTES", "PhotoOutcome", "PhotoRecord", "RecordOutcome",
    "validate_skin_type", "validate_treatment", "validate_treated_extent", "validate_photo_size", "parse_region",
    "drawn_region", "capture_time_of",
    "create_patient", "find_patient_id", "add_course", "add_session", "add_photo", "record_photo",
    "photo_bytes", "set_regions", "refresh_analyses", "set_baseline", "hide_photo", "unhide_photo",
    "add_note", "list_notes",
]

FITZPATRICK_TYPES = ("I", "II", "III", "IV", "V", "VI")

#: The largest photo file accepted, by upload or import: a full-resolution 50-megapixel JPEG
#: or HEIC is well under it (the app's upload limit, ``server.maxUploadSize``, is the same).
MAX_PHOTO_BYTES = 30 * 1024 * 1024


# --- validation shared by every writer -------------------------------------------------------

def _optional_choice(text: str | None, choices: tuple[str, ...], spelled: Callable[[str], str],
                     refusal: str) -> str | None:
    """``text`` as stored (``spelled``, stripped) if among ``choices``, None when not given; InputError otherwise."""
    if text is None or not str(text).strip():
        return None
    value = spelled(str(text).strip())
    if value not in choices:
        raise InputError(refusal)
    return value


def validate_skin_type(text: str | None) -> str | None:
    """A Fitzpatrick type as stored (``"I"``-``"VI"``), None when not given; InputError otherwise."""
    return _optional_choice(text, FITZPATRICK_TYPES, str.upper, "Skin type must be a Fitzpatrick type, I to VI.")


def validate_treatment(key: str) -> str:
    """A catalogue key; InputError naming the choices otherwise."""
    if key not in TREATMENTS:
        raise InputError(f"Unknown treatment {key!r}; choose one of: {', '.join(TREATMENTS)}.")
    return key


def validate_treated_extent(text: str | None) -> str | None:
    """What a treatment covered, as stored (``"face"`` or ``"region"``), None when not given; InputError otherwise."""
    return _optional_choice(text, TREATED_EXTENTS, str.lower,
                            "What was treated must be 'face' (the whole face) or 'region' (only the treated area).")


def _validate_reference(reference: str) -> str:
    reference = reference.strip()
    if not reference:
        raise InputError("A patient needs an identifier.")
    return reference


def validate_photo_size(size: int) -> None:
    """InputError when a photo file of ``size`` bytes is larger than :data:`MAX_PHOTO_BYTES`."""
    if size > MAX_PHOTO_BYTES:
        raise InputError(f"The file is larger than {MAX_PHOTO_BYTES // 2**20} MB, more than a photo needs: "
                         "send it at the camera's usual size.")


def parse_region(text: str | None) -> Box | None:
    """``"X,Y,W,H"`` or empty; InputError with one line if malformed."""
    if text is None or not str(text).strip():
        return None
    try:
        return parse_box(str(text))
    except ValueError as exc:
        raise InputError(f"Region {text!r}: {exc}.") from None


def drawn_region(xs: Sequence[float], ys: Sequence[float], shown_size: tuple[int, int],
                 baseline_size: tuple[int, int], name: str = "region") -> Box:
    """The box a provider dragged over the baseline photo, in baseline pixels.

    ``xs`` and ``ys`` are the box's two x and two y edges, in either order, in pixels of the
    photo as shown (0 at its left and top edges), as a box selection on a chart reports them;
    ``shown_size`` and ``baseline_size`` are the (width, height) of the photo as shown and of the
    baseline. Each side is scaled by its own ratio, so a shown copy rounded to whole pixels
    does not shift the far edges. The box is cut at the photo's edges; InputError with one
    sentence (naming the ``name``) when nothing of it lies on the photo, or it is under
    8 baseline pixels across.

    Examples
    --------
    >>> drawn_region([50, 10], [60, 20], (400, 300), (4000, 3000), "treated area")
    (100, 200, 400, 400)
    >>> drawn_region([-20, 10], [280, 330], (400, 300), (4000, 3000))
    (0, 2800, 100, 200)
    """
    if len(xs) != 2 or len(ys) != 2 or not all(math.isfinite(v) for v in (*xs, *ys)):
        raise ValueError(f"a drawn box has two finite x and two finite y edges; got x {xs!r}, y {ys!r}")
    if min(*shown_size, *baseline_size) <= 0:
        raise ValueError(f"the photo's sizes must be positive; got {shown_size!r} shown, {baseline_size!r} baseline")
    (width, height), (shown_width, shown_height) = baseline_size, shown_size
    x0, x1 = (min(max(round(v * width / shown_width), 0), width) for v in sorted(xs))
    y0, y1 = (min(max(round(v * height / shown_height), 0), height) for v in sorted(ys))
    if x1 <= x0 or y1 <= y0:
        raise InputError(f"The {name} was drawn outside the photo: drag the box over the photo.")
    box = (x0, y0, x1 - x0, y1 - y0)
    _check_region_on_baseline(box, (height, width), name)
    return box


def _boxes_overlap(a: Box, b: Box) -> bool:
    """Whether two ``(x, y, width, height)`` boxes share any pixel."""
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def _check_region_on_baseline(box: Box | None, shape: tuple[int, int], name: str) -> None:
    try:
        check_box(box, shape, name)
    except ValueError as exc:
        raise InputError(str(exc)[0].upper() + str(exc)[1:] + ".") from None


def capture_time_of(photo: DecodedPhoto, given: datetime | None, given_source: str,
                    fallback: datetime, fallback_source: str) -> tuple[datetime, str]:
    """When a photo was taken and how that is known: as given, else its EXIF time, else ``fallback``."""
    if given is not None:
        return given, given_source
    if photo.captured_at is not None:
        return photo.captured_at.replace(tzinfo=None), "exif"
    return fallback, fallback_source


# --- patients, courses and sessions ----------------------------------------------------------

def _new_patient(s: Session, actor: Actor, reference: str, display_name: str | None,
                 skin_type: str | None, detail: str = "") -> Patient:
    patient = Patient(reference=reference, display_name=(display_name or "").strip() or reference,
                      skin_type=skin_type, created_at=current_time())
    s.add(patient)
    s.flush()
    if actor.role == "provider":
        s.add(ProviderAssignment(provider_id=actor.user_id, patient_id=patient.id))
    record_event(s, actor, "patient_add", patient.id, detail)
    return patient


@audited_refusals
def create_patient(store: Store, actor: Actor, reference: str, display_name: str,
                   skin_type: str | None = None) -> int:
    """Register a patient. A provider who does so is assigned to them."""
    require(actor, "admin", "provider")
    reference = _validate_reference(reference)
    skin_type = validate_skin_type(skin_type)
    with store.session() as s:
        if s.scalar(select(Patient.id).where(Patient.reference == reference)) is not None:
            raise InputError("A patient with this identifier exists already.")
        return _new_patient(s, actor, reference, display_name, skin_type).id


@audited_refusals
def find_patient_id(store: Store, actor: Actor, reference: str) -> int | None:
    """The id of the visible patient with this clinic identifier, if any."""
    with store.session() as s:
        visible = visible_patient_ids(s, actor)
        query = select(Patient.id).where(Patient.reference == reference)
        if visible is not None:
            query = query.where(Patient.id.in_(visible))
        return s.scalar(query)


def _find_course(s: Session, patient_id: int, treatment: str, area: str) -> Course | None:
    return s.scalar(select(Course).where(Course.patient_id == patient_id, Course.treatment == treatment,
                                         Course.area == area))


def _new_course(s: Session, actor: Actor, patient_id: int, treatment: str, area: str,
                roi: Box | None, control: Box | None, treated_extent: str | None = None) -> Course:
    course = Course(patient_id=patient_id, treatment=treatment, area=area,
                    roi=list(roi) if roi else None, control=list(control) if control else None,
                    treated_extent=treated_extent or "face")
    s.add(course)
    s.flush()
    record_event(s, actor, "course_add", patient_id, f"course {course.id} {treatment}")
    return course


def _add_session(s: Session, course: Course, treated_on: date) -> None:
    exists = s.scalar(select(TreatmentSession.id).where(TreatmentSession.course_id == course.id,
                                                        TreatmentSession.treated_on == treated_on))
    if exists is None:
        s.add(TreatmentSession(course_id=course.id, treated_on=treated_on))


@audited_refusals
def add_course(store: Store, actor: Actor, patient_id: int, treatment: str, treated_on: date,
               area: str = "treated area", roi: Box | None = None, control: Box | None = None,
               treated_extent: str = "face") -> int:
    """Record a treated area with its first session; returns the course id (existing one if the same).

    ``treated_extent`` says what the treatment covered: ``"face"`` (the whole face, the default:
    skin outside the region of interest is never taken as untreated) or ``"region"`` (only the
    region of interest, so the skin around it may serve as the colour reference).
    """
    require(actor, "provider")
    validate_treatment(treatment)
    treated_extent = validate_treated_extent(treated_extent) or "face"
    with store.session() as s:
        check_patient(s, actor, patient_id)
        course = _find_course(s, patient_id, treatment, area) or _new_course(
            s, actor, patient_id, treatment, area, roi, control, treated_extent)
        _add_session(s, course, treated_on)
        return course.id


@audited_refusals
def add_session(store: Store, actor: Actor, course_id: int, treated_on: date) -> None:
    """Record a further session of a multi-session treatment."""
    require(actor, "provider")
    with store.session() as s:
        course = check_course(s, actor, course_id)
        _add_session(s, course, treated_on)
        s.flush()
        store_summary(s, course)
        record_event(s, actor, "session_add", course.patient_id, f"course {course_id}")


# --- photos ----------------------------------------------------------------------------------

def camera_key(store: Store, photo: DecodedPhoto) -> str | None:
    """The keyed digest a photo's camera is stored as (:attr:`Photo.camera_key`); None when EXIF does not say."""
    return None if photo.camera is None else pseudonym(store.secret_key, "camera", photo.camera)


def _insert_photo(s: Session, actor: Actor, course: Course, content_hash: str, photo: DecodedPhoto,
                  taken_at: datetime, source: str, before_session: bool | None, camera: str | None,
                  detail: str = "") -> tuple[int, bool]:
    """The photo's row in the course (created unless the same photo is there); (id, created).

    A patient's photo dated before the course's baseline is held for the provider's review.
    ``camera`` is :func:`camera_key` of the photo.
    """
    existing = s.scalar(select(Photo.id).where(Photo.course_id == course.id, Photo.content_hash == content_hash))
    if existing is not None:
        return existing, False
    baseline = baseline_photo(s, course.id) if actor.role == "patient" else None
    state = "held" if baseline is not None and taken_at < baseline.taken_at else "active"
    try:
        with s.begin_nested():
            row = Photo(course_id=course.id, content_hash=content_hash, width=photo.width, height=photo.height,
                        taken_at=taken_at, taken_at_source=source, uploaded_at=current_time(),
                        before_session=before_session, state=state, camera_key=camera)
            s.add(row)
            s.flush()
    except IntegrityError:  # the same photo, added twice at once, was recorded by the other writer
        return s.scalar(select(Photo.id).where(Photo.course_id == course.id,
                                               Photo.content_hash == content_hash)), False
    record_event(s, actor, "photo_add", course.patient_id,
                 f"photo {row.id}{detail}" + (" held: dated before the baseline" if state == "held" else ""))
    return row.id, True


@dataclass(frozen=True)
class PhotoOutcome:
    """What became of a photo added through the app."""

    photo_id: int
    created: bool  # False: the same photo was already in this course
    analysis: AnalysisResult | None  # against the course baseline; None when held or not analysed
    is_baseline: bool
    held: bool = False  # dated before the course's baseline: kept for the provider, not used
    other_camera: bool = False  # taken with another camera than the baseline photo (both known from EXIF)


@audited_refusals
def add_photo(store: Store, actor: Actor, course_id: int, data: bytes, taken_at: datetime | None = None,
              *, taken_at_source: str | None = None, before_session: bool | None = None,
              analyse: bool = True) -> PhotoOutcome:
    """Store a photo in a course and analyse it against the course baseline.

    The capture time comes from ``taken_at`` when given, else EXIF, else now.
    ``before_session`` says, for a photo taken on a session's day, whether it was taken
    before (True) or after (False) that treatment; None when not known. A patient's photo
    dated before the course's baseline is held for the provider (``held`` in the outcome).

    Raises
    ------
    PhotoError
        The bytes are not a usable photo (nothing is stored).
    InputError
        The file is larger than :data:`MAX_PHOTO_BYTES`.
    """
    require(actor, "patient", "provider")
    validate_photo_size(len(data))
    photo = decode_photo(data)  # refuse bad input before anything is written
    with store.session() as s:
        check_course(s, actor, course_id)
    stored = store.photos.put(data, validated=True)
    when, source = capture_time_of(photo, taken_at, taken_at_source or "entered", current_time(), "upload")
    camera = camera_key(store, photo)
    with store.session() as s:
        course = check_course(s, actor, course_id)
        photo_id, created = _insert_photo(s, actor, course, stored.content_hash, photo, when, source, before_session,
                                          camera)
        held = s.get(Photo, photo_id).state == "held"
    analysis = None
    is_baseline = False
    other_camera = False
    if analyse:
        analysis = analyse_course(store, course_id).get(photo_id)
        with store.session() as s:
            baseline = baseline_photo(s, course_id)
            is_baseline = baseline.id == photo_id
            other_camera = camera_differs(camera, baseline.camera_key) is True
    return PhotoOutcome(photo_id, created, analysis, is_baseline, held, other_camera)


@dataclass(frozen=True)
class PhotoRecord:
    """A photo to record together with the patient, treated area and session it belongs to.

    What a batch import hands over per photo; :func:`record_photo` creates what is missing.
    """

    patient: str
    treatment: str
    treated_on: date
    data: bytes
    taken_at: datetime | None = None
    taken_at_source: str = "manifest"
    fallback_time: datetime | None = None  # when neither ``taken_at`` nor EXIF says (e.g. the file's time)
    fallback_source: str = "file_time"
    roi: Box | None = None
    control: Box | None = None
    area: str = "treated area"
    skin_type: str | None = None
    name: str | None = None
    before_session: bool | None = None  # see add_photo
    treated_extent: str | None = None  # "face" or "region"; None: as recorded (a new area: "face")


@dataclass(frozen=True)
class RecordOutcome:
    """``imported``, ``already`` (recorded before) or ``refused`` with a one-line reason."""

    status: str
    reason: str | None = None
    photo_id: int | None = None
    course_id: int | None = None


def _region_conflict(course: Course | None, record: PhotoRecord) -> str | None:
    if course is None:
        return None
    for name, recorded, given in (("roi", course.roi, record.roi), ("control", course.control, record.control)):
        if recorded and given and list(given) != list(recorded):
            return (f"the {name} {','.join(map(str, given))} differs from the one recorded for this area "
                    f"({','.join(map(str, recorded))}); change it in the app")
    if record.treated_extent and record.treated_extent != course.treated_extent:
        return (f"treated={record.treated_extent} differs from what is recorded for this area "
                f"({course.treated_extent}); change it in the app")
    return None


def _course_of(s: Session, record: PhotoRecord) -> Course | None:
    return s.scalar(select(Course).join(Patient).where(Patient.reference == record.patient,
                                                       Course.treatment == record.treatment,
                                                       Course.area == record.area))


@audited_refusals
def record_photo(store: Store, actor: Actor, record: PhotoRecord) -> RecordOutcome:
    """Record a photo with its patient, course and session, creating what is missing. Not analysed.

    A photo recorded before stays ``already`` even if its area's regions were edited since
    (re-runs are idempotent); a new photo whose regions clash with the recorded ones, or whose
    patient fields do not validate, is refused before its file is stored, so a refusal leaves
    no orphan file behind. Batch import creates patients as it goes, so only the command line
    (whoever holds the data directory) may record this way.

    Raises
    ------
    IntegrityError
        On PostgreSQL, when a concurrent writer committed the same patient, area or photo
        between the look-up and the insert: the caller retries and finds their rows.
    OSError
        The photo store's disk failed.
    """
    require(actor)
    try:
        reference = _validate_reference(record.patient)
        validate_treatment(record.treatment)
        skin_type = validate_skin_type(record.skin_type)
        validate_treated_extent(record.treated_extent)
        validate_photo_size(len(record.data))
        photo = decode_photo(record.data)
    except (InputError, ValueError) as exc:  # PhotoError is a ValueError
        return RecordOutcome("refused", str(exc))
    when, source = capture_time_of(photo, record.taken_at, record.taken_at_source,
                                   record.fallback_time or current_time(), record.fallback_source)
    content_hash = hashlib.sha256(strip_metadata(record.data, validated=True)[0]).hexdigest()
    with store.session() as s:
        course = _course_of(s, record)
        if course is not None:
            existing = s.scalar(select(Photo.id).where(Photo.course_id == course.id,
                                                       Photo.content_hash == content_hash))
            if existing is not None:
                return RecordOutcome("already", None, existing, course.id)
        conflict = _region_conflict(course, record)
    if conflict:
        return RecordOutcome("refused", conflict)
    stored = store.photos.put(record.data, validated=True)  # on disk before the row that refers to it
    with store.session() as s:
        patient = s.scalar(select(Patient).where(Patient.reference == reference))
        if patient is None:
            patient = _new_patient(s, actor, reference, record.name, skin_type, "import")
        course = _course_of(s, record) or _new_course(s, actor, patient.id, record.treatment, record.area,
                                                      record.roi, record.control,
                                                      validate_treated_extent(record.treated_extent))
        conflict = _region_conflict(course, record)
        if conflict:  # another writer recorded other regions meanwhile; nothing was added here
            return RecordOutcome("refused", conflict)
        if record.roi and not course.roi:
            course.roi = list(record.roi)
        if record.control and not course.control:
            course.control = list(record.control)
        _add_session(s, course, record.treated_on)
        photo_id, created = _insert_photo(s, actor, course, stored.content_hash, photo, when, source,
                                          record.before_session, camera_key(store, photo), " import")
        return RecordOutcome("imported" if created else "already", None, photo_id, course.id)


@audited_refusals
def photo_bytes(store: Store, actor: Actor, photo_id: int) -> bytes:
    """The stored (metadata-stripped) file of a photo. Audited as a view."""
    require(actor, "patient", "provider")
    with store.session() as s:
        photo = s.get(Photo, photo_id)
        if photo is None:
            raise NotFound(HIDDEN)
        course = check_course(s, actor, photo.course_id)
        content_hash = photo.content_hash
        record_event(s, actor, "photo_view", course.patient_id, f"photo {photo_id}")
    return store.photos.read(content_hash)


# --- regions and analyses --------------------------------------------------------------------

@audited_refusals
def set_regions(store: Store, actor: Actor, course_id: int, roi: Box | None, control: Box | None,
                treated_extent: str | None = None) -> None:
    """Change the region of interest and control (baseline pixels), and what was treated
    (``"face"`` or ``"region"``; None leaves it); photos are re-analysed."""
    require(actor, "provider")
    treated_extent = validate_treated_extent(treated_extent)
    with store.session() as s:
        course = check_course(s, actor, course_id)
        baseline = baseline_photo(s, course_id)
        if baseline is not None:
            for box, name in ((roi, "region of interest"), (control, "control region")):
                _check_region_on_baseline(box, (baseline.height, baseline.width), name)
        if roi and control and _boxes_overlap(roi, control):
            # Δa* is the treated area less its control: a control on treated skin cancels the redness.
            raise InputError("The untreated control overlaps the treated area; mark it on untreated skin beside it.")
        course.roi = list(roi) if roi else None
        course.control = list(control) if control else None
        if treated_extent:
            course.treated_extent = treated_extent
        record_event(s, actor, "regions_set", course.patient_id, f"course {course_id}")
    analyse_course(store, course_id)


@audited_refusals
def refresh_analyses(store: Store, actor: Actor, course_id: int,
                     progress: Callable[[int, int], None] | None = None) -> dict[int, AnalysisResult]:
    """Bring a course's analyses up to date (providers of the patient, the command line).

    Returns every photo's current result by photo id; see
    :func:`tracker.services.analyses.analyse_course`.
    """
    require(actor, "provider")
    with store.session() as s:
        check_course(s, actor, course_id)
    return analyse_course(store, course_id, progress)


# --- the baseline and what is on the time line -----------------------------------------------

def _course_photo(s: Session, actor: Actor, photo_id: int) -> tuple[Photo, Course]:
    photo = s.get(Photo, photo_id)
    if photo is None:
        raise NotFound(HIDDEN)
    return photo, check_course(s, actor, photo.course_id)


def _reanalysed(store: Store, course_id: int) -> None:
    """Analyse the course against its (possibly new) baseline and store its summary."""
    analyse_course(store, course_id)
    with store.session() as s:
        store_summary(s, s.get(Course, course_id))


@audited_refusals
def set_baseline(store: Store, actor: Actor, course_id: int, photo_id: int) -> None:
    """Choose and confirm the course's baseline photo (the patient's providers); every photo is measured again.

    A photo held for review becomes the course's in use by being chosen. The regions stay as
    drawn, in the new baseline's pixels: redraw them if the new baseline is framed differently.
    """
    require(actor, "provider")
    with store.session() as s:
        course = check_course(s, actor, course_id)
        photo = s.get(Photo, photo_id)
        if photo is None or photo.course_id != course.id:
            raise NotFound(HIDDEN)
        if photo.state == "hidden":
            raise InputError("This photo is hidden from the course: show it again before choosing it as the baseline.")
        photo.state = "active"
        chosen = s.get(CourseBaseline, course.id)
        if chosen is None:
            s.add(CourseBaseline(course_id=course.id, photo_id=photo_id, confirmed_by=actor.user_id,
                                 confirmed_at=current_time()))
        else:
            chosen.photo_id, chosen.confirmed_by, chosen.confirmed_at = photo_id, actor.user_id, current_time()
        record_event(s, actor, "baseline_set", course.patient_id, f"course {course.id} photo {photo_id}")
    _reanalysed(store, course_id)


@audited_refusals
def hide_photo(store: Store, actor: Actor, photo_id: int) -> None:
    """Take a photo off its course's time line (the patient's providers); it is kept, and can be shown again."""
    _set_hidden(store, actor, photo_id, True)


@audited_refusals
def unhide_photo(store: Store, actor: Actor, photo_id: int) -> None:
    """Put a hidden photo back on its course's time line (the patient's providers)."""
    _set_hidden(store, actor, photo_id, False)


def _set_hidden(store: Store, actor: Actor, photo_id: int, hidden: bool) -> None:
    require(actor, "provider")
    with store.session() as s:
        photo, course = _course_photo(s, actor, photo_id)
        confirmed = confirmed_baseline(s, course.id)
        if hidden and confirmed is not None and confirmed.id == photo_id:
            raise InputError("This photo is the course's confirmed baseline: choose another baseline before hiding it.")
        if hidden:
            photo.state = "hidden"
        elif photo.state == "hidden":
            photo.state = "active"
        record_event(s, actor, "photo_hide" if hidden else "photo_unhide", course.patient_id, f"photo {photo_id}")
        course_id = course.id
    _reanalysed(store, course_id)


# --- notes -----------------------------------------------------------------------------------

@audited_refusals
def add_note(store: Store, actor: Actor, patient_id: int, text: str) -> int:
    """A provider's note on a patient (never exported)."""
    require(actor, "provider")
    text = text.strip()
    if not text:
        raise InputError("A note cannot be empty.")
    with store.session() as s:
        check_patient(s, actor, patient_id)
        note = Note(patient_id=patient_id, author_id=actor.user_id, created_at=current_time(), text=text)
        s.add(note)
        s.flush()
        record_event(s, actor, "note_add", patient_id, f"note {note.id}")
        return note.id


@audited_refusals
def list_notes(store: Store, actor: Actor, patient_id: int) -> list[dict]:
    """Notes on a patient, newest first: for the patient's providers."""
    require(actor, "provider")
    with store.session() as s:
        check_patient(s, actor, patient_id)
        rows = s.execute(select(Note, User.username).outerjoin(User, User.id == Note.author_id)
                         .where(Note.patient_id == patient_id).order_by(Note.created_at.desc(), Note.id.desc()))
        return [{"id": n.id, "created_at": n.created_at, "author": name or "-", "text": n.text} for n, name in rows]
