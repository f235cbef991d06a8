"""One photo cannot poison its course or abort an import (issue #13, finding 2).

The attack: a 30000 x 16 PNG, accepted at upload, made ``align.shrink`` divide down to a
zero-pixel image and OpenCV raise; only ``PhotoError`` was caught, so every later refresh of
that course crashed and ``tracker import`` stopped with a traceback, leaving the other
patients unanalysed. Now such a strip is refused at decode, ``shrink`` is total, and any
exception while analysing one photo becomes that photo's failed result, logged by id and type.
"""

from __future__ import annotations

import io
import logging
from datetime import date, datetime

import cv2
import numpy as np
import pytest
from PIL import Image
from skimage import data as samples

from tracker import services as sv
from tracker.analysis import PhotoError, decode_photo
from tracker.analysis.align import shrink
from tracker.services import analyses, batch
from tracker.services.importer import ImportRow, run_import
from tracker.store.models import Photo


def png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 150, 120)).save(buffer, "PNG")
    return buffer.getvalue()


def astronaut_jpeg(shift: int = 0) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.roll(samples.astronaut(), shift, axis=1)).save(buffer, "JPEG", quality=92)
    return buffer.getvalue()


def test_a_30000_by_16_strip_is_refused_at_decode_and_by_the_upload():
    with pytest.raises(PhotoError, match=r"^The image has implausible dimensions \(30000 x 16 pixels; one side may "
                                         r"be at most 10 times the other\)\.$"):
        decode_photo(png(30000, 16))
    assert decode_photo(png(1600, 160)).rgb.shape == (160, 1600, 3)  # a 10:1 panorama is still a photo


@pytest.mark.parametrize(("shape", "scale"), [((16, 30000), 0.068), ((16, 30000), 0.01), ((16, 30000), 1e-6),
                                              ((1, 5), 0.3), ((30000, 16, 3), 0.001), ((7, 7), 0.49)])
def test_shrink_is_total_for_long_thin_images_and_tiny_scales(shape, scale):
    image = np.arange(np.prod(shape), dtype=np.float32).reshape(shape) % 251
    small, sx, sy = shrink(image, scale)
    h, w = shape[:2]
    assert small.shape[:2] == (max(1, round(h * scale)), max(1, round(w * scale)))
    assert 0 < sx < np.inf and 0 < sy < np.inf
    assert np.isfinite(small).all() and small.min() >= image.min() and small.max() <= image.max()


def test_a_photo_that_breaks_the_analysis_becomes_its_failed_result_and_the_course_goes_on(
        sqlite_store, monkeypatch, caplog):
    store = sqlite_store
    patient = sv.create_patient(store, sv.SYSTEM, "p-1", "Yuki Tanaka-Berg")
    course = sv.add_course(store, sv.SYSTEM, patient, "fractional_co2", date(2026, 3, 2))
    sv.add_photo(store, sv.SYSTEM, course, astronaut_jpeg(), datetime(2026, 3, 1, 9))
    real = analyses.analyse_photo

    def explode_on_shift(rgb, prepared):
        if rgb[0, 0, 0] != samples.astronaut()[0, 0, 0]:  # the shifted follow-up
            raise cv2.error("OpenCV(5.0.0) resize.cpp: (-215:Assertion failed) !ssize.empty()")
        return real(rgb, prepared)

    monkeypatch.setattr(analyses, "analyse_photo", explode_on_shift)
    caplog.set_level(logging.DEBUG)
    outcome = sv.add_photo(store, sv.SYSTEM, course, astronaut_jpeg(shift=7), datetime(2026, 3, 5, 9))
    assert outcome.analysis.ok is False and outcome.analysis.error == analyses.ANALYSIS_FAILED
    # Stored: the next refresh reads the failed result instead of failing again, and the status is computed.
    results = sv.refresh_analyses(store, sv.SYSTEM, course)
    assert results[outcome.photo_id].error == analyses.ANALYSIS_FAILED
    assert sv.get_patient(store, sv.SYSTEM, patient).courses[0].progress.points[-1].ok is False
    logged = [r.getMessage() for r in caplog.records if r.name == "tracker.services.analyses"]
    assert logged == [f"analysis of photo {outcome.photo_id} failed: error"]
    assert "Yuki" not in caplog.text and "p-1" not in caplog.text


def test_an_import_carries_on_past_a_course_whose_analysis_fails(sqlite_store, tmp_path, monkeypatch, caplog):
    store = sqlite_store
    rows = []
    for patient in ("pat-a", "pat-b", "pat-c"):
        for day, shift in ((1, 0), (5, 5)):
            path = tmp_path / f"{patient}-{day}.jpg"
            path.write_bytes(astronaut_jpeg(shift))
            rows.append(ImportRow(source=path.name, patient=patient, treatment="fractional_co2",
                                  treated_on=date(2026, 3, 2), photo=path, taken_at=datetime(2026, 3, day, 9)))
    poisoned = {"course": None}
    real = batch.analyse_stored_photo

    def failing_for_pat_a(photos, key, photo_id, content_hash):
        with store.session() as s:
            if s.get(Photo, photo_id).course_id == poisoned["course"]:
                raise MemoryError
        return real(photos, key, photo_id, content_hash)

    monkeypatch.setattr(batch, "analyse_stored_photo", failing_for_pat_a)
    first = run_import(store, rows[:1], analyse=False)
    poisoned["course"] = first[0].course_id
    caplog.set_level(logging.WARNING)
    outcomes = run_import(store, rows)
    assert [o.status for o in outcomes] == ["already"] + ["imported"] * 5
    for reference in ("pat-b", "pat-c"):  # the patients after the failing course were analysed
        detail = sv.get_patient(store, sv.SYSTEM, sv.find_patient_id(store, sv.SYSTEM, reference))
        assert [pt.ok for pt in detail.courses[0].progress.points] == [True, True]
    pat_a = sv.get_patient(store, sv.SYSTEM, sv.find_patient_id(store, sv.SYSTEM, "pat-a")).courses[0]
    assert [pt.ok for pt in pat_a.progress.points] == [False, False]
    assert [r.getMessage() for r in caplog.records] == [
        f"analysis of photo {pt.photo_id} failed: MemoryError" for pt in pat_a.progress.points]


def test_a_99_megapixel_png_of_a_few_hundred_kilobytes_is_refused_before_it_is_decoded():
    """Low finding: decode memory is bounded by pixels (about 7 bytes a pixel at the peak)."""
    data = png(9950, 9950)
    assert len(data) < 400_000
    started = datetime.now()
    with pytest.warns(Image.DecompressionBombWarning), pytest.raises(
            PhotoError, match=r"^The image is too large \(99\.0 megapixels; the limit is 50\.0 megapixels\)\.$"):
        decode_photo(data)
    assert (datetime.now() - started).total_seconds() < 0.5
