"""Photos taken with another camera than the baseline: told apart by EXIF, said, exported, never stored by name.

Real photos (the demo patient Ana's eight) imported into a real SQLite store, with EXIF maker
and model written into the files as a phone would: the baseline and the first follow-ups from
one phone, the later ones from another, one with no camera at all.
"""

from __future__ import annotations

import csv
import sqlite3
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image
from PIL.ExifTags import Base
from sqlalchemy import select

from tracker import services as sv
from tracker.services.exports import export_table
from tracker.services.importer import read_manifest, run_import
from tracker.store.models import Photo

SAMPLES = Path(__file__).resolve().parents[1] / "sample_images"
FIRST, SECOND = ("Apple", "iPhone 12"), ("samsung", "SM-G991B")
SECOND_FROM = 5  # Ana's photos from the 6th on (day 14) come from the second phone
NO_CAMERA = 3  # and her 4th carries no camera at all (a messaging app stripped it)


@pytest.fixture
def imported(sqlite_store, tmp_path):
    """Ana's course imported with cameras in EXIF; (store, the manifest's rows in date order)."""
    with open(SAMPLES / "manifest.csv", newline="", encoding="utf-8") as fh:
        rows = sorted((r for r in csv.DictReader(fh) if r["patient"] == "demo-ana"), key=lambda r: r["taken_on"])
    for i, row in enumerate(rows):
        exif = Image.Exif()
        if i != NO_CAMERA:
            exif[Base.Make], exif[Base.Model] = SECOND if i >= SECOND_FROM else FIRST
        name = f"ana{i}.jpg"
        Image.open(SAMPLES / row["photo"]).save(tmp_path / name, quality=92, exif=exif.tobytes())
        row["photo"] = name
    with open(tmp_path / "manifest.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    assert {o.status for o in run_import(sqlite_store, read_manifest(tmp_path / "manifest.csv"))} == {"imported"}
    return sqlite_store, rows


def test_the_store_keeps_a_keyed_digest_of_the_camera_not_its_name(imported):
    store, rows = imported
    with store.session() as s:
        keys = [p.camera_key for p in s.scalars(select(Photo).order_by(Photo.taken_at))]
    assert len(keys) == len(rows) == 8
    first, second = keys[0], keys[SECOND_FROM]
    assert len(first) == len(second) == 16 and first != second
    assert keys == [None if i == NO_CAMERA else second if i >= SECOND_FROM else first for i in range(len(rows))]
    dump = "\n".join(sqlite3.connect(store.data_dir / "tracker.db").iterdump())
    for word in (*FIRST, *SECOND):
        assert word not in dump


def test_the_course_says_which_photos_another_camera_took_and_keeps_its_status(imported):
    store, rows = imported
    ana = sv.find_patient_id(store, sv.SYSTEM, "demo-ana")
    course = sv.get_patient(store, sv.SYSTEM, ana).courses[0]
    points = course.progress.points
    assert [pt.other_camera for pt in points] == [
        None if i == NO_CAMERA else i >= SECOND_FROM for i in range(len(rows))]
    signals = {s.rule: s for s in course.progress.assessment.signals}
    said = signals["other_camera"]
    later = [pt for pt in points if pt.other_camera]
    assert said.status == "info" and said.figures["photos"] == len(later) == 3
    assert said.figures["day"] == later[0].day
    assert f"3 of your photos from {later[0].taken_at:%Y-%m-%d} on were taken with another camera" in said.message
    assert said.detail.startswith("rule other_camera: 3 of 7 photos after treatment")
    # Said, not judged: the same photos with no cameras recorded get the same status.
    with store.session() as s:
        for photo in s.scalars(select(Photo)):
            photo.camera_key = None
    unknown = sv.get_patient(store, sv.SYSTEM, ana).courses[0].progress
    assert "other_camera" not in {s.rule for s in unknown.assessment.signals}
    assert unknown.status == course.progress.status


def test_the_research_export_marks_the_photos_of_another_camera(imported):
    store, rows = imported
    sv.record_consent(store, sv.Actor(role="admin"), sv.find_patient_id(store, sv.SYSTEM, "demo-ana"))
    table = export_table(store, sv.SYSTEM).sort_values("days_since_treatment")
    assert table["other_camera"].dtype == "boolean"
    assert [None if pd.isna(v) else v for v in table["other_camera"]] == [
        None if i == NO_CAMERA else i >= SECOND_FROM for i in range(len(rows))]


def test_a_photo_added_in_the_app_keeps_its_camera_digest_too(imported, tmp_path):
    store, rows = imported
    ana = sv.find_patient_id(store, sv.SYSTEM, "demo-ana")
    course = sv.get_patient(store, sv.SYSTEM, ana).courses[0]
    exif = Image.Exif()
    exif[Base.Make], exif[Base.Model] = SECOND
    upload = tmp_path / "upload.jpg"
    Image.open(SAMPLES / "demo-ana" / "day14.jpg").rotate(2).save(upload, quality=90, exif=exif.tobytes())
    added = sv.add_photo(store, sv.SYSTEM, course.id, upload.read_bytes(), datetime(2026, 3, 20, 9))
    with store.session() as s:
        keys = {p.id: p.camera_key for p in s.scalars(select(Photo))}
    later = next(pt.photo_id for pt in course.progress.points if pt.other_camera)
    assert added.created and added.other_camera and keys[added.photo_id] == keys[later]
    after = sv.get_patient(store, sv.SYSTEM, ana).courses[0].progress
    assert {s.rule: s for s in after.assessment.signals}["other_camera"].figures["photos"] == 4
    exif[Base.Make], exif[Base.Model] = FIRST  # the baseline's phone again: nothing to say at upload
    Image.open(SAMPLES / "demo-ana" / "day21.jpg").rotate(2).save(upload, quality=90, exif=exif.tobytes())
    same = sv.add_photo(store, sv.SYSTEM, course.id, upload.read_bytes(), datetime(2026, 3, 25, 9))
    assert same.created and not same.other_camera
