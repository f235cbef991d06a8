"""Consent to research use (exports hold only consenting patients) and erasure on request.

The demo (two simulated patients who consented) gets a third patient, Jane, imported with
her name, a named area and identifying file names, a note, an account of her own and a
failed sign-in. Exports are read back from CSV and Parquet as a researcher would; erasure is
checked in the database file itself, the photo folder and a backup taken afterwards.
"""

from __future__ import annotations

import csv
import subprocess
import tarfile
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image
from sqlalchemy import select

from conftest import copy_data_dir, demo_passwords, tracker_command

from tracker import services as sv
from tracker.services.backup import restore_backup, write_backup
from tracker.services.consent import CURRENT_CONSENT_VERSION, consent_sentence, pseudonym
from tracker.services.exports import write_export
from tracker.services.importer import read_manifest, run_import
from tracker.store.db import open_store
from tracker.store.models import AuditEvent, Base, Course, Photo

SAMPLES = Path(__file__).resolve().parents[1] / "sample_images"
JANE = {"reference": "clinic-0042", "name": "Jane Q. Doe", "area": "left cheek beside the mole"}
JANE_PHOTOS = {"jane-doe-before.jpg": ("demo-ben/day-02_baseline.jpg", "2026-02-08T16:20"),
               "jane-doe-after-ipl.jpg": ("demo-ben/day01.jpg", "2026-02-10T09:05")}
NOTE = "Jane Q. Doe phoned about itching near the left ear."
JANE_PASSWORD = "jane's long passphrase 7"


def run(data_dir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*tracker_command(), "--data-dir", str(data_dir), *args], capture_output=True, text=True,
                          timeout=300)


@pytest.fixture
def clinic(demo_template, tmp_path):
    """A copy of the demo with Jane: (data dir, Jane's patient id)."""
    data_dir = copy_data_dir(demo_template, tmp_path / "data")
    folder = tmp_path / "jane"
    folder.mkdir()
    for name, (source, _) in JANE_PHOTOS.items():  # re-encoded: files of her own, not the demo's
        Image.open(SAMPLES / source).save(folder / name, quality=88)
    with open(folder / "jane.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["patient", "name", "treatment", "treated_on", "photo", "taken_on", "area", "roi", "control"])
        for name, (_, taken_on) in JANE_PHOTOS.items():
            writer.writerow([JANE["reference"], JANE["name"], "ipl", "2026-02-09", name, taken_on, JANE["area"],
                             "400,340,80,80", "491,477,48,36"])
    store = open_store(data_dir)
    try:
        assert {o.status for o in run_import(store, read_manifest(folder / "jane.csv"))} == {"imported"}
        jane = sv.find_patient_id(store, sv.SYSTEM, JANE["reference"])
        _, provider = sv.sign_in(store, "dr.rivera", demo_passwords(data_dir)["dr.rivera"])
        sv.assign_patient(store, sv.SYSTEM, provider.user_id, jane)
        sv.add_note(store, provider, jane, NOTE)
        sv.create_user(store, sv.SYSTEM, "jane.doe", JANE_PASSWORD, "patient", jane)
        sv.sign_in(store, "jane.doe", JANE_PASSWORD)
        with pytest.raises(sv.AccessDenied):
            sv.sign_in(store, "jane.doe", "not her password at all")
    finally:
        store.close()
    return data_dir, jane


def _pseudonyms(data_dir: Path, *references: str) -> dict[str, str]:
    key = (data_dir / "secret.key").read_bytes()
    return {ref: pseudonym(key, "patient", ref) for ref in references}


def _exported(data_dir: Path, out: Path) -> tuple[set[str], set[str], int]:
    """Patient pseudonyms in the CSV and in the Parquet export, and how many patients were left out."""
    store = open_store(data_dir)
    try:
        written_csv = write_export(store, sv.SYSTEM, out / "cohort.csv", "csv")
        written_parquet = write_export(store, sv.SYSTEM, out / "cohort.parquet", "parquet")
    finally:
        store.close()
    assert written_csv.patients_left_out == written_parquet.patients_left_out
    in_csv = set(pd.read_csv(out / "cohort.csv", dtype={"patient_pseudonym": str})["patient_pseudonym"])
    in_parquet = set(pd.read_parquet(out / "cohort.parquet")["patient_pseudonym"])
    return in_csv, in_parquet, written_csv.patients_left_out


def test_exports_hold_only_consenting_patients_and_withdrawal_counts_from_the_next_export(clinic, tmp_path):
    data_dir, jane = clinic
    names = _pseudonyms(data_dir, "demo-ana", "demo-ben", JANE["reference"])
    assert _exported(data_dir, tmp_path / "first") == (
        {names["demo-ana"], names["demo-ben"]}, {names["demo-ana"], names["demo-ben"]}, 1)  # Jane was never asked

    given = run(data_dir, "consent", "give", JANE["reference"])
    assert given.returncode == 0 and f"(text {CURRENT_CONSENT_VERSION})" in given.stdout
    assert _exported(data_dir, tmp_path / "second") == (set(names.values()), set(names.values()), 0)

    assert run(data_dir, "consent", "withdraw", "demo-ana").returncode == 0
    store = open_store(data_dir)
    try:
        shown = consent_sentence(sv.consent_status(store, sv.SYSTEM, sv.find_patient_id(store, sv.SYSTEM,
                                                                                        "demo-ana")))
    finally:
        store.close()
    assert "withdrawn" in shown and "not exported" in shown
    said = run(data_dir, "export", "--format", "csv", "--out", str(tmp_path / "third" / "cohort.csv"))
    assert "1 patient left out: no consent to research use (never given, or withdrawn)." in said.stdout
    in_csv, in_parquet, left_out = _exported(data_dir, tmp_path / "third")
    assert in_csv == in_parquet == {names["demo-ben"], names[JANE["reference"]]} and left_out == 1
    store = open_store(data_dir)
    try:
        with pytest.raises(sv.InputError, match="^There is no consent to research use to withdraw.$"):
            sv.withdraw_consent(store, sv.SYSTEM, sv.find_patient_id(store, sv.SYSTEM, "demo-ana"))
        with store.session() as s:
            events = [(e.action, e.actor_role, e.detail) for e in s.scalars(
                select(AuditEvent).where(AuditEvent.action.in_(["consent_give", "consent_withdraw", "export"]))
                .order_by(AuditEvent.id))]
        assert ("consent_withdraw", "system", f"text {CURRENT_CONSENT_VERSION}") in events
        assert events[-1][0] == "export" and events[-1][2].endswith("1 patients left out without consent")
    finally:
        store.close()


def test_who_may_record_and_withdraw_consent(clinic):
    data_dir, jane = clinic
    store = open_store(data_dir)
    try:
        _, jane_actor = sv.sign_in(store, "jane.doe", JANE_PASSWORD)
        _, ana = sv.sign_in(store, "ana", demo_passwords(data_dir)["ana"])
        _, researcher = sv.sign_in(store, "researcher", demo_passwords(data_dir)["researcher"])
        assert not sv.consent_status(store, jane_actor, jane).consenting
        sv.record_consent(store, jane_actor, jane)  # the patient, for herself
        status = sv.consent_status(store, jane_actor, jane)
        assert (status.consenting, status.text_version) == (True, CURRENT_CONSENT_VERSION)
        with pytest.raises(sv.NotFound):
            sv.withdraw_consent(store, ana, jane)  # another patient: no such record, as far as ana can tell
        with pytest.raises(sv.AccessDenied):
            sv.record_consent(store, researcher, jane)
        with pytest.raises(sv.InputError, match="Unknown consent text"):
            sv.record_consent(store, sv.SYSTEM, jane, "1999-01")
        sv.withdraw_consent(store, sv.Actor(role="admin"), jane)
        assert sv.consent_status(store, jane_actor, jane).withdrawn_at is not None
    finally:
        store.close()


def _rows_naming(store, patient_id: int, course_ids: set[int], photo_ids: set[int]) -> dict[str, int]:
    """Rows of any table whose columns point at the patient, their courses or photos."""
    found = {}
    with store.session() as s:
        for table in Base.metadata.sorted_tables:
            for column, ids in (("patient_id", {patient_id}), ("course_id", course_ids), ("photo_id", photo_ids)):
                if column in table.c and ids:
                    count = len(s.execute(select(table).where(table.c[column].in_(ids))).all())
                    if count:
                        found[f"{table.name}.{column}"] = count
    return found


def test_erasure_leaves_nothing_in_the_store_the_photo_folder_or_a_later_backup(clinic, tmp_path):
    data_dir, jane = clinic
    store = open_store(data_dir)
    try:
        with store.session() as s:
            course_ids = set(s.scalars(select(Course.id).where(Course.patient_id == jane)))
            photos = s.execute(select(Photo.id, Photo.content_hash).where(Photo.course_id.in_(course_ids))).all()
            events_before = len(s.scalars(select(AuditEvent.id).where(AuditEvent.patient_id == jane)).all())
        photo_ids, hashes = {p for p, _ in photos}, {h for _, h in photos}
        others = store.photos.hashes() - hashes
        assert len(photo_ids) == 2 and events_before >= 5 and others
    finally:
        store.close()
    secrets = [JANE["reference"], JANE["name"], JANE["area"], NOTE, "jane.doe", "jane-doe-"]
    assert all(s.encode() in _store_bytes(data_dir) for s in secrets[:4]), "the check would not see them"

    done = run(data_dir, "erase", JANE["reference"], "--yes")
    assert done.returncode == 0, done.stderr
    subject = pseudonym((data_dir / "secret.key").read_bytes(), "erased", JANE["reference"])
    assert f"Erased: 2 photos, 1 accounts; the audit log keeps the pseudonymous id {subject}." in done.stdout

    store = open_store(data_dir)
    try:
        assert _rows_naming(store, jane, course_ids, photo_ids) == {}
        assert sv.find_patient_id(store, sv.SYSTEM, JANE["reference"]) is None
        assert "jane.doe" not in {u["username"] for u in sv.list_users(store, sv.SYSTEM)}
        assert store.photos.hashes() == others  # her files gone, everyone else's kept
        with store.session() as s:
            kept = s.scalars(select(AuditEvent).where(AuditEvent.subject == subject)).all()
        assert len(kept) >= events_before + 1  # her events, her account's, and the erasure itself
        assert all(e.patient_id is None for e in kept) and kept[-1].action == "patient_erase"
        assert {e.action for e in kept} >= {"patient_add", "sign_in", "note_add", "patient_erase"}
        with pytest.raises(sv.AccessDenied):
            sv.sign_in(store, "jane.doe", JANE_PASSWORD)
    finally:
        store.close()
    data = _store_bytes(data_dir)
    for secret in secrets:
        assert secret.encode() not in data, f"{secret!r} is still in the store's files"
    for content_hash in hashes:
        assert not list((data_dir / "photos").rglob(f"{content_hash}*"))

    backup = tmp_path / "after.tar.gz"
    store = open_store(data_dir)
    try:
        write_backup(store, backup)
    finally:
        store.close()
    with tarfile.open(backup) as tar:
        members = tar.getmembers()
        assert not any(h in m.name for m in members for h in hashes)
        content = b"".join(tar.extractfile(m).read() for m in members if m.isfile())
    for secret in secrets:
        assert secret.encode() not in content
    store = open_store(tmp_path / "restored")
    try:
        restore_backup(store, backup)
        assert {p.reference for p in sv.list_patients(store, sv.SYSTEM)} == {"demo-ana", "demo-ben"}
    finally:
        store.close()


def _store_bytes(data_dir: Path) -> bytes:
    """Every byte of the data directory's files other than photos (database, its journal, keys)."""
    return b"".join(p.read_bytes() for p in sorted(data_dir.iterdir()) if p.is_file())


def test_only_administrators_erase(clinic):
    data_dir, jane = clinic
    store = open_store(data_dir)
    try:
        _, provider = sv.sign_in(store, "dr.rivera", demo_passwords(data_dir)["dr.rivera"])
        with pytest.raises(sv.AccessDenied):
            sv.erase_patient(store, provider, jane)
        with pytest.raises(sv.NotFound):
            sv.erase_patient(store, sv.Actor(role="admin"), 10**6)
        assert sv.find_patient_id(store, sv.SYSTEM, JANE["reference"]) == jane
    finally:
        store.close()
