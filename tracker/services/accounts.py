"""Local accounts: creation, sign-in with per-source throttling, sessions, passwords, assignments.

Passwords are hashed with argon2id and must be 12 to 128 characters (OWASP ASVS 2.1).

Sign-in failures look alike: an unknown name, a disabled account, a wrong password and an
attempt refused by throttling all get :data:`SIGN_IN_FAILED`, word for word, after the same
work (one argon2 verification, against a dummy hash when there is no real one to check), so
neither the text nor the time tells which names exist.

Throttling is per *source* (the address a sign-in came from, as the web face reports it),
so a stranger's wrong guesses never lock the owner out:

* after :data:`MAX_FAILED_SIGN_INS` failures for one account name from one source, further
  attempts for that name from that source are refused unchecked for :data:`BACKOFF_START`,
  doubling with each further failure up to :data:`BACKOFF_MAX`;
* after :data:`MAX_SOURCE_FAILURES` failures for any names from one source (password
  spraying), that source is held back the same way for every name;
* failures are forgotten after :data:`FAILURE_MEMORY` without one, and a successful sign-in
  clears its name's count from its source.

Administrators (and the command line) unlock an account from every source at once
(:func:`unlock_user`; enabling an account unlocks it too) and reset its password
(:func:`reset_password`); everyone changes their own with the current one
(:func:`change_password`). Names and sources are kept only as keyed hashes.

Sessions live in the database (``auth_sessions``, hashed tokens), so every app replica can
check them. A browser carries a random key of its own in an HttpOnly cookie (set by
:mod:`tracker.web.server`); a sign-in from that browser is bound to the key's hash, so a page
reload, or the proxy moving the browser to another replica, finds the session
(:func:`actor_from_browser`) and signing out anywhere ends it everywhere.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tracker.services.access import AccessDenied, Actor, InputError, NotFound, current_time, require
from tracker.services.audit import audited_refusals, record_event
from tracker.store.db import Store
from tracker.store.models import ROLES, AuthSession, Patient, ProviderAssignment, SignInThrottle, User

__all__ = ["ROLES", "SIGN_IN_FAILED", "MAX_FAILED_SIGN_INS", "MAX_SOURCE_FAILURES", "BACKOFF_START",
           "BACKOFF_MAX", "FAILURE_MEMORY", "SESSION_IDLE", "SESSION_MAX", "MIN_PASSWORD", "MAX_PASSWORD",
           "create_user", "sign_in", "actor_from_token", "actor_from_browser", "sign_out", "list_users",
           "set_user_active", "unlock_user", "reset_password", "change_password", "assign_patient", "unassign_patient"]

#: Every failed sign-in, whatever the cause.
SIGN_IN_FAILED = ("Wrong user name or password (after several failed attempts, wait a few minutes before "
                  "trying again).")
MAX_FAILED_SIGN_INS = 5
MAX_SOURCE_FAILURES = 20
BACKOFF_START = timedelta(minutes=1)
BACKOFF_MAX = timedelta(minutes=30)
FAILURE_MEMORY = timedelta(hours=24)
SESSION_IDLE = timedelta(minutes=30)
SESSION_MAX = timedelta(hours=12)
MIN_PASSWORD, MAX_PASSWORD = 12, 128
_ANY_ACCOUNT = "*"
_UNKNOWN_SOURCE = "unknown"
_HASHER = PasswordHasher()  # argon2id with the library's current recommended parameters


@cache
def _dummy_hash() -> str:
    """A hash no password matches, verified when there is no real one, so every failure costs the same."""
    return _HASHER.hash(secrets.token_urlsafe(32))


def _check_password(password: str) -> None:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InputError(f"A password must be {MIN_PASSWORD} to {MAX_PASSWORD} characters.")


def _end_sessions(s: Session, user_id: int, keep_token: str | None = None,
                  keep_browser_key: str | None = None) -> None:
    query = delete(AuthSession).where(AuthSession.user_id == user_id)
    if keep_token:
        query = query.where(AuthSession.token_hash != _token_hash(keep_token))
    if keep_browser_key:
        query = query.where(or_(AuthSession.browser_key_hash.is_(None),
                                AuthSession.browser_key_hash != _token_hash(keep_browser_key)))
    s.execute(query)


@audited_refusals
def create_user(store: Store, actor: Actor, username: str, password: str, role: str,
                patient_id: int | None = None) -> int:
    """Create a local account (admin or command line). Returns the user id."""
    require(actor, "admin")
    username = username.strip()
    if role not in ROLES:
        raise InputError(f"Unknown role {role!r}; choose one of {', '.join(ROLES)}.")
    if not username or len(username) > 80:
        raise InputError("A user name must be 1 to 80 characters.")
    _check_password(password)
    if (role == "patient") != (patient_id is not None):
        raise InputError("A patient account must be linked to a patient record, and only a patient account.")
    with store.session() as s:
        if patient_id is not None and s.get(Patient, patient_id) is None:
            raise NotFound("There is no such patient.")
        if s.scalar(select(User.id).where(User.username == username)) is not None:
            raise InputError(f"The user name {username!r} is taken.")
        user = User(username=username, password_hash=_HASHER.hash(password), role=role, patient_id=patient_id,
                    active=True, created_at=current_time())
        s.add(user)
        s.flush()
        record_event(s, actor, "user_add", patient_id, f"user {user.id} role {role}")
        return user.id


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# --- throttling --------------------------------------------------------------------------------

def _key(store: Store, kind: str, value: str) -> str:
    return hmac.new(store.secret_key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


def _account_key(store: Store, username: str) -> str:
    return _key(store, "account", username.strip())


def _throttle_rows(s: Session, account_key: str, source_key: str) -> list[SignInThrottle]:
    """The rows that can hold this attempt back: the name from this source, and the source for any name."""
    return [row for row in (s.get(SignInThrottle, (account_key, source_key)),
                            s.get(SignInThrottle, (_ANY_ACCOUNT, source_key))) if row is not None]


def _held_back(rows: list[SignInThrottle], now: datetime) -> bool:
    return any(row.blocked_until is not None and row.blocked_until > now for row in rows)


def _count_failure(s: Session, account_key: str, source_key: str, now: datetime) -> None:
    for key, limit in ((account_key, MAX_FAILED_SIGN_INS), (_ANY_ACCOUNT, MAX_SOURCE_FAILURES)):
        row = s.get(SignInThrottle, (key, source_key))
        if row is None:
            try:
                with s.begin_nested():
                    row = SignInThrottle(account_key=key, source_key=source_key, failures=0, last_failure_at=now)
                    s.add(row)
            except IntegrityError:  # a concurrent failure from the same source made it first (PostgreSQL)
                row = s.get(SignInThrottle, (key, source_key))
        if now - row.last_failure_at > FAILURE_MEMORY:
            row.failures = 0
        row.failures += 1
        row.last_failure_at = now
        if row.failures >= limit:
            row.blocked_until = now + min(BACKOFF_START * 2 ** (row.failures - limit), BACKOFF_MAX)


def sign_in(store: Store, username: str, password: str, source: str | None = None,
            browser_key: str | None = None) -> tuple[str, Actor]:
    """Check a password; returns a session token and the actor.

    Parameters
    ----------
    store : Store
    username, password : str
        As typed.
    source : str, optional
        Where the attempt comes from (the client's address); throttling is per source. The
        command line and tests leave it out and share one source.
    browser_key : str, optional
        The browser's cookie key: the session is bound to it (and any earlier session of that
        browser ends), so :func:`actor_from_browser` finds it on every replica.

    Raises
    ------
    AccessDenied
        :data:`SIGN_IN_FAILED`, for every kind of failure (module notes).
    """
    refused = False
    with store.session() as s:
        now = current_time()
        account_key = _account_key(store, username)
        source_key = _key(store, "source", source or _UNKNOWN_SOURCE)
        user = s.scalar(select(User).where(User.username == username.strip()))
        held_back = _held_back(_throttle_rows(s, account_key, source_key), now)
        checkable = user is not None and user.active and not held_back
        # Exactly one verification on every path: a dummy one when there is nothing to check.
        matches = _password_matches(user.password_hash if checkable else _dummy_hash(), password)
        if checkable and matches:
            if _HASHER.check_needs_rehash(user.password_hash):
                user.password_hash = _HASHER.hash(password)
            s.execute(delete(SignInThrottle).where(SignInThrottle.account_key == account_key,
                                                   SignInThrottle.source_key == source_key))
            token = secrets.token_urlsafe(32)
            browser_hash = _token_hash(browser_key) if browser_key else None
            if browser_hash:
                s.execute(delete(AuthSession).where(AuthSession.browser_key_hash == browser_hash))
            s.add(AuthSession(token_hash=_token_hash(token), user_id=user.id, created_at=now,
                              expires_at=now + SESSION_MAX, last_seen_at=now, browser_key_hash=browser_hash))
            actor = Actor(role=user.role, user_id=user.id, patient_id=user.patient_id, username=user.username)
            record_event(s, actor, "sign_in")
        else:
            refused = True
            if held_back:
                reason = "held back after repeated failures from this source"
            elif user is None:
                reason = "unknown account"
            elif not user.active:
                reason = "inactive account"
            else:
                reason = "wrong password"
            if not held_back:
                _count_failure(s, account_key, source_key, now)
            known = user is not None
            record_event(s, Actor(role=user.role if known else "anonymous", user_id=user.id if known else None),
                         "sign_in_failed", None, reason)
    # Raised after the block so the failure count and audit event are committed.
    if refused:
        raise AccessDenied(SIGN_IN_FAILED)
    return token, actor


def _password_matches(password_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# --- sessions ----------------------------------------------------------------------------------

def actor_from_token(store: Store, token: str | None, *, now: datetime | None = None) -> Actor:
    """The actor of a live session; sessions end after :data:`SESSION_IDLE` idle or :data:`SESSION_MAX`."""
    if not token:
        raise AccessDenied(_SESSION_ENDED)
    with store.session() as s:
        actor = _live_actor(s, s.get(AuthSession, _token_hash(token)), now or current_time())
    if actor is None:
        raise AccessDenied(_SESSION_ENDED)
    return actor


def actor_from_browser(store: Store, browser_key: str | None, *, now: datetime | None = None) -> Actor | None:
    """The actor of the live session bound to a browser's cookie key, or None if none is bound.

    Raises
    ------
    AccessDenied
        If the browser's session has ended (idle or too old): it is deleted, and the person is
        told to sign in again.
    """
    if not browser_key:
        return None
    with store.session() as s:
        auth = s.scalar(select(AuthSession).where(AuthSession.browser_key_hash == _token_hash(browser_key)))
        if auth is None:
            return None
        actor = _live_actor(s, auth, now or current_time())
    if actor is None:
        raise AccessDenied(_SESSION_ENDED)
    return actor


_SESSION_ENDED = "Your session has ended; please sign in again."


def _live_actor(s: Session, auth: AuthSession | None, now: datetime) -> Actor | None:
    """The actor of ``auth`` if it is live (touching it), else None (deleting it when it has ended)."""
    user = s.get(User, auth.user_id) if auth is not None else None
    if auth is not None and (auth.expires_at <= now or auth.last_seen_at + SESSION_IDLE <= now):
        s.delete(auth)
    elif user is not None and user.active:
        auth.last_seen_at = now
        return Actor(role=user.role, user_id=user.id, patient_id=user.patient_id, username=user.username)
    return None


def sign_out(store: Store, token: str | None, browser_key: str | None = None) -> None:
    """End a session, found by its token or by the browser it is bound to (on every replica)."""
    with store.session() as s:
        if token:
            s.execute(delete(AuthSession).where(AuthSession.token_hash == _token_hash(token)))
        if browser_key:
            s.execute(delete(AuthSession).where(AuthSession.browser_key_hash == _token_hash(browser_key)))


# --- administration and passwords --------------------------------------------------------------

@audited_refusals
def list_users(store: Store, actor: Actor) -> list[dict]:
    """Accounts, for administrators: id, user name, role, linked patient, active, locked (from any source)."""
    require(actor, "admin")
    now = current_time()
    with store.session() as s:
        users = s.scalars(select(User).order_by(User.id)).all()
        assigned = {}
        for a in s.scalars(select(ProviderAssignment)):
            assigned.setdefault(a.provider_id, []).append(a.patient_id)
        held = set(s.scalars(select(SignInThrottle.account_key).where(SignInThrottle.blocked_until > now)))
        return [{"id": u.id, "username": u.username, "role": u.role, "patient_id": u.patient_id,
                 "active": u.active, "locked": _account_key(store, u.username) in held,
                 "assigned_patients": sorted(assigned.get(u.id, []))} for u in users]


def _user(s: Session, user_id: int) -> User:
    user = s.get(User, user_id)
    if user is None:
        raise NotFound("There is no such user.")
    return user


def _unlock(s: Session, store: Store, user: User) -> None:
    s.execute(delete(SignInThrottle).where(SignInThrottle.account_key == _account_key(store, user.username)))


@audited_refusals
def set_user_active(store: Store, actor: Actor, user_id: int, active: bool) -> None:
    """Enable an account (which also unlocks it) or disable it (which also ends its sessions)."""
    require(actor, "admin")
    with store.session() as s:
        user = _user(s, user_id)
        user.active = active
        if active:
            _unlock(s, store, user)
        else:
            _end_sessions(s, user_id)
        record_event(s, actor, "user_enable" if active else "user_disable", None, f"user {user_id}")


@audited_refusals
def unlock_user(store: Store, actor: Actor, user_id: int) -> None:
    """Lift the sign-in back-off of an account, from every source (administrators, the command line)."""
    require(actor, "admin")
    with store.session() as s:
        _unlock(s, store, _user(s, user_id))
        record_event(s, actor, "user_unlock", None, f"user {user_id}")


@audited_refusals
def reset_password(store: Store, actor: Actor, user_id: int, new_password: str) -> None:
    """Set an account's password (administrators, the command line); ends its sessions and unlocks it."""
    require(actor, "admin")
    _check_password(new_password)
    with store.session() as s:
        user = _user(s, user_id)
        user.password_hash = _HASHER.hash(new_password)
        _end_sessions(s, user_id)
        _unlock(s, store, user)
        record_event(s, actor, "password_reset", None, f"user {user_id}")


@audited_refusals
def change_password(store: Store, actor: Actor, current_password: str, new_password: str,
                    keep_token: str | None = None, keep_browser_key: str | None = None) -> None:
    """Change one's own password, given the current one; ends one's other sessions.

    The session of ``keep_token``, or the one bound to ``keep_browser_key``, is kept.
    """
    require(actor, "patient", "provider", "researcher", "admin")
    if actor.user_id is None:
        raise AccessDenied("Only a signed-in account has a password of its own to change.")
    with store.session() as s:
        user = _user(s, actor.user_id)
        if not _password_matches(user.password_hash, current_password):
            raise InputError("The current password is not right.")
        _check_password(new_password)
        if new_password == current_password:
            raise InputError("The new password must differ from the current one.")
        user.password_hash = _HASHER.hash(new_password)
        _end_sessions(s, user.id, keep_token, keep_browser_key)
        record_event(s, actor, "password_change", None, f"user {user.id}")


@audited_refusals
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


@audited_refusals
def unassign_patient(store: Store, actor: Actor, provider_id: int, patient_id: int) -> None:
    """Withdraw a provider's access to a patient."""
    require(actor, "admin")
    with store.session() as s:
        s.execute(delete(ProviderAssignment).where(ProviderAssignment.provider_id == provider_id,
                                                   ProviderAssignment.patient_id == patient_id))
        record_event(s, actor, "unassign", patient_id, f"provider {provider_id}")
