"""The web server around the Streamlit app: security headers, and uploads only from signed-in sessions.

``serve.py`` (beside ``app.py``; what ``tracker app`` runs) serves the app as a Streamlit
``st.App`` with :func:`middleware`, which

* sends a Content-Security-Policy (:data:`CONTENT_SECURITY_POLICY`) with every HTTP
  response: scripts, styles, images, fonts and connections from the app itself only, so a
  note or a name can make no reader's browser fetch anything from elsewhere, and
  ``frame-ancestors 'none'``, so no other site can frame the app; with it the other headers
  of :data:`SECURITY_HEADERS`;
* refuses file uploads (``/_stcore/upload_file/...``) from a browser session that is not
  signed in to an account that may add photos: Streamlit itself accepts an upload from any
  connected session, before sign-in too. The pages register signed-in sessions
  (:data:`UPLOAD_SESSIONS`, in :mod:`tracker.web.session`).

The app's own inline script (one line in Streamlit's ``index.html``) is allowed by its hash,
read from the installed Streamlit at start, so no other inline script can run.
"""

from __future__ import annotations

import base64
import hashlib
import re
import threading
from pathlib import Path

import streamlit
from starlette.middleware import Middleware

__all__ = ["CONTENT_SECURITY_POLICY", "SECURITY_HEADERS", "UPLOAD_SESSIONS", "UploadSessions",
           "SecurityHeadersAndUploadGuard", "middleware"]

_INDEX = Path(streamlit.__file__).parent / "static" / "index.html"
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)
_UPLOAD_PATH = re.compile(r"^/_stcore/upload_file/(?P<session>[^/]+)/")


def _inline_script_hashes() -> list[str]:
    """CSP sources for the inline scripts of Streamlit's page (what a browser hashes: the text between the tags)."""
    try:
        page = _INDEX.read_text(encoding="utf-8")
    except OSError:
        return []
    return [f"'sha256-{base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()}'"
            for script in _INLINE_SCRIPT.findall(page)]


CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src " + " ".join(["'self'", *_inline_script_hashes()]),
    "style-src 'self' 'unsafe-inline'",  # the page's components set inline styles; styles fetch nothing
    "img-src 'self' data: blob:",  # photos and charts are served by the app or drawn in the page
    "font-src 'self' data:",
    "connect-src 'self'",  # the app's own WebSocket and uploads
    "media-src 'self' blob:",  # the camera input
    "worker-src 'self' blob:",
    "frame-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate it
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "camera=(self), microphone=(), geolocation=()",
    "Cache-Control": "no-store",
}


class UploadSessions:
    """The browser sessions (Streamlit session ids) signed in to an account that may add photos."""

    def __init__(self) -> None:
        self._ids: set[str] = set()
        self._lock = threading.Lock()

    def allow(self, session_id: str) -> None:
        with self._lock:
            self._ids.add(session_id)

    def forget(self, session_id: str) -> None:
        with self._lock:
            self._ids.discard(session_id)

    def allowed(self, session_id: str) -> bool:
        with self._lock:
            return session_id in self._ids


UPLOAD_SESSIONS = UploadSessions()


class SecurityHeadersAndUploadGuard:
    """ASGI middleware: :data:`SECURITY_HEADERS` on every HTTP response; uploads only from :data:`UPLOAD_SESSIONS`."""

    def __init__(self, app, sessions: UploadSessions = UPLOAD_SESSIONS) -> None:
        self.app = app
        self.sessions = sessions
        self._headers = [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []),
                                      *((k, v) for k, v in self._headers if k not in present)]
            await send(message)

        upload = _UPLOAD_PATH.match(scope.get("path", ""))
        if upload and scope.get("method") in ("PUT", "POST") and not self.sessions.allowed(upload["session"]):
            await send_with_headers({"type": "http.response.start", "status": 403,
                                     "headers": [(b"content-type", b"text/plain; charset=utf-8")]})
            await send_with_headers({"type": "http.response.body",
                                     "body": b"Sign in before uploading photos.\n"})
            return
        await self.app(scope, receive, send_with_headers)


def middleware() -> list[Middleware]:
    """The middleware ``serve.py`` hands to ``st.App``."""
    return [Middleware(SecurityHeadersAndUploadGuard)]
