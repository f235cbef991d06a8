"""Patients' consent to research use of their data, its withdrawal, and erasure on request.

Consent is recorded with who recorded it, when, and the version of the text the patient
agreed to (:data:`CONSENT_TEXTS`); it is withdrawn the same way. Research exports and the
researcher's views include only patients whose newest consent stands
(:func:`consenting_patient_ids`), so a withdrawal takes effect at the next export. Both are
audited.

Erasure (:func:`erase_patient`) removes a patient's record on request: photos (rows and
files, unless another record holds the same file), measurements, sessions, notes, grades,
answers, consents, their own accounts and sign-in back-offs. Audit events are kept, with the
patient's and accounts' ids replaced by a pseudonymous ``subject`` (a keyed hash that no
export carries). The embedded database is vacuumed afterwards, so the file keeps no deleted
page; backups made afterwards hold nothing of the patient, since a backup copies rows and the
files those rows refer to. Backups made before are not touched: delete or age them out.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from tracker.services.access import HIDDEN, Actor, InputError, NotFound, check_patient, current_time, require
from tracker.services.accounts import _account_key as account_key
from tracker.services.audit import audited_refusals, record_event
from tracker.store.db import Store
from tracker.store.models import (
    AuditEvent,
    Course,
    Patient,
    Photo,
    ResearchConsent,
    SignInThrottle,
    User,
)

__all__ = ["CONSENT_TEXTS", "CURRENT_CONSENT_VERSION", "ConsentStatus", "Erasure", "pseudonym", "consent_sentence",
           "left_out_sentence",
           "consenting_patient_ids", "consent_status", "record_consent", "withdraw_consent", "erase_patient"]

#: The consent texts patients agree to, by version. A new wording gets a new version; old
#: ones stay, so every recorded consent still names the text it was given to.
CONSENT_TEXTS = {
    "2026-12": (
        "I agree that the measurements taken from my photos (redness, pigmentation and texture), my "
        "treatment type, skin type, the days since my treatment, my clinician's grades and my answers to the "
        "questionnaires may be used for research, de-identified: under a code instead of my name, with days "
        "instead of dates, and without my photos, notes or anything else that names me. I can withdraw this "
        "consent at any time; my data then leaves every research export made afterwards. Withdrawing does not "
        "change my care."
    ),
}
CURRENT_CONSENT_VERSION = "2026-12"


def pseudonym(key: bytes, kind: str, value: str) -> str:
    """A stable pseudonymous id: HMAC-SHA256 of ``kind:value`` under the installation's key, 16 hex digits."""
    return hmac.new(key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()[:16]


@dataclass(frozen=True)
class ConsentStatus:
    """A patient's current answer on research use."""

    consenting: bool
    text_version: str | None = None  # None: never asked
    given_at: datetime | None = None
    withdrawn_at: datetime | None = None


def consent_sentence(status: ConsentStatus) -> str:
    """The patient's answer in one sentence, for the app and the command line."""
    if status.text_version is None:
        return "No consent to research use is recorded: the patient's data is not exported."
    if status.consenting:
        return (f"Consents to research use (text {status.text_version}, given {status.given_at:%Y-%m-%d %H:%M}): "
                "de-identified data is exported.")
    return (f"Consent to research use withdrawn on {status.withdrawn_at:%Y-%m-%d %H:%M} (text "
            f"{status.text_version}): the patient's data is not exported.")


def left_out_sentence(left_out: int) -> str:
    """How many patients an export left out for want of consent."""
    if left_out == 0:
        return "Every patient consented to research use; none was left out."
    return (f"{left_out} patient{'s' if left_out != 1 else ''} left out: no consent to research use "
            "(never given, or withdrawn).")


def consenting_patient_ids(s: Session):
    """A SELECT of the ids of patients whose newest consent is not withdrawn."""
    newest = select(func.max(ResearchConsent.id)).group_by(ResearchConsent.patient_id)
    return select(ResearchConsent.patient_id).where(ResearchConsent.id.in_(newest),
                                                    ResearchConsent.withdrawn_at.is_(None))


def _patient_for(s: Session, actor: Actor, patient_id: int) -> Patient:
    """The patient, for an actor who may record their consent (administrators see every patient's name)."""
    if actor.role == "admin":
        patient = s.get(Patient, patient_id)
        if patient is None:
            raise NotFound(HIDDEN)
        return patient
    return check_patient(s, actor, patient_id)


def _newest(s: Session, patient_id: int) -> ResearchConsent | None:
    return s.scalar(select(ResearchConsent).where(ResearchConsent.patient_id == patient_id)
                    .order_by(ResearchConsent.id.desc()).limit(1))


@audited_refusals
def consent_status(store: Store, actor: Actor, patient_id: int) -> ConsentStatus:
    """The patient's current answer (the patient, their providers, administrators)."""
    require(actor, "patient", "provider", "admin")
    with store.session() as s:
        _patient_for(s, actor, patient_id)
        row = _newest(s, patient_id)
        if row is None:
            return ConsentStatus(False)
        return ConsentStatus(row.withdrawn_at is None, row.text_version, row.given_at, row.withdrawn_at)


@audited_refusals
def record_consent(store: Store, actor: Actor, patient_id: int,
                   text_version: str = CURRENT_CONSENT_VERSION) -> None:
    """Record that the patient agreed to ``text_version`` of :data:`CONSENT_TEXTS`. Audited."""
    require(actor, "patient", "provider", "admin")
    if text_version not in CONSENT_TEXTS:
        raise InputError(f"Unknown consent text {text_version!r}; the versions are: {', '.join(CONSENT_TEXTS)}.")
    with store.session() as s:
        _patient_for(s, actor, patient_id)
        s.add(ResearchConsent(patient_id=patient_id, text_version=text_version, given_at=current_time(),
                              recorded_by=actor.user_id))
        record_event(s, actor, "consent_give", patient_id, f"text {text_version}")


@audited_refusals
def withdraw_consent(store: Store, actor: Actor, patient_id: int) -> None:
    """Withdraw the patient's consent: they leave every research export from the next one. Audited."""
    require(actor, "patient", "provider", "admin")
    with store.session() as s:
        _patient_for(s, actor, patient_id)
        row = _newest(s, patient_id)
        if row is None or row.withdrawn_at is not None:
            raise InputError("There is no consent to research use to withdraw.")
        row.withdrawn_at, row.withdrawn_by = current_time(), actor.user_id
        record_event(s, actor, "consent_withdraw", patient_id, f"text {row.text_version}")


@dataclass(frozen=True)
class Erasure:
    """What an erasure removed, and the pseudonymous id the audit log keeps."""

    subject: str
    photos: int
    files: int  # photo files removed (a file another record also holds stays)
    accounts: int


@audited_refusals
def erase_patient(store: Store, actor: Actor, patient_id: int) -> Erasure:
    """Erase a patient on request (administrators, the command line). Cannot be undone.

    Everything of the patient goes (see the module's description); the audit log keeps its
    events under the returned pseudonymous ``subject``, and records the erasure itself.
    """
    require(actor, "admin")
    with store.session() as s:
        patient = s.get(Patient, patient_id)
        if patient is None:
            raise NotFound(HIDDEN)
        subject = pseudonym(store.secret_key, "erased", patient.reference)
        hashes = set(s.scalars(select(Photo.content_hash).join(Course).where(Course.patient_id == patient_id)))
        photos = s.scalar(select(func.count()).select_from(Photo).join(Course)
                          .where(Course.patient_id == patient_id))
        accounts = s.scalars(select(User).where(User.patient_id == patient_id)).all()
        account_ids = [u.id for u in accounts]
        s.execute(delete(SignInThrottle).where(SignInThrottle.account_key.in_(
            [account_key(store, u.username) for u in accounts])))
        s.execute(update(AuditEvent).where(AuditEvent.patient_id == patient_id)
                  .values(patient_id=None, subject=subject))
        if account_ids:
            s.execute(update(AuditEvent).where(AuditEvent.actor_id.in_(account_ids))
                      .values(actor_id=None, subject=subject))
            s.execute(delete(User).where(User.id.in_(account_ids)))
        # The database's own cascades remove courses, sessions, photos, analyses, summaries, baselines,
        # notes, consents, grades, answers and assignments with the patient.
        s.execute(delete(Patient).where(Patient.id == patient_id))
        record_event(s, actor, "patient_erase", None, f"{photos} photos, {len(account_ids)} accounts",
                     subject=subject)
    with store.session() as s:
        still_held = set(s.scalars(select(Photo.content_hash).where(Photo.content_hash.in_(hashes))))
    for content_hash in hashes - still_held:
        store.photos.delete(content_hash)
    _purge_deleted_pages(store)
    return Erasure(subject, photos, len(hashes - still_held), len(account_ids))


def _purge_deleted_pages(store: Store) -> None:
    """Rewrite the embedded database so no free page or journal still holds the erased rows."""
    if store.dialect != "sqlite":
        return  # PostgreSQL: VACUUM FULL rewrites the tables; scheduling it is the operator's (SECURITY.md)
    raw = store.engine.raw_connection()  # VACUUM runs outside a transaction, which SQLAlchemy would begin
    try:
        cursor = raw.cursor()
        for statement in ("PRAGMA wal_checkpoint(TRUNCATE)", "VACUUM", "PRAGMA wal_checkpoint(TRUNCATE)"):
            cursor.execute(statement)
        cursor.close()
    finally:
        raw.close()
