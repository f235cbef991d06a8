"""`tracker backup` / `tracker restore`: whole installations round-tripped, damaged backups refused.

The source is the demo installation with a note, a signed-in session and an
audit trail, so every table has rows.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import stat
import subprocess
import sys
import tarfile
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import select

from tracker import services as sv
from tracker.services.backup import BackupError, restore_backup, write_backup
from conftest import copy_data_dir, demo_passwords
from tracker.services.exports import export_table
from tracker.store.db import open_store
from tracker.store.models import Base

TRACKER = shutil.which("tracker", path=str(Path(sys.executable).parent)) or "tracker"


def run(*args) -> subprocess.CompletedProcess:
    return subprocess.run([TRACKER, *map(str, args)], capture_output=True, text=True, timeout=120)


def table_rows(store) -> dict[str, list[dict]]:
    with store.session() as s:
        return {t.name: [dict(r._mapping) for r in s.execute(select(t).order_by(*t.primary_key.columns))]
                for t in Base.metadata.sorted_tables}


def photo_files(store) -> dict[str, bytes]:
    return {h: store.photos.read(h) for h in store.photos.hashes()}


def assert_empty(data_dir: Path, url: str | None = None, key: bytes | None = None) -> None:
    """No row in any table, no photo file, and the store's own key still in place."""
    store = open_store(data_dir, url)
    try:
        assert all(rows == [] for rows in table_rows(store).values())
        assert store.photos.hashes() == set()
        assert [p for p in (data_dir / "photos").rglob("*") if p.is_file() and p.name != ".lock"] == []
        if key is not None:
            assert store.secret_key == key
    finally:
        store.close()


@pytest.fixture(scope="module")
def source(demo_template, tmp_path_factory):
    """(store, its rows, its photo files, its export, the backup written by `tracker backup`)."""
    folder = tmp_path_factory.mktemp("backup")
    store = open_store(copy_data_dir(demo_template, folder / "source"))
    password = demo_passwords(store.data_dir)["dr.rivera"]
    _, provider = sv.sign_in(store, "dr.rivera", password)  # an auth session row
    sv.add_note(store, provider, sv.find_patient_id(store, sv.SYSTEM, "demo-ben"), "Redness slow to fade.")
    with pytest.raises(sv.AccessDenied):  # a sign-in throttling row
        sv.sign_in(store, "dr.rivera", "not the password", "203.0.113.9")
    ana = sv.get_patient(store, sv.SYSTEM, sv.find_patient_id(store, sv.SYSTEM, "demo-ana")).courses[0]
    sv.set_baseline(store, provider, ana.id, ana.baseline_photo_id)  # a confirmed baseline
    sv.grade_photo(store, provider, ana.baseline_photo_id, "vancouver",  # a clinician's grade
                   {"vascularity": 1, "pigmentation": 0, "pliability": 2, "height": 0})
    sv.answer_questionnaire(store, provider, ana.baseline_photo_id, {"itch": 2})  # a patient's answers
    rows = table_rows(store)
    assert all(rows.values()), [name for name, r in rows.items() if not r]
    files = photo_files(store)
    export = export_table(store, sv.SYSTEM)
    rows = table_rows(store)  # with the export's audit event

    backup = folder / "clinic.tar.gz"
    result = run("--data-dir", store.data_dir, "backup", backup)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (f"Backed up {sum(len(r) for r in rows.values())} rows and {len(files)} photos "
                                     f"to {backup}.")
    assert not backup.with_name(backup.name + ".part").exists()
    yield store, rows, files, export, backup
    store.close()


def test_round_trip_through_the_command_line(source, tmp_path):
    store, rows, files, export, backup = source
    target = tmp_path / "restored"
    result = run("--data-dir", target, "restore", backup)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"Restored {sum(len(r) for r in rows.values())} rows and {len(files)} photos."
    restored = open_store(target)
    try:
        assert table_rows(restored) == rows  # table by table, row by row
        assert photo_files(restored) == files
        assert restored.secret_key == store.secret_key
        assert stat.S_IMODE((target / "secret.key").stat().st_mode) == 0o600
        # Same key, same pseudonyms: research exports line up across the restore.
        pd.testing.assert_frame_equal(export_table(restored, sv.SYSTEM), export)
        # The restored store takes new records.
        new_id = sv.create_patient(restored, sv.SYSTEM, "after-restore", "After Restore")
        assert new_id == max(r["id"] for r in rows["patients"]) + 1
    finally:
        restored.close()


def test_restore_into_either_database_and_back(source, store, tmp_path):
    _, rows, files, export, backup = source
    restore_backup(store, backup)
    assert table_rows(store) == rows
    assert photo_files(store) == files
    pd.testing.assert_frame_equal(export_table(store, sv.SYSTEM), export)
    # Ids go on after the restored ones (PostgreSQL's sequences were moved past them).
    assert sv.create_patient(store, sv.SYSTEM, "after-restore", "After") == max(r["id"] for r in rows["patients"]) + 1

    # And back again, from this database to a new embedded store.
    second = tmp_path / "second.tar.gz"
    manifest = write_backup(store, second)
    assert manifest["photos"] == len(files)
    again = open_store(tmp_path / "again")
    try:
        restore_backup(again, second)
        copied = table_rows(again)
        assert copied == table_rows(store)
        assert {name: r for name, r in copied.items() if name not in ("patients", "audit_events")} == \
            {name: r for name, r in rows.items() if name not in ("patients", "audit_events")}
        assert photo_files(again) == files
    finally:
        again.close()


def test_restore_into_a_store_with_data_is_refused(source, tmp_path):
    store, rows, files, _, backup = source
    result = run("--data-dir", store.data_dir, "restore", backup)
    assert result.returncode == 2
    assert result.stderr == ("tracker: error: the target store is not empty; restore into a new data directory "
                             "or database\n")
    assert result.stdout == ""
    assert table_rows(store) == rows
    assert photo_files(store) == files


# --- damaged backups -----------------------------------------------------------------------------


def _rewrite(backup: Path, out: Path, change, added: dict[str, bytes] | None = None) -> Path:
    """A copy of the backup with ``change(name, data)`` applied to each member (None drops it)."""
    with tarfile.open(backup, "r:gz") as tin, tarfile.open(out, "w:gz") as tout:
        members = [(m.name, change(m.name, tin.extractfile(m).read())) for m in tin]
        for name, data in [*members, *(added or {}).items()]:
            if data is not None:
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tout.addfile(info, io.BytesIO(data))
    return out


def _middle_photo(backup: Path) -> str:
    with tarfile.open(backup, "r:gz") as tar:
        photos = [m.name for m in tar if m.name.startswith("photos/")]
    return photos[len(photos) // 2]


def _flip_a_byte(data: bytes) -> bytes:
    changed = bytearray(data)
    changed[len(changed) // 2] ^= 0x01
    return bytes(changed)


def _orphan_analysis(data: bytes) -> bytes:
    rows = [json.loads(line) for line in data.decode().splitlines()]
    rows[0]["photo_id"] = 99999  # an analysis of a photo the backup does not have
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def _damaged(kind: str, backup: Path, folder: Path) -> Path:
    out = folder / f"{kind}.tar.gz"
    whole = backup.read_bytes()
    if kind == "cut in half":
        out.write_bytes(whole[: len(whole) // 2])
    elif kind == "last bytes missing":
        out.write_bytes(whole[:-64])
    elif kind == "not a backup":
        out.write_bytes(gzip.compress(b"just some text"))
    elif kind == "not gzip":
        out.write_text("patient,treatment\n")
    elif kind == "no such file":
        return folder / "nowhere.tar.gz"
    elif kind == "a member of 4 GiB of zeros":
        # Only the header needs to claim the size: restore must refuse it unread.
        zeros = tarfile.TarInfo(f"photos/{hashlib.sha256(b'').hexdigest()}.jpg")
        zeros.size = 4 * 1024**3
        with tarfile.open(out, "w:gz") as tar:
            tar.fileobj.write(zeros.tobuf())
            tar.fileobj.write(bytes(64 * 1024))
    elif kind == "not a photo under its own hash":
        text = b"not a photo, but named by its hash"
        _rewrite(backup, out, lambda name, data: data, {f"photos/{hashlib.sha256(text).hexdigest()}.jpg": text})
    else:
        victim = _middle_photo(backup)
        change = {
            "photo changed": lambda name, data: _flip_a_byte(data) if name == victim else data,
            "photo cut short": lambda name, data: data[:300] if name == victim else data,
            "manifest missing": lambda name, data: None if name == "manifest.json" else data,
            "a photo its rows refer to missing": lambda name, data: None if name == victim else data,
            "table missing": lambda name, data: None if name == "database/photos.jsonl" else data,
            "table garbled": lambda name, data: b'{"id": 1, "course' if name == "database/photos.jsonl" else data,
            "rows that do not fit": lambda name, data: _orphan_analysis(data) if name == "database/analyses.jsonl"
            else data,
            "future format": lambda name, data: json.dumps({"format": 99}).encode() if name == "manifest.json"
            else data,
        }[kind]
        _rewrite(backup, out, change)
    return out


DAMAGE = {
    "cut in half": "is not a readable backup",
    "last bytes missing": "is not a readable backup",
    "not a backup": "is not a readable backup",
    "not gzip": "is not a readable backup",
    "no such file": "is not a readable backup",
    "photo changed": "is damaged (its content does not match)",
    "photo cut short": "is damaged (its content does not match)",
    "manifest missing": "is not a tracker backup (no manifest)",
    "table missing": "lacks the photos table",
    "table garbled": "the photos table in the backup is damaged",
    "rows that do not fit": "could not be restored (IntegrityError); nothing was restored",
    "not a photo under its own hash": "in the backup is not a readable photo; nothing was restored",
    "future format": "backup format 99 is not supported",
    "a photo its rows refer to missing": "the backup lacks 1 of the photos its records refer to",
    "a member of 4 GiB of zeros": "is larger than any the tracker writes; nothing was restored",
}


@pytest.mark.parametrize("kind", DAMAGE)
def test_damaged_backup_is_refused_and_leaves_the_store_empty(source, tmp_path, kind):
    damaged = _damaged(kind, source[4], tmp_path)
    target = open_store(tmp_path / "target")
    key = target.secret_key
    try:
        with pytest.raises(BackupError) as refusal:
            restore_backup(target, damaged)
    finally:
        target.close()
    assert DAMAGE[kind] in str(refusal.value)
    assert "\n" not in str(refusal.value)
    assert_empty(tmp_path / "target", key=key)


def test_a_backup_is_written_readable_by_its_owner_only(source, tmp_path):
    """The archive holds photos, names, notes, password hashes and the export key (finding 6)."""
    store = source[0]
    stale = tmp_path / "again.tar.gz.part"
    stale.write_bytes(b"left by a killed backup")
    stale.chmod(0o644)
    result = run("--data-dir", store.data_dir, "backup", tmp_path / "again.tar.gz")
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE((tmp_path / "again.tar.gz").stat().st_mode) == 0o600
    assert stat.S_IMODE(source[4].stat().st_mode) == 0o600


def test_damaged_backup_into_postgresql_leaves_it_empty(source, postgres_server, tmp_path):
    url = postgres_server.new_database()
    target = open_store(tmp_path / "target", url)
    try:
        with pytest.raises(BackupError, match="could not be restored"):
            restore_backup(target, _damaged("rows that do not fit", source[4], tmp_path))
    finally:
        target.close()
    assert_empty(tmp_path / "target", url)


@pytest.mark.parametrize("kind", ["cut in half", "photo cut short"])
def test_damaged_backup_on_the_command_line(source, tmp_path, kind):
    damaged = _damaged(kind, source[4], tmp_path)
    result = run("--data-dir", tmp_path / "target", "restore", damaged)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith("tracker: error: ") and DAMAGE[kind] in result.stderr
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr
    assert_empty(tmp_path / "target")
    assert not [p for p in (tmp_path / "target").iterdir() if p.name.startswith(".secret-restore")]
