"""The audit log: who did what to which patient id, never names or photo content."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.services.access import Actor, current_time, require
from tracker.store.db import Store
from tracker.store.models import AuditEvent

__all__ = ["record_event", "audit_log"]


def record_event(session: Session, actor: Actor, action: str, patient_id: int | None = None,
                 detail: str = "") -> None:
    """Append an audit event (ids and counts only) to the caller's transaction."""
    session.add(AuditEvent(at=current_time(), actor_id=actor.user_id, actor_role=actor.role, action=action,
                           patient_id=patient_id, detail=detail[:400]))


def audit_log(store: Store, actor: Actor, limit: int = 500) -> list[dict]:
    """The newest audit events (administrators)."""
    require(actor, "admin")
    with store.session() as s:
        rows = s.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)).all()
        return [{"at": e.at, "actor_id": e.actor_id, "role": e.actor_role, "action": e.action,
                 "patient_id": e.patient_id, "detail": e.detail} for e in rows]
