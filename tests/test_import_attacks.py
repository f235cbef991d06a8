"""The importer reads only what it should, and says why it refuses (issue #13, finding 9 and low findings).

The attack: manifest paths with ``../``, absolute paths, symbolic links, FIFOs and ``/dev/zero``
were followed; a FIFO blocked the import forever and ``/dev/zero`` ended in MemoryError. Now
only regular files under the manifest's (or folder's) root are read, no symbolic links unless
``--follow-symlinks``, and the size is checked before reading. Also: a row with an extra cell,
an unreadable ``regions.txt``, a relative folder path, a full disk, and a damaged database that
``tracker init`` used to call ready.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from PIL import Image
from skimage import data as samples
from sqlalchemy import event, func, select

from tracker import services as sv
from tracker.services.importer import ImportStopped, read_manifest, run_import, scan_folder
from tracker.services.records import MAX_PHOTO_BYTES
from tracker.store.db import open_store
from tracker.store.models import Photo

TRACKER = shutil.which("tracker", path=str(Path(sys.executable).parent)) or "tracker"
HEADER = "patient,treatment,treated_on,photo\n"
ROW = "p-1,fractional_co2,2026-03-02,{}\n"


def jpeg(shift: int = 0) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(samples.astronaut()[:, shift:shift + 400]).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def run(*args, cwd=None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([TRACKER, *map(str, args)], capture_output=True, text=True, timeout=timeout, cwd=cwd)


@pytest.fixture
def clinic_folder(tmp_path) -> Path:
    """A manifest folder with one good photo, and files outside it a manifest must not reach."""
    root = tmp_path / "import"
    root.mkdir()
    (root / "good.jpg").write_bytes(jpeg())
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.jpg").write_bytes(jpeg(shift=40))
    (root / "link.jpg").symlink_to(outside / "secret.jpg")
    (root / "linked-folder").symlink_to(outside)
    os.mkfifo(root / "pipe.jpg")
    (root / "big.jpg").write_bytes(b"\xff\xd8\xff" + bytes(MAX_PHOTO_BYTES))  # sparse would do as well
    return root


ATTACKS = {  # manifest photo path: the refusal
    "../outside/secret.jpg": "without ..",
    "{outside}/secret.jpg": "without ..",
    "/dev/zero": "without ..",
    "link.jpg": "symbolic link",
    "linked-folder/secret.jpg": "symbolic link",
    "pipe.jpg": "not a regular file",
    "big.jpg": "larger than 30 MB",
}


def test_a_manifest_cannot_reach_outside_its_folder_nor_block_nor_exhaust_memory(clinic_folder, sqlite_store):
    outside = clinic_folder.parent / "outside"
    paths = [path.format(outside=outside) for path in ATTACKS]
    (clinic_folder / "manifest.csv").write_text(HEADER + "".join(ROW.format(p) for p in ["good.jpg", *paths]))
    outcomes = run_import(sqlite_store, read_manifest(clinic_folder / "manifest.csv"), analyse=False)
    assert outcomes[0].status == "imported"
    for outcome, reason in zip(outcomes[1:], ATTACKS.values(), strict=True):
        assert outcome.status == "refused" and reason in outcome.reason, (outcome.photo, outcome.reason)
    with sqlite_store.session() as s:
        assert s.scalar(select(func.count()).select_from(Photo)) == 1  # the secret was never read in


def test_the_command_line_refuses_them_in_one_line_each_and_finishes(clinic_folder, tmp_path):
    (clinic_folder / "manifest.csv").write_text(
        HEADER + "".join(ROW.format(p.format(outside=tmp_path / "outside")) for p in ["good.jpg", *ATTACKS]))
    result = run("--data-dir", tmp_path / "data", "import", clinic_folder / "manifest.csv")
    assert result.returncode == 1 and "Traceback" not in result.stdout + result.stderr
    assert result.stdout.strip().splitlines()[-1] == f"1 imported, 0 already in the store, {len(ATTACKS)} refused, " \
                                                      f"of {len(ATTACKS) + 1}."


def test_symbolic_links_are_followed_only_when_asked(clinic_folder, sqlite_store):
    (clinic_folder / "manifest.csv").write_text(HEADER + ROW.format("link.jpg"))
    rows = read_manifest(clinic_folder / "manifest.csv")
    assert run_import(sqlite_store, rows, analyse=False, follow_symlinks=True)[0].status == "imported"


@pytest.mark.parametrize("manifest", ["/dev/zero", "fifo"])
def test_a_manifest_that_is_no_file_is_refused_at_once(tmp_path, manifest):
    if manifest == "fifo":
        manifest = tmp_path / "manifest.csv"
        os.mkfifo(manifest)
    result = run("--data-dir", tmp_path / "data", "import", manifest)
    assert result.returncode == 2 and result.stderr.startswith("tracker: error: cannot read the manifest")
    assert "not a regular file" in result.stderr and "Traceback" not in result.stderr


def test_a_row_with_an_extra_cell_is_refused_and_the_others_imported(clinic_folder, sqlite_store):
    (clinic_folder / "manifest.csv").write_text(HEADER + ROW.format("good.jpg").rstrip() + ",surprise\n"
                                                + ROW.format("good.jpg"))
    outcomes = run_import(sqlite_store, read_manifest(clinic_folder / "manifest.csv"), analyse=False)
    assert [(o.status, o.reason) for o in outcomes] == [("refused", "the row has 1 more cells than the header"),
                                                        ("imported", None)]


def folder_tree(root: Path) -> Path:
    session = root / "p-1" / "fractional_co2" / "2026-03-02"
    session.mkdir(parents=True)
    (session / "day1.jpg").write_bytes(jpeg())
    return root


@pytest.mark.parametrize(("regions", "reason"), [
    (lambda path: path.write_bytes(b"roi=1,2,3,4\n\xff\xfe control"),
     "its regions.txt cannot be used: it is not UTF-8 text"),
    (lambda path: path.mkdir(), "its regions.txt cannot be used: it is not a regular file"),
])
def test_an_unreadable_regions_file_refuses_its_photos_with_the_reason(tmp_path, sqlite_store, regions, reason):
    root = folder_tree(tmp_path / "clinic")
    regions(root / "p-1" / "fractional_co2" / "regions.txt")
    (outcome,) = run_import(sqlite_store, scan_folder(root), analyse=False)
    assert (outcome.status, outcome.reason) == ("refused", reason)


def test_a_folder_given_by_a_relative_path_imports(tmp_path):
    folder_tree(tmp_path / "clinic")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (tmp_path / "clinic" / "p-1" / "fractional_co2" / "2026-03-09").symlink_to(outside, target_is_directory=True)
    result = run("--data-dir", tmp_path / "data", "import", "clinic", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().splitlines()[-1] == "1 imported, 0 already in the store, 0 refused, of 1."


def test_a_full_disk_stops_the_import_with_one_line_and_keeps_what_was_imported(tmp_path):
    """SQLite's real 'database or disk is full', by capping the database's pages."""
    root = tmp_path / "import"
    root.mkdir()
    for i in range(4):
        (root / f"p{i}.jpg").write_bytes(jpeg(shift=8 * i))
    count = 60
    (root / "manifest.csv").write_text("patient,treatment,treated_on,photo,name\n" + "".join(
        f"p-{i},fractional_co2,2026-03-02,p{i % 4}.jpg,{'Patient ' * 20}{i}\n" for i in range(count)))
    store = open_store(tmp_path / "data")
    rows = read_manifest(root / "manifest.csv")
    run_import(store, rows[:2], analyse=False)
    store.engine.dispose()

    @event.listens_for(store.engine, "connect")
    def _cap(dbapi_connection, _record):
        pages = dbapi_connection.execute("PRAGMA page_count").fetchone()[0]
        dbapi_connection.execute(f"PRAGMA max_page_count = {pages}")

    with pytest.raises(ImportStopped) as stopped:
        run_import(store, rows, analyse=False)
    done = len(stopped.value.outcomes)
    assert 2 <= done < count
    assert str(stopped.value) == (f"the disk is full: stopped after {done} of {count} photos; make room and run the "
                                  "same import again, which adds only what is missing")
    assert {o.status for o in stopped.value.outcomes[2:]} <= {"imported"}
    store.close()
    again = open_store(tmp_path / "data")  # room again: the re-run adds the rest
    try:
        statuses = [o.status for o in run_import(again, rows, analyse=False)]
        assert statuses == ["already"] * done + ["imported"] * (count - done)
    finally:
        again.close()


def test_init_finds_a_database_damaged_in_the_middle(tmp_path):
    data_dir = tmp_path / "data"
    store = open_store(data_dir)
    for i in range(40):
        sv.create_patient(store, sv.SYSTEM, f"p-{i}", "x" * 150)
    store.close()
    database = data_dir / "tracker.db"
    content = bytearray(database.read_bytes())
    page = 4096
    assert len(content) > 4 * page
    content[2 * page:3 * page] = os.urandom(page)
    database.write_bytes(bytes(content))
    result = run("--data-dir", data_dir, "init")
    assert result.returncode == 2 and "Store ready" not in result.stdout
    assert result.stderr.startswith(f"tracker: error: the database in {data_dir} is damaged (")
    assert result.stderr.rstrip().endswith("restore it from a backup") and len(result.stderr.splitlines()) == 1


def test_a_photo_larger_than_a_photo_needs_is_refused_by_the_app_too(sqlite_store):
    patient = sv.create_patient(sqlite_store, sv.SYSTEM, "p-1", "P")
    course = sv.add_course(sqlite_store, sv.SYSTEM, patient, "fractional_co2", date(2026, 3, 2))
    with pytest.raises(sv.InputError, match="larger than 30 MB"):
        sv.add_photo(sqlite_store, sv.SYSTEM, course, jpeg() + bytes(MAX_PHOTO_BYTES))


def test_a_manifest_says_whether_a_treatment_day_photo_was_before_the_treatment(clinic_folder, sqlite_store):
    (clinic_folder / "other.jpg").write_bytes(jpeg(shift=80))
    (clinic_folder / "manifest.csv").write_text(
        "patient,treatment,treated_on,photo,before_session\n"
        "p-1,fractional_co2,2026-03-02,good.jpg,before\np-1,fractional_co2,2026-03-02,other.jpg,After\n"
        "p-1,fractional_co2,2026-03-02,other.jpg,perhaps\n")
    outcomes = run_import(sqlite_store, read_manifest(clinic_folder / "manifest.csv"), analyse=False)
    assert [o.status for o in outcomes] == ["imported", "imported", "refused"]
    assert outcomes[2].reason == "before_session 'perhaps' must be before or after"
    with sqlite_store.session() as s:
        assert [s.get(Photo, o.photo_id).before_session for o in outcomes[:2]] == [True, False]
