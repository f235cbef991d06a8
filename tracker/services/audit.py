"""The audit log: who did what to which patient id, never names or photo content.

Refusals are audited too (:func:`audited_refusals`): every public service function that
takes an actor records a ``refused`` event, with the function, the ids it was given and
the reason, in a transaction of its own, so the event is kept although the call fails.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.services.access import AccessDenied, Actor, NotFound, current_time, require
from tracker.store.db import Store
from tracker.store.models import AuditEvent, Patient

__all__ = ["record_event", "audit_log", "audited_refusals"]

F = TypeVar("F", bound=Callable)

# Arguments that name a record by id: what a refusal was about. Never names or identifiers.
_TARGET_IDS = ("patient_id", "course_id", "photo_id", "user_id", "provider_id")
# Whether an audited call is running in this thread: a service calling another records one refusal.
_inside = contextvars.ContextVar("audited_call", default=False)


def record_event(session: Session, actor: Actor, action: str, patient_id: int | None = None,
                 detail: str = "", *, subject: str | None = None) -> None:
    """Append an audit event (ids and counts only) to the caller's transaction.

    ``subject`` is the pseudonymous id of an erased patient (see :mod:`tracker.services.consent`).
    """
    session.add(AuditEvent(at=current_time(), actor_id=actor.user_id, actor_role=actor.role, action=action,
                           patient_id=patient_id, detail=detail[:400], subject=subject))


def audited_refusals(function: F) -> F:
    """Record an audit event whenever ``function`` refuses its actor (:class:`AccessDenied`, :class:`NotFound`).

    The event holds the actor, the function, the ids it was called with (the patient's also
    in ``patient_id`` when that patient exists) and the reason: ``role`` (the actor's role
    may not do this) or ``not visible`` (no such record, or not the actor's to see).
    """
    signature = inspect.signature(function)

    @functools.wraps(function)
    def refusals_audited(*args, **kwargs):
        outermost = not _inside.get()
        token = _inside.set(True)
        try:
            return function(*args, **kwargs)
        except (AccessDenied, NotFound) as exc:
            if outermost:
                arguments = signature.bind_partial(*args, **kwargs).arguments
                _record_refusal(arguments, function.__name__,
                                "role" if isinstance(exc, AccessDenied) else "not visible")
            raise
        finally:
            _inside.reset(token)

    return refusals_audited  # type: ignore[return-value]


def _record_refusal(arguments: dict, name: str, reason: str) -> None:
    store, actor = arguments.get("store"), arguments.get("actor")
    if not isinstance(store, Store) or not isinstance(actor, Actor):
        return
    ids = [(key, value) for key in _TARGET_IDS if isinstance(value := arguments.get(key), int)]
    detail = " ".join([name, *(f"{key.removesuffix('_id')} {value}" for key, value in ids), f"reason: {reason}"])
    with store.session() as s:
        patient_id = arguments.get("patient_id")
        known = isinstance(patient_id, int) and s.get(Patient, patient_id) is not None
        record_event(s, actor, "refused", patient_id if known else None, detail)


@audited_refusals
def audit_log(store: Store, actor: Actor, limit: int = 500) -> list[dict]:
    """The newest audit events (administrators)."""
    require(actor, "admin")
    with store.session() as s:
        rows = s.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)).all()
        return [{"at": e.at, "actor_id": e.actor_id, "role": e.actor_role, "action": e.action,
                 "patient_id": e.patient_id, "subject": e.subject, "detail": e.detail} for e in rows]
