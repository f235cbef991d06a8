"""The data directory is private to its owner (issue #13, finding 6).

The fault: with an existing data directory, the database was created 0644 (as was the backup,
tested in test_backup.py). Now the database and its journal files are created 0600, and every
start takes group and other permissions away from the directory, the photo folder, the
database, the export key and the demo passwords.
"""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from tracker import services as sv
from tracker.store.db import StoreError, open_store


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_store_in_an_existing_open_directory_is_private(tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o755)
    data_dir.chmod(0o755)  # as a careless operator or a shared volume leaves it
    store = open_store(data_dir)
    try:
        sv.create_patient(store, sv.SYSTEM, "p-1", "Someone")  # the WAL files exist now
        files = {p.name: mode(p) for p in data_dir.iterdir() if p.is_file()}
    finally:
        store.close()
    assert mode(data_dir) == 0o700 and mode(data_dir / "photos") == 0o700
    assert {"tracker.db", "secret.key"} <= set(files)
    assert files == {name: 0o600 for name in files}


def test_opening_an_existing_store_takes_others_permissions_away(tmp_path, caplog):
    data_dir = tmp_path / "data"
    open_store(data_dir).close()
    for path, loose in ((data_dir, 0o755), (data_dir / "photos", 0o777), (data_dir / "tracker.db", 0o644),
                        (data_dir / "secret.key", 0o640)):
        path.chmod(loose)
    (data_dir / "demo-accounts.txt").write_text("admin\tadmin\tpassword\n")
    (data_dir / "demo-accounts.txt").chmod(0o644)
    open_store(data_dir).close()
    assert (mode(data_dir), mode(data_dir / "photos")) == (0o700, 0o700)
    assert {name: mode(data_dir / name) for name in ("tracker.db", "secret.key", "demo-accounts.txt")} == {
        "tracker.db": 0o600, "secret.key": 0o600, "demo-accounts.txt": 0o600}
    assert "made 5 items of the data directory private to their owner" in caplog.text
    assert str(tmp_path) not in caplog.text


def test_a_data_directory_that_cannot_be_made_private_is_refused(tmp_path, monkeypatch):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    data_dir.chmod(0o755)

    def not_the_owner(path, mode):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr("tracker.store.db.os.chmod", not_the_owner)
    with pytest.raises(StoreError, match=r"is readable by others and cannot be made private \(Operation not "
                                         r"permitted\); fix its permissions \(chmod -R go-rwx\)"):
        open_store(data_dir)
