"""A course's baseline is the provider's to set: no upload can replace it (issue #13, finding 1).

The attack: the baseline was simply the earliest photo, and the upload page accepts any date, so
a patient's old gallery photo, or a deliberate 2019 date, became every photo's reference; every
real photo then failed alignment while the status still read "on track". Now a patient's photo
dated before the baseline is held for the provider (kept, not used), providers confirm the
baseline and hide or show photos (audited), and a course whose photos mostly fail to align to
its baseline shows no status, with a reason the provider can act on.

Demo-ana's eight photos (``sample_images/``) are imported once per module; each test works on a
copy of that store.
"""

from __future__ import annotations

import io
import shutil
from datetime import datetime
from pathlib import Path

import pytest
from PIL import Image
from skimage import data as samples
from sqlalchemy import select

from tracker import services as sv
from tracker.services.importer import read_manifest, run_import
from tracker.store.db import open_store
from tracker.store.models import Analysis, AuditEvent, Photo
from truth import SAMPLES, manifest_rows

JUNK_DATE = datetime(2019, 7, 14, 12, 0)


def gallery_photo(taken: datetime | None = None, picture=samples.coffee) -> bytes:
    """An unrelated photo (skimage's coffee cup), with its EXIF capture time when given."""
    exif = Image.Exif()
    if taken is not None:
        exif.get_ifd(0x8769)[36867] = taken.strftime("%Y:%m:%d %H:%M:%S")  # DateTimeOriginal
    buffer = io.BytesIO()
    Image.fromarray(picture()).save(buffer, "JPEG", quality=90, exif=exif)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def ana_template(tmp_path_factory) -> Path:
    data_dir = tmp_path_factory.mktemp("baseline") / "data"
    store = open_store(data_dir)
    try:
        rows = [row for row in read_manifest(SAMPLES / "manifest.csv") if row.patient == "demo-ana"]
        assert {o.status for o in run_import(store, rows)} == {"imported"}
        patient_id = sv.find_patient_id(store, sv.SYSTEM, "demo-ana")
        sv.create_user(store, sv.SYSTEM, "ana", "ana's passphrase 1", "patient", patient_id)
        provider = sv.create_user(store, sv.SYSTEM, "dr.lee", "dr lee's passphrase", "provider")
        sv.assign_patient(store, sv.SYSTEM, provider, patient_id)
    finally:
        store.close()
    return data_dir


@pytest.fixture
def clinic(ana_template, tmp_path):
    data_dir = tmp_path / "data"
    shutil.copytree(ana_template, data_dir)
    store = open_store(data_dir)
    patient_id = sv.find_patient_id(store, sv.SYSTEM, "demo-ana")
    course = sv.get_patient(store, sv.SYSTEM, patient_id).courses[0]
    yield {"store": store, "patient_id": patient_id, "course": course,
           "ana": sv.sign_in(store, "ana", "ana's passphrase 1")[1],
           "provider": sv.sign_in(store, "dr.lee", "dr lee's passphrase")[1]}
    store.close()


def course_now(clinic) -> sv.CourseDetail:
    return sv.get_patient(clinic["store"], sv.SYSTEM, clinic["patient_id"]).courses[0]


def test_the_imported_baseline_is_the_earliest_photo_until_a_provider_confirms_it(clinic):
    course = clinic["course"]
    assert course.progress.status == "on_track"
    assert course.baseline_confirmed is False
    assert [p.state for p in course.photos] == ["active"] * len(manifest_rows("demo-ana"))
    assert course.baseline_photo_id == course.photos[0].id


@pytest.mark.parametrize("confirmed", [False, True], ids=["provisional baseline", "confirmed baseline"])
def test_a_patients_upload_dated_before_the_baseline_is_held_not_used(clinic, confirmed):
    """The attack itself: an old gallery photo with its 2019 EXIF date, and the same with the date typed in."""
    store, ana, before = clinic["store"], clinic["ana"], clinic["course"]
    if confirmed:
        sv.set_baseline(store, clinic["provider"], before.id, before.baseline_photo_id)
    with store.session() as s:
        analyses_before = s.scalars(select(Analysis.id)).all()
    by_exif = sv.add_photo(store, ana, before.id, gallery_photo(JUNK_DATE))
    typed = sv.add_photo(store, ana, before.id, gallery_photo(picture=samples.chelsea), datetime(2019, 1, 1, 9, 0))
    for outcome in (by_exif, typed):
        assert (outcome.held, outcome.is_baseline, outcome.analysis, outcome.created) == (True, False, None, True)

    after = course_now(clinic)
    assert (after.baseline_photo_id, after.progress.status) == (before.baseline_photo_id, "on_track")
    assert [pt.photo_id for pt in after.progress.points] == [pt.photo_id for pt in before.progress.points]
    assert {p.id: p.state for p in after.photos}[by_exif.photo_id] == "held"  # kept, for the provider to see
    with store.session() as s:
        assert s.scalars(select(Analysis.id)).all() == analyses_before  # nothing measured against it
        held = s.scalars(select(AuditEvent.detail).where(AuditEvent.action == "photo_add")).all()[-2:]
    assert held == [f"photo {by_exif.photo_id} held: dated before the baseline",
                    f"photo {typed.photo_id} held: dated before the baseline"]
    # An upload dated after the baseline is used as before.
    later = sv.add_photo(store, ana, before.id, (SAMPLES / manifest_rows("demo-ana")[-1]["photo"]).read_bytes(),
                         datetime(2026, 4, 6, 10, 0))
    assert later.held is False and later.created is False  # the same file as day 28: recorded once


def test_a_patients_first_photo_of_a_course_is_its_provisional_baseline_and_an_earlier_one_is_held(clinic):
    store, ana = clinic["store"], clinic["ana"]
    course_id = sv.add_course(store, clinic["provider"], clinic["patient_id"], "fractional_co2",
                              datetime(2026, 5, 4).date(), area="left cheek")
    baseline = (SAMPLES / manifest_rows("demo-ana")[0]["photo"]).read_bytes()
    first = sv.add_photo(store, ana, course_id, baseline, datetime(2026, 5, 3, 9, 0))
    assert (first.held, first.is_baseline) == (False, True)
    earlier = sv.add_photo(store, ana, course_id, gallery_photo(JUNK_DATE))
    assert earlier.held is True
    course = next(c for c in sv.get_patient(store, sv.SYSTEM, clinic["patient_id"]).courses if c.id == course_id)
    assert (course.baseline_photo_id, course.baseline_confirmed) == (first.photo_id, False)


def test_a_baseline_most_photos_cannot_be_aligned_to_shows_no_status_with_a_reason_to_act_on(clinic):
    """A junk photo dated 2019 that a provider added became the (unconfirmed) baseline: no status is shown."""
    store, provider, course = clinic["store"], clinic["provider"], clinic["course"]
    junk = sv.add_photo(store, provider, course.id, gallery_photo(JUNK_DATE))
    assert junk.is_baseline is True
    mismatched = course_now(clinic)
    follow_ups = len(course.progress.points)
    assert mismatched.progress.status == "not_assessed" and mismatched.progress.assessment is None
    assert mismatched.progress.not_assessed_reason == (
        f"{follow_ups} of {follow_ups} photos could not be lined up with the baseline photo, so progress is not "
        "assessed: the provider should check that the baseline shows this treated area and choose another if it "
        "does not.")
    listed = {p.id: p for p in sv.list_patients(store, provider)}[clinic["patient_id"]]
    assert listed.status == "not_assessed"  # the stored summary, which lists read, agrees

    sv.hide_photo(store, provider, junk.photo_id)  # the provider takes it off the course
    restored = course_now(clinic)
    assert (restored.baseline_photo_id, restored.progress.status) == (course.baseline_photo_id, "on_track")
    assert {p.id: p.state for p in restored.photos}[junk.photo_id] == "hidden"
    sv.unhide_photo(store, provider, junk.photo_id)
    assert course_now(clinic).progress.status == "not_assessed"


def test_a_confirmed_baseline_is_kept_against_earlier_photos_and_cannot_be_hidden(clinic):
    store, provider, course = clinic["store"], clinic["provider"], clinic["course"]
    sv.set_baseline(store, provider, course.id, course.baseline_photo_id)
    junk = sv.add_photo(store, provider, course.id, gallery_photo(JUNK_DATE))  # a provider's upload: not held
    assert (junk.held, junk.is_baseline) == (False, False)
    confirmed = course_now(clinic)
    assert (confirmed.baseline_photo_id, confirmed.baseline_confirmed) == (course.baseline_photo_id, True)
    assert confirmed.progress.status == "on_track"
    assert {p.id: p.on_timeline for p in confirmed.photos}[junk.photo_id] is False  # before the baseline: unused
    with pytest.raises(sv.InputError, match="confirmed baseline: choose another baseline before hiding it"):
        sv.hide_photo(store, provider, course.baseline_photo_id)


def test_a_provider_accepts_a_held_photo_as_the_baseline_and_the_analyses_follow(clinic):
    store, provider, course = clinic["store"], clinic["provider"], clinic["course"]
    rows = manifest_rows("demo-ana")
    # The real baseline again, as a re-encoded copy dated a day earlier: held, then accepted by the provider.
    with Image.open(SAMPLES / rows[0]["photo"]) as image:
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=97)
    held = sv.add_photo(store, clinic["ana"], course.id, buffer.getvalue(), datetime(2026, 2, 28, 9, 0))
    assert held.held is True
    sv.set_baseline(store, provider, course.id, held.photo_id)
    chosen = course_now(clinic)
    assert (chosen.baseline_photo_id, chosen.baseline_confirmed) == (held.photo_id, True)
    assert chosen.progress.points[0].photo_id == held.photo_id
    assert all(pt.ok for pt in chosen.progress.points), [pt.result.error for pt in chosen.progress.points]
    with store.session() as s:
        stored = s.get(Photo, held.photo_id)
        assert stored.state == "active"
        keys = set(s.scalars(select(Analysis.baseline_hash).where(
            Analysis.photo_id.in_([pt.photo_id for pt in chosen.progress.points]))))
    assert stored.content_hash in keys  # the cache key follows the chosen baseline


def test_hiding_and_choosing_are_refused_to_patients_and_photos_of_other_courses(clinic):
    store, ana, provider, course = clinic["store"], clinic["ana"], clinic["provider"], clinic["course"]
    for call in (lambda: sv.set_baseline(store, ana, course.id, course.photos[-1].id),
                 lambda: sv.hide_photo(store, ana, course.photos[-1].id)):
        with pytest.raises(sv.AccessDenied):
            call()
    other = sv.add_course(store, provider, clinic["patient_id"], "fractional_co2", datetime(2026, 5, 4).date(),
                          area="left cheek")
    with pytest.raises(sv.NotFound):
        sv.set_baseline(store, provider, other, course.photos[-1].id)  # a photo of another course
    assert course_now(clinic).baseline_photo_id == course.baseline_photo_id


def test_a_photo_on_a_session_day_records_whether_it_was_before_the_treatment(clinic):
    store, ana, course = clinic["store"], clinic["ana"], clinic["course"]
    on_the_day = datetime.combine(course.sessions[0], datetime.min.time()).replace(hour=17)
    outcome = sv.add_photo(store, ana, course.id, gallery_photo(), on_the_day, before_session=False)
    with store.session() as s:
        assert s.get(Photo, outcome.photo_id).before_session is False
    # The time line follows the flag: after the treatment, that session's day 0, not assumed.
    before = sv.add_photo(store, ana, course.id, gallery_photo(picture=samples.chelsea), on_the_day.replace(hour=7),
                          before_session=True)
    points = {pt.photo_id: pt for pt in course_now(clinic).progress.points}
    assert (points[outcome.photo_id].day, points[outcome.photo_id].session) == (0, 1)
    assert (points[before.photo_id].day, points[before.photo_id].session) == (0, 0)
    assert not points[outcome.photo_id].timing_assumed and not points[before.photo_id].timing_assumed
