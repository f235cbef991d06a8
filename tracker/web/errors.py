"""The one place where the web app turns errors into messages.

Pages never choose which errors to catch. A refusal from the services
(:class:`~tracker.services.ServiceError`) or a photo that cannot be read
(:class:`~tracker.analysis.PhotoError`) is shown as its own sentence; anything else is a
defect, shown as a plain apology while only its type is logged (its message could hold
personal data). The app wraps every page in :func:`errors_shown`; a page wraps an action
whose failure should not end the page (one bad file among several uploads) in it too.
Messages can hold what people typed (a file name, a user name), so they are shown as
literal text (:func:`tracker.web.markdown.literal`), never as Markdown.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st

from tracker.analysis import PhotoError
from tracker.services import ServiceError
from tracker.web.markdown import literal

__all__ = ["INTERNAL_ERROR", "errors_shown", "message_for"]

INTERNAL_ERROR = ("Something went wrong on our side and this could not be completed; nothing was lost. "
                  "Please try again, and tell your clinic if it keeps happening.")

_log = logging.getLogger("tracker.web")


def message_for(exc: Exception) -> str:
    """The sentence a person sees for an error."""
    if isinstance(exc, (ServiceError, PhotoError)):
        return str(exc)
    return INTERNAL_ERROR


@contextmanager
def errors_shown(prefix: str = "", *, stop: bool = False) -> Iterator[None]:
    """Show an error raised in the block as one message (``prefix`` before it), then go on or stop the page.

    Streamlit's own control flow (``st.stop``, ``st.rerun``) passes through untouched: it is
    not an :class:`Exception`.
    """
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - the one handler of the web app
        if not isinstance(exc, (ServiceError, PhotoError)):
            _log.error("internal error on a page: %s", type(exc).__name__)
        st.error(literal(prefix + message_for(exc)))
        if stop:
            st.stop()
