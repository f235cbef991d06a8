"""tracker.web: the one error handler, where the app lives, and page panels run through AppTest."""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tracker import services as sv
from tracker.analysis import AnalysisResult, PhotoError
from tracker.recovery.timeline import PhotoPoint, course_progress
from tracker.web import app_dir
from tracker.web import errors
from tracker.web.errors import INTERNAL_ERROR, errors_shown

REPO = Path(__file__).resolve().parents[1]
PERSONAL = "Ana Example-Lindqvist, born 1990-04-01"


@pytest.fixture
def shown(monkeypatch) -> list[tuple[str, str]]:
    """What the handler shows and whether it stops the page, instead of Streamlit doing it."""
    calls = []
    monkeypatch.setattr(errors.st, "error", lambda text: calls.append(("error", text)))
    monkeypatch.setattr(errors.st, "stop", lambda: calls.append(("stop", "")))
    return calls


# --- errors_shown ----------------------------------------------------------------------------

@pytest.mark.parametrize("error", [
    sv.AccessDenied("You may not see this patient."),
    sv.NotFound("There is no such patient, or it is not yours to see."),
    sv.InputError("A box needs four whole numbers: X,Y,W,H."),
    PhotoError("The image file is incomplete (truncated): upload it again."),
], ids=lambda e: type(e).__name__)
def test_an_error_for_people_is_shown_in_its_own_words_and_not_logged(shown, caplog, error):
    after = []
    with caplog.at_level(logging.DEBUG, logger="tracker.web"):
        with errors_shown("day7.jpg could not be used: "):
            raise error
        after.append("the page goes on")
    assert shown == [("error", f"day7.jpg could not be used: {error}")]
    assert after == ["the page goes on"]
    assert not [r for r in caplog.records if r.name.startswith("tracker.web")]


def test_an_unexpected_error_is_an_apology_and_only_its_type_is_logged(shown, caplog):
    with caplog.at_level(logging.DEBUG, logger="tracker.web"):
        with errors_shown():
            raise KeyError(PERSONAL)
    assert shown == [("error", INTERNAL_ERROR)]
    assert PERSONAL not in INTERNAL_ERROR
    (record,) = [r for r in caplog.records if r.name == "tracker.web"]
    assert record.levelno == logging.ERROR and "KeyError" in record.getMessage()
    assert PERSONAL not in caplog.text and "1990" not in caplog.text
    assert record.exc_info is None  # no traceback, whose message would hold the personal data


def test_stop_ends_the_page_after_the_message(shown):
    with errors_shown(stop=True):
        raise sv.AccessDenied("This page is not available to your account.")
    assert shown == [("error", "This page is not available to your account."), ("stop", "")]


def test_nothing_is_shown_when_nothing_goes_wrong(shown):
    with errors_shown(stop=True):
        value = 1 + 1
    assert value == 2 and shown == []


def test_a_base_exception_is_not_caught(shown):
    with pytest.raises(KeyboardInterrupt):
        with errors_shown():
            raise KeyboardInterrupt
    assert shown == []


def test_message_for_each_kind_of_error():
    assert errors.message_for(sv.NotFound("No such photo.")) == "No such photo."
    assert errors.message_for(PhotoError("The file is empty.")) == "The file is empty."
    assert errors.message_for(RuntimeError(PERSONAL)) == INTERNAL_ERROR


# --- the handler on a real Streamlit page ------------------------------------------------------

def _page_with_errors():
    import streamlit as st

    from tracker import services as sv
    from tracker.web.errors import errors_shown

    with errors_shown("first.jpg could not be used: "):
        raise sv.InputError("The photo is not of the treated area.")
    with errors_shown():
        raise ZeroDivisionError("Ana's photo 12")
    st.write("still running")
    with errors_shown(stop=True):
        raise sv.AccessDenied("Please sign in again.")
    st.write("never shown")


def _page_that_stops_and_reruns():
    import streamlit as st

    from tracker.web.errors import errors_shown

    st.session_state["runs"] = st.session_state.get("runs", 0) + 1
    with errors_shown():
        if st.session_state["runs"] == 1:
            st.rerun()
    st.write(f"run {st.session_state['runs']}")
    with errors_shown():
        st.stop()
    st.write("after stop")


def test_errors_on_a_page_are_shown_as_messages_and_the_page_goes_on_or_stops(caplog):
    with caplog.at_level(logging.ERROR, logger="tracker.web"):
        at = AppTest.from_function(_page_with_errors, default_timeout=30).run()
    assert not at.exception
    assert [e.value for e in at.error] == ["first.jpg could not be used: The photo is not of the treated area.",
                                           INTERNAL_ERROR, "Please sign in again."]
    written = [m.value for m in at.markdown]
    assert "still running" in written and "never shown" not in written
    assert "ZeroDivisionError" in caplog.text and "Ana" not in caplog.text


def test_streamlits_stop_and_rerun_pass_through_the_handler():
    at = AppTest.from_function(_page_that_stops_and_reruns, default_timeout=30).run()
    assert not at.exception and not at.error
    assert at.session_state["runs"] == 2  # the rerun happened
    assert [m.value for m in at.markdown] == ["run 2"]  # and the stop stopped


# --- app_dir -----------------------------------------------------------------------------------

def test_app_dir_in_a_source_checkout_is_the_repository():
    assert app_dir() == REPO
    assert (app_dir() / "app.py").is_file() and (app_dir() / "pages" / "my_progress.py").is_file()


def _app_folder(root: Path, *, pages: bool = True) -> Path:
    root.mkdir()
    (root / "app.py").write_text("")
    (root / "serve.py").write_text("")
    if pages:
        (root / "pages").mkdir()
    return root


def test_app_dir_prefers_the_installed_package(monkeypatch, tmp_path):
    import tracker.web as web

    packaged = _app_folder(tmp_path / "packaged")
    monkeypatch.setattr(web, "_PACKAGED_APP", packaged)
    assert app_dir() == packaged
    monkeypatch.setattr(web, "_PACKAGED_APP", _app_folder(tmp_path / "no-pages", pages=False))
    assert app_dir() == REPO  # an app without its pages is not the app


def test_app_dir_says_what_to_do_when_the_app_is_missing(monkeypatch, tmp_path):
    import tracker.web as web

    monkeypatch.setattr(web, "_PACKAGED_APP", tmp_path / "a")
    monkeypatch.setattr(web, "_CHECKOUT", tmp_path / "b")
    with pytest.raises(FileNotFoundError, match="reinstall the package"):
        app_dir()


# --- panels ------------------------------------------------------------------------------------

def _measured(delta_a: float, texture: float | None) -> AnalysisResult:
    return AnalysisResult(ok=True, quality={"ok": True, "issues": [], "codes": []},
                          metrics={"redness_a": 10.0 + delta_a, "redness_delta_a": delta_a,
                                   "texture_contrast": texture, "ita_deg": 40.0, "melanin_index": 30.0})


def _progress(with_texture: bool):
    excess = {1: 9.0, 3: 7.5, 7: 3.1, 14: 1.2}
    photos = [PhotoPoint(0, datetime(2026, 3, 1, 10), _measured(1.0, 0.2 if with_texture else None))]
    photos += [PhotoPoint(day, datetime(2026, 3, 2, 10) + timedelta(days=day),
                          _measured(1.0 + value, 0.2 * (1 + day / 100) if with_texture else None))
               for day, value in excess.items()]
    return course_progress("fractional_co2", [date(2026, 3, 2)], photos, skin_type="II")


def _charts_page(progress, with_table):
    from tracker.web.panels import course_charts

    course_charts(progress, "II", with_table=with_table)


def charts(at: AppTest) -> list:
    return [*at.get("arrow_vega_lite_chart"), *at.get("vega_lite_chart")]


@pytest.mark.parametrize("with_texture", [True, False])
def test_course_charts_show_redness_and_texture_when_measured(with_texture):
    at = AppTest.from_function(_charts_page, args=(_progress(with_texture), False), default_timeout=30).run()
    assert not at.exception
    assert len(charts(at)) == (2 if with_texture else 1)
    assert not at.dataframe


def test_course_charts_table_shows_the_figures_without_internal_columns():
    at = AppTest.from_function(_charts_page, args=(_progress(True), True), default_timeout=30).run()
    assert not at.exception
    (table,) = [frame.value for frame in at.dataframe]
    assert "photo_id" not in table.columns and "usable" not in table.columns
    assert table["day"].tolist() == [-1, 1, 3, 7, 14]
    assert table["excess_redness"].tolist() == pytest.approx([0.0, 9.0, 7.5, 3.1, 1.2])
    assert table["texture_change_pct"].tolist() == pytest.approx([0.0, 1.0, 3.0, 7.0, 14.0])


def _empty_course_page():
    from types import SimpleNamespace

    from tracker.recovery.timeline import CourseProgress
    from tracker.web.panels import photo_timeline, regions_editor

    course = SimpleNamespace(progress=CourseProgress("fractional_co2", (), None, "No photos.", (0,)),
                             baseline_photo_id=None)
    photo_timeline(None, course)
    regions_editor(None, None, course)


def test_panels_of_a_course_without_photos_say_so():
    at = AppTest.from_function(_empty_course_page, default_timeout=30).run()
    assert not at.exception
    assert [i.value for i in at.info] == ["No photos yet.",
                                          "Regions are drawn on the baseline photo, which does not exist yet."]
    assert not at.get("image")


# --- the server around the app (issue #13, findings 4 and 7) ----------------------------------

def _asgi(middleware, method: str, path: str, headers: dict[str, str] | None = None,
          scheme: str = "http") -> tuple[int, dict[str, str], bool]:
    """One HTTP request through ``middleware``: (status, headers, whether the app behind it was reached)."""
    import asyncio

    reached, sent = [], []

    async def app(scope, receive, send):
        reached.append(scope["path"])
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def receive():
        return {"type": "http.request", "body": b"x" * 10, "more_body": False}

    async def send(message):
        sent.append(message)

    guard = middleware(app)
    request_headers = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    asyncio.run(guard({"type": "http", "method": method, "path": path, "scheme": scheme, "headers": request_headers},
                      receive, send))
    start = sent[0]
    return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}, bool(reached)


def test_uploads_pass_only_for_sessions_signed_in_to_a_role_that_adds_photos():
    from tracker.web.server import SECURITY_HEADERS, SecurityHeadersAndUploadGuard, UploadSessions

    sessions = UploadSessions()
    guard = lambda app: SecurityHeadersAndUploadGuard(app, sessions)  # noqa: E731
    path = "/_stcore/upload_file/3f2a-session/file-1"
    status, headers, reached = _asgi(guard, "PUT", path)
    assert (status, reached) == (403, False)
    assert headers["content-security-policy"] == SECURITY_HEADERS["Content-Security-Policy"]
    sessions.allow("3f2a-session")
    assert _asgi(guard, "PUT", path)[::2] == (204, True)
    assert _asgi(guard, "PUT", "/_stcore/upload_file/another-session/file-1")[::2] == (403, False)
    sessions.forget("3f2a-session")
    assert _asgi(guard, "PUT", path)[::2] == (403, False)
    status, headers, reached = _asgi(guard, "GET", "/")  # everything else passes, with the headers
    assert (status, reached) == (204, True)
    assert {k.lower(): v for k, v in SECURITY_HEADERS.items()}.items() <= headers.items()


def test_a_browser_opening_a_page_without_a_key_gets_a_new_http_only_one_and_keeps_it(monkeypatch):
    from http.cookies import SimpleCookie

    from tracker.web.server import SecurityHeadersAndUploadGuard, browser_key

    def key_cookie(path="/", headers=None, scheme="http", method="GET"):
        sent = _asgi(SecurityHeadersAndUploadGuard, method, path, headers, scheme)[1]
        cookie = SimpleCookie(sent.get("set-cookie", ""))
        return next(iter(cookie.values()), None)

    first, second = key_cookie(), key_cookie("/patients")
    assert first.key == "tracker_browser" and len(first.value) >= 40 and first.value != second.value
    assert first["httponly"] and first["samesite"] == "Lax" and first["path"] == "/" and not first["secure"]
    assert key_cookie(headers={"Cookie": f"theme=dark; tracker_browser={first.value}"}) is None  # kept, not replaced
    assert browser_key({"theme": "dark", "tracker_browser": first.value}) == first.value
    for path in ("/_stcore/health", "/static/js/main.js", "/media/abc.png"):  # only pages hand out keys
        assert key_cookie(path) is None
    assert key_cookie(method="POST") is None

    secure = key_cookie(scheme="https")  # a prefix no other host can set, sent over HTTPS only
    assert secure.key == "__Host-tracker_browser" and secure["secure"]
    assert browser_key({"tracker_browser": "planted", "__Host-tracker_browser": secure.value}) == secure.value
    assert key_cookie(headers={"Cookie": "tracker_browser=planted"}, scheme="https").key == "__Host-tracker_browser"
    assert not key_cookie(headers={"X-Forwarded-Proto": "https"})["secure"]  # a header alone is not trusted
    monkeypatch.setenv("TRACKER_BEHIND_PROXY", "1")
    assert key_cookie(headers={"X-Forwarded-Proto": "https"})["secure"]


def test_forwarded_headers_count_only_behind_a_proxy_and_only_as_the_proxy_added_them(monkeypatch):
    from tracker.web.server import proxy_forwarded

    monkeypatch.delenv("TRACKER_BEHIND_PROXY", raising=False)
    assert proxy_forwarded("203.0.113.9") is None  # reached directly: anyone can send the header
    monkeypatch.setenv("TRACKER_BEHIND_PROXY", "1")
    assert proxy_forwarded("10.0.0.1, 203.0.113.9 ") == "203.0.113.9"  # the client's own claim comes first
    assert proxy_forwarded("https") == "https"
    assert proxy_forwarded("  ") is None and proxy_forwarded(None) is None


def test_the_policy_lets_the_page_load_nothing_from_elsewhere_and_be_framed_nowhere():
    from tracker.web.server import CONTENT_SECURITY_POLICY

    directives = dict(d.split(" ", 1) for d in CONTENT_SECURITY_POLICY.split("; "))
    assert directives["default-src"] == "'self'" and directives["frame-ancestors"] == "'none'"
    for name, sources in directives.items():
        assert "http" not in sources and "*" not in sources, name
        assert "'unsafe-eval'" not in sources, name
    assert "'unsafe-inline'" not in directives["script-src"]
    assert "'sha256-" in directives["script-src"]  # Streamlit's one inline script, by its hash


def test_the_app_serves_this_machine_only_and_takes_no_more_than_a_photo_needs():
    import tomllib

    from tracker.services import MAX_PHOTO_BYTES

    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())["server"]
    assert config["address"] == "127.0.0.1"
    assert config["maxUploadSize"] * 2**20 == MAX_PHOTO_BYTES
    assert config["enableXsrfProtection"] is True


def test_literal_keeps_what_markdown_would_act_on_as_text():
    from tracker.web.markdown import literal

    assert literal("Ana Lindqvist (demo-ana)") == "Ana Lindqvist (demo-ana)"  # ordinary text unchanged
    assert literal("**admin**") == r"\*\*admin\*\*"
    assert literal("![x](https://example.org/p.png)") == r"!\[x\](https:\/\/example.org/p.png)"
    assert literal('<img src="x">') == r'\<img src="x"\>'
    assert literal(":red[alert] $x^2$") == r":red\[alert\] \$x^2\$"
    assert literal("line one\n# line two") == "line one # line two"
    assert literal("# heading") == r"\# heading"
