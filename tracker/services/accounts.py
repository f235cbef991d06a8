"""Local accounts: creation, sign-in with lockout, sessions, and providers' assignments.

Passwords are hashed with argon2id. The same message is given for an unknown user and a
wrong password, so accounts cannot be discovered by trying names.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select

from tracker.services.access import AccessDenied, Actor, InputError, NotFound, current_time, require
from tracker.services.audit import record_event
from tracker.store.db import Store
from tracker.store.models import ROLES, AuthSession, Patient, ProviderAssignment, User

__all__ = ["ROLES", "MAX_FAILED_SIGN_INS", "LOCKOUT", "SESSION_IDLE", "SESSION_MAX", "create_user", "sign_in",
           "actor_from_token", "sign_out", "list_users", "set_user_active", "assign_patient", "unassign_patient"]

MAX_FAILED_SIGN_INS = 5
LOCKOUT = timedelta(minutes=15)
SESSION_IDLE = timedelta(minutes=30)
SESSION_MAX = timedelta(hours=12)
_HASHER = PasswordHasher()  # argon2id with the library's current recommended parameters


def create_user(store: Store, actor: Actor, username: str, password: str, role: str,
                patient_id: int | None = None) -> int:
    """Create a local account (admin or command line). Returns the user id."""
    require(actor, "admin")
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
                    active=True, failed_logins=0, created_at=current_time())
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
        now = current_time()
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
    now = now or current_time()
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
    require(actor, "admin")
    now = current_time()
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
    require(actor, "admin")
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
    require(actor, "admin")
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
    require(actor, "admin")
    with store.session() as s:
        s.execute(delete(ProviderAssignment).where(ProviderAssignment.provider_id == provider_id,
                                                   ProviderAssignment.patient_id == patient_id))
        record_event(s, actor, "unassign", patient_id, f"provider {provider_id}")
