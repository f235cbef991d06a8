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
  (:data:`UPLOAD_SESSIONS`, in :mod:`tracker.web.session`);
* gives every browser that opens a page without one a random key in an HttpOnly cookie
  (:data:`BROWSER_COOKIE`; ``__Host-`` prefixed and ``Secure`` over HTTPS). A sign-in is bound
  to it in the database (:func:`tracker.services.actor_from_browser`), so a reload, or a
  proxy sending the browser to another replica, keeps the person signed in.

The app's own inline script (one line in Streamlit's ``index.html``) is allowed by its hash,
read from the installed Streamlit at start, so no other inline script can run.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
import threading
from collections.abc import Mapping
from pathlib import Path

import streamlit
from starlette.middleware import Middleware

__all__ = ["CONTENT_SECURITY_POLICY", "SECURITY_HEADERS", "UPLOAD_SESSIONS", "BROWSER_COOKIE", "UploadSessions",
           "SecurityHeadersAndUploadGuard", "browser_key", "proxy_forwarded", "middleware"]

_INDEX = Path(streamlit.__file__).parent / "static" / "index.html"
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)
_UPLOAD_PATH = re.compile(r"^/_stcore/upload_file/(?P<session>[^/]+)/")
_NOT_A_PAGE = ("/_stcore/", "/static/", "/media/", "/component/")

#: The browser's key cookie; over HTTPS its ``__Host-`` form, which no other host can set.
BROWSER_COOKIE = "tracker_browser"
_SECURE_BROWSER_COOKIE = "__Host-" + BROWSER_COOKIE


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


def browser_key(cookies: Mapping[str, str]) -> str | None:
    """The browser's key from its cookies (the ``__Host-`` form first), or None."""
    for name in (_SECURE_BROWSER_COOKIE, BROWSER_COOKIE):
        value = cookies.get(name)
        if isinstance(value, str) and value:  # AppTest hands the page a stand-in, not text
            return value
    return None


def proxy_forwarded(value: str | None) -> str | None:
    """What the reverse proxy put last in an ``X-Forwarded-*`` header, or None.

    Only behind a proxy (``TRACKER_BEHIND_PROXY=1``) is the header the proxy's; it appends to
    what the client sent, so the last value is the one it saw. Anywhere else anyone can set it.
    """
    if os.environ.get("TRACKER_BEHIND_PROXY") != "1" or not value or not value.strip():
        return None
    return value.split(",")[-1].strip()


def _header(scope, name: bytes) -> str:
    return next((v.decode("latin-1") for k, v in scope.get("headers", []) if k.lower() == name), "")


def _cookies(scope) -> dict[str, str]:
    pairs = (part.strip().partition("=") for part in _header(scope, b"cookie").split(";"))
    return {name: value for name, _, value in pairs if name}


def _over_https(scope) -> bool:
    forwarded = proxy_forwarded(_header(scope, b"x-forwarded-proto")) or ""
    return scope.get("scheme") == "https" or forwarded.lower() == "https"


def _browser_cookie_header(scope) -> tuple[bytes, bytes] | None:
    """A ``Set-Cookie`` with a new browser key, for a page request from a browser that has none."""
    if scope.get("method") != "GET" or scope.get("path", "").startswith(_NOT_A_PAGE):
        return None
    # Lax, not Strict: a link followed from elsewhere must not arrive without the key and be given a new one.
    name, attributes = BROWSER_COOKIE, "Path=/; HttpOnly; SameSite=Lax"
    if _over_https(scope):
        # Only the prefixed form counts here: a plain one may have been planted, and browser_key prefers this.
        name, attributes = _SECURE_BROWSER_COOKIE, attributes + "; Secure"
    if _cookies(scope).get(name):
        return None
    return b"set-cookie", f"{name}={secrets.token_urlsafe(32)}; {attributes}".encode()


class SecurityHeadersAndUploadGuard:
    """ASGI middleware: :data:`SECURITY_HEADERS` on every HTTP response; uploads only from :data:`UPLOAD_SESSIONS`;
    a browser key cookie for a page request without one."""

    def __init__(self, app, sessions: UploadSessions = UPLOAD_SESSIONS) -> None:
        self.app = app
        self.sessions = sessions
        self._headers = [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        cookie = _browser_cookie_header(scope)

        async def send_with_headers(message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []),
                                      *((k, v) for k, v in self._headers if k not in present),
                                      *([cookie] if cookie else [])]
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
