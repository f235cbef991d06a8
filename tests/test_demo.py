"""`tracker demo` never touches a store that holds real data (issue #13, finding 8).

The attack: loading the demo into a real store added known-password accounts and assigned
every real patient to the demo provider. Now the demo loads only into an empty store.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from sqlalchemy import func, select

from tracker import services as sv
from tracker.store.db import open_store
from tracker.store.models import AuditEvent, ProviderAssignment, User

TRACKER = shutil.which("tracker", path=str(Path(sys.executable).parent)) or "tracker"


def run(*args) -> subprocess.CompletedProcess:
    return subprocess.run([TRACKER, *map(str, args)], capture_output=True, text=True, timeout=300)


def test_the_demo_is_refused_in_a_store_holding_a_real_patient_and_changes_nothing(tmp_path):
    data_dir = tmp_path / "clinic"
    store = open_store(data_dir)
    sv.create_patient(store, sv.SYSTEM, "mrn-0042", "A Real Patient")
    with store.session() as s:
        events = s.scalar(select(func.count()).select_from(AuditEvent))
    store.close()
    for command in (["demo"], ["app", "--demo", "--port", "1"]):
        result = run("--data-dir", data_dir, *command)
        assert result.returncode == 2, result.stdout + result.stderr
        assert result.stderr == ("tracker: error: this store already holds patients or accounts, so the demo is not "
                                 "loaded into it; load it into a new data directory (--data-dir)\n")
    store = open_store(data_dir)
    try:
        with store.session() as s:
            assert s.scalar(select(func.count()).select_from(User)) == 0
            assert s.scalar(select(func.count()).select_from(ProviderAssignment)) == 0
            assert s.scalar(select(func.count()).select_from(AuditEvent)) == events
        assert [p.reference for p in sv.list_patients(store, sv.SYSTEM)] == ["mrn-0042"]
    finally:
        store.close()
    assert not (data_dir / "demo-accounts.txt").exists()


def test_an_account_alone_makes_a_store_real_too(tmp_path):
    data_dir = tmp_path / "clinic"
    store = open_store(data_dir)
    sv.create_user(store, sv.SYSTEM, "root", "a long admin passphrase", "admin")
    store.close()
    result = run("--data-dir", data_dir, "demo")
    assert result.returncode == 2 and "already holds patients or accounts" in result.stderr
