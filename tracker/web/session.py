"""Streamlit glue shared by the pages: the store, the signed-in actor, photos for display.

Only wiring lives here; what pages show is computed in :mod:`tracker.web.views`, errors
are shown by :mod:`tracker.web.errors`, and every read or write goes through
:mod:`tracker.services`, which enforces who may see what.

Every photo shown is fetched through :func:`tracker.services.photo_bytes`, which checks
access and audits the view each time; only the decoding is cached, by the file's content.
"""

from __future__ import annotations

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from tracker import services as sv
from tracker.analysis import decode_photo
from tracker.recovery import CourseProgress
from tracker.store.db import Store, open_store
from tracker.web.errors import errors_shown
from tracker.web.server import UPLOAD_SESSIONS, browser_key, proxy_forwarded
from tracker.web.views import course_provider_status, fit_within, status_label, treatment_name

__all__ = ["get_store", "current_actor", "current_browser_key", "require_actor", "sign_in_page", "sign_out",
           "photo_rgb", "ROLE_LABEL", "choose_course", "show_status", "client_source", "UPLOADING_ROLES",
           "MAX_PHOTOS_PER_BATCH"]

#: Roles whose pages take photo uploads; only their signed-in sessions may send files.
UPLOADING_ROLES = frozenset({"patient", "provider"})
#: Photos checked from one upload: a visit's worth, and a bound on the work one click asks for.
MAX_PHOTOS_PER_BATCH = 12

ROLE_LABEL = {"patient": "Patient", "provider": "Provider", "researcher": "Researcher", "admin": "Administrator"}
DISPLAY_SIDE = 1600


@st.cache_resource(show_spinner=False)
def get_store() -> Store:
    """The store named by ``TRACKER_DATA_DIR`` / ``TRACKER_DATABASE_URL`` (opened once per server)."""
    return open_store()


def _session_id() -> str | None:
    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else None


def current_browser_key() -> str | None:
    """This browser's key cookie (:data:`tracker.web.server.BROWSER_COOKIE`), or None."""
    return browser_key(st.context.cookies)


def current_actor() -> sv.Actor | None:
    """The signed-in actor, or None (an ended session is cleared with a message).

    The session is found by this Streamlit session's token, else by the browser's key cookie,
    which every replica and a reloaded page share (:func:`tracker.services.actor_from_browser`).
    Keeps the upload guard (:data:`tracker.web.server.UPLOAD_SESSIONS`) in step: only a
    browser session signed in to a role that adds photos may send files.
    """
    token = st.session_state.get("token")
    actor = None
    try:
        if token:
            actor = sv.actor_from_token(get_store(), token)
        else:
            actor = sv.actor_from_browser(get_store(), current_browser_key())
    except sv.AccessDenied as exc:
        st.session_state.pop("token", None)
        st.session_state["notice"] = str(exc)
    session_id = _session_id()
    if session_id is not None:
        if actor is not None and actor.role in UPLOADING_ROLES:
            UPLOAD_SESSIONS.allow(session_id)
        else:
            UPLOAD_SESSIONS.forget(session_id)
    return actor


def client_source() -> str | None:
    """Where this browser session connects from, for sign-in throttling.

    The address of the connection; behind a reverse proxy that sets ``X-Forwarded-For``
    (``TRACKER_BEHIND_PROXY=1``), the address the proxy saw, which is the last one it added.
    Without either (the app reached on this machine), None: one source for all.
    """
    return proxy_forwarded(st.context.headers.get("X-Forwarded-For")) or st.context.ip_address


def require_actor(*roles: str) -> sv.Actor:
    """The actor, or stop the page with a sentence when not signed in or not allowed."""
    actor = current_actor()
    if actor is None:
        st.warning("Please sign in.")
        st.stop()
    if roles and actor.role not in roles:
        st.error("This page is not available to your account.")
        st.stop()
    return actor


def sign_in_page() -> None:
    """The sign-in form."""
    st.title("Healing-progress tracker")
    st.caption("Follow skin as it recovers after a laser treatment, from your own photos.")
    notice = st.session_state.pop("notice", None)
    if notice:
        st.info(notice)
    with st.form("sign_in"):
        username = st.text_input("User name", key="sign_in_user")
        password = st.text_input("Password", type="password", key="sign_in_password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted:
        with errors_shown():
            token, _ = sv.sign_in(get_store(), username, password, client_source(), current_browser_key())
            st.session_state["token"] = token
            st.rerun()


def sign_out() -> None:
    """End the session and forget everything this browser session held."""
    sv.sign_out(get_store(), st.session_state.get("token"), current_browser_key())
    st.session_state.clear()
    session_id = _session_id()
    if session_id is not None:
        UPLOAD_SESSIONS.forget(session_id)


def photo_rgb(actor: sv.Actor, photo_id: int) -> tuple:
    """A photo decoded for display (at most 1600 px) and its scale, fetched as ``actor``.

    Every call is a view: the service checks access and audits it, also when the decoded
    copy comes from the cache (which is keyed by the file's content, not by who asks).
    """
    return _display_copy(sv.photo_bytes(get_store(), actor, photo_id))


@st.cache_data(show_spinner=False, max_entries=200)
def _display_copy(data: bytes) -> tuple:
    full = decode_photo(data).rgb
    small = fit_within(full, DISPLAY_SIDE)
    return small, small.shape[1] / full.shape[1]


def choose_course(patient: sv.PatientDetail) -> sv.CourseDetail:
    """A select box of the patient's treated areas (the patient must have at least one)."""
    courses = patient.courses
    index = st.selectbox("Treated area", range(len(courses)),
                         format_func=lambda i: f"{treatment_name(courses[i].treatment)}: {courses[i].area}")
    return courses[index]


def show_status(progress: CourseProgress, *, for_provider: bool) -> None:
    """The course's status in words, coloured by urgency, with its reasons (patient or provider wording)."""
    box = {"review": st.error, "check_photos": st.warning, "slower": st.warning}.get(progress.status, st.info)
    box(f"**{course_provider_status(progress) if for_provider else status_label(progress.status)}**")
    assessment = progress.assessment
    if assessment:
        for reason in assessment.provider_reasons if for_provider else assessment.reasons:
            st.write(reason)
    else:
        st.write(progress.not_assessed_reason)
