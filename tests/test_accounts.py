"""Accounts: argon2id passwords, per-source throttling, session expiry, sign-out, password changes, the audit
log, and logs free of personal data.

Every test runs on a real store (SQLite and PostgreSQL) with real argon2 hashing;
time passing is simulated by moving stored times back (``blocked_until``) or by
asking about a later moment (``actor_from_token(..., now=...)``).
"""

from __future__ import annotations

import logging
import statistics
import time
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher, Type, extract_parameters
from sqlalchemy import select

from tracker.analysis import decode_photo
from tracker.services import exports as export
from tracker import services as sv
from tracker.services.importer import read_manifest, run_import
from tracker.store.db import Store, open_store
from tracker.store.models import AuditEvent, AuthSession, Base, SignInThrottle, User
from tracker.web.report import patient_report_pdf, photos_needed

REPO = Path(__file__).resolve().parents[1]
MANIFEST = REPO / "sample_images" / "manifest.csv"
PHOTO = REPO / "sample_images" / "demo-ana" / "day-01_baseline.jpg"
REFERENCE, DISPLAY_NAME = "clinic-7731", "Maria Jansen-Berg"
NOTE = "Maria mentioned her sister Ingrid had keloids"
PASSWORDS = {  # user name: (role, password)
    "admin.root": ("admin", "Adm1n-sesame-seed"),
    "dr.hannah.weiss": ("provider", "Stethoscope-9-blue"),
    "r.okonkwo": ("researcher", "Pandas-and-parquet-4"),
    "maria.jansen": ("patient", "Tulips-in-April-77"),
}
WRONG = "Not-my-password-321"
UNKNOWN = "eve.intruder"
WRONG_OR_UNKNOWN = sv.SIGN_IN_FAILED
STRANGER, OWNER = "203.0.113.9", "198.51.100.7"  # documentation addresses (RFC 5737)


def create_clinic(store: Store) -> dict:
    """One patient with one photo, and an account of every role (the provider assigned to her)."""
    patient_id = sv.create_patient(store, sv.SYSTEM, REFERENCE, DISPLAY_NAME, "III")
    course_id = sv.add_course(store, sv.SYSTEM, patient_id, "fractional_co2", datetime(2026, 3, 2).date())
    photo_id = sv.add_photo(store, sv.SYSTEM, course_id, PHOTO.read_bytes(), datetime(2026, 3, 1)).photo_id
    users = {name: sv.create_user(store, sv.SYSTEM, name, pw, role, patient_id if role == "patient" else None)
             for name, (role, pw) in PASSWORDS.items()}
    sv.assign_patient(store, sv.SYSTEM, users["dr.hannah.weiss"], patient_id)
    return {"patient_id": patient_id, "course_id": course_id, "photo_id": photo_id, "users": users}


def user_row(store: Store, user_id: int) -> User:
    with store.session() as s:
        return s.get(User, user_id)


def database_text(store: Store) -> str:
    """Every value in every table, as one string to search."""
    with store.session() as s:
        return "\n".join(repr(tuple(row)) for table in Base.metadata.sorted_tables for row in s.execute(select(table)))


# --- passwords -----------------------------------------------------------------------------

def test_passwords_are_stored_only_as_argon2id_hashes(store):
    user_id = sv.create_user(store, sv.SYSTEM, "dr.hannah.weiss", PASSWORDS["dr.hannah.weiss"][1], "provider")
    stored = user_row(store, user_id).password_hash
    assert stored.startswith("$argon2id$")
    assert extract_parameters(stored).type is Type.ID
    assert PasswordHasher().verify(stored, PASSWORDS["dr.hannah.weiss"][1])
    token, _ = sv.sign_in(store, "dr.hannah.weiss", PASSWORDS["dr.hannah.weiss"][1])
    everything = database_text(store)
    assert PASSWORDS["dr.hannah.weiss"][1] not in everything
    assert token not in everything  # sessions are kept by the token's hash


def test_a_second_account_with_the_same_password_gets_a_different_hash(store):
    first = sv.create_user(store, sv.SYSTEM, "one", "Same-password-1", "researcher")
    second = sv.create_user(store, sv.SYSTEM, "two", "Same-password-1", "researcher")
    assert user_row(store, first).password_hash != user_row(store, second).password_hash


@pytest.mark.parametrize(("username", "password", "problem"), [
    ("someone", "short", "12 to 128 characters"),
    ("someone", "eleven char", "12 to 128 characters"),
    ("someone", "x" * 129, "12 to 128 characters"),
    ("", "Long-enough-1", "1 to 80 characters"),
    ("someone", "Long-enough-1", "Unknown role"),
])
def test_unusable_accounts_are_refused_in_one_sentence(sqlite_store, username, password, problem):
    role = "superuser" if problem == "Unknown role" else "researcher"
    with pytest.raises(sv.InputError, match=problem):
        sv.create_user(sqlite_store, sv.SYSTEM, username, password, role)
    assert sv.list_users(sqlite_store, sv.SYSTEM) == []


def test_wrong_password_and_unknown_user_are_refused_alike(store):
    sv.create_user(store, sv.SYSTEM, "dr.hannah.weiss", PASSWORDS["dr.hannah.weiss"][1], "provider")
    with pytest.raises(sv.AccessDenied) as wrong_password:
        sv.sign_in(store, "dr.hannah.weiss", WRONG)
    with pytest.raises(sv.AccessDenied) as unknown_user:
        sv.sign_in(store, UNKNOWN, WRONG)
    assert str(wrong_password.value) == str(unknown_user.value) == WRONG_OR_UNKNOWN


# --- throttling -----------------------------------------------------------------------------------

def fail(store: Store, name: str, times: int, source: str | None = None, password: str = WRONG) -> None:
    for _ in range(times):
        with pytest.raises(sv.AccessDenied) as refused:
            sv.sign_in(store, name, password, source)
        assert str(refused.value) == WRONG_OR_UNKNOWN


def throttle_rows(store: Store) -> list[SignInThrottle]:
    with store.session() as s:
        return list(s.scalars(select(SignInThrottle)))


def pass_the_back_off(store: Store) -> None:
    with store.session() as s:
        for row in s.scalars(select(SignInThrottle)):
            if row.blocked_until is not None:
                row.blocked_until = datetime.now().replace(microsecond=0) - timedelta(seconds=1)


def test_a_strangers_failures_never_lock_the_owner_out(store):
    """The attack: five anonymous wrong guesses used to lock any account, admins too, for 15 minutes."""
    name, password = "admin.root", PASSWORDS["admin.root"][1]
    user_id = sv.create_user(store, sv.SYSTEM, name, password, "admin")
    fail(store, name, sv.MAX_FAILED_SIGN_INS * 3, STRANGER)
    fail(store, name, 1, STRANGER, password)  # held back from the stranger's source, even with the password
    _, actor = sv.sign_in(store, name, password, OWNER)
    assert actor.user_id == user_id
    assert {u["username"]: u["locked"] for u in sv.list_users(store, sv.SYSTEM)} == {name: True}  # from somewhere


def test_back_off_doubles_per_failure_from_one_source_and_a_success_clears_it(store):
    name, password = "dr.hannah.weiss", PASSWORDS["dr.hannah.weiss"][1]
    sv.create_user(store, sv.SYSTEM, name, password, "provider")
    fail(store, name, sv.MAX_FAILED_SIGN_INS - 1, STRANGER)
    assert all(row.blocked_until is None for row in throttle_rows(store))
    def account_row() -> SignInThrottle:
        (row,) = [r for r in throttle_rows(store) if r.account_key != "*"]
        return row

    for step in range(4):
        fail(store, name, 1, STRANGER)
        row = account_row()
        assert row.failures == sv.MAX_FAILED_SIGN_INS + step
        assert row.blocked_until - row.last_failure_at == min(sv.BACKOFF_START * 2 ** step, sv.BACKOFF_MAX)
        fail(store, name, 3, STRANGER, password)  # refused unchecked, and not counted, while held back
        assert account_row().failures == row.failures
        pass_the_back_off(store)
    sv.sign_in(store, name, password, STRANGER)
    assert [r.account_key for r in throttle_rows(store)] == ["*"]  # the source's count of any name stays


def test_a_source_spraying_many_names_is_held_back_for_every_name(store):
    name, password = "r.okonkwo", PASSWORDS["r.okonkwo"][1]
    sv.create_user(store, sv.SYSTEM, name, password, "researcher")
    for i in range(sv.MAX_SOURCE_FAILURES):
        fail(store, f"guess-{i}", 1, STRANGER)
    fail(store, name, 1, STRANGER, password)
    sv.sign_in(store, name, password, OWNER)
    # Neither the names tried nor the sources are stored as text.
    everything = database_text(store)
    assert not any(value in everything for value in ("guess-1", STRANGER, OWNER))


def test_every_failure_reads_and_takes_the_same(sqlite_store):
    """Unknown name, disabled account, wrong password, held back: one message, the same argon2 work."""
    store = sqlite_store
    for name in ("active.user", "disabled.user", "held.user"):
        sv.create_user(store, sv.SYSTEM, name, "Correct-password-1", "researcher")
    sv.set_user_active(store, sv.SYSTEM, sv.list_users(store, sv.SYSTEM)[1]["id"], False)
    fail(store, "held.user", sv.MAX_FAILED_SIGN_INS, STRANGER)
    cases = {"unknown": ("nobody.here", "Correct-password-1"), "disabled": ("disabled.user", "Correct-password-1"),
             "wrong": ("active.user", WRONG), "held back": ("held.user", "Correct-password-1")}
    # The work is compared as this process's processor time: wall time also holds whatever else
    # the machine runs meanwhile (the other test worker's browser), which made this test flaky.
    timings = {case: [] for case in cases}
    for _ in range(5):
        for case, (name, password) in cases.items():
            started = time.process_time()
            with pytest.raises(sv.AccessDenied) as refused:
                sv.sign_in(store, name, password, OWNER if case != "held back" else STRANGER)
            timings[case].append(time.process_time() - started)
            assert str(refused.value) == WRONG_OR_UNKNOWN
    fastest = {case: min(times) for case, times in timings.items()}
    assert max(fastest.values()) < 1.5 * min(fastest.values()), fastest
    assert statistics.median(fastest.values()) > 0.01  # each is a real argon2 verification


def test_administrators_unlock_enable_unlocks_and_passwords_are_reset(store):
    clinic = create_clinic(store)
    name, password = "dr.hannah.weiss", PASSWORDS["dr.hannah.weiss"][1]
    user_id = clinic["users"][name]
    _, admin = sv.sign_in(store, "admin.root", PASSWORDS["admin.root"][1])

    fail(store, name, sv.MAX_FAILED_SIGN_INS)  # from the one source the command line and these tests share
    fail(store, name, 1, password=password)
    sv.unlock_user(store, admin, user_id)
    assert sv.sign_in(store, name, password)[1].user_id == user_id

    fail(store, name, sv.MAX_FAILED_SIGN_INS)
    sv.set_user_active(store, admin, user_id, True)  # "Enable" unlocks
    token, _ = sv.sign_in(store, name, password)

    sv.reset_password(store, admin, user_id, "A-brand-new-passphrase")
    with pytest.raises(sv.AccessDenied, match="session has ended"):
        sv.actor_from_token(store, token)  # a reset ends the account's sessions
    fail(store, name, 1, password=password)
    sv.sign_in(store, name, "A-brand-new-passphrase")
    with pytest.raises(sv.InputError, match="12 to 128 characters"):
        sv.reset_password(store, admin, user_id, "short")
    with store.session() as s:
        actions = [a for a in s.scalars(select(AuditEvent.action).where(AuditEvent.actor_id == admin.user_id))]
    assert {"user_unlock", "user_enable", "password_reset"} <= set(actions)


def test_everyone_changes_their_own_password_with_the_current_one(store):
    create_clinic(store)
    name, password = "maria.jansen", PASSWORDS["maria.jansen"][1]
    laptop, actor = sv.sign_in(store, name, password)
    phone, _ = sv.sign_in(store, name, password)
    with pytest.raises(sv.InputError, match="current password is not right"):
        sv.change_password(store, actor, WRONG, "Daffodils-in-March-88")
    with pytest.raises(sv.InputError, match="12 to 128"):
        sv.change_password(store, actor, password, "tulips")
    sv.change_password(store, actor, password, "Daffodils-in-March-88", keep_token=laptop)
    assert sv.actor_from_token(store, laptop) == actor  # this session goes on
    with pytest.raises(sv.AccessDenied):
        sv.actor_from_token(store, phone)  # every other one ends
    fail(store, name, 1, password=password)
    assert sv.sign_in(store, name, "Daffodils-in-March-88")[1] == actor


# --- sessions ----------------------------------------------------------------------------------------

def test_a_browsers_key_finds_its_session_on_any_replica_until_it_signs_out_anywhere(store):
    """Two stores on one database stand for two app replicas; the browser's cookie key finds the session on both."""
    name, password = "maria.jansen", PASSWORDS["maria.jansen"][1]
    create_clinic(store)
    url = None if store.dialect == "sqlite" else store.engine.url.render_as_string(hide_password=False)
    replica = open_store(store.data_dir, url)
    try:
        browser, other_browser = "key-of-marias-laptop", "key-of-a-stranger"
        assert sv.actor_from_browser(replica, browser) is None  # nothing bound yet: not signed in, no complaint
        token, actor = sv.sign_in(store, name, password, browser_key=browser)
        assert sv.actor_from_browser(replica, browser) == actor == sv.actor_from_token(replica, token)
        assert sv.actor_from_browser(replica, other_browser) is None
        with store.session() as s:
            assert browser not in {row.browser_key_hash for row in s.scalars(select(AuthSession))}  # only its hash

        again, _ = sv.sign_in(replica, name, password, browser_key=browser)  # one session per browser
        with pytest.raises(sv.AccessDenied):
            sv.actor_from_token(store, token)
        assert sv.actor_from_browser(store, browser) == actor

        sv.sign_out(replica, None, browser)
        assert sv.actor_from_browser(store, browser) is None
        with pytest.raises(sv.AccessDenied):
            sv.actor_from_token(store, again)
    finally:
        replica.close()


def test_a_browsers_session_ends_when_idle_and_says_so(store):
    name, password = "maria.jansen", PASSWORDS["maria.jansen"][1]
    create_clinic(store)
    _, actor = sv.sign_in(store, name, password, browser_key="laptop")
    late = session_start(store, actor.user_id) + sv.SESSION_IDLE + timedelta(seconds=1)
    with pytest.raises(sv.AccessDenied, match="session has ended"):
        sv.actor_from_browser(store, "laptop", now=late)
    assert sv.actor_from_browser(store, "laptop") is None  # deleted, not merely refused once


def test_changing_the_password_keeps_this_browsers_session_and_ends_the_others(store):
    create_clinic(store)
    name, password = "maria.jansen", PASSWORDS["maria.jansen"][1]
    _, actor = sv.sign_in(store, name, password, browser_key="laptop")
    phone, _ = sv.sign_in(store, name, password, browser_key="phone")
    tablet, _ = sv.sign_in(store, name, password)
    sv.change_password(store, actor, password, "Daffodils-in-March-88", keep_browser_key="laptop")
    assert sv.actor_from_browser(store, "laptop") == actor
    for token in (phone, tablet):
        with pytest.raises(sv.AccessDenied):
            sv.actor_from_token(store, token)
    assert sv.actor_from_browser(store, "phone") is None


def session_start(store: Store, token_owner: int) -> datetime:
    with store.session() as s:
        return max(s.scalars(select(AuthSession.created_at).where(AuthSession.user_id == token_owner)))


def test_a_session_gives_its_actor_until_it_has_been_idle_too_long(store):
    name, password = "dr.hannah.weiss", PASSWORDS["dr.hannah.weiss"][1]
    sv.create_user(store, sv.SYSTEM, name, password, "provider")
    token, actor = sv.sign_in(store, name, password)
    assert sv.actor_from_token(store, token) == actor
    start = session_start(store, actor.user_id)
    second = timedelta(seconds=1)

    used = start + sv.SESSION_IDLE - second  # use keeps it alive
    assert sv.actor_from_token(store, token, now=used) == actor
    assert sv.actor_from_token(store, token, now=used + sv.SESSION_IDLE - second) == actor
    with pytest.raises(sv.AccessDenied, match="session has ended"):
        sv.actor_from_token(store, token, now=used + sv.SESSION_IDLE - second + sv.SESSION_IDLE)
    with pytest.raises(sv.AccessDenied, match="session has ended"):  # ended for good, not just for that moment
        sv.actor_from_token(store, token, now=start + second)


def test_a_session_ends_after_its_maximum_length_however_busy(store):
    name, password = "dr.hannah.weiss", PASSWORDS["dr.hannah.weiss"][1]
    sv.create_user(store, sv.SYSTEM, name, password, "provider")
    token, actor = sv.sign_in(store, name, password)
    start = session_start(store, actor.user_id)
    step = sv.SESSION_IDLE / 2
    moment = start
    while moment + step < start + sv.SESSION_MAX:
        moment += step
        assert sv.actor_from_token(store, token, now=moment) == actor
    with pytest.raises(sv.AccessDenied, match="session has ended"):
        sv.actor_from_token(store, token, now=start + sv.SESSION_MAX)


@pytest.mark.parametrize("token", [None, "", "not-a-token-anyone-was-given"])
def test_no_token_or_a_made_up_one_gives_no_actor(sqlite_store, token):
    with pytest.raises(sv.AccessDenied, match="session has ended"):
        sv.actor_from_token(sqlite_store, token)


def test_signing_out_ends_that_session_only(store):
    name, password = "dr.hannah.weiss", PASSWORDS["dr.hannah.weiss"][1]
    sv.create_user(store, sv.SYSTEM, name, password, "provider")
    laptop, actor = sv.sign_in(store, name, password)
    phone, _ = sv.sign_in(store, name, password)
    sv.sign_out(store, laptop)
    with pytest.raises(sv.AccessDenied, match="session has ended"):
        sv.actor_from_token(store, laptop)
    assert sv.actor_from_token(store, phone) == actor


def test_a_disabled_account_cannot_sign_in_and_its_sessions_end(store):
    clinic = create_clinic(store)
    admin_token, admin = sv.sign_in(store, "admin.root", PASSWORDS["admin.root"][1])
    name, password = "maria.jansen", PASSWORDS["maria.jansen"][1]
    token, actor = sv.sign_in(store, name, password)
    assert actor.patient_id == clinic["patient_id"]

    sv.set_user_active(store, admin, actor.user_id, False)
    with pytest.raises(sv.AccessDenied, match="session has ended"):
        sv.actor_from_token(store, token)
    with store.session() as s:
        assert s.scalars(select(AuthSession).where(AuthSession.user_id == actor.user_id)).all() == []
    with pytest.raises(sv.AccessDenied) as refused:
        sv.sign_in(store, name, password)
    assert str(refused.value) == WRONG_OR_UNKNOWN  # a disabled account is not revealed either
    assert sv.actor_from_token(store, admin_token) == admin  # other people's sessions go on

    sv.set_user_active(store, admin, actor.user_id, True)
    assert sv.sign_in(store, name, password)[1] == actor


# --- the audit log ------------------------------------------------------------------------------------

def test_the_audit_log_records_sign_ins_views_and_exports_by_id_never_by_name(store):
    clinic = create_clinic(store)
    patient_id, photo_id, users = clinic["patient_id"], clinic["photo_id"], clinic["users"]
    actors = {name: sv.sign_in(store, name, pw)[1] for name, (_, pw) in PASSWORDS.items()}
    provider, patient, researcher = actors["dr.hannah.weiss"], actors["maria.jansen"], actors["r.okonkwo"]
    for username in ("dr.hannah.weiss", UNKNOWN):
        with pytest.raises(sv.AccessDenied):
            sv.sign_in(store, username, WRONG)
    sv.get_patient(store, provider, patient_id)
    sv.photo_bytes(store, provider, photo_id)
    sv.add_note(store, provider, patient_id, NOTE)
    sv.get_patient(store, patient, patient_id)
    sv.photo_bytes(store, patient, photo_id)
    sv.record_consent(store, patient, patient_id)
    export.export_table(store, researcher)

    with store.session() as s:
        events = [(e.action, e.actor_id, e.actor_role, e.patient_id, e.detail)
                  for e in s.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    by_action: dict[str, list] = {}
    for action, actor_id, role, pid, detail in events:
        by_action.setdefault(action, []).append((actor_id, role, pid, detail))
    assert sorted(by_action["sign_in"]) == sorted((users[n], role, None, "") for n, (role, _) in PASSWORDS.items())
    assert by_action["sign_in_failed"] == [(users["dr.hannah.weiss"], "provider", None, "wrong password"),
                                           (None, "anonymous", None, "unknown account")]
    assert by_action["patient_view"] == [(provider.user_id, "provider", patient_id, ""),
                                         (patient.user_id, "patient", patient_id, "")]
    assert by_action["photo_view"] == [(provider.user_id, "provider", patient_id, f"photo {photo_id}"),
                                       (patient.user_id, "patient", patient_id, f"photo {photo_id}")]
    assert by_action["consent_give"] == [(patient.user_id, "patient", patient_id, "text 2026-12")]
    assert by_action["export"] == [(researcher.user_id, "researcher", None,
                                    "1 rows, 0 patients left out without consent")]

    personal = [REFERENCE, DISPLAY_NAME, NOTE, UNKNOWN, WRONG, *PASSWORDS, *(pw for _, pw in PASSWORDS.values())]
    for event in events:
        for value in personal:
            assert value not in repr(event), (value, event)


# --- logs ----------------------------------------------------------------------------------------------

DEMO_NAMES = {"demo-ana": "Ana Lindqvist-Moreau", "demo-ben": "Benedikt Okafor-Straub"}


def test_no_personal_data_reaches_any_log(store, caplog, capsys, tmp_path, request):
    """A whole working day through the services, with every logger at DEBUG: no name, identifier,
    note, user name or password appears in a log record, on stdout or stderr, or in the
    PostgreSQL server's log."""
    server_log, server_log_start = None, 0
    if store.dialect == "postgresql":
        server_log = getattr(request.getfixturevalue("postgres_server"), "root", None)
        server_log = server_log / "log" if server_log else None
        server_log_start = server_log.stat().st_size if server_log and server_log.exists() else 0
    caplog.set_level(logging.DEBUG)
    url = store.engine.url.render_as_string(hide_password=False) if store.dialect == "postgresql" else None
    day = open_store(store.data_dir, url)  # opened under capture, so the migration check's logging is seen
    try:
        rows = [replace(row, name=DEMO_NAMES[row.patient]) for row in read_manifest(MANIFEST)]
        assert {o.status for o in run_import(day, rows, progress=lambda *_: None)} == {"imported"}
        ana, ben = (sv.find_patient_id(day, sv.SYSTEM, ref) for ref in DEMO_NAMES)
        users = {name: sv.create_user(day, sv.SYSTEM, name, pw, role, ana if role == "patient" else None)
                 for name, (role, pw) in PASSWORDS.items()}
        actors = {name: sv.sign_in(day, name, pw)[1] for name, (_, pw) in PASSWORDS.items()}
        admin, provider = actors["admin.root"], actors["dr.hannah.weiss"]
        patient, researcher = actors["maria.jansen"], actors["r.okonkwo"]

        with pytest.raises(sv.AccessDenied):
            sv.sign_in(day, UNKNOWN, WRONG)
        for _ in range(sv.MAX_FAILED_SIGN_INS + 1):
            with pytest.raises(sv.AccessDenied):
                sv.sign_in(day, "r.okonkwo", WRONG)
        sv.assign_patient(day, admin, users["dr.hannah.weiss"], ana)
        sv.list_users(day, admin)
        sv.list_patients(day, admin)
        with pytest.raises(sv.InputError):
            sv.create_patient(day, admin, "demo-ana", DEMO_NAMES["demo-ana"])

        sv.list_patients(day, provider)
        detail = sv.get_patient(day, provider, ana)
        sv.photo_bytes(day, provider, detail.courses[0].baseline_photo_id)
        sv.add_note(day, provider, ana, NOTE)
        sv.list_notes(day, provider, ana)
        with pytest.raises(sv.NotFound):
            sv.get_patient(day, provider, ben)
        with pytest.raises(sv.InputError):
            sv.set_regions(day, provider, detail.courses[0].id, (5000, 5000, 10, 10), None)

        token, _ = sv.sign_in(day, "maria.jansen", PASSWORDS["maria.jansen"][1])
        sv.get_patient(day, patient, ana)
        ben_photo = REPO / "sample_images" / "demo-ben" / "day07.jpg"  # not of this area: analysed, not aligned
        sv.add_photo(day, patient, detail.courses[0].id, ben_photo.read_bytes(), datetime(2026, 4, 2, 9))
        sv.sign_out(day, token)
        with pytest.raises(sv.AccessDenied):
            sv.actor_from_token(day, token)

        sv.record_consent(day, provider, ana)
        export.write_export(day, researcher, tmp_path / "export.csv", "csv")
        sv.withdraw_consent(day, provider, ana)
        sv.audit_log(day, admin)
        sv.set_user_active(day, admin, users["maria.jansen"], False)

        # Issue #13: throttled sign-ins, refusals, baselines, held and hidden photos, passwords, the report.
        for _ in range(sv.MAX_FAILED_SIGN_INS + 1):
            with pytest.raises(sv.AccessDenied):
                sv.sign_in(day, "dr.hannah.weiss", WRONG, "203.0.113.9")
        sv.unlock_user(day, admin, users["dr.hannah.weiss"])
        sv.reset_password(day, admin, users["r.okonkwo"], "A-new-research-passphrase")
        sv.change_password(day, provider, PASSWORDS["dr.hannah.weiss"][1], "A-new-provider-passphrase")
        with pytest.raises(sv.NotFound):
            sv.photo_bytes(day, provider, 10**6)
        with pytest.raises(sv.AccessDenied):
            sv.list_notes(day, researcher, ana)
        course = detail.courses[0]
        sv.set_baseline(day, provider, course.id, course.baseline_photo_id)
        sv.set_user_active(day, admin, users["maria.jansen"], True)
        held = sv.add_photo(day, patient, course.id, ben_photo.read_bytes(), datetime(2019, 1, 1, 9))
        sv.hide_photo(day, provider, held.photo_id)
        sv.unhide_photo(day, provider, held.photo_id)
        detail = sv.get_patient(day, provider, ana)
        photos = {i: decode_photo(sv.photo_bytes(day, provider, i)).rgb for i in photos_needed(detail)}
        patient_report_pdf(detail, sv.list_notes(day, provider, ana), photos, prepared_by=provider.username)
    finally:
        day.close()

    assert any(r.name.startswith("alembic") for r in caplog.records)  # the capture does see library logging
    assert logging.getLogger("tracker.services").isEnabledFor(logging.DEBUG)
    captured = capsys.readouterr()
    logged = "\n".join([caplog.text, captured.out, captured.err]
                       + [f"{r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records])
    personal = [*DEMO_NAMES, *DEMO_NAMES.values(), NOTE, UNKNOWN, WRONG, *PASSWORDS,
                *(pw for _, pw in PASSWORDS.values()), "A-new-research-passphrase", "A-new-provider-passphrase",
                "203.0.113.9"]
    assert [value for value in personal if value in logged] == []
    if server_log is not None and server_log.exists():
        with server_log.open("rb") as f:
            f.seek(server_log_start)
            written = f.read().decode(errors="replace")
        unique_to_this_test = [*DEMO_NAMES.values(), NOTE, UNKNOWN, WRONG, *(pw for _, pw in PASSWORDS.values())]
        assert [value for value in unique_to_this_test if value in written] == []
