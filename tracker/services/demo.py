"""The demo installation: simulated sample patients and an account for each role.

Passwords are random, made when the accounts are created, and kept in
``DATA_DIR/demo-accounts.txt`` (readable by the owner only) so the app's start
command can show them again. Never use a demo data directory for real patients:
the demo is loaded only into a store that holds nothing else, so it can neither
add known-password accounts to a real installation nor give the demo provider
its patients.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from sqlalchemy import func, select

from tracker.services.access import SYSTEM, InputError
from tracker.services.accounts import assign_patient, create_user
from tracker.services.consent import record_consent
from tracker.services.importer import read_manifest, run_import
from tracker.services.records import find_patient_id
from tracker.store.db import Store
from tracker.store.models import Patient, User

__all__ = ["DemoError", "DEMO_USERS", "load_demo", "default_samples"]

#: (user name, role, patient identifier for patient accounts)
DEMO_USERS = (
    ("admin", "admin", None),
    ("dr.rivera", "provider", None),
    ("researcher", "researcher", None),
    ("ana", "patient", "demo-ana"),
    ("ben", "patient", "demo-ben"),
)


class DemoError(RuntimeError):
    """The demo cannot be loaded; one line for people."""


_PACKAGED_SAMPLES = Path(__file__).resolve().parents[1] / "sample_images"
_CHECKOUT_SAMPLES = Path(__file__).resolve().parents[2] / "sample_images"


def default_samples() -> Path:
    """The simulated sample photos: shipped inside the package, or ``sample_images/`` of a source checkout."""
    return _PACKAGED_SAMPLES if (_PACKAGED_SAMPLES / "manifest.csv").is_file() else _CHECKOUT_SAMPLES


def load_demo(store: Store, samples: Path | None = None) -> tuple[list[tuple[str, str, str]], bool]:
    """Import the sample patients and create the demo accounts, once.

    Returns
    -------
    accounts : list of (user name, role, password)
    created : bool
        False when the demo was loaded before (nothing changed).
    """
    accounts_file = store.data_dir / "demo-accounts.txt"
    if accounts_file.exists():
        return _read_accounts(accounts_file), False
    with store.session() as s:
        holds_data = s.scalar(select(func.count()).select_from(Patient)) or s.scalar(
            select(func.count()).select_from(User))
    if holds_data:
        raise DemoError("this store already holds patients or accounts, so the demo is not loaded into it; "
                        "load it into a new data directory (--data-dir)")
    samples = samples or default_samples()
    manifest = samples / "manifest.csv"
    if not manifest.exists():
        raise DemoError(f"no sample_images/manifest.csv at {samples}; pass --samples PATH")
    rows = read_manifest(manifest)
    outcomes = run_import(store, rows)
    refused = [o for o in outcomes if o.status == "refused"]
    if refused:
        raise DemoError(f"{len(refused)} sample photos could not be imported, e.g. {refused[0].photo}: "
                        f"{refused[0].reason}")
    accounts = []
    provider_id = None
    for name, role, patient_ref in DEMO_USERS:
        password = secrets.token_urlsafe(9)
        patient_id = find_patient_id(store, SYSTEM, patient_ref) if patient_ref else None
        try:
            user_id = create_user(store, SYSTEM, name, password, role, patient_id)
        except InputError as exc:
            raise DemoError(f"cannot create the demo account {name!r}: {exc}") from None
        if role == "provider":
            provider_id = user_id
        accounts.append((name, role, password))
    for reference in sorted({row.patient for row in rows}):  # the demo's own patients only
        patient_id = find_patient_id(store, SYSTEM, reference)
        assign_patient(store, SYSTEM, provider_id, patient_id)
        record_consent(store, SYSTEM, patient_id)  # simulated patients: their research use is the demo's point
    fd = os.open(accounts_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("# Demo accounts of simulated patients. Not for real data.\n")
        f.writelines(f"{name}\t{role}\t{password}\n" for name, role, password in accounts)
    return accounts, True


def _read_accounts(path: Path) -> list[tuple[str, str, str]]:
    rows = []
    for line in path.read_text().splitlines():
        if line and not line.startswith("#"):
            name, role, password = line.split("\t")
            rows.append((name, role, password))
    return rows
