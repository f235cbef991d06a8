"""The PDF report, built from the demo patients through the services and read back with pypdf."""

from __future__ import annotations

import io
import re
from datetime import date, datetime
from pathlib import Path

import pytest
from pypdf import PdfReader

from tracker import services as sv
from tracker.services.importer import read_manifest, run_import
from tracker.analysis.io import decode_photo
from tracker.web.report import NOTICE, patient_report_pdf, photos_needed
from tracker.store.db import open_store

MANIFEST = Path(__file__).resolve().parents[1] / "sample_images" / "manifest.csv"
GENERATED_AT = datetime(2026, 4, 1, 10, 0)


@pytest.fixture(scope="module")
def clinic(demo_dir):
    """The demo in a store of its own, with a provider assigned to every patient."""
    store = open_store(demo_dir)
    ids = {p.reference: p.id for p in sv.list_patients(store, sv.SYSTEM)}
    ids["empty"] = sv.create_patient(store, sv.SYSTEM, "empty", "Erin Empty", "V")
    provider_id = sv.create_user(store, sv.SYSTEM, "dr.x", "password123", "provider")
    for patient_id in ids.values():
        sv.assign_patient(store, sv.SYSTEM, provider_id, patient_id)
    _, provider = sv.sign_in(store, "dr.x", "password123")
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


def _latest_measured(course: sv.CourseDetail):
    return [pt for pt in course.progress.points
            if pt.day > 0 and pt.quality_ok and pt.excess_redness is not None][-1]


def test_review_patient_report_shows_status_reasons_figures_notes_and_photos(clinic):
    store, provider, ids = clinic
    sv.add_note(store, provider, ids["demo-ben"], "Redness persists at four weeks; booked a review visit.")
    sv.add_note(store, provider, ids["demo-ben"], "Called the patient: uses SPF 50 daily.")
    pdf, detail = _report(store, provider, ids["demo-ben"])
    reader, text = _read(pdf)
    course = detail.courses[0]
    latest = _latest_measured(course)

    assert len(pdf) < 3_000_000
    assert "Healing progress report" in text
    assert detail.display_name in text and "Fitzpatrick III" in text
    assert "2026-04-01 10:00 by dr.x" in text
    assert NOTICE in text and "not a diagnosis" in text
    assert course.progress.status == "review"
    assert "Ask your provider to review" in text
    assert "rule redness_beyond_outer_limit" in text
    assert "Days since latest session 51" in text  # 2026-02-09 to 2026-04-01
    day = course.progress.assessment.projected_resolution_day
    assert f"around day {day:.0f}" in text
    # The latest photo's row of the figures table: date, day, session, Δa* to one decimal.
    row = rf"{latest.taken_at:%Y-%m-%d} {latest.day} {latest.session} {latest.excess_redness:.1f} "
    assert re.search(re.escape(row), text)
    assert "glare" in text  # the day-5 photo that failed the quality gate
    assert "Δa*" in text and "ITA°" in text
    newer = text.index("Called the patient: uses SPF 50 daily.")
    older = text.index("Redness persists at four weeks; booked a review visit.")
    assert newer < older
    assert "Page 1 of" in text and f"Page {len(reader.pages)} of {len(reader.pages)}" in text
    images = [image for page in reader.pages for image in page.images]
    assert sum(image.name.endswith(".png") for image in images) >= 1  # the redness chart
    assert sum(image.name.endswith(".jpg") for image in images) == 2  # baseline and latest photo


def test_on_track_patient_report(clinic):
    store, provider, ids = clinic
    pdf, detail = _report(store, provider, ids["demo-ana"])
    _, text = _read(pdf)
    course = detail.courses[0]
    assert course.progress.status == "on_track"
    assert "demo-ana" in text and "On track" in text
    assert f" {_latest_measured(course).excess_redness:.1f} " in text
    assert "No notes." in text
    assert len(pdf) < 3_000_000


def test_photos_needed_are_each_baseline_and_latest_measured_photo(clinic):
    store, provider, ids = clinic
    for reference in ("demo-ben", "demo-ana"):
        detail = sv.get_patient(store, provider, ids[reference])
        course = detail.courses[0]
        assert photos_needed(detail) == {course.baseline_photo_id, _latest_measured(course).photo_id}
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
