"""Who is acting, what they may see, and the errors every service raises.

Every service function takes the acting :class:`Actor` and refuses what its role may
not do, so no page or command can bypass the rules:

==========  ====================================================================
patient     their own record: courses, photos, measurements; add photos
provider    patients assigned to them: everything clinical, notes, regions
researcher  de-identified exports only
admin       users, roles, assignments, the audit log; patient names (to assign)
system      the ``tracker`` command line, run by whoever holds the data directory
==========  ====================================================================

Errors are one sentence and share one base, :class:`ServiceError`, so the faces (the
command line, the web app) render every one of them the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.store.models import Course, Patient, ProviderAssignment

__all__ = ["Actor", "SYSTEM", "ServiceError", "AccessDenied", "NotFound", "InputError", "HIDDEN", "current_time",
           "require", "visible_patient_ids", "check_patient", "check_course"]


class ServiceError(Exception):
    """A refusal with a sentence for people; the faces show it as it is."""


class AccessDenied(ServiceError, PermissionError):
    """The actor may not do this (or is not signed in)."""


class NotFound(ServiceError, LookupError):
    """No such record (also said when the record exists but is not the actor's to see)."""


class InputError(ServiceError, ValueError):
    """Input that cannot be accepted; the message says what to change."""


@dataclass(frozen=True)
class Actor:
    """Who is acting: a signed-in user, or the command line (``SYSTEM``)."""

    role: str
    user_id: int | None = None
    patient_id: int | None = None
    username: str = ""


SYSTEM = Actor(role="system", username="command line")

#: Not found and not allowed read the same, word for word: no hint that a record exists.
HIDDEN = "There is no such record, or it is not yours to see."


def current_time() -> datetime:
    """The time stamps of the store: local time, whole seconds."""
    return datetime.now().replace(microsecond=0)


def require(actor: Actor, *roles: str) -> None:
    """Refuse unless the actor has one of ``roles`` (the command line may do anything)."""
    if actor.role != "system" and actor.role not in roles:
        raise AccessDenied("Your account is not allowed to do this.")


def visible_patient_ids(s: Session, actor: Actor):
    """A SELECT of the patient ids the actor may see clinically, or None for all."""
    if actor.role == "system":
        return None
    if actor.role == "patient":
        return select(Patient.id).where(Patient.id == actor.patient_id)
    if actor.role == "provider":
        return select(ProviderAssignment.patient_id).where(ProviderAssignment.provider_id == actor.user_id)
    raise AccessDenied("Your account cannot see patient records.")


def check_patient(s: Session, actor: Actor, patient_id: int) -> Patient:
    """The patient, if the actor may see them; else :class:`NotFound` with :data:`HIDDEN`."""
    visible = visible_patient_ids(s, actor)
    query = select(Patient).where(Patient.id == patient_id)
    if visible is not None:
        query = query.where(Patient.id.in_(visible))
    patient = s.scalar(query)
    if patient is None:
        raise NotFound(HIDDEN)
    return patient


def check_course(s: Session, actor: Actor, course_id: int) -> Course:
    """The course, if the actor may see its patient."""
    course = s.get(Course, course_id)
    if course is None:
        raise NotFound(HIDDEN)
    check_patient(s, actor, course.patient_id)
    return course
