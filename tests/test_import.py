"""Batch import (`tracker import`): real photos, a real SQLite file and PostgreSQL, real processes.

Fifty real JPEGs: the 17 demo photos and 33 simulated follow-ups of a third
patient, made with ``tracker.analysis.simulate`` at 800 px so that analysis is quick.
Every third simulated photo carries GPS, camera and owner metadata; one is
stored sideways with EXIF orientation 6.
"""

from __future__ import annotations

import csv
import hashlib
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PIL.ExifTags import GPS, IFD, Base
from skimage import data as samples
from sqlalchemy import func, select

from tracker import services as sv
from tracker.analysis import simulate as sim
from tracker.analysis.metrics import METRIC_VERSION
from tracker.services.importer import read_manifest, run_import, scan_folder
from tracker.store.models import Analysis, AuditEvent, Course, Patient, Photo, TreatmentSession


def _shifted(box, dy):
    x, y, w, h = box
    return x, y - dy, w, h


TRACKER = shutil.which("tracker", path=str(Path(sys.executable).parent)) or "tracker"
SAMPLES = Path(__file__).resolve().parents[1] / "sample_images"

SIM_PATIENT = "sim-cy"
SIM_TREATMENT = "fractional_co2"
SIM_TREATED_ON = date(2026, 4, 2)
SIM_SIDE = 800
SIM_TOP = 100  # the 800 x 800 enlargement is cropped to a landscape 800 x 600 frame
SIM_SIZE = (800, 600)
SIM_ROI = _shifted(sim.scale_box(sim.ASTRONAUT_CHEEK, SIM_SIDE / 512), SIM_TOP)
SIM_CONTROL = _shifted(sim.scale_box(sim.ASTRONAUT_CHIN, SIM_SIDE / 512), SIM_TOP)
SIM_PHOTOS = 33
SIDEWAYS = 4  # the simulated photo stored rotated, with EXIF orientation 6

# Identifying metadata planted in the simulated photos; none may reach the store.
MAKE, MODEL, ARTIST = "AcmeCam", "Z9 serial 0042", "Dr Jones Clinic"
LATITUDE = (52.0, 22.0, 12.5)

HEADER = ["patient", "treatment", "treated_on", "photo", "taken_on", "roi", "control", "skin_type"]


def _box(box) -> str:
    return ",".join(str(v) for v in box)


def _sim_taken(i: int) -> datetime:
    return datetime(2026, 4, 1, 9, 30) + timedelta(days=i)


def _exif(i: int) -> Image.Exif:
    exif = Image.Exif()
    exif.get_ifd(IFD.Exif)[Base.DateTimeOriginal] = _sim_taken(i).strftime("%Y:%m:%d %H:%M:%S")
    if i == SIDEWAYS:
        exif[Base.Orientation] = 6
    if i % 3 == 0:
        exif[Base.Make] = MAKE
        exif[Base.Model] = MODEL
        exif[Base.Artist] = ARTIST
        exif.get_ifd(IFD.GPSInfo).update({GPS.GPSLatitudeRef: "N", GPS.GPSLatitude: LATITUDE,
                                          GPS.GPSLongitudeRef: "E", GPS.GPSLongitude: (4.0, 53.0, 1.25)})
    return exif


@pytest.fixture(scope="module")
def photo_set(tmp_path_factory) -> Path:
    """A folder with ``manifest.csv`` (50 rows, three patients) and the photos it names."""
    folder = tmp_path_factory.mktemp("fifty")
    rng = np.random.default_rng(50)
    baseline = np.ascontiguousarray(
        sim.enlarge(samples.astronaut(), SIM_SIDE, rng)[SIM_TOP:SIM_TOP + SIM_SIZE[1]])
    x, y, w, h = SIM_ROI
    cheek = np.zeros(baseline.shape[:2], bool)
    cheek[y:y + h, x:x + w] = True
    (folder / SIM_PATIENT).mkdir()
    rows = []
    for i in range(SIM_PHOTOS):
        rgb = baseline
        if i:
            reddened = sim.add_redness(baseline, cheek, 9.0 * np.exp(-i / 8))
            motion = sim.random_motion(rng, SIM_SIDE, max_rotation=5, max_scale=0.05, max_shift=0.02, max_tilt=0)
            lighting = sim.random_lighting(rng, exposure=(0.92, 1.02), white_balance=0.03, gamma=0.04)
            view = sim.render_view(reddened, sim.camera_matrix(motion, baseline.shape))
            rgb = sim.add_sensor_noise(sim.change_lighting(view, lighting), 2.0, rng)
        if i == SIDEWAYS:
            rgb = np.ascontiguousarray(np.rot90(rgb, 1))  # orientation 6 turns it back upright
        name = f"{SIM_PATIENT}/photo{i:02d}.jpg"
        Image.fromarray(rgb).save(folder / name, quality=88, exif=_exif(i).tobytes())
        # Half the rows give no date: the capture time then comes from EXIF.
        taken_on = _sim_taken(i).isoformat(timespec="minutes") if i % 2 else ""
        rows.append([SIM_PATIENT, SIM_TREATMENT, SIM_TREATED_ON.isoformat(), name, taken_on, _box(SIM_ROI),
                     _box(SIM_CONTROL), "IV"])
    with open(SAMPLES / "manifest.csv", newline="", encoding="utf-8") as fh:
        demo = [dict(r) for r in csv.DictReader(fh)]
    for r in demo:  # copied beside the manifest: an import reads only under the manifest's folder
        (folder / r["photo"]).parent.mkdir(exist_ok=True)
        shutil.copy2(SAMPLES / r["photo"], folder / r["photo"])
        rows.append([r["patient"], r["treatment"], r["treated_on"], r["photo"], r["taken_on"],
                     r["roi"], r["control"], r["skin_type"]])
    random.Random(5).shuffle(rows)  # patients interleaved, baselines not first
    _write_manifest(folder / "manifest.csv", rows)
    assert len(rows) == 50
    return folder


def _write_manifest(path: Path, rows: list[list[str]], header: list[str] = HEADER) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _manifest_rows(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))[1:]


def run(*args, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([TRACKER, *map(str, args)], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def start(*args, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([TRACKER, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})


def summary(stdout: str) -> tuple[int, int, int, int]:
    """(imported, already, refused, total) from the last line of `tracker import`."""
    match = re.fullmatch(r"(\d+) imported, (\d+) already in the store, (\d+) refused, of (\d+)\.",
                         stdout.strip().splitlines()[-1])
    assert match, stdout
    return tuple(int(g) for g in match.groups())


def stored_files(data_dir: Path) -> tuple[set[str], list[Path]]:
    """Hashes of the complete photo files, and any other file (temporary or stray) in the photo store."""
    hashes, others = set(), []
    for path in (data_dir / "photos").rglob("*"):
        if path.is_dir() or path == data_dir / "photos" / ".lock":
            continue
        match = re.fullmatch(r"([0-9a-f]{64})\.(jpg|png)", path.name)
        if match:
            hashes.add(match[1])
            # No file under its final name is half-written.
            assert hashlib.sha256(path.read_bytes()).hexdigest() == match[1], path
        else:
            others.append(path)
    return hashes, others


def referenced_hashes(db: Path) -> list[str]:
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)) as conn:
        return [h for (h,) in conn.execute("SELECT content_hash FROM photos")]


def check_sqlite(db: Path) -> None:
    conn = sqlite3.connect(db, timeout=30)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    finally:
        conn.close()


def unanalysed(store) -> list[int]:
    """Photos without a result for their course's current baseline and metric version."""
    missing = []
    with store.session() as s:
        for course in s.scalars(select(Course)):
            photos = s.scalars(select(Photo).where(Photo.course_id == course.id)
                               .order_by(Photo.taken_at, Photo.id)).all()
            done = set(s.scalars(select(Analysis.photo_id).where(
                Analysis.photo_id.in_([p.id for p in photos]), Analysis.baseline_hash == photos[0].content_hash,
                Analysis.metric_version == METRIC_VERSION)))
            missing += [p.id for p in photos if p.id not in done]
    return missing


def assert_complete(data_dir: Path, expected_photos: int) -> None:
    """The embedded store holds exactly the photos, every one with its file and analysis, and nothing else."""
    from tracker.store.db import open_store

    db = data_dir / "tracker.db"
    check_sqlite(db)
    referenced = referenced_hashes(db)
    assert len(referenced) == expected_photos
    hashes, others = stored_files(data_dir)
    assert hashes == set(referenced), "orphan or missing photo files"
    assert others == []
    store = open_store(data_dir)
    try:
        assert unanalysed(store) == []
    finally:
        store.close()


def _photo_count(db: Path) -> int:
    try:
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)) as conn:
            return conn.execute("SELECT count(*) FROM photos").fetchone()[0]
    except sqlite3.OperationalError:  # not created or not migrated yet
        return 0


def _stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGSTOP)
    _, status = os.waitpid(proc.pid, os.WUNTRACED)
    assert os.WIFSTOPPED(status), "the importer ended before it could be stopped"


# --- a killed import ------------------------------------------------------------------------


def test_killed_import_loses_nothing_and_the_rerun_completes_it(photo_set, tmp_path):
    data_dir = tmp_path / "data"
    db = data_dir / "tracker.db"
    manifest = photo_set / "manifest.csv"
    importer = start("--data-dir", data_dir, "import", manifest)
    # Freeze the importer at moments while it stores photos, and kill it while a photo
    # is on disk but not yet committed (or a temporary file is open), else at 40 photos.
    caught = None
    deadline = time.monotonic() + 120
    try:
        while caught is None:
            assert time.monotonic() < deadline, "the importer never reached 5 photos"
            assert importer.poll() is None, f"the importer finished before it was killed: {importer.communicate()}"
            if _photo_count(db) < 5:
                time.sleep(0.005)
                continue
            _stop(importer)
            committed = set(referenced_hashes(db))
            on_disk, others = stored_files(data_dir)
            if others:
                caught = "a temporary file being written"
            elif on_disk - committed:
                caught = "a stored photo whose row was not committed"
            elif len(committed) >= 40:
                caught = "between photos"
            else:
                importer.send_signal(signal.SIGCONT)
                time.sleep(random.uniform(0, 0.004))
    finally:
        importer.send_signal(signal.SIGKILL)
        importer.communicate(timeout=30)
    assert importer.returncode == -signal.SIGKILL

    # Everything committed survived whole; nothing half-written is in the database.
    check_sqlite(db)
    committed = referenced_hashes(db)
    assert 5 <= len(committed) < 50, caught
    assert len(set(committed)) == len(committed)
    on_disk, _ = stored_files(data_dir)  # complete files only, checked against their names
    assert set(committed) <= on_disk

    rerun = run("--data-dir", data_dir, "import", manifest)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert summary(rerun.stdout) == (50 - len(committed), len(committed), 0, 50)
    assert "Traceback" not in rerun.stderr
    # The re-run adopted the photo the killed import had stored and swept its temporary files.
    assert_complete(data_dir, 50)
    assert set(committed) <= set(referenced_hashes(db))


# --- two importers at once --------------------------------------------------------------------


def test_two_importers_of_different_manifests_at_once(photo_set, tmp_path):
    rows = _manifest_rows(photo_set / "manifest.csv")
    halves = [_write_manifest(photo_set / f"half{k}.csv", rows[k::2]) for k in (0, 1)]
    data_dir = tmp_path / "data"
    importers = [start("--data-dir", data_dir, "import", half) for half in halves]
    results = [p.communicate(timeout=300) for p in importers]
    for p, (out, err) in zip(importers, results):
        assert p.returncode == 0, out + err
        assert summary(out) == (25, 0, 0, 25)
        assert "Traceback" not in err
    assert_complete(data_dir, 50)


def _assert_one_record_per_photo(importers: list[subprocess.Popen], data_dir: Path, url: str | None,
                                 photos: int) -> None:
    from tracker.store.db import open_store

    counts = []
    for p in importers:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, out + err
        assert "Traceback" not in err
        counts.append(summary(out))
    # Each photo was recorded by exactly one of them; the other found it there.
    assert sum(c[0] for c in counts) == photos and sum(c[1] for c in counts) == photos
    store = open_store(data_dir, url)
    try:
        with store.session() as s:
            assert s.scalar(select(func.count()).select_from(Patient)) == 1
            assert s.scalar(select(func.count()).select_from(Course)) == 1
            assert s.scalar(select(func.count()).select_from(TreatmentSession)) == 1
            hashes = list(s.scalars(select(Photo.content_hash)))
        assert len(hashes) == photos
        assert stored_files(data_dir) == (set(hashes), [])
        assert unanalysed(store) == []
    finally:
        store.close()


@pytest.fixture
def ana_manifest(photo_set) -> Path:
    rows = _manifest_rows(photo_set / "manifest.csv")
    return _write_manifest(photo_set / "ana.csv", [r for r in rows if r[0] == "demo-ana"])


def test_two_importers_of_the_same_manifest_at_once(ana_manifest, tmp_path):
    data_dir = tmp_path / "data"
    importers = [start("--data-dir", data_dir, "import", ana_manifest) for _ in range(2)]
    _assert_one_record_per_photo(importers, data_dir, None, 8)
    check_sqlite(data_dir / "tracker.db")


def test_two_importers_racing_for_the_same_rows_on_postgresql(ana_manifest, tmp_path, postgres_server):
    """Both importers find no patient and insert one, then both store the course's first summary.

    Table locks hold both at each insert until the other is there too, so the
    race happens every time; the loser must carry on, as SQLite's single writer
    makes it do anyway.
    """
    from sqlalchemy import create_engine, text

    from tracker.store.db import open_store

    url = postgres_server.new_database()
    open_store(tmp_path / "data", url).close()  # migrated, so that the gates have tables to lock
    engine = create_engine(url)
    waiting = text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                   "AND wait_event_type = 'Lock'")
    try:
        with engine.connect() as patients_gate, engine.connect() as summaries_gate, \
                engine.connect().execution_options(isolation_level="AUTOCOMMIT") as watch:
            # Reads go on; inserts wait.
            patients_gate.execute(text("LOCK TABLE patients IN SHARE MODE"))
            summaries_gate.execute(text("LOCK TABLE course_summaries IN SHARE MODE"))
            importers = [start("--data-dir", tmp_path / "data", "import", ana_manifest,
                               env={"TRACKER_DATABASE_URL": url}) for _ in range(2)]
            for gate in (patients_gate, summaries_gate):
                deadline = time.monotonic() + 120
                while watch.execute(waiting).scalar() < 2:
                    assert all(p.poll() is None for p in importers), [p.communicate() for p in importers]
                    assert time.monotonic() < deadline, "the importers never both reached the insert"
                    time.sleep(0.02)
                gate.rollback()  # both inserts go ahead at once
        _assert_one_record_per_photo(importers, tmp_path / "data", url, 8)
    finally:
        engine.dispose()


# --- bad rows and files -----------------------------------------------------------------------


@pytest.fixture
def bad_batch(photo_set, tmp_path) -> tuple[Path, dict[str, str]]:
    """A manifest of 5 good rows and one of every kind of bad row; expected reason per bad line."""
    good = [r for r in _manifest_rows(photo_set / "manifest.csv") if r[0] == SIM_PATIENT][:5]
    (tmp_path / SIM_PATIENT).mkdir()
    for r in good:  # beside the manifest: an import reads only under the manifest's folder
        shutil.copy2(photo_set / r[3], tmp_path / r[3])
    source = (tmp_path / good[0][3]).read_bytes()
    (tmp_path / "truncated.jpg").write_bytes(source[: len(source) // 3])
    (tmp_path / "notes.jpg").write_text("Patient says the cheek itches.")
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "a-folder.jpg").mkdir()
    spare = next(path for path in sorted((photo_set / SIM_PATIENT).iterdir())
                 if f"{SIM_PATIENT}/{path.name}" not in {r[3] for r in good})
    shutil.copy2(spare, tmp_path / "spare.jpg")
    spare = "spare.jpg"
    base = [SIM_PATIENT, SIM_TREATMENT, "2026-04-02"]
    bad = {
        "truncated.jpg": ([*base, "truncated.jpg", "", _box(SIM_ROI), "", ""], "incomplete"),
        "notes.jpg": ([*base, "notes.jpg", "", "", "", ""], "not an image"),
        "empty.jpg": ([*base, "empty.jpg", "", "", "", ""], "empty"),
        "missing": ([*base, "no-such.jpg", "", "", "", ""], "no such file"),
        "a folder": ([*base, "a-folder.jpg", "", "", "", ""], "not a regular file"),
        "treatment": ([SIM_PATIENT, "tattoo_removal_xyz", "2026-04-02", str(spare), "", "", "", ""],
                      "unknown treatment 'tattoo_removal_xyz'"),
        "roi": ([*base, str(spare), "", "1,2,3", "", ""], "expected four numbers"),
        "date": ([SIM_PATIENT, SIM_TREATMENT, "02/04/2026", str(spare), "", "", "", ""], "not a date"),
        "taken_on": ([*base, str(spare), "yesterday", "", "", ""], "not a date"),
        "no patient": (["", SIM_TREATMENT, "2026-04-02", str(spare), "", "", "", ""], "patient column is empty"),
        "other roi": ([*base, str(spare), "", "10,10,40,40", "", ""], "differs from the one recorded"),
        "skin type": ([*base, str(spare), "", "", "", "VII"], "Skin type must be a Fitzpatrick type"),
    }
    rows = good[:2] + [row for row, _ in bad.values()] + good[2:]
    manifest = _write_manifest(tmp_path / "batch.csv", rows)
    # Line numbers of the bad rows (after the header and the first two good rows).
    reasons = {f"line {i + 4}": reason for i, (_, reason) in enumerate(bad.values())}
    return manifest, reasons


def test_bad_rows_are_refused_with_their_reason_and_the_rest_imported(store, bad_batch):
    manifest, reasons = bad_batch
    outcomes = run_import(store, read_manifest(manifest), analyse=False)
    refused = {o.source: o.reason for o in outcomes if o.status == "refused"}
    assert set(refused) == set(reasons)
    for source, reason in refused.items():
        assert reasons[source] in reason, (source, reason)
        assert "\n" not in reason and "Traceback" not in reason
    assert [o.status for o in outcomes].count("imported") == 5
    with store.session() as s:
        hashes = set(s.scalars(select(Photo.content_hash)))
        assert len(hashes) == 5
        assert s.scalar(select(Course.roi)) == list(SIM_ROI)
    # A refused photo leaves no file behind, not even the one refused for its regions.
    assert stored_files(store.data_dir) == (hashes, [])


def test_import_and_the_app_share_one_validation(store, photo_set):
    """A skin type the app refuses is refused by the importer too, in the same words (one writer)."""
    with pytest.raises(sv.InputError) as app_refusal:
        sv.create_patient(store, sv.SYSTEM, "new-patient", "New Patient", "VII")
    photo = next(p for p in sorted((photo_set / SIM_PATIENT).iterdir()) if p.suffix == ".jpg")
    direct = sv.record_photo(store, sv.SYSTEM, sv.PhotoRecord(
        patient="new-patient", treatment=SIM_TREATMENT, treated_on=date(2026, 4, 2), data=photo.read_bytes(),
        skin_type="VII"))
    assert (direct.status, direct.reason) == ("refused", str(app_refusal.value))
    assert sv.find_patient_id(store, sv.SYSTEM, "new-patient") is None
    ok = sv.record_photo(store, sv.SYSTEM, sv.PhotoRecord(
        patient="new-patient", treatment=SIM_TREATMENT, treated_on=date(2026, 4, 2), data=photo.read_bytes(),
        skin_type=" iv "))
    assert ok.status == "imported"
    assert sv.get_patient(store, sv.SYSTEM, sv.find_patient_id(store, sv.SYSTEM, "new-patient")).skin_type == "IV"


def test_cli_reports_refusals_in_one_line_each_and_exits_1(bad_batch, tmp_path):
    manifest, reasons = bad_batch
    result = run("--data-dir", tmp_path / "data", "import", manifest)
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stdout.strip().splitlines()
    refusals = [line for line in lines if line.startswith("refused  ")]
    assert len(refusals) == len(reasons)
    for line in refusals:
        source = re.match(r"refused  (line \d+): ", line)[1]
        assert reasons[source] in line
    assert summary(result.stdout) == (5, 0, len(reasons), 5 + len(reasons))


@pytest.mark.parametrize("content, message", [
    (b"patient,photo\nx,a.jpg\n", "has no column treatment, treated_on"),
    ("\ufeffpatient;treatment;treated_on;photo\n".encode(), "has no column"),
    (b"\xff\xfe\x00b\x00a\x00d", "cannot read the manifest"),
])
def test_unusable_manifest_is_a_one_line_usage_error(tmp_path, content, message):
    manifest = tmp_path / "manifest.csv"
    manifest.write_bytes(content)
    result = run("--data-dir", tmp_path / "data", "import", manifest)
    assert result.returncode == 2
    assert result.stderr.startswith("tracker: error: ") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_missing_source_is_a_usage_error(tmp_path):
    result = run("--data-dir", tmp_path / "data", "import", tmp_path / "nothing-here.csv")
    assert result.returncode == 2
    assert result.stderr.strip() == f"tracker: error: there is no file or folder {tmp_path / 'nothing-here.csv'}"


# --- re-runs, capture times, metadata -------------------------------------------------------------


def _table_counts(store) -> dict[str, int]:
    with store.session() as s:
        return {m.__tablename__: s.scalar(select(func.count()).select_from(m))
                for m in (Patient, Course, TreatmentSession, Photo, Analysis)}


def test_rerun_is_idempotent(store):
    rows = read_manifest(SAMPLES / "manifest.csv")
    first = run_import(store, rows)
    assert [o.status for o in first] == ["imported"] * 17
    counts = _table_counts(store)
    assert counts == {"patients": 2, "courses": 2, "treatment_sessions": 2, "photos": 17, "analyses": 17}
    files = stored_files(store.data_dir)
    with store.session() as s:
        computed = dict(s.execute(select(Analysis.id, Analysis.computed_at)).all())

    second = run_import(store, rows)
    assert [o.status for o in second] == ["already"] * 17
    assert [o.photo_id for o in second] == [o.photo_id for o in first]
    assert _table_counts(store) == counts
    assert stored_files(store.data_dir) == files
    with store.session() as s:
        assert dict(s.execute(select(Analysis.id, Analysis.computed_at)).all()) == computed
        assert s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "photo_add")) == 17


def test_capture_time_from_manifest_else_exif_else_file_time(store, photo_set, tmp_path):
    plain = tmp_path / "plain.jpg"
    with Image.open(photo_set / SIM_PATIENT / "photo07.jpg") as im:
        im.save(plain, quality=90)  # no EXIF at all
    os.utime(plain, (datetime(2026, 4, 20, 8, 15).timestamp(),) * 2)
    base = [SIM_PATIENT, SIM_TREATMENT, "2026-04-02"]
    for name in ("photo02.jpg", "photo03.jpg", "photo05.jpg"):  # beside the manifest, which reads only there
        shutil.copy2(photo_set / SIM_PATIENT / name, tmp_path / name)
    manifest = _write_manifest(tmp_path / "times.csv", [
        [*base, "photo02.jpg", "", "", "", ""],
        [*base, "photo03.jpg", "2026-04-05T07:45", "", "", ""],
        [*base, "photo05.jpg", "2026-04-06", "", "", ""],
        [*base, plain.name, "", "", "", ""],
    ])
    outcomes = run_import(store, read_manifest(manifest), analyse=False)
    assert [o.status for o in outcomes] == ["imported"] * 4
    with store.session() as s:
        taken = [s.execute(select(Photo.taken_at, Photo.taken_at_source).where(Photo.id == o.photo_id)).one()
                 for o in outcomes]
    assert [tuple(t) for t in taken] == [
        (_sim_taken(2), "exif"),
        (datetime(2026, 4, 5, 7, 45), "manifest"),
        (datetime(2026, 4, 6), "manifest"),
        (datetime(2026, 4, 20, 8, 15), "file_time"),
    ]


def test_stored_copies_keep_no_metadata_but_orientation(store, photo_set):
    rows = [r for r in read_manifest(photo_set / "manifest.csv") if r.patient == SIM_PATIENT]
    outcomes = run_import(store, rows, analyse=False)
    assert {o.status for o in outcomes} == {"imported"}
    planted = [MAKE.encode(), MODEL.encode(), ARTIST.encode()]
    with store.session() as s:
        photos = {p.id: p for p in s.scalars(select(Photo))}
    for row, outcome in zip(rows, outcomes):
        i = int(row.photo.stem.removeprefix("photo"))
        stored = store.photos.read(photos[outcome.photo_id].content_hash)
        original = row.photo.read_bytes()
        if i % 3 == 0:
            with Image.open(row.photo) as im:
                assert im.getexif().get_ifd(IFD.GPSInfo), "the test photo should carry GPS"
        with Image.open(store.photos.path(photos[outcome.photo_id].content_hash)) as im:
            exif = im.getexif()
            assert not exif.get_ifd(IFD.GPSInfo) and not exif.get_ifd(IFD.Exif)
            assert dict(exif) == ({Base.Orientation: 6} if i == SIDEWAYS else {})
            assert "comment" not in im.info and "xmp" not in im.info
        for text in planted:
            assert (text in original) == (i % 3 == 0), text
            assert text not in stored, (i, text)
        stamp = _sim_taken(i).strftime("%Y:%m:%d %H:%M:%S").encode()
        assert stamp in original and stamp not in stored
        # Recorded upright: the sideways photo is 800 wide once turned.
        assert (photos[outcome.photo_id].width, photos[outcome.photo_id].height) == SIM_SIZE
    with Image.open(photo_set / SIM_PATIENT / f"photo{SIDEWAYS:02d}.jpg") as im:
        assert im.getexif()[Base.Orientation] == 6 and im.size == SIM_SIZE[::-1]


def test_same_photo_under_two_names_is_stored_and_recorded_once(store, photo_set, tmp_path):
    copy = tmp_path / "copy-of-photo09.jpg"
    shutil.copy(photo_set / SIM_PATIENT / "photo09.jpg", copy)
    shutil.copy(photo_set / SIM_PATIENT / "photo09.jpg", tmp_path / "photo09.jpg")
    base = [SIM_PATIENT, SIM_TREATMENT, "2026-04-02"]
    manifest = _write_manifest(tmp_path / "twice.csv", [
        [*base, "photo09.jpg", "", "", "", ""],
        [*base, copy.name, "", "", "", ""],
    ])
    outcomes = run_import(store, read_manifest(manifest), analyse=False)
    assert [o.status for o in outcomes] == ["imported", "already"]
    assert outcomes[0].photo_id == outcomes[1].photo_id
    assert len(stored_files(store.data_dir)[0]) == 1


# --- the folder convention -------------------------------------------------------------------------


@pytest.fixture
def clinic_folder(tmp_path) -> Path:
    """FOLDER/<patient>/<treatment>/<YYYY-MM-DD>/photos, with regions.txt, built from the demo photos."""
    folder = tmp_path / "clinic"
    with open(SAMPLES / "manifest.csv", newline="", encoding="utf-8") as fh:
        demo = list(csv.DictReader(fh))
    for r in demo:
        session = folder / r["patient"] / r["treatment"] / r["treated_on"]
        session.mkdir(parents=True, exist_ok=True)
        shutil.copy(SAMPLES / r["photo"], session / Path(r["photo"]).name)
        (session.parent / "regions.txt").write_text(f"roi={r['roi']}\ncontrol = {r['control']}\n")
    ana = folder / "demo-ana" / "fractional_co2"
    (ana / "2026-03-02" / "Thumbs.txt").write_text("not a photo: ignored")
    (ana / "2026-03-02" / ".DS_Store").write_bytes(b"\x00\x01")
    # Ana's last two photos follow a second session.
    (ana / "2026-03-20").mkdir()
    for name in ("day21.jpg", "day28.jpg"):
        (ana / "2026-03-02" / name).rename(ana / "2026-03-20" / name)
    bad = folder / "demo-ana" / "laser_tag" / "2026-03-02"
    bad.mkdir(parents=True)
    shutil.copy(SAMPLES / "demo-ana" / "day03.jpg", bad / "day03.jpg")
    odd = folder / "demo-ben" / "non_ablative_fractional" / "last-tuesday"
    odd.mkdir()
    shutil.copy(SAMPLES / "demo-ben" / "day07.jpg", odd / "day07.jpg")
    return folder


def test_folder_convention(store, clinic_folder):
    rows = scan_folder(clinic_folder)
    assert len(rows) == 17 + 2  # the text files are not photos
    outcomes = run_import(store, rows, analyse=False)
    refused = {o.source: o.reason for o in outcomes if o.status == "refused"}
    assert refused.keys() == {"demo-ana/laser_tag/2026-03-02/day03.jpg",
                              "demo-ben/non_ablative_fractional/last-tuesday/day07.jpg"}
    assert "unknown treatment 'laser_tag'" in refused["demo-ana/laser_tag/2026-03-02/day03.jpg"]
    assert "not a date" in refused["demo-ben/non_ablative_fractional/last-tuesday/day07.jpg"]
    assert [o.status for o in outcomes].count("imported") == 17
    with open(SAMPLES / "manifest.csv", newline="", encoding="utf-8") as fh:
        demo = {r["patient"]: r for r in csv.DictReader(fh)}
    with store.session() as s:
        courses = {(p.reference, c.treatment): c for p, c in s.execute(select(Patient, Course).join(Course))}
        assert set(courses) == {("demo-ana", "fractional_co2"), ("demo-ben", "non_ablative_fractional")}
        for (reference, _), course in courses.items():
            assert _box(course.roi) == demo[reference]["roi"]
            assert _box(course.control) == demo[reference]["control"]
        sessions = sorted(s.execute(select(Patient.reference, TreatmentSession.treated_on)
                                    .join(Course, Course.patient_id == Patient.id)
                                    .join(TreatmentSession, TreatmentSession.course_id == Course.id)).all())
        assert sessions == [("demo-ana", date(2026, 3, 2)), ("demo-ana", date(2026, 3, 20)),
                            ("demo-ben", date(2026, 2, 9))]
        # Without a manifest the capture time is the photo's EXIF time.
        assert set(s.scalars(select(Photo.taken_at_source))) == {"exif"}


def test_folder_import_from_the_command_line(clinic_folder, tmp_path):
    data_dir = tmp_path / "data"
    result = run("--data-dir", data_dir, "import", clinic_folder)
    assert result.returncode == 1  # two photos refused
    assert summary(result.stdout) == (17, 0, 2, 19)
    assert "Traceback" not in result.stderr
    again = run("--data-dir", data_dir, "import", clinic_folder)
    assert summary(again.stdout) == (0, 17, 2, 19)
    assert_complete(data_dir, 17)


def test_manifest_says_what_was_treated(sqlite_store, tmp_path):
    """The ``treated`` column: a new area takes it, a clashing one is refused, a bad value is refused."""
    demo = [r for r in csv.DictReader(open(SAMPLES / "manifest.csv", newline="", encoding="utf-8"))]
    ana = [r for r in demo if r["patient"] == "demo-ana"][:3]
    ben = [r for r in demo if r["patient"] == "demo-ben"][:1]
    for r in ana + ben:
        (tmp_path / r["photo"]).parent.mkdir(exist_ok=True)
        shutil.copy2(SAMPLES / r["photo"], tmp_path / r["photo"])
    header = HEADER + ["treated"]
    rows = [[r[c] for c in HEADER] + [treated] for r, treated in
            zip(ana + ben, ["region", "", "face", "cheek"])]
    outcomes = run_import(sqlite_store, read_manifest(_write_manifest(tmp_path / "manifest.csv", rows, header)),
                          analyse=False)
    assert [o.status for o in outcomes] == ["imported", "imported", "refused", "refused"]
    assert "treated=face differs from what is recorded for this area (region)" in outcomes[2].reason
    assert "'face'" in outcomes[3].reason and "'region'" in outcomes[3].reason
    with sqlite_store.session() as s:
        assert s.scalars(select(Course.treated_extent)).all() == ["region"]
