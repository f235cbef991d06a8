"""End-to-end tests: the real Streamlit app driven by a real headless Chromium.

A module fixture loads the simulated demo (``tracker demo``) into a fresh data
directory and starts the app on a free port as a subprocess, exactly as
``tracker app`` would; each test signs in through the browser as one role and
checks what that person sees and downloads:

* a patient uploads two photos at once: a truncated file is refused with its
  reason, a good follow-up is added and shows on her progress page with a status;
* a provider finds the slowly recovering demo patient at the top of the list and
  downloads a PDF report holding his identifier, status and figures;
* a researcher downloads a CSV that parses and holds no names and no dates;
* a patient cannot reach the provider pages by their addresses, within her
  session (history navigation) or by typing them.

A screenshot of every step is written to ``test-artifacts/e2e/`` (git-ignored).
The browser is Debian's ``/usr/bin/chromium`` (never a downloaded one); the tests
skip, with the reason, where it is absent.
"""

from __future__ import annotations

import io
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from conftest import demo_passwords

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts" / "e2e"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
VIEWPORT = {"width": 1300, "height": 2400}  # tall: Streamlit scrolls inside its own container
START_TIMEOUT = 60.0  # s, for the app to answer its health check
WAIT = 60_000  # ms, for a page to finish a run (analysing a photo, preparing a PDF)

#: Ana's last demo photo is from 2026-03-30 (day 28 after her 2026-03-02 treatment);
#: the new follow-up is a week later, day 35.
NEW_PHOTO_TAKEN = datetime(2026, 4, 6, 10, 30)
NEW_PHOTO_DAY = 35
STATUS_WORDS = ("On track", "Ahead of the typical course", "Slower than typical", "Ask your provider to review")
DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")


# --- fixtures -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def chromium():
    """The system Chromium, or skip (printing why) where it cannot be used."""
    if not CHROMIUM.exists():
        reason = f"browser tests need Debian's chromium at {CHROMIUM}, which is absent"
        print(f"\nSKIP: {reason}")
        pytest.skip(reason)
    pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    return CHROMIUM


@dataclass(frozen=True)
class App:
    base_url: str
    data_dir: Path
    passwords: dict[str, str]
    ben: dict  # demo-ben's identifier, name, status label and latest excess redness, computed in-process


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ben_figures(data_dir: Path) -> dict:
    """What the provider's report must show for demo-ben, computed from the store in-process."""
    from tracker import services as sv
    from tracker.store.db import open_store
    from tracker.web.views import course_provider_status

    store = open_store(data_dir)
    try:
        patient = sv.get_patient(store, sv.SYSTEM, sv.find_patient_id(store, sv.SYSTEM, "demo-ben"))
    finally:
        store.close()
    progress = patient.courses[0].progress
    measured = [pt for pt in progress.points
                if pt.ok and pt.day > 0 and pt.excess_redness is not None and pt.quality_ok is not False]
    latest = measured[-1]
    return {"reference": patient.reference, "name": patient.display_name, "status": course_provider_status(progress),
            "latest_date": f"{latest.taken_at:%Y-%m-%d}", "latest_day": latest.day,
            "latest_excess_redness": f"{latest.excess_redness:.1f}"}


@contextmanager
def _served(data_dir: Path, log_path: Path):
    """The app on ``data_dir`` served by ``streamlit run serve.py`` on a free port, as ``tracker app`` does; its URL."""
    port = _free_port()
    env = dict(os.environ, TRACKER_DATA_DIR=str(data_dir))
    env.pop("TRACKER_DATABASE_URL", None)
    command = [sys.executable, "-m", "streamlit", "run", str(REPO / "serve.py"),  # as `tracker app` serves it
               "--server.port", str(port), "--server.address", "127.0.0.1", "--server.headless", "true",
               "--browser.gatherUsageStats", "false", "--client.showErrorDetails", "full",  # tracebacks in failures
               # Others may be editing the sources while the tests run: never rerun on a file change.
               "--server.fileWatcherType", "none", "--server.runOnSave", "false"]
    with open(log_path, "wb") as log:
        server = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"the app exited with status {server.returncode} before answering")
            try:
                with urllib.request.urlopen(f"{base_url}/_stcore/health", timeout=2) as reply:
                    if reply.read().strip() == b"ok":
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the app did not answer {base_url}/_stcore/health within {START_TIMEOUT:g} s")
            time.sleep(0.25)
    except BaseException as exc:
        server.kill()
        server.wait(10)
        print(f"\n--- streamlit log ({log_path}) ---\n{log_path.read_text(errors='replace')}")
        pytest.fail(f"could not start the app: {exc}")
    try:
        yield base_url
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)


@pytest.fixture(scope="module")
def app(chromium, demo_dir):
    """The demo app served on a free port; stopped after the module."""
    passwords = demo_passwords(demo_dir)
    ben = _ben_figures(demo_dir)
    with _served(demo_dir, demo_dir.parent / "streamlit.log") as base_url:
        yield App(base_url, demo_dir, passwords, ben)


@pytest.fixture(scope="module")
def browser(chromium):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def page(browser, request):
    """A fresh browser context (its own Streamlit session) per test; a last screenshot at the end."""
    for old in ARTIFACTS.glob(f"{request.node.name}_*.png"):  # screenshots of an earlier run
        old.unlink()
    context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
    context.set_default_timeout(WAIT)
    opened = context.new_page()
    yield opened
    try:
        _screenshot(opened, request.node.name, "zz_end")
    finally:
        context.close()


@pytest.fixture
def shot(page, request):
    """``shot(step)``: wait for the app to settle and save a screenshot of this test's step."""
    counter = iter(range(1, 100))

    def take(step: str) -> None:
        settle(page)
        _screenshot(page, request.node.name, f"{next(counter):02d}_{step}")

    return take


def _screenshot(page, test: str, step: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{test}_{step}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


# --- helpers --------------------------------------------------------------------------------

def settle(page, timeout: float = WAIT) -> None:
    """Wait until Streamlit has finished running the script (idle, and still idle 300 ms later)."""
    idle = page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]')
    deadline = time.monotonic() + timeout / 1000
    while time.monotonic() < deadline:
        idle.wait_for(state="attached", timeout=timeout)
        page.wait_for_timeout(300)
        if idle.count():
            return
    raise AssertionError("the app kept running")


def shown(page, locator, timeout: float = WAIT):
    """Wait for ``locator`` to be visible; fail at once, with its message, if the app shows an exception."""
    from playwright.sync_api import expect

    error = page.get_by_test_id("stException")
    expect(locator.or_(error).first).to_be_visible(timeout=timeout)
    if error.count():
        raise AssertionError(f"the app failed:\n{error.first.inner_text()}")
    expect(locator).to_be_visible()
    return locator


def expect_text(page, text, timeout: float = WAIT):
    return shown(page, page.get_by_text(text).first, timeout)


def sign_in(page, user: str, password: str, first_page: str, url: str | None = None) -> None:
    """Sign in through the form (first opening ``url`` when given); wait for the role's first page title."""
    from playwright.sync_api import expect

    if url is not None:
        page.goto(url)
    expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=WAIT)
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    shown(page, page.get_by_role("heading", name=first_page, exact=True))
    expect(page.get_by_text(f"Signed in as {user}")).to_be_visible()


def click_row(page, row: int) -> None:
    """Click the row marker of a body row of the first table (drawn on a canvas: clicked by position)."""
    from playwright.sync_api import expect

    grid = page.locator('[data-testid="stDataFrame"]').first
    expect(grid).to_be_visible(timeout=WAIT)
    settle(page)
    box = grid.bounding_box()
    header = grid.locator('thead [role="columnheader"]').first.bounding_box()
    height = header["height"] if header and header["height"] else 35
    page.mouse.click(box["x"] + 15, box["y"] + height * (row + 1.5))


def go_to(page, title: str) -> None:
    """Follow a link of the sidebar navigation and wait for the page's title."""
    page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name=title).click()
    shown(page, page.get_by_role("heading", name=title, exact=True))


def follow_address(page, path: str) -> None:
    """Go to ``/path`` inside the current session, as the browser's back and forward buttons do.

    Typing an address starts a new Streamlit session (signed out); a history entry
    plus a popstate event makes Streamlit open that page in the running session.
    """
    page.evaluate("path => { history.pushState({}, '', '/' + path); "
                  "window.dispatchEvent(new PopStateEvent('popstate', {state: {}})); }", path)
    page.wait_for_timeout(500)
    settle(page)


def page_text(page) -> str:
    return page.locator('[data-testid="stApp"]').inner_text()


def follow_up_photo() -> bytes:
    """Ana's next photo: her baseline seen by a slightly moved camera in other light, a little red, dated."""
    from PIL import Image

    from tracker.analysis import simulate as sim

    baseline = np.asarray(Image.open(REPO / "sample_images" / "demo-ana" / "day-01_baseline.jpg").convert("RGB"))
    h, w = baseline.shape[:2]
    treated = np.zeros((h, w), bool)
    treated[345:420, 407:482] = True  # her treated area (manifest ROI 407,345,75,75)
    scene = sim.add_redness(baseline, treated, 0.4, feather_px=8)
    view = sim.render_view(scene, sim.camera_matrix(
        sim.CameraMotion(rotation_deg=2.0, scale=1.03, shift=(12.0, -8.0), tilt=(1e-6, -1e-6)), (h, w)))
    lit = sim.change_lighting(view, sim.Lighting(exposure=0.93, white_balance=(1.02, 1.0, 0.97), gamma=1.03))
    lit = sim.add_sensor_noise(lit, 1.5, np.random.default_rng(35))
    exif = Image.Exif()
    stamp = NEW_PHOTO_TAKEN.strftime("%Y:%m:%d %H:%M:%S")
    exif[0x0132] = stamp  # DateTime
    exif.get_ifd(0x8769)[0x9003] = stamp  # DateTimeOriginal
    out = io.BytesIO()
    Image.fromarray(lit).save(out, "JPEG", quality=90, exif=exif)
    return out.getvalue()


# --- tests ----------------------------------------------------------------------------------

def test_patient_uploads_two_photos(app, page, shot, tmp_path):
    """Ana adds a good follow-up and a truncated file at once: one refused with its reason, one charted."""
    from playwright.sync_api import expect

    good = tmp_path / "day35_follow-up.jpg"
    good.write_bytes(follow_up_photo())
    broken = tmp_path / "cut-off.jpg"
    broken.write_bytes(good.read_bytes()[: good.stat().st_size // 2])

    sign_in(page, "ana", app.passwords["ana"], "My progress", url=app.base_url)
    expect(page.get_by_text("demo-ben")).to_have_count(0)
    shot("signed_in")

    go_to(page, "Add photos")
    shot("add_photos_page")
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files([str(broken), str(good)])
    # Each uploaded file gets a date field, filled from the photo's EXIF.
    for f in (good, broken):
        expect(page.get_by_role("group", name=f"Date taken: {f.name}", exact=True)).to_be_visible(timeout=WAIT)
    taken = NEW_PHOTO_TAKEN
    for part, value in (("year", taken.year), ("month", taken.month), ("day", taken.day)):
        field = page.get_by_role("spinbutton", name=f"{part}, Date taken: {good.name}", exact=True)
        expect(field).to_have_attribute("aria-valuenow", str(value))
    shot("two_photos_chosen")

    page.get_by_role("button", name="Check and add").click()
    refusal = expect_text(page, f"{broken.name} could not be used:")
    expect(refusal).to_contain_text("incomplete (truncated)")
    expect_text(page, f"{good.name} is usable and has been added to your progress chart.")
    expect(page.get_by_text("Checked 2 of 2")).to_be_visible(timeout=WAIT)
    shot("checked")

    go_to(page, "My progress")
    status = page.locator('[data-testid="stAlertContainer"]').filter(
        has_text=re.compile("|".join(map(re.escape, STATUS_WORDS)))).first
    expect(status).to_be_visible(timeout=WAIT)
    assert status.inner_text().strip() in STATUS_WORDS
    # The photo viewer opens on the newest photo: the new one, day 35, lined up with her first photo.
    expect(page.get_by_text(f"day {NEW_PHOTO_DAY} ({NEW_PHOTO_TAKEN:%d %b})").first).to_be_visible(timeout=WAIT)
    expect(page.get_by_text(f"Day {NEW_PHOTO_DAY}, lined up with the first photo")).to_be_visible(timeout=WAIT)
    # The redness chart is an SVG whose marks carry their data as aria-labels: the new photo is a usable point.
    chart = page.locator('[data-testid="stVegaLiteChart"]').filter(
        has=page.locator('[aria-label*="Redness above before-treatment"]')).first
    new_point = chart.locator(f'[aria-label^="Days since treatment: {NEW_PHOTO_DAY};"][aria-label*="Photo: usable"]')
    expect(new_point.first).to_be_attached(timeout=WAIT)
    shot("progress_with_new_photo")
    text = page_text(page)
    assert "demo-ben" not in text


def test_provider_downloads_report_of_slow_patient(app, page, shot, tmp_path):
    """Dr Rivera sees demo-ben, who recovers slowly, first; opens him and downloads a PDF report."""
    from playwright.sync_api import expect
    from pypdf import PdfReader

    ben = app.ben
    sign_in(page, "dr.rivera", app.passwords["dr.rivera"], "Patients", url=app.base_url)
    # st.dataframe draws on a canvas, but glide-data-grid keeps an accessible table of the visible cells
    # inside it (role=grid); its first body row is the first patient of the list.
    grid = page.locator('[data-testid="stDataFrame"] table[role="grid"]')
    header = grid.locator('thead [role="columnheader"]')
    expect(header.first).to_have_text("patient", timeout=WAIT)
    columns = header.all_inner_texts()
    rows = grid.locator('tbody [role="row"]')
    expect(rows).to_have_count(2, timeout=WAIT)
    first = dict(zip(columns, rows.first.locator('[role="gridcell"]').all_inner_texts()))
    assert first["identifier"] == ben["reference"], f"first row of the patient list: {first}"
    # The provider reads the rule that fired, not the patient's "Ask your provider to review".
    assert first["status"] == ben["status"] and ben["status"].startswith("needs review: redness beyond the outer limit")
    shot("patient_list")

    click_row(page, 0)
    shown(page, page.get_by_role("heading", name=ben["name"], exact=True))
    expect_text(page, f"Identifier {ben['reference']}")
    expect_text(page, ben["status"])
    redness = page.get_by_test_id("stMetric").filter(has_text="Redness above before")
    expect(redness).to_contain_text(ben["latest_excess_redness"])
    shot("patient_detail")

    page.get_by_role("button", name="Prepare PDF report").click()
    download_button = shown(page, page.get_by_role("button", name="Download PDF report"))
    download_button.scroll_into_view_if_needed()
    shot("report_prepared")
    with page.expect_download(timeout=WAIT) as info:
        download_button.click()
    download = info.value
    assert download.suggested_filename == f"report-{ben['reference']}.pdf"
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    shot("report_downloaded")

    pdf = path.read_bytes()
    assert pdf.startswith(b"%PDF-"), pdf[:20]
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) >= 1
    text = " ".join(" ".join(p.extract_text() or "" for p in reader.pages).split())
    assert ben["reference"] in text
    assert ben["name"] in text
    assert ben["status"] in text
    # The table of figures per photo has his latest photo's row: date, day, session, Δa* above before, ...
    latest_row = rf"{ben['latest_date']} {ben['latest_day']} \d+ {re.escape(ben['latest_excess_redness'])} "
    assert re.search(latest_row, text), (
        f"demo-ben's latest excess redness (day {ben['latest_day']}: {ben['latest_excess_redness']}) "
        f"is not in the report's table:\n{text}")
    assert "demo-ana" not in text


def test_provider_opens_a_patient_by_clicking_her_row(app, page, shot):
    """A click on the second row (demo-ana, not the page's default first patient) opens her page."""
    from playwright.sync_api import expect

    sign_in(page, "dr.rivera", app.passwords["dr.rivera"], "Patients", url=app.base_url)
    rows = page.locator('[data-testid="stDataFrame"] table[role="grid"] tbody [role="row"]')
    expect(rows).to_have_count(2, timeout=WAIT)
    expect(rows.nth(1)).to_contain_text("demo-ana")
    # No chooser and "Open" button any more (the select boxes' own "Open" arrows are not buttons of the page).
    assert not page.locator('[data-testid="stButton"]').get_by_role("button", name="Open", exact=True).count()
    assert not page.get_by_label("Open a patient").count()
    click_row(page, 1)
    shown(page, page.get_by_role("heading", name="demo-ana", exact=True))
    expect_text(page, "Identifier demo-ana")
    assert page.url.rstrip("/").endswith("patient_detail"), page.url
    assert app.ben["reference"] not in page_text(page)
    shot("opened_by_row")
    # Back on the list, the earlier click does not open her again.
    go_to(page, "Patients")
    settle(page)
    expect(page.get_by_role("heading", name="Patients", exact=True)).to_be_visible()
    expect(page.get_by_role("heading", name="demo-ana", exact=True)).to_have_count(0)
    expect(page.locator('[data-testid="stDataFrame"]')).to_be_visible()


def test_researcher_downloads_deidentified_csv(app, page, shot, tmp_path):
    """The researcher's cohort CSV parses, has rows and pseudonyms, and no names or dates."""
    import pandas as pd
    sign_in(page, "researcher", app.passwords["researcher"], "Cohort", url=app.base_url)
    download_button = shown(page, page.get_by_role("button", name="Download CSV", exact=True))
    shot("cohort")
    with page.expect_download(timeout=WAIT) as info:
        download_button.click()
    download = info.value
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    shot("csv_downloaded")

    raw = path.read_text(encoding="utf-8")
    table = pd.read_csv(io.StringIO(raw), dtype=str, keep_default_na=False)
    assert len(table) > 0
    assert "patient_pseudonym" in table.columns
    counted = re.search(r"(\d+) photos of (\d+) patients", page_text(page))
    assert counted, "the cohort page does not say how many photos it shows"
    assert (len(table), table["patient_pseudonym"].nunique()) == (int(counted[1]), int(counted[2]))
    assert table["patient_pseudonym"].nunique() == 2  # the two demo patients
    forbidden = {"demo-ana", "demo-ben", "ana", "ben", "dr.rivera"}
    for cell in table.to_numpy().ravel():
        assert cell.strip().lower() not in forbidden, cell
    lowered = raw.lower()
    for name in ("demo-ana", "demo-ben", "dr.rivera"):
        assert name not in lowered
    for pattern in (DATE_RE, re.compile(r"\b\d{1,2}/\d{1,2}/\d{2,4}\b"), re.compile(r"\b\d{1,2}:\d{2}\b")):
        found = pattern.search(raw)
        assert not found, f"a date or time in the CSV: {found.group()!r}"
    date_like = [c for c in table.columns if re.search(r"date|time|_at$|_on$|taken|born|birth", c, re.I)]
    assert not date_like, f"columns that suggest dates: {date_like}"


def test_patient_cannot_reach_provider_pages(app, page, shot):
    """A patient who goes to a provider page's address sees nothing of other patients."""
    from playwright.sync_api import expect

    def shows_only_her_pages() -> None:
        expect(page.get_by_role("heading", name="My progress", exact=True)).to_be_visible(timeout=WAIT)
        expect(page.get_by_role("heading", name="Patients", exact=True)).to_have_count(0)
        expect(page.get_by_text("demo-ben")).to_have_count(0)
        nav = page.locator('[data-testid="stSidebarNav"]').get_by_role("link")
        # Each link's text is its icon's ligature name, then its title.
        assert sorted(t.splitlines()[-1].strip() for t in nav.all_inner_texts()) == ["Add photos", "My account",
                                                                                        "My progress"]
        assert "demo-ben" not in page_text(page)

    # Control: the same in-session navigation does take a provider to a provider page.
    sign_in(page, "dr.rivera", app.passwords["dr.rivera"], "Patients", url=app.base_url)
    follow_address(page, "patient_detail")
    shown(page, page.get_by_role("heading", name=app.ben["name"], exact=True))
    shot("provider_follows_address")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=WAIT)

    # Ana signs in in the same browser session and goes to the provider pages' addresses.
    sign_in(page, "ana", app.passwords["ana"], "My progress")
    shows_only_her_pages()
    for path in ("patients", "patient_detail"):
        follow_address(page, path)
        shows_only_her_pages()
        shot(f"patient_follows_{path}")

    # Typing the address starts a new Streamlit session, still signed in as the patient (the
    # browser's key cookie): Streamlit finds no such page among hers, and she stays on her own.
    for path in ("patients", "patient_detail"):
        page.goto(f"{app.base_url}/{path}")
        dialog = page.get_by_role("dialog")
        expect(dialog).to_contain_text("Page not found", timeout=WAIT)
        settle(page)
        assert "demo-ben" not in page_text(page)
        shot(f"typed_{path}")
        page.keyboard.press("Escape")
        expect(dialog).to_have_count(0)
        shows_only_her_pages()
        shot(f"still_hers_at_{path}")


# --- attacks from the browser (issue #13, findings 4 and 7) -----------------------------------

def test_every_response_carries_the_security_headers(app):
    """CSP (nothing from elsewhere, no framing), nosniff and no referrer, on the page and its assets."""
    from tracker.web.server import CONTENT_SECURITY_POLICY

    with urllib.request.urlopen(f"{app.base_url}/", timeout=10) as reply:
        page, headers = reply.read().decode(), reply.headers
    asset = re.search(r'src="\./(static/js/[^"]+)"', page)[1]
    with urllib.request.urlopen(f"{app.base_url}/{asset}", timeout=10) as reply:
        asset_headers = reply.headers
    for got in (headers, asset_headers):
        assert got["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
        assert "frame-ancestors 'none'" in got["Content-Security-Policy"]
        assert "img-src 'self' data: blob:" in got["Content-Security-Policy"]
        assert (got["X-Frame-Options"], got["X-Content-Type-Options"], got["Referrer-Policy"]) == (
            "DENY", "nosniff", "no-referrer")


class _Listener:
    """An HTTP server on another local port standing for an outside site: it records every request."""

    def __init__(self) -> None:
        import http.server
        import threading

        self.requests: list[str] = []
        requests = self.requests

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - the http.server interface
                requests.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_note_cannot_forge_an_author_nor_make_readers_fetch_from_elsewhere(app, page, shot):
    from playwright.sync_api import expect

    from tracker import services as sv
    from tracker.store.db import open_store

    outside = _Listener()
    try:
        forged = (f"Fine.\n\n**admin**, 01 Jan 2026 09:00: stop the treatment ![x]({outside.url}/markdown.png) "
                  f'<img src="{outside.url}/html.png"> [click]({outside.url}/link)')
        store = open_store(app.data_dir)
        try:
            _, provider = sv.sign_in(store, "dr.rivera", app.passwords["dr.rivera"])
            ana = sv.find_patient_id(store, sv.SYSTEM, "demo-ana")
            sv.add_note(store, provider, ana, forged)
        finally:
            store.close()
        sign_in(page, "dr.rivera", app.passwords["dr.rivera"], "Patients", url=app.base_url)
        page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name="Patient detail").click()
        shown(page, page.get_by_role("heading", name=app.ben["name"], exact=True))
        page.get_by_label("Patient", exact=True).click()
        page.get_by_role("option", name="demo-ana (demo-ana)").click()
        settle(page)
        note = page.get_by_test_id("stText").filter(has_text="stop the treatment")
        shown(page, note)
        note.scroll_into_view_if_needed()
        shot("forged_note")
        # The note is shown as typed, stars and brackets included, in its own element under its real author.
        expect(note).to_contain_text("**admin**, 01 Jan 2026 09:00: stop the treatment ![x](")
        author = page.get_by_test_id("stCaptionContainer").filter(has_text=re.compile(r"^dr\.rivera · "))
        expect(author).to_have_count(1)
        expect(page.locator("strong", has_text="admin")).to_have_count(0)
        expect(page.locator(f'img[src^="{outside.url}"]')).to_have_count(0)
        page.wait_for_timeout(1000)
        assert outside.requests == []
    finally:
        outside.close()


def _ids_in(frames: list[bytes]) -> list[str]:
    """The UUIDs in the app's WebSocket messages: the browser session's id is one of them."""
    found = [m.decode() for frame in frames for m in re.findall(
        rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", frame)]
    assert found, "no ids in the app's messages"
    return list(dict.fromkeys(found))


def test_an_anonymous_session_cannot_park_an_upload_and_a_signed_in_patient_can(app, page):
    """Streamlit accepts uploads from any connected session; the app's guard refuses them before sign-in."""
    frames: list[bytes] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(
        payload if isinstance(payload, bytes) else payload.encode())))
    page.goto(app.base_url)
    settle(page)
    put = """async ([sid, size]) => {
        const xsrf = (document.cookie.match(/_streamlit_xsrf=([^;]+)/) || [])[1] || "";
        const form = new FormData();
        form.append("file", new Blob([new Uint8Array(size)], {type: "image/jpeg"}), "parked.jpg");
        const reply = await fetch(`/_stcore/upload_file/${sid}/parked-1`,
                                  {method: "PUT", body: form, headers: {"X-Xsrftoken": xsrf}});
        return [reply.status, await reply.text()]; }"""
    candidates = _ids_in(frames)
    for candidate in candidates:  # whichever of them is the session's id
        assert page.evaluate(put, [candidate, 1024 * 1024]) == [403, "Sign in before uploading photos.\n"]
    sign_in(page, "ana", app.passwords["ana"], "My progress")
    accepted = [c for c in candidates if page.evaluate(put, [c, 1024])[0] in (200, 204)]
    assert len(accepted) == 1, accepted  # the patient's own session, now signed in
    # Larger than a photo needs: refused by the server's limit (server.maxUploadSize = 30 MB).
    assert page.evaluate(put, [accepted[0], 31 * 1024 * 1024])[0] == 413
    page.get_by_role("button", name="Sign out").click()
    settle(page)
    assert page.evaluate(put, [accepted[0], 1024]) == [403, "Sign in before uploading photos.\n"]


def test_a_batch_is_capped_and_a_photo_of_a_treatment_day_asks_before_or_after(app, page, shot, tmp_path):
    """Issue #13, finding 7 (12 photos a batch) and the session-day question (photos.before_session)."""
    from PIL import Image
    from playwright.sync_api import expect

    files = []
    for i in range(13):
        path = tmp_path / f"treatment-day-{i:02d}.jpg"
        exif = Image.Exif()
        exif.get_ifd(0x8769)[0x9003] = "2026:03:02 18:00:00"  # DateTimeOriginal: Ana's treatment day
        Image.new("RGB", (64, 48), (200, 150, 120 + i)).save(path, "JPEG", exif=exif)
        files.append(str(path))
    sign_in(page, "ana", app.passwords["ana"], "My progress", url=app.base_url)
    go_to(page, "Add photos")
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(files)
    expect_text(page, "Add at most 12 photos at a time: only the first 12 are checked.")
    questions = page.get_by_role("radiogroup")
    expect(questions).to_have_count(12, timeout=WAIT)
    expect_text(page, "treatment-day-00.jpg was taken on a treatment day: before or after the treatment?")
    expect(page.get_by_text("treatment-day-12.jpg", exact=False).filter(has_text="Date taken")).to_have_count(0)
    shot("capped_batch")


def test_a_sign_in_holds_on_reload_and_on_another_replica_until_signed_out_on_either(app, browser, page, shot,
                                                                                      tmp_path):
    """Two app processes on one store stand for replicas behind a proxy (cookies are shared across ports)."""
    from playwright.sync_api import expect

    def signed_in_as_ana(url: str) -> None:
        page.goto(url)
        shown(page, page.get_by_role("heading", name="My progress", exact=True))
        expect(page.get_by_text("Signed in as ana")).to_be_visible()
        expect(page.get_by_role("button", name="Sign in")).to_have_count(0)

    with _served(app.data_dir, tmp_path / "replica.log") as replica:
        sign_in(page, "ana", app.passwords["ana"], "My progress", url=app.base_url)
        cookies = {c["name"]: c for c in page.context.cookies()}
        assert cookies["tracker_browser"]["httpOnly"], "the key must be out of reach of the page's scripts"
        page.reload()
        signed_in_as_ana(app.base_url)
        shot("reloaded")
        signed_in_as_ana(replica)
        shot("on_the_replica")

        stranger = browser.new_context(viewport=VIEWPORT)
        try:
            other = stranger.new_page()
            other.goto(replica)
            expect(other.get_by_role("button", name="Sign in")).to_be_visible(timeout=WAIT)
            expect(other.get_by_text("Signed in as ana")).to_have_count(0)
        finally:
            stranger.close()

        page.get_by_role("button", name="Sign out").click()
        expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=WAIT)
        page.goto(app.base_url)  # signed out on the replica: signed out here too
        expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=WAIT)
        settle(page)
        expect(page.get_by_text("Signed in as ana")).to_have_count(0)
        shot("signed_out_everywhere")


def test_the_patient_sees_her_next_photo_and_the_provider_filters_by_photo_overdue(app, page, shot):
    """What each is shown is worked out in-process from the same store (other tests of this module add photos)."""
    from playwright.sync_api import expect

    from tracker import services as sv
    from tracker.store.db import open_store
    from tracker.web.views import course_schedule, schedule_sentences

    store = open_store(app.data_dir)
    try:
        today = datetime.now().date()
        ana = sv.get_patient(store, sv.SYSTEM, sv.find_patient_id(store, sv.SYSTEM, "demo-ana"))
        told = schedule_sentences(course_schedule(ana.courses[0], today), today)
        _, provider = sv.sign_in(store, "dr.rivera", app.passwords["dr.rivera"])
        listed = sv.list_patients(store, provider)
    finally:
        store.close()
    assert told, "a course with a treatment session always has a photo plan to tell"

    sign_in(page, "ana", app.passwords["ana"], "My progress", url=app.base_url)
    expect(page.get_by_role("heading", name="Your next photo")).to_be_visible()
    for sentence in told:
        expect(page.get_by_text(sentence, exact=True)).to_be_visible()
    shot("patient_next_photo")
    page.get_by_role("button", name="Sign out").click()

    sign_in(page, "dr.rivera", app.passwords["dr.rivera"], "Patients")
    total, overdue = len(listed), sum(p.photo_overdue for p in listed)
    assert overdue < total, "the filter must leave someone out for this to test it"
    expect(page.get_by_text(f"{total} of {total} patients.")).to_be_visible()
    page.get_by_text("Photo overdue only").click()
    expect(page.get_by_text(f"{overdue} of {total} patients.")).to_be_visible(timeout=WAIT)
    shot("provider_overdue_only")
