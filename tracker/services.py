"""Service functions: every read and write of the store, with access control.

Every function takes the acting :class:`Actor` and refuses what its role may
not do, so no page or command can bypass the rules:

==========  ====================================================================
patient     their own record: courses, photos, measurements; add photos
provider    patients assigned to them: everything clinical, notes, regions
researcher  de-identified exports only
admin       users, roles, assignments, the audit log; patient names (to assign)
system      the ``tracker`` command line, run by whoever holds the data directory
==========  ====================================================================

Errors are one sentence: :class:`AccessDenied`, :class:`NotFound`,
:class:`InputError`. Audit events record who did what to which patient id,
never names or photo content. Nothing here logs personal data.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tracker.analysis import Box, analyse_baseline, analyse_photo, parse_box, prepare_baseline
from tracker.io import PhotoError, decode_photo
from tracker.metrics import METRIC_VERSION
from tracker.progress import CourseProgress, PhotoPoint, course_progress
from tracker.recovery import TREATMENTS
from tracker.store.db import Store
from tracker.store.models import (
    ROLES,
    Analysis,
    AuditEvent,
    AuthSession,
    Course,
    CourseSummary,
    Note,
    Patient,
    Photo,
    ProviderAssignment,
    TreatmentSession,
    User,
)

__all__ = [
    "Actor", "SYSTEM", "AccessDenied", "NotFound", "InputError",
    "MAX_FAILED_SIGN_INS", "LOCKOUT", "SESSION_IDLE", "SESSION_MAX",
    "create_user", "sign_in", "actor_from_token", "sign_out", "list_users", "set_user_active",
    "assign_patient", "unassign_patient", "create_patient", "list_patients", "get_patient", "find_patient_id",
    "add_course", "add_session", "add_photo", "photo_bytes", "set_regions", "add_note", "list_notes",
    "refresh_analyses", "audit_log", "record_event", "PatientSummary", "PatientDetail", "CourseDetail",
    "PhotoOutcome",
]

MAX_FAILED_SIGN_INS = 5
LOCKOUT = timedelta(minutes=15)
SESSION_IDLE = timedelta(minutes=30)
SESSION_MAX = timedelta(hours=12)
_HASHER = PasswordHasher()  # argon2id with the library's current recommended parameters


class AccessDenied(PermissionError):
    """The actor may not do this (or is not signed in)."""


class NotFound(LookupError):
    """No such record (also said when the record exists but is not the actor's to see)."""


class InputError(ValueError):
    """Input that cannot be accepted; the message says what to change."""


@dataclass(frozen=True)
class Actor:
    """Who is acting: a signed-in user, or the command line (``SYSTEM``)."""

    role: str
    user_id: int | None = None
    patient_id: int | None = None
    username: str = ""


SYSTEM = Actor(role="system", username="command line")


def _now() -> datetime:
    return datetime.now().replace(microsecond=0)


def _require(actor: Actor, *roles: str) -> None:
    if actor.role != "system" and actor.role not in roles:
        raise AccessDenied("Your account is not allowed to do this.")


def record_event(session: Session, actor: Actor, action: str, patient_id: int | None = None,
                 detail: str = "") -> None:
    """Append an audit event (ids and counts only)."""
    session.add(AuditEvent(at=_now(), actor_id=actor.user_id, actor_role=actor.role, action=action,
                           patient_id=patient_id, detail=detail[:400]))


# --- accounts -----------------------------------------------------------------

def create_user(store: Store, actor: Actor, username: str, password: str, role: str,
                patient_id: int | None = None) -> int:
    """Create a local account (admin or command line). Returns the user id."""
    _require(actor, "admin")
    username = username.strip()
    if role not in ROLES:
        raise InputError(f"Unknown role {role!r}; choose one of {', '.join(ROLES)}.")
    if not username or len(username) > 80:
        raise InputError("A user name must be 1 to 80 characters.")
    if len(password) < 8:
        raise InputError("A password must be at least 8 characters.")
    if (role == "patient") != (patient_id is not None):
        raise InputError("A patient account must be linked to a patient record, and only a patient account.")
    with store.session() as s:
        if patient_id is not None and s.get(Patient, patient_id) is None:
            raise NotFound("There is no such patient.")
        if s.scalar(select(User.id).where(User.username == username)) is not None:
            raise InputError(f"The user name {username!r} is taken.")
        user = User(username=username, password_hash=_HASHER.hash(password), role=role, patient_id=patient_id,
                    active=True, failed_logins=0, created_at=_now())
        s.add(user)
        s.flush()
        record_event(s, actor, "user_add", patient_id, f"user {user.id} role {role}")
        return user.id


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def sign_in(store: Store, username: str, password: str) -> tuple[str, Actor]:
    """Check a password; returns a session token and the actor.

    After :data:`MAX_FAILED_SIGN_INS` failures in a row the account is locked
    for :data:`LOCKOUT`. The same message is given for an unknown user and a
    wrong password, so accounts cannot be discovered by trying names.
    """
    wrong = AccessDenied("Wrong user name or password.")
    refusal: AccessDenied | None = None
    with store.session() as s:
        user = s.scalar(select(User).where(User.username == username.strip()))
        now = _now()
        if user is None or not user.active:
            _HASHER.hash(password)  # same work as a real check: no timing hint
            record_event(s, Actor(role="anonymous"), "sign_in_failed", None, "unknown or inactive account")
            refusal = wrong
        elif user.locked_until is not None and user.locked_until > now:
            minutes = max(1, math.ceil((user.locked_until - now).total_seconds() / 60))
            record_event(s, Actor(role=user.role, user_id=user.id), "sign_in_locked")
            refusal = AccessDenied(
                f"This account is locked after too many failed sign-ins; try again in {minutes} minutes.")
        elif not _password_matches(user.password_hash, password):
            user.failed_logins += 1
            if user.failed_logins >= MAX_FAILED_SIGN_INS:
                user.locked_until = now + LOCKOUT
                user.failed_logins = 0
            record_event(s, Actor(role=user.role, user_id=user.id), "sign_in_failed")
            refusal = wrong
        else:
            if _HASHER.check_needs_rehash(user.password_hash):
                user.password_hash = _HASHER.hash(password)
            user.failed_logins = 0
            user.locked_until = None
            token = secrets.token_urlsafe(32)
            s.add(AuthSession(token_hash=_token_hash(token), user_id=user.id, created_at=now,
                              expires_at=now + SESSION_MAX, last_seen_at=now))
            actor = Actor(role=user.role, user_id=user.id, patient_id=user.patient_id, username=user.username)
            record_event(s, actor, "sign_in")
    # Raised after the block so the failure count and audit event are committed.
    if refusal is not None:
        raise refusal
    return token, actor


def _password_matches(password_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def actor_from_token(store: Store, token: str | None, *, now: datetime | None = None) -> Actor:
    """The actor of a live session; sessions end after :data:`SESSION_IDLE` idle or :data:`SESSION_MAX`."""
    expired = AccessDenied("Your session has ended; please sign in again.")
    if not token:
        raise expired
    now = now or _now()
    actor = None
    with store.session() as s:
        auth = s.get(AuthSession, _token_hash(token))
        user = s.get(User, auth.user_id) if auth is not None else None
        if auth is not None and (auth.expires_at <= now or auth.last_seen_at + SESSION_IDLE <= now):
            s.delete(auth)
        elif user is not None and user.active:
            auth.last_seen_at = now
            actor = Actor(role=user.role, user_id=user.id, patient_id=user.patient_id, username=user.username)
    if actor is None:
        raise expired
    return actor


def sign_out(store: Store, token: str) -> None:
    """End a session."""
    with store.session() as s:
        s.execute(delete(AuthSession).where(AuthSession.token_hash == _token_hash(token)))


def list_users(store: Store, actor: Actor) -> list[dict]:
    """Accounts, for administrators: id, user name, role, linked patient, active, locked."""
    _require(actor, "admin")
    now = _now()
    with store.session() as s:
        users = s.scalars(select(User).order_by(User.id)).all()
        assigned = {}
        for a in s.scalars(select(ProviderAssignment)):
            assigned.setdefault(a.provider_id, []).append(a.patient_id)
        return [{"id": u.id, "username": u.username, "role": u.role, "patient_id": u.patient_id,
                 "active": u.active, "locked": bool(u.locked_until and u.locked_until > now),
                 "assigned_patients": sorted(assigned.get(u.id, []))} for u in users]


def set_user_active(store: Store, actor: Actor, user_id: int, active: bool) -> None:
    """Enable or disable an account (disabling also ends its sessions)."""
    _require(actor, "admin")
    with store.session() as s:
        user = s.get(User, user_id)
        if user is None:
            raise NotFound("There is no such user.")
        user.active = active
        if not active:
            s.execute(delete(AuthSession).where(AuthSession.user_id == user_id))
        record_event(s, actor, "user_enable" if active else "user_disable", None, f"user {user_id}")


def assign_patient(store: Store, actor: Actor, provider_id: int, patient_id: int) -> None:
    """Give a provider access to a patient."""
    _require(actor, "admin")
    with store.session() as s:
        provider = s.get(User, provider_id)
        if provider is None or provider.role != "provider":
            raise InputError("Patients can only be assigned to provider accounts.")
        if s.get(Patient, patient_id) is None:
            raise NotFound("There is no such patient.")
        if s.get(ProviderAssignment, (provider_id, patient_id)) is None:
            s.add(ProviderAssignment(provider_id=provider_id, patient_id=patient_id))
            record_event(s, actor, "assign", patient_id, f"provider {provider_id}")


def unassign_patient(store: Store, actor: Actor, provider_id: int, patient_id: int) -> None:
    """Withdraw a provider's access to a patient."""
    _require(actor, "admin")
    with store.session() as s:
        s.execute(delete(ProviderAssignment).where(ProviderAssignment.provider_id == provider_id,
                                                   ProviderAssignment.patient_id == patient_id))
        record_event(s, actor, "unassign", patient_id, f"provider {provider_id}")


# --- what an actor may see ------------------------------------------------------

def _visible_patient_ids(s: Session, actor: Actor):
    """A SELECT of the patient ids the actor may see clinically, or None for all."""
    if actor.role == "system":
        return None
    if actor.role == "patient":
        return select(Patient.id).where(Patient.id == actor.patient_id)
    if actor.role == "provider":
        return select(ProviderAssignment.patient_id).where(ProviderAssignment.provider_id == actor.user_id)
    raise AccessDenied("Your account cannot see patient records.")


# Not found and not allowed read the same, word for word: no hint that a record exists.
_HIDDEN = "There is no such record, or it is not yours to see."


def _check_patient(s: Session, actor: Actor, patient_id: int) -> Patient:
    visible = _visible_patient_ids(s, actor)
    query = select(Patient).where(Patient.id == patient_id)
    if visible is not None:
        query = query.where(Patient.id.in_(visible))
    patient = s.scalar(query)
    if patient is None:
        raise NotFound(_HIDDEN)
    return patient


def _check_course(s: Session, actor: Actor, course_id: int) -> Course:
    course = s.get(Course, course_id)
    if course is None:
        raise NotFound(_HIDDEN)
    _check_patient(s, actor, course.patient_id)
    return course


# --- patients and courses -----------------------------------------------------------

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


_STATUS_ORDER = {"review": 0, "slower": 1, "not_assessed": 2, "on_track": 3, "ahead": 4}


def create_patient(store: Store, actor: Actor, reference: str, display_name: str,
                   skin_type: str | None = None) -> int:
    """Register a patient. A provider who does so is assigned to them."""
    _require(actor, "admin", "provider")
    reference = reference.strip()
    if not reference:
        raise InputError("A patient needs an identifier.")
    if skin_type is not None and skin_type.strip().upper() not in ("I", "II", "III", "IV", "V", "VI"):
        raise InputError("Skin type must be a Fitzpatrick type, I to VI.")
    with store.session() as s:
        if s.scalar(select(Patient.id).where(Patient.reference == reference)) is not None:
            raise InputError("A patient with this identifier exists already.")
        patient = Patient(reference=reference, display_name=display_name.strip() or reference,
                          skin_type=skin_type.strip().upper() if skin_type else None, created_at=_now())
        s.add(patient)
        s.flush()
        if actor.role == "provider":
            s.add(ProviderAssignment(provider_id=actor.user_id, patient_id=patient.id))
        record_event(s, actor, "patient_add", patient.id)
        return patient.id


def find_patient_id(store: Store, actor: Actor, reference: str) -> int | None:
    """The id of the visible patient with this clinic identifier, if any."""
    with store.session() as s:
        visible = _visible_patient_ids(s, actor)
        query = select(Patient.id).where(Patient.reference == reference)
        if visible is not None:
            query = query.where(Patient.id.in_(visible))
        return s.scalar(query)


def add_course(store: Store, actor: Actor, patient_id: int, treatment: str, treated_on: date,
               area: str = "treated area", roi: Box | None = None, control: Box | None = None) -> int:
    """Record a treated area with its first session; returns the course id (existing one if the same)."""
    _require(actor, "provider")
    if treatment not in TREATMENTS:
        raise InputError(f"Unknown treatment {treatment!r}; choose one of: {', '.join(TREATMENTS)}.")
    with store.session() as s:
        _check_patient(s, actor, patient_id)
        course = s.scalar(select(Course).where(Course.patient_id == patient_id, Course.treatment == treatment,
                                               Course.area == area))
        if course is None:
            course = Course(patient_id=patient_id, treatment=treatment, area=area,
                            roi=list(roi) if roi else None, control=list(control) if control else None)
            s.add(course)
            s.flush()
            record_event(s, actor, "course_add", patient_id, f"course {course.id} {treatment}")
        _add_session(s, course, treated_on)
        return course.id


def _add_session(s: Session, course: Course, treated_on: date) -> None:
    exists = s.scalar(select(TreatmentSession.id).where(TreatmentSession.course_id == course.id,
                                                        TreatmentSession.treated_on == treated_on))
    if exists is None:
        s.add(TreatmentSession(course_id=course.id, treated_on=treated_on))


def add_session(store: Store, actor: Actor, course_id: int, treated_on: date) -> None:
    """Record a further session of a multi-session treatment."""
    _require(actor, "provider")
    with store.session() as s:
        course = _check_course(s, actor, course_id)
        _add_session(s, course, treated_on)
        s.flush()
        _store_summary(s, course)
        record_event(s, actor, "session_add", course.patient_id, f"course {course_id}")


# --- photos ---------------------------------------------------------------------

@dataclass(frozen=True)
class PhotoOutcome:
    """What became of an added photo."""

    photo_id: int
    created: bool  # False: the same photo was already in this course
    analysis: dict | None  # PhotoAnalysis.to_dict() against the course baseline
    is_baseline: bool


def add_photo(store: Store, actor: Actor, course_id: int, data: bytes, taken_at: datetime | None = None,
              *, taken_at_source: str | None = None, analyse: bool = True) -> PhotoOutcome:
    """Store a photo in a course and analyse it against the course baseline.

    The file is written (atomically, metadata stripped) before the row is
    committed; the same photo added twice is stored and recorded once. The
    capture time comes from ``taken_at`` when given, else EXIF, else now.

    Raises
    ------
    PhotoError
        The bytes are not a usable photo (nothing is stored).
    """
    _require(actor, "patient", "provider")
    photo = decode_photo(data)  # refuse bad input before anything is written
    with store.session() as s:
        _check_course(s, actor, course_id)
    stored = store.photos.put(data, validated=True)
    when, source = (taken_at, taken_at_source or "entered") if taken_at else (
        (photo.captured_at.replace(tzinfo=None), "exif") if photo.captured_at else (_now(), "upload"))
    with store.session() as s:
        course = _check_course(s, actor, course_id)
        existing = s.scalar(select(Photo).where(Photo.course_id == course_id,
                                                Photo.content_hash == stored.content_hash))
        created = existing is None
        if created:
            try:
                with s.begin_nested():
                    existing = Photo(course_id=course_id, content_hash=stored.content_hash, width=photo.width,
                                     height=photo.height, taken_at=when, taken_at_source=source,
                                     uploaded_at=_now())
                    s.add(existing)
                    s.flush()
                record_event(s, actor, "photo_add", course.patient_id, f"photo {existing.id}")
            except IntegrityError:  # the same photo, uploaded twice at once, was recorded by the other upload
                created = False
                existing = s.scalar(select(Photo).where(Photo.course_id == course_id,
                                                        Photo.content_hash == stored.content_hash))
        photo_id = existing.id
    analysis = None
    is_baseline = False
    if analyse:
        results = _refresh_analyses(store, course_id)
        analysis = results.get(photo_id)
        with store.session() as s:
            is_baseline = _baseline_photo(s, course_id).id == photo_id
    return PhotoOutcome(photo_id, created, analysis, is_baseline)


def photo_bytes(store: Store, actor: Actor, photo_id: int) -> bytes:
    """The stored (metadata-stripped) file of a photo."""
    _require(actor, "patient", "provider")
    with store.session() as s:
        photo = s.get(Photo, photo_id)
        if photo is None:
            raise NotFound(_HIDDEN)
        course = _check_course(s, actor, photo.course_id)
        content_hash = photo.content_hash
        patient_id = course.patient_id
        record_event(s, actor, "photo_view", patient_id, f"photo {photo_id}")
    return store.photos.read(content_hash)


def set_regions(store: Store, actor: Actor, course_id: int, roi: Box | None, control: Box | None) -> None:
    """Change the region of interest and control (baseline pixels); photos are re-analysed."""
    _require(actor, "provider")
    with store.session() as s:
        course = _check_course(s, actor, course_id)
        baseline = _baseline_photo(s, course_id)
        for box, name in ((roi, "region of interest"), (control, "control region")):
            if box is not None and baseline is not None:
                x, y, w, h = box
                if x < 0 or y < 0 or w <= 0 or h <= 0 or x + w > baseline.width or y + h > baseline.height:
                    raise InputError(f"The {name} must lie inside the baseline photo "
                                     f"({baseline.width}x{baseline.height} pixels).")
        course.roi = list(roi) if roi else None
        course.control = list(control) if control else None
        record_event(s, actor, "regions_set", course.patient_id, f"course {course_id}")
    _refresh_analyses(store, course_id)


# --- analysis cache ------------------------------------------------------------------

def _regions_key(roi, control) -> str:
    fmt = lambda b: "-" if not b else ",".join(str(int(v)) for v in b)  # noqa: E731
    return f"roi={fmt(roi)};control={fmt(control)}"


def _baseline_photo(s: Session, course_id: int) -> Photo | None:
    return s.scalar(select(Photo).where(Photo.course_id == course_id).order_by(Photo.taken_at, Photo.id).limit(1))


@lru_cache(maxsize=4)
def _prepared_baseline(content_hash: str, roi: tuple | None, control: tuple | None, data: bytes):
    # Keyed by content hash; ``data`` rides along for the first computation.
    return prepare_baseline(decode_photo(data).rgb, roi, control)


def refresh_analyses(store: Store, actor: Actor, course_id: int,
                     progress: Callable[[int, int], None] | None = None) -> dict[int, dict]:
    """Bring a course's analyses up to date (providers of the patient, the command line).

    See :func:`_refresh_analyses`; returns every photo's current result by photo id.
    """
    _require(actor, "provider")
    with store.session() as s:
        _check_course(s, actor, course_id)
    return _refresh_analyses(store, course_id, progress)


def _refresh_analyses(store: Store, course_id: int,
                      progress: Callable[[int, int], None] | None = None) -> dict[int, dict]:
    """Analyse every photo of a course that has no result for the current baseline, regions and metric version.

    Each result is committed on its own, so an interrupted run keeps what it
    finished and the next run does the rest. Returns the current result of
    every photo, by photo id. ``progress(done, total)`` follows the photos analysed.
    """
    with store.session() as s:
        course = s.get(Course, course_id)
        baseline = _baseline_photo(s, course_id)
        if course is None or baseline is None:
            return {}
        roi = tuple(course.roi) if course.roi else None
        control = tuple(course.control) if course.control else None
        key = _regions_key(roi, control)
        photos = s.scalars(select(Photo).where(Photo.course_id == course_id).order_by(Photo.taken_at, Photo.id)).all()
        current = {a.photo_id: a.result for a in s.scalars(select(Analysis).where(
            Analysis.photo_id.in_([p.id for p in photos]), Analysis.baseline_hash == baseline.content_hash,
            Analysis.metric_version == METRIC_VERSION, Analysis.regions_key == key))}
        baseline_hash = baseline.content_hash
        todo = [(p.id, p.content_hash) for p in photos if p.id not in current]
    if not todo:
        _ensure_summary(store, course_id)
        return current
    try:
        prepared = _prepared_baseline(baseline_hash, roi, control, store.photos.read(baseline_hash))
    except ValueError as exc:  # regions that no longer fit the baseline
        prepared = None
        failure = {"ok": False, "error": str(exc), "quality": None, "alignment": None, "colour": None,
                   "metrics": None, "metric_version": METRIC_VERSION}
    for done, (photo_id, content_hash) in enumerate(todo, start=1):
        if prepared is None:
            result = failure
        elif content_hash == baseline_hash:
            result = analyse_baseline(prepared).to_dict()
        else:
            try:
                result = analyse_photo(decode_photo(store.photos.read(content_hash)).rgb, prepared).to_dict()
            except PhotoError as exc:
                result = {"ok": False, "error": str(exc), "quality": None, "alignment": None, "colour": None,
                          "metrics": None, "metric_version": METRIC_VERSION}
        with store.session() as s:
            try:
                with s.begin_nested():
                    s.add(Analysis(
                        photo_id=photo_id, baseline_hash=baseline_hash, metric_version=METRIC_VERSION,
                        regions_key=key, ok=bool(result.get("ok")),
                        quality_ok=(result.get("quality") or {}).get("ok"),
                        redness_delta_a=(result.get("metrics") or {}).get("redness_delta_a"),
                        result=result, computed_at=_now()))
            except IntegrityError:
                pass  # another process stored the same result first
        current[photo_id] = result
        if progress:
            progress(done, len(todo))
    with store.session() as s:
        _store_summary(s, s.get(Course, course_id))
    return current


# --- reading a patient ------------------------------------------------------------------

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


@dataclass(frozen=True)
class PatientDetail:
    """A patient's record as the actor may see it."""

    id: int
    reference: str
    display_name: str
    skin_type: str | None
    courses: tuple[CourseDetail, ...] = field(default=())


def _course_detail(s: Session, course: Course, skin_type: str | None) -> CourseDetail:
    baseline = _baseline_photo(s, course.id)
    roi = tuple(course.roi) if course.roi else None
    control = tuple(course.control) if course.control else None
    photos = s.scalars(select(Photo).where(Photo.course_id == course.id)).all()
    results = {}
    if baseline is not None:
        results = {a.photo_id: a.result for a in s.scalars(select(Analysis).where(
            Analysis.photo_id.in_([p.id for p in photos]), Analysis.baseline_hash == baseline.content_hash,
            Analysis.metric_version == METRIC_VERSION, Analysis.regions_key == _regions_key(roi, control)))}
    sessions = tuple(sorted(t.treated_on for t in s.scalars(
        select(TreatmentSession).where(TreatmentSession.course_id == course.id))))
    progress = course_progress(course.treatment, list(sessions),
                               [PhotoPoint(p.id, p.taken_at, results.get(p.id)) for p in photos], skin_type)
    return CourseDetail(course.id, course.treatment, course.area, roi, control, sessions,
                        baseline.id if baseline else None,
                        (baseline.width, baseline.height) if baseline else None, progress)


def get_patient(store: Store, actor: Actor, patient_id: int) -> PatientDetail:
    """A patient's courses, photos (ids), measurements and assessments. Audited as a view."""
    with store.session() as s:
        patient = _check_patient(s, actor, patient_id)
        courses = s.scalars(select(Course).where(Course.patient_id == patient_id).order_by(Course.id)).all()
        details = tuple(_course_detail(s, c, patient.skin_type) for c in courses)
        record_event(s, actor, "patient_view", patient_id)
        return PatientDetail(patient.id, patient.reference, patient.display_name, patient.skin_type, details)


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
        visible = _visible_patient_ids(s, actor)
        query = (select(Patient, Course, CourseSummary).outerjoin(Course, Course.patient_id == Patient.id)
                 .outerjoin(CourseSummary, CourseSummary.course_id == Course.id).order_by(Patient.id, Course.id))
        if visible is not None:
            query = query.where(Patient.id.in_(visible))
        rows = s.execute(query).all()
        for _, course, summary in rows:
            if course is not None and summary is None:  # e.g. imported without analysis
                _store_summary(s, course)
        if any(course is not None and summary is None for _, course, summary in rows):
            rows = s.execute(query).all()
        course_ids = [c.id for _, c, _ in rows if c is not None]
        last_session = dict(s.execute(
            select(TreatmentSession.course_id, func.max(TreatmentSession.treated_on))
            .where(TreatmentSession.course_id.in_(course_ids)).group_by(TreatmentSession.course_id)).all())
        grouped: dict[int, list] = {}
        patients = {}
        for patient, course, summary in rows:
            patients[patient.id] = patient
            grouped.setdefault(patient.id, [])
            if course is not None:
                grouped[patient.id].append((course, summary))
        summaries = [_patient_summary(patients[pid], courses, last_session) for pid, courses in grouped.items()]
    return sorted(summaries, key=lambda p: (_STATUS_ORDER.get(p.status, 9), -(p.trend or 0), p.reference))


def _patient_summary(patient: Patient, courses: list, last_session: dict) -> PatientSummary:
    statuses = [summary.status for _, summary in courses] or ["not_assessed"]
    status = min(statuses, key=lambda st: _STATUS_ORDER.get(st, 9))
    latest = [summary for _, summary in courses if summary.last_photo_at is not None]
    newest = max(latest, key=lambda sm: sm.last_photo_at, default=None)
    sessions = [last_session[c.id] for c, _ in courses if c.id in last_session]
    return PatientSummary(
        id=patient.id, reference=patient.reference, display_name=patient.display_name, skin_type=patient.skin_type,
        status=status, treatments=tuple(c.treatment for c, _ in courses),
        days_since_treatment=(date.today() - max(sessions)).days if sessions else None,
        last_photo_at=newest.last_photo_at if newest else None,
        photos=sum(summary.photos for _, summary in courses), trend=newest.trend if newest else None,
        reasons=tuple(r for _, summary in courses if summary.status == status for r in summary.reasons[:1]),
    )


def _store_summary(s: Session, course: Course) -> None:
    """Recompute and store a course's summary from its current analyses."""
    patient = s.get(Patient, course.patient_id)
    progress = _course_detail(s, course, patient.skin_type).progress
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
        computed_at=_now(),
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


def _ensure_summary(store: Store, course_id: int) -> None:
    with store.session() as s:
        if s.get(CourseSummary, course_id) is None:
            _store_summary(s, s.get(Course, course_id))


# --- notes and audit ----------------------------------------------------------------

def add_note(store: Store, actor: Actor, patient_id: int, text: str) -> int:
    """A provider's note on a patient (never exported)."""
    _require(actor, "provider")
    text = text.strip()
    if not text:
        raise InputError("A note cannot be empty.")
    with store.session() as s:
        _check_patient(s, actor, patient_id)
        note = Note(patient_id=patient_id, author_id=actor.user_id, created_at=_now(), text=text)
        s.add(note)
        s.flush()
        record_event(s, actor, "note_add", patient_id, f"note {note.id}")
        return note.id


def list_notes(store: Store, actor: Actor, patient_id: int) -> list[dict]:
    """Notes on a patient, newest first: for the patient's providers."""
    _require(actor, "provider")
    with store.session() as s:
        _check_patient(s, actor, patient_id)
        rows = s.execute(select(Note, User.username).outerjoin(User, User.id == Note.author_id)
                         .where(Note.patient_id == patient_id).order_by(Note.created_at.desc(), Note.id.desc()))
        return [{"id": n.id, "created_at": n.created_at, "author": name or "-", "text": n.text} for n, name in rows]


def audit_log(store: Store, actor: Actor, limit: int = 500) -> list[dict]:
    """The newest audit events (administrators)."""
    _require(actor, "admin")
    with store.session() as s:
        rows = s.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)).all()
        return [{"at": e.at, "actor_id": e.actor_id, "role": e.actor_role, "action": e.action,
                 "patient_id": e.patient_id, "detail": e.detail} for e in rows]


def parse_region(text: str | None) -> Box | None:
    """``"X,Y,W,H"`` or empty; InputError with one line if malformed."""
    if text is None or not str(text).strip():
        return None
    try:
        return parse_box(str(text))
    except ValueError as exc:
        raise InputError(f"Region {text!r}: {exc}.") from None
