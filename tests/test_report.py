"""The PDF report, built from the demo patients through the services and read back with pypdf.

The figures the report must print are worked out apart from the services it is built from:
dates, days and sessions from ``sample_images/manifest.csv``; each photo's Δa* above the
baseline, texture change, ITA°, melanin index and alignment error by hand from the analysis
rows stored in the database; and the simulated truth in ``sample_images/truth.csv`` for the
redness and the day it resolves.
"""

from __future__ import annotations

import io
import logging
import re
from datetime import date, datetime

import numpy as np
import pytest
from pypdf import PdfReader
from sqlalchemy import select

from tracker import services as sv
from tracker.analysis.io import decode_photo
from tracker.recovery import photo_schedule
from tracker.store.db import open_store
from tracker.store.models import Course, Patient, Photo
from tracker.web.report import NOTICE, ReportError, patient_report_pdf, photos_needed
from truth import TRUTH, manifest_rows, photo_day, redness_tolerance, stored_results, treated_on

GENERATED_AT = datetime(2026, 4, 1, 10, 0)
RESOLVED_DELTA_A = 2.0  # the resolved level of the recovery model (sample_images/README.md)
# The report prints Δa* and texture % to one decimal: half a unit of the last digit, and a little for floats.
PRINTED = 0.05 + 1e-6


@pytest.fixture(scope="module")
def clinic(demo_dir):
    """The demo in a store of its own, with a provider assigned to every patient."""
    store = open_store(demo_dir)
    ids = {p.reference: p.id for p in sv.list_patients(store, sv.SYSTEM)}
    ids["empty"] = sv.create_patient(store, sv.SYSTEM, "empty", "Erin Empty", "V")
    provider_id = sv.create_user(store, sv.SYSTEM, "dr.x", "password-1234", "provider")
    for patient_id in ids.values():
        sv.assign_patient(store, sv.SYSTEM, provider_id, patient_id)
    _, provider = sv.sign_in(store, "dr.x", "password-1234")
    yield store, provider, ids
    store.close()


def _report(store, actor, patient_id, photos=None) -> tuple[bytes, sv.PatientDetail]:
    detail = sv.get_patient(store, actor, patient_id)
    if photos is None:
        photos = {i: decode_photo(sv.photo_bytes(store, actor, i)).rgb for i in photos_needed(detail)}
    pdf = patient_report_pdf(detail, sv.list_notes(store, actor, patient_id), photos,
                             prepared_by=actor.username, generated_at=GENERATED_AT)
    return pdf, detail


def _read(pdf: bytes) -> tuple[PdfReader, str]:
    assert pdf.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(pdf))
    text = " ".join(" ".join(page.extract_text() for page in reader.pages).split())
    return reader, text


_NUMBER = r"(-?\d+\.\d+|–)"
_ROW = re.compile(rf"(\d{{4}}-\d\d-\d\d) (-?\d+) (\d+) {_NUMBER} {_NUMBER} {_NUMBER} ([+-]\d+\.\d|–) (.+?) "
                  rf"(\d+\.\d\d|–)(?= \d{{4}}-\d\d-\d\d | Day: )")


def _figures(text: str) -> dict[str, dict]:
    """The report's table of figures per photo, by date."""
    number = lambda v: None if v == "–" else float(v)  # noqa: E731
    return {m[1]: {"day": int(m[2]), "session": int(m[3]), "delta_a": number(m[4]), "ita": number(m[5]),
                   "melanin": number(m[6]), "texture_pct": number(m[7]), "quality": m[8], "rmse": number(m[9])}
            for m in _ROW.finditer(text)}


def _expected_figures(store, reference: str) -> dict[str, dict]:
    """What the report's table must say for each photo, worked out by hand from the stored metrics."""
    stored = stored_results(store, reference)
    rows = manifest_rows(reference)
    base = stored[rows[0]["taken_on"]]["metrics"]
    expected = {}
    for row in rows:
        result = stored[row["taken_on"]]
        metrics = result["metrics"]
        day = photo_day(row)
        expected[row["taken_on"]] = {
            "photo": row["photo"], "day": day, "session": 1 if day > 0 else 0,
            # Pre-treatment baseline and a control region: the photo's Δa* less the baseline's own.
            "delta_a": metrics["redness_delta_a"] - base["redness_delta_a"],
            # Texture is withheld (null, with the reason) when the photo's focus differs from the baseline's.
            "texture_pct": None if metrics["texture_contrast"] is None
            else 100 * (metrics["texture_contrast"] / base["texture_contrast"] - 1),
            "ita": metrics["ita_deg"], "melanin": metrics["melanin_index"],
            "rmse": None if row is rows[0] else result["alignment"]["rmse_px"],
            "quality_codes": result["quality"]["codes"],
        }
    return expected


def _truth_resolution_day(reference: str) -> float:
    """The day the simulated redness falls to the resolved level: a log-linear fit of the course it was made from."""
    rows = [TRUTH[r["photo"]] for r in manifest_rows(reference) if int(TRUTH[r["photo"]]["day"]) > 0]
    days = np.array([int(r["day"]) for r in rows])
    slope, intercept = np.polyfit(days, np.log([float(r["delta_a_target"]) for r in rows]), 1)
    return (np.log(RESOLVED_DELTA_A) - intercept) / slope


@pytest.mark.parametrize("reference", ["demo-ben", "demo-ana"])
def test_figures_per_photo_are_the_stored_measurements_and_the_simulated_truth(clinic, reference):
    store, provider, ids = clinic
    pdf, _ = _report(store, provider, ids[reference])
    _, text = _read(pdf)
    printed = _figures(text)
    expected = _expected_figures(store, reference)
    assert list(printed) == list(expected)  # one row per photo, in the order taken
    for when, want in expected.items():
        got = printed[when]
        assert (got["day"], got["session"]) == (want["day"], want["session"]), when
        assert want["day"] == int(TRUTH[want["photo"]]["day"])
        assert (got["texture_pct"] is None) is (want["texture_pct"] is None), when
        for key in ("delta_a", "texture_pct", "ita", "melanin"):
            if want[key] is not None:
                assert abs(got[key] - want[key]) <= PRINTED, (when, key, got[key], want[key])
        if want["rmse"] is None:
            assert got["rmse"] is None
        else:
            assert abs(got["rmse"] - want["rmse"]) <= 0.005 + 1e-6, when
        # The measured redness is the simulated one.
        added = float(TRUTH[want["photo"]]["true_delta_a_added"])
        if TRUTH[want["photo"]]["expected_quality"] == "pass":
            assert got["quality"] == "OK", when
            assert abs(got["delta_a"] - added) <= redness_tolerance(added), (when, got["delta_a"], added)
        else:
            assert got["quality"] == ", ".join(want["quality_codes"]) and want["quality_codes"], when


# The provider reads the rule that fired and the day it was seen (Ben's last photo), not the patient's words.
BEN_STATUS = f"needs review: redness beyond the outer limit on day {photo_day(manifest_rows('demo-ben')[-1])}"
ANA_STATUS = "on track: redness fading within the expected band"


@pytest.mark.parametrize(("reference", "status", "margin"), [("demo-ben", BEN_STATUS, 4.0),
                                                             ("demo-ana", ANA_STATUS, 2.0)])
def test_status_and_projected_resolution_match_the_simulated_course(clinic, reference, status, margin):
    store, provider, ids = clinic
    pdf, _ = _report(store, provider, ids[reference])
    _, text = _read(pdf)
    assert f"Status {status} " in text
    projected = re.search(r"Projected resolution around day (\d+) \(90% interval: day (\d+) to (\d+)\)", text)
    assert projected, text[:2000]
    day, low, high = (int(v) for v in projected.groups())
    truth = _truth_resolution_day(reference)  # 35 for Ben, 14 for Ana
    assert abs(day - truth) <= margin, (day, truth)
    assert low <= truth <= high


def test_review_patient_report_shows_header_reasons_notes_and_photos(clinic):
    store, provider, ids = clinic
    sv.add_note(store, provider, ids["demo-ben"], "Redness persists at four weeks; booked a review visit.")
    sv.add_note(store, provider, ids["demo-ben"], "Called the patient: uses SPF 50 daily.")
    pdf, _ = _report(store, provider, ids["demo-ben"])
    reader, text = _read(pdf)
    rows = manifest_rows("demo-ben")

    assert len(pdf) < 3_000_000
    assert "Healing progress report" in text
    assert "Patient demo-ben" in text and "Identifier demo-ben" in text
    assert f"Fitzpatrick {rows[0]['skin_type']}" in text
    assert "2026-04-01 10:00 by dr.x" in text
    assert NOTICE in text and "not a diagnosis" in text
    assert f"Session {rows[0]['treated_on']} " in text
    days_since = (GENERATED_AT.date() - treated_on("demo-ben")).days
    assert f"Days since latest session {days_since} " in text
    # Ben's redness is past the treatment's outer limit: the rule, and a figure, are given.
    assert "rule redness_beyond_outer_limit" in text
    assert "Δa*" in text and "ITA°" in text
    # The photo made to fail the gate is named among those left out, with its day.
    failed = next(r for r in rows if TRUTH[r["photo"]]["expected_quality"] == "fail")
    assert f"Photos left out: • {failed['taken_on']} (day {TRUTH[failed['photo']]['day']}):" in text
    newer = text.index("Called the patient: uses SPF 50 daily.")
    older = text.index("Redness persists at four weeks; booked a review visit.")
    assert newer < older
    assert "Page 1 of" in text and f"Page {len(reader.pages)} of {len(reader.pages)}" in text
    images = [image for page in reader.pages for image in page.images]
    assert sum(image.name.endswith(".png") for image in images) == 2  # the redness and texture charts
    assert sum(image.name.endswith(".jpg") for image in images) == 2  # baseline and latest photo
    latest = rows[-1]
    assert f"Baseline: {rows[0]['taken_on']}, day {TRUTH[rows[0]['photo']]['day']}" in text
    assert f"Latest measured, aligned to the baseline: {latest['taken_on']}, day {TRUTH[latest['photo']]['day']}" in text


def test_on_track_patient_report(clinic):
    store, provider, ids = clinic
    pdf, _ = _report(store, provider, ids["demo-ana"])
    _, text = _read(pdf)
    assert "Patient demo-ana" in text and f"Status {ANA_STATUS}" in text
    assert "redness_within_band" in text and "redness_beyond_outer_limit" not in text
    assert "No notes." in text and "Photos left out" not in text
    assert len(pdf) < 3_000_000


def _photo_ids(store, reference: str) -> dict[str, int]:
    """Photo id by the date it was taken, read with SQL."""
    query = (select(Photo.taken_at, Photo.id).join(Course, Photo.course_id == Course.id)
             .join(Patient, Course.patient_id == Patient.id).where(Patient.reference == reference))
    with store.session() as s:
        return {f"{taken:%Y-%m-%d}": photo_id for taken, photo_id in s.execute(query)}


def test_photos_needed_are_each_baseline_and_latest_measured_photo(clinic):
    store, provider, ids = clinic
    for reference in ("demo-ben", "demo-ana"):
        rows = manifest_rows(reference)
        by_date = _photo_ids(store, reference)
        latest_usable = [r for r in rows if TRUTH[r["photo"]]["expected_quality"] == "pass"][-1]
        assert photos_needed(sv.get_patient(store, provider, ids[reference])) == {
            by_date[rows[0]["taken_on"]], by_date[latest_usable["taken_on"]]}
    assert photos_needed(sv.get_patient(store, provider, ids["empty"])) == set()


def test_patient_without_photos_gets_a_valid_report(clinic):
    store, provider, ids = clinic
    pdf, _ = _report(store, provider, ids["empty"])
    _, text = _read(pdf)
    assert "Erin Empty" in text and "no photos yet" in text.lower()
    assert "Page 1 of 1" in text

    sv.add_course(store, provider, ids["empty"], "fractional_co2", date(2026, 3, 20), area="left cheek")
    pdf, detail = _report(store, provider, ids["empty"])
    _, text = _read(pdf)
    assert photos_needed(detail) == set()
    assert "left cheek" in text and "No photos yet." in text


def test_missing_photos_are_reported_not_fatal(clinic):
    store, provider, ids = clinic
    pdf, _ = _report(store, provider, ids["demo-ana"], photos={})
    reader, text = _read(pdf)
    assert "baseline photo is not available" in text
    assert all(image.name.endswith(".png") for page in reader.pages for image in page.images)  # charts only


# --- names and notes in other scripts (issue #13, finding 11) --------------------------------

JAPANESE_NAME = "山田 花子"
JAPANESE_NOTE = "レーザー治療後の赤みは順調に引いています。次回は二週間後。"


def _japanese_patient(store, provider, ids) -> int:
    patient_id = sv.create_patient(store, sv.SYSTEM, "jp-0001", JAPANESE_NAME, "III")
    sv.assign_patient(store, sv.SYSTEM, provider.user_id, patient_id)
    sv.add_note(store, provider, patient_id, JAPANESE_NOTE)
    return patient_id


def test_a_japanese_name_and_note_are_in_the_pdf_and_not_in_any_log(clinic, caplog, capsys):
    store, provider, ids = clinic
    patient_id = _japanese_patient(store, provider, ids)
    caplog.set_level(logging.DEBUG)
    for name in ("fpdf", "fpdf.output", "fontTools", "fontTools.subset"):  # as verbose as a server could be
        caplog.set_level(logging.DEBUG, logger=name)
    logging.getLogger("fpdf").setLevel(logging.ERROR)
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    pdf, _ = _report(store, provider, patient_id)
    _, text = _read(pdf)
    squeezed = text.replace(" ", "").replace("\x00", "")  # pypdf reads the CJK font's glyphs with NULs between
    assert JAPANESE_NAME.replace(" ", "") in squeezed and JAPANESE_NOTE in squeezed
    logged = caplog.text + "".join(capsys.readouterr())
    assert not [ch for ch in JAPANESE_NAME + JAPANESE_NOTE if not ch.isspace() and ch in logged]
    assert "missing" not in logged.lower()


@pytest.mark.parametrize(("name", "problem"), [
    ("ꦲꦤꦕꦫꦏ Suparman", "characters none of the report's fonts can show"),  # Javanese: no font here has it
    ("مريم الحسن", "right-to-left text"),
])
def test_text_no_font_can_show_refuses_the_report_in_one_line_without_the_text(clinic, caplog, name, problem):
    store, provider, _ = clinic
    patient_id = sv.create_patient(store, sv.SYSTEM, f"ref-{len(name)}-{ord(name[0])}", name)
    sv.assign_patient(store, sv.SYSTEM, provider.user_id, patient_id)
    with pytest.raises(ReportError) as refused:
        _report(store, provider, patient_id)
    message = str(refused.value)
    assert problem in message and "\n" not in message
    assert not [ch for ch in name if not ch.isascii() and ch in message + caplog.text]


def test_every_status_the_list_can_show_has_its_own_colour_in_the_report():
    from tracker.services.read_models import STATUS_ORDER
    from tracker.web.report import _STATUS_COLOUR
    from tracker.web.views import OKABE_ITO

    assert set(STATUS_ORDER) <= set(_STATUS_COLOUR)
    colours = [_STATUS_COLOUR[s] for s in STATUS_ORDER]
    assert len(set(colours)) == len(colours)
    assert all(c in OKABE_ITO for c in colours)


@pytest.mark.parametrize("reference", ["demo-ben", "demo-ana"])
def test_report_gives_the_photo_schedule_as_of_its_own_date(clinic, reference):
    store, provider, ids = clinic
    pdf, detail = _report(store, provider, ids[reference])
    _, text = _read(pdf)
    (course,) = detail.courses
    taken = [p.taken_at for p in course.photos if p.state == "active"]
    schedule = photo_schedule(course.treatment, course.sessions, taken, GENERATED_AT.date())
    # Worked out from the catalogue's days: the report's date, not the day the test runs, sets what is due.
    assert "Photo schedule Photos at the suggested days (the project's estimate):" in text
    if schedule.next_due is None:
        assert "no more suggested days" in text
    else:
        assert f"next day {schedule.next_due.day} after treatment ({schedule.next_due.due_on:%-d %B})" in text
    missed = f"missed {len(schedule.missed)} of {len(schedule.slots)}"
    assert (missed in text) == bool(schedule.missed)
    assert ("photo overdue" in text) == (schedule.overdue is not None)
