"""Database tables (SQLAlchemy 2 declarative models).

A *course* is one treated area of one patient followed over time: its
treatment type, its region of interest and control in the baseline photo's
pixels, its sessions and its photos. The baseline of a course is the photo a
provider chose and confirmed (``course_baselines``), or until then the earliest
photo in use (see :func:`tracker.services.analyses.baseline_photo`). Analysis
results are cached per (photo, baseline, metric version, regions) so they are
recomputed exactly when one of those changes.

A photo is ``active`` (on the course's time line), ``held`` (a patient's upload
dated before the course's baseline: kept for a provider to review, not used) or
``hidden`` (taken off the course by a provider; kept, and audited).

Personal data lives only in ``patients.reference`` and ``patients.display_name``,
provider notes and user names; exports never read them. Sign-in throttling keeps
keyed hashes of the names tried and of where they came from, never the text.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

ROLES = ("patient", "provider", "researcher", "admin")
PHOTO_STATES = ("active", "held", "hidden")


class Base(DeclarativeBase):
    """Declarative base of every table."""


class Patient(Base):
    __tablename__ = "patients"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str] = mapped_column(String(120), unique=True)  # the clinic's own identifier
    display_name: Mapped[str] = mapped_column(String(200))
    skin_type: Mapped[str | None] = mapped_column(String(3))  # Fitzpatrick I-VI, when recorded
    created_at: Mapped[datetime] = mapped_column(DateTime)

    courses: Mapped[list[Course]] = relationship(back_populates="patient", order_by="Course.id")


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id", ondelete="SET NULL"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class ProviderAssignment(Base):
    __tablename__ = "provider_assignments"

    provider_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), primary_key=True)


class Course(Base):
    __tablename__ = "courses"
    __table_args__ = (UniqueConstraint("patient_id", "treatment", "area"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), index=True)
    treatment: Mapped[str] = mapped_column(String(60))  # a key of tracker.recovery.TREATMENTS
    area: Mapped[str] = mapped_column(String(120))
    roi: Mapped[list[int] | None] = mapped_column(JSON)  # [x, y, w, h] in baseline pixels
    control: Mapped[list[int] | None] = mapped_column(JSON)
    # What the treatment covered: "face" (skin outside the roi may be treated too) or "region"
    # (only the roi): tracker.analysis.TREATED_EXTENTS.
    treated_extent: Mapped[str] = mapped_column(String(10), default="face")

    patient: Mapped[Patient] = relationship(back_populates="courses")
    sessions: Mapped[list[TreatmentSession]] = relationship(order_by="TreatmentSession.treated_on")
    photos: Mapped[list[Photo]] = relationship(order_by="(Photo.taken_at, Photo.id)")


class TreatmentSession(Base):
    __tablename__ = "treatment_sessions"
    __table_args__ = (UniqueConstraint("course_id", "treated_on"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"), index=True)
    treated_on: Mapped[date] = mapped_column(Date)


class Photo(Base):
    __tablename__ = "photos"
    __table_args__ = (UniqueConstraint("course_id", "content_hash"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"), index=True)
    content_hash: Mapped[str] = mapped_column(String(64), index=True)  # sha256 of the stored file
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    taken_at: Mapped[datetime] = mapped_column(DateTime)
    taken_at_source: Mapped[str] = mapped_column(String(20))  # exif | manifest | entered | upload
    uploaded_at: Mapped[datetime] = mapped_column(DateTime)
    # Taken on a session's day: before (True) or after (False) that treatment; None when not known.
    before_session: Mapped[bool | None] = mapped_column(Boolean)
    state: Mapped[str] = mapped_column(String(10), default="active")  # one of PHOTO_STATES
    # Which camera took it: a keyed digest of EXIF's maker and model (never the name itself), to
    # tell photos of another camera than the baseline's; None when the file did not say.
    camera_key: Mapped[str | None] = mapped_column(String(16))


class CourseBaseline(Base):
    """The baseline photo a provider chose for a course, and who confirmed it when."""

    __tablename__ = "course_baselines"

    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"), primary_key=True)
    photo_id: Mapped[int] = mapped_column(ForeignKey("photos.id", ondelete="CASCADE"), index=True)
    confirmed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    confirmed_at: Mapped[datetime] = mapped_column(DateTime)


class Analysis(Base):
    __tablename__ = "analyses"
    __table_args__ = (UniqueConstraint("photo_id", "baseline_hash", "metric_version", "regions_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    photo_id: Mapped[int] = mapped_column(ForeignKey("photos.id", ondelete="CASCADE"), index=True)
    baseline_hash: Mapped[str] = mapped_column(String(64))
    metric_version: Mapped[str] = mapped_column(String(20))
    regions_key: Mapped[str] = mapped_column(String(80))
    ok: Mapped[bool] = mapped_column(Boolean)
    quality_ok: Mapped[bool | None] = mapped_column(Boolean)
    redness_delta_a: Mapped[float | None] = mapped_column(Float)  # copied out of result for fast listing
    result: Mapped[dict] = mapped_column(JSON)  # PhotoAnalysis.to_dict()
    computed_at: Mapped[datetime] = mapped_column(DateTime)


class Note(Base):
    __tablename__ = "notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    text: Mapped[str] = mapped_column(Text)


class ResearchConsent(Base):
    """A patient's consent to research use of their de-identified data, and its withdrawal.

    The patient's newest row is their current answer: consenting while it is not withdrawn.
    """

    __tablename__ = "research_consents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), index=True)
    text_version: Mapped[str] = mapped_column(String(20))  # a key of tracker.services.consent.CONSENT_TEXTS
    given_at: Mapped[datetime] = mapped_column(DateTime)
    recorded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    withdrawn_at: Mapped[datetime | None] = mapped_column(DateTime)
    withdrawn_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class ClinicianGrade(Base):
    """A provider's grade of a photo on a validated clinical scale (see tracker.recovery.scales)."""

    __tablename__ = "clinician_grades"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    photo_id: Mapped[int] = mapped_column(ForeignKey("photos.id", ondelete="CASCADE"), index=True)
    scale: Mapped[str] = mapped_column(String(30))  # a key of tracker.recovery.scales.SCALES
    scale_version: Mapped[str] = mapped_column(String(20))
    score: Mapped[float] = mapped_column(Float)  # the scale's grade or total
    items: Mapped[dict | None] = mapped_column(JSON)  # item scores of a multi-item scale
    graded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    graded_at: Mapped[datetime] = mapped_column(DateTime)


class PatientReport(Base):
    """A patient's answers to the short questionnaire sent with a photo (every answer optional)."""

    __tablename__ = "patient_reports"

    photo_id: Mapped[int] = mapped_column(ForeignKey("photos.id", ondelete="CASCADE"), primary_key=True)
    questionnaire_version: Mapped[str] = mapped_column(String(20))
    answers: Mapped[dict] = mapped_column(JSON)  # question key -> answer
    answered_at: Mapped[datetime] = mapped_column(DateTime)


class AuthSession(Base):
    __tablename__ = "auth_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime)
    # The browser's cookie (hashed), so any app replica, and a reload, finds the session.
    browser_key_hash: Mapped[str | None] = mapped_column(String(64), index=True, nullable=True)


class AuditEvent(Base):
    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor_role: Mapped[str] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(40))
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id", ondelete="SET NULL"))
    detail: Mapped[str] = mapped_column(String(400), default="")  # ids and counts only, never names
    # The pseudonymous id of an erased patient, in place of their patient and account ids.
    subject: Mapped[str | None] = mapped_column(String(16), index=True)


class SignInThrottle(Base):
    """Failed sign-ins of one account name (or ``*``: any) from one source, and the back-off they earned.

    Both keys are HMAC-SHA256 under the installation's secret key, so neither the names
    people typed (sometimes a password) nor their addresses are stored.
    """

    __tablename__ = "sign_in_throttle"

    account_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    source_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    last_failure_at: Mapped[datetime] = mapped_column(DateTime)
    blocked_until: Mapped[datetime | None] = mapped_column(DateTime)


class CourseSummary(Base):
    """A course's status and figures as of its latest analysis, so lists load without refitting."""

    __tablename__ = "course_summaries"

    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"), primary_key=True)
    status: Mapped[str] = mapped_column(String(20))
    reasons: Mapped[list[str]] = mapped_column(JSON)  # patient-facing sentences
    provider_reasons: Mapped[list[str]] = mapped_column(JSON)
    projected_resolution_day: Mapped[float | None] = mapped_column(Float)
    last_photo_at: Mapped[datetime | None] = mapped_column(DateTime)
    photos: Mapped[int] = mapped_column(Integer)
    trend: Mapped[float | None] = mapped_column(Float)  # change of excess redness over the last two photos
    computed_at: Mapped[datetime] = mapped_column(DateTime)


class AnalysisJob(Base):
    """One photo to analyse under one cache key: the work queue of batch analysis.

    A worker claims a job by setting ``state`` to ``running`` with its name in ``lease_owner``
    and a ``lease_expires_at``; it stores the result and marks the job ``done`` in one
    transaction. A claim whose lease expired, or whose owner process is gone, is taken again
    (``attempts`` counts the claims), so a killed worker loses nothing and finishes nothing twice.
    """

    __tablename__ = "analysis_jobs"
    __table_args__ = (UniqueConstraint("photo_id", "baseline_hash", "metric_version", "regions_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    photo_id: Mapped[int] = mapped_column(ForeignKey("photos.id", ondelete="CASCADE"), index=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"), index=True)
    baseline_hash: Mapped[str] = mapped_column(String(64))
    metric_version: Mapped[str] = mapped_column(String(20))
    regions_key: Mapped[str] = mapped_column(String(80))
    state: Mapped[str] = mapped_column(String(10), index=True)  # pending | running | done | failed
    lease_owner: Mapped[str | None] = mapped_column(String(120))  # host:pid:token of the claiming process
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(String(400))  # one line, never personal data
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    finished_by: Mapped[str | None] = mapped_column(String(16))  # the batch that finished it: a random id
