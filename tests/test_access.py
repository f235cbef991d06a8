"""Access control: every role against every read and write of the service functions.

The demo manifest (two simulated patients, 17 real photos) is imported once per
database backend, with one account per role, all signed in through the real
``sign_in``. Reads and refused calls run on one shared copy of that store;
every allowed write runs on a fresh copy (a file copy for SQLite, ``CREATE
DATABASE ... TEMPLATE`` for PostgreSQL), so no case sees another's writes.

A refused call must change nothing at all (rows, photo files, files written) but
add the one audit event that records the refusal (actor, function, ids, reason),
and must refuse a record that does not exist in exactly the same words as one
that is not the caller's, so refusals do not reveal existence.

An allowed call's result is checked against truth kept apart from the services: the
manifest and the simulation truth in ``sample_images/``, the sample files' pixels,
SQL reads of the store and figures worked out by hand from them.
"""

from __future__ import annotations

import hashlib
import inspect
import io
import itertools
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from skimage import data as samples
from skimage.color import rgb2lab
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from tracker.services import exports as export
from tracker import services as sv
from tracker.analysis import AnalysisResult
from tracker.services.consent import CURRENT_CONSENT_VERSION
from tracker.services.importer import read_manifest, run_import
from tracker.store.db import Store, open_store
from tracker.store.models import Analysis, AuditEvent, Base, Course, Patient, Photo, ProviderAssignment
from truth import (
    MANIFEST,
    SAMPLES,
    TRUTH,
    apply_homography,
    manifest_rows,
    photo_day,
    redness_tolerance,
    sample_pixels,
    stored_results,
    treated_on,
)

DISPLAY_NAMES = {"demo-ana": "Ana Example-Lindqvist", "demo-ben": "Ben Example-Okafor"}
TREATMENT = {"demo-ana": "fractional_co2", "demo-ben": "non_ablative_fractional"}
ACCOUNTS = {  # user name: (role, linked patient)
    "admin": ("admin", None),
    "provider-a": ("provider", None),
    "provider-b": ("provider", None),
    "researcher": ("researcher", None),
    "ana": ("patient", "demo-ana"),
    "ben": ("patient", "demo-ben"),
}
ASSIGNED = {"provider-a": ["demo-ana"], "provider-b": []}
NOTES = {"demo-ana": "Ana Example-Lindqvist reacted to lidocaine last time",
         "demo-ben": "Ben Example-Okafor prefers morning appointments"}
NEW_ROI, NEW_CONTROL = (400, 340, 80, 80), (491, 477, 48, 36)

STATUS = {"demo-ana": "on_track", "demo-ben": "review"}  # what the tracker should say (sample_images/README.md)


def box(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in text.split(","))


def password(username: str) -> str:
    return f"{username} correct horse 42"


# --- the demo world ---------------------------------------------------------------------

@dataclass(frozen=True)
class Target:
    """What a case acts on: a demo patient's record and account (GHOST's ids exist nowhere)."""

    reference: str
    patient_id: int
    course_id: int
    photo_id: int  # the course baseline
    photos: int
    user_id: int  # the patient's own account


GHOST = Target("no-such-patient", 10**6, 10**6, 10**6, 0, 10**6)


@dataclass
class World:
    """An open store holding the demo, with its accounts signed in."""

    store: Store
    actors: dict[str, sv.Actor]  # by user name, plus "system"
    tokens: dict[str, str]
    patients: dict[str, Target]  # by reference
    scratch: Path  # where export files are written


@dataclass
class Template:
    """The demo as built once per backend; worlds are copies of it."""

    root: Path
    url: str | None
    actors: dict[str, sv.Actor]
    tokens: dict[str, str]
    patients: dict[str, Target]

    def copy(self, name: str) -> World:
        data_dir = self.root / name
        data_dir.mkdir()
        for item in (self.root / "template").iterdir():
            if item.name == "photos":  # stored atomically and never rewritten: links are safe
                shutil.copytree(item, data_dir / "photos", copy_function=os.link)
            elif item.is_file():
                shutil.copy2(item, data_dir / item.name)
        url = None
        if self.url:
            source = make_url(self.url)
            url = source.set(database=f"{source.database}_{name}").render_as_string(hide_password=False)
            _pg_admin(self.url, f'CREATE DATABASE "{make_url(url).database}" TEMPLATE "{source.database}"')
        scratch = self.root / f"{name}-files"
        scratch.mkdir()
        return World(open_store(data_dir, url, upgrade=False), self.actors, self.tokens, self.patients, scratch)

    def discard(self, world: World) -> None:
        world.store.close()
        shutil.rmtree(world.store.data_dir)
        shutil.rmtree(world.scratch)
        if self.url:
            _pg_admin(self.url, f'DROP DATABASE "{world.store.engine.url.database}"')


def _pg_admin(url: str, statement: str) -> None:
    engine = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(statement))
    finally:
        engine.dispose()


def _ids_in_store(store: Store, reference: str) -> tuple[int, int, int]:
    """Patient, course and baseline (earliest) photo ids, read with SQL rather than through the services."""
    with store.session() as s:
        patient_id = s.scalar(select(Patient.id).where(Patient.reference == reference))
        (course_id,) = s.scalars(select(Course.id).where(Course.patient_id == patient_id)).all()
        photo_id = s.scalar(select(Photo.id).where(Photo.course_id == course_id).order_by(Photo.taken_at, Photo.id)
                            .limit(1))
    return patient_id, course_id, photo_id


def _build_demo(store: Store) -> dict:
    rows = [replace(row, name=DISPLAY_NAMES[row.patient]) for row in read_manifest(SAMPLES / "manifest.csv")]
    assert [o.status for o in run_import(store, rows)] == ["imported"] * len(MANIFEST)
    patient_ids = {ref: _ids_in_store(store, ref)[0] for ref in DISPLAY_NAMES}

    sv.create_user(store, sv.SYSTEM, "admin", password("admin"), "admin")  # as `tracker` bootstraps it
    tokens, actors = {}, {"system": sv.SYSTEM}
    tokens["admin"], actors["admin"] = sv.sign_in(store, "admin", password("admin"))
    for username, (role, patient) in ACCOUNTS.items():
        if username != "admin":
            sv.create_user(store, actors["admin"], username, password(username), role,
                           patient_ids[patient] if patient else None)
        tokens[username], actors[username] = sv.sign_in(store, username, password(username))
    for provider, refs in ASSIGNED.items():
        for ref in refs:
            sv.assign_patient(store, actors["admin"], actors[provider].user_id, patient_ids[ref])
    sv.add_note(store, actors["provider-a"], patient_ids["demo-ana"], NOTES["demo-ana"])
    sv.add_note(store, sv.SYSTEM, patient_ids["demo-ben"], NOTES["demo-ben"])
    for patient_id in patient_ids.values():  # both consent to research use
        sv.record_consent(store, sv.SYSTEM, patient_id)

    patients = {}
    for ref in DISPLAY_NAMES:
        account = next(u for u, (_, linked) in ACCOUNTS.items() if linked == ref)
        patients[ref] = Target(ref, *_ids_in_store(store, ref), len(manifest_rows(ref)), actors[account].user_id)
    assert {ref: t.photos for ref, t in patients.items()} == {"demo-ana": 8, "demo-ben": 9}
    return {"actors": actors, "tokens": tokens, "patients": patients}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def template(request, tmp_path_factory) -> Template:
    url = request.getfixturevalue("postgres_server").new_database() if request.param == "postgresql" else None
    root = tmp_path_factory.mktemp(f"access-{request.param}")
    store = open_store(root / "template", url)
    try:
        built = _build_demo(store)
    finally:
        store.close()  # PostgreSQL copies a template only while no one is connected to it
    return Template(root, url, **built)


@pytest.fixture(scope="module")
def shared(template):
    """One copy for reads and refusals (which the tests check change nothing)."""
    world = template.copy("shared")
    yield world
    template.discard(world)


_copies = itertools.count()


@pytest.fixture
def fresh(template):
    """A copy of its own, for an allowed write."""
    world = template.copy(f"w{next(_copies)}")
    yield world
    template.discard(world)


def snapshot(world: World) -> dict:
    """Everything a call could change: every row of every table, the photo files, files written."""
    state = {}
    with world.store.session() as s:
        for table in Base.metadata.sorted_tables:
            state[table.name] = [tuple(row) for row in s.execute(select(table).order_by(*table.primary_key))]
    state["photo files"] = world.store.photos.hashes()
    state["files written"] = sorted(p.name for p in world.scratch.iterdir())
    return state


def assert_only_the_refusal_was_recorded(before: dict, after: dict, actor: sv.Actor, name: str,
                                         reason: str) -> None:
    """Nothing changed but one new audit event: the refusal, with its actor, function and reason."""
    events = before.pop("audit_events"), after.pop("audit_events")
    assert after == before, "a refused call changed something"
    new = events[1][len(events[0]):]
    assert events[1][:len(events[0])] == events[0] and len(new) == 1, new
    _, _, actor_id, role, action, _, detail, _ = new[0]
    assert (action, actor_id, role) == ("refused", actor.user_id, actor.role)
    assert detail.startswith(f"{name} ") and detail.endswith(f"reason: {reason}"), detail


def last_event(world: World) -> dict:
    with world.store.session() as s:
        event = s.scalar(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1))
        return {"action": event.action, "actor_id": event.actor_id, "role": event.actor_role,
                "patient_id": event.patient_id, "detail": event.detail}


@cache
def astronaut_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(samples.astronaut()).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def refs(summaries) -> list[str]:
    return sorted(p.reference for p in summaries)


# --- the operations: how each is called, and what an allowed call must give ----------------------

@dataclass(frozen=True)
class Operation:
    """A call of one service function on a target, and the check of an allowed call's result."""

    call: Callable[[World, sv.Actor, Target], Any]
    check: Callable[[World, sv.Actor, Target, Any], None]
    writes: bool


def not_found_if_none(value):
    """``find_patient_id`` says "not found" with None: the same answer for absent and not visible."""
    if value is None:
        raise sv.NotFound("none")
    return value


def check_clinical_summary(w, summary) -> None:
    """A patient's row of the list, against the manifest, the simulation and the stored analyses."""
    ref = summary.reference
    rows = manifest_rows(ref)
    assert (summary.display_name, summary.skin_type, summary.treatments) == (DISPLAY_NAMES[ref], rows[0]["skin_type"],
                                                                             (TREATMENT[ref],))
    assert summary.status == STATUS[ref]
    assert summary.photos == len(rows)
    assert summary.last_photo_at.date() == date.fromisoformat(rows[-1]["taken_on"])
    assert summary.days_since_treatment == (date.today() - treated_on(ref)).days
    # The change of redness between the two latest photos (the baseline's own Δa* cancels).
    *_, before, last = (result["metrics"]["redness_delta_a"] for result in stored_results(w.store, ref).values())
    assert summary.trend == pytest.approx(last - before, abs=1e-9)
    assert len(summary.reasons) == 1 and summary.reasons[0]


def check_list_patients(w, actor, t, result):
    if actor.role == "admin":  # names to manage assignments, nothing clinical
        assert refs(result) == ["demo-ana", "demo-ben"]
        assert {p.reference: p.display_name for p in result} == DISPLAY_NAMES
        for p in result:
            assert (p.status, p.skin_type, p.treatments, p.photos, p.trend, p.reasons, p.last_photo_at,
                    p.days_since_treatment) == ("not_assessed", None, (), 0, None, (), None, None)
        return
    if actor.role == "system":
        expected = ["demo-ana", "demo-ben"]
    else:
        expected = ASSIGNED[actor.username] if actor.role == "provider" else [ACCOUNTS[actor.username][1]]
    assert refs(result) == expected
    for summary in result:
        check_clinical_summary(w, summary)


def check_get_patient(w, actor, t, result):
    rows = manifest_rows(t.reference)
    assert (result.id, result.reference, result.display_name) == (t.patient_id, t.reference,
                                                                  DISPLAY_NAMES[t.reference])
    assert result.skin_type == rows[0]["skin_type"]
    (course,) = result.courses
    assert (course.id, course.treatment, course.baseline_photo_id) == (t.course_id, TREATMENT[t.reference],
                                                                      t.photo_id)
    assert course.sessions == (date.fromisoformat(rows[0]["treated_on"]),)
    assert (course.roi, course.control) == (box(rows[0]["roi"]), box(rows[0]["control"]))
    assert [pt.taken_at.date().isoformat() for pt in course.progress.points] == [r["taken_on"] for r in rows]
    assert course.progress.status == STATUS[t.reference]
    assert last_event(w) == {"action": "patient_view", "actor_id": actor.user_id, "role": actor.role,
                             "patient_id": t.patient_id, "detail": ""}


def check_photo_bytes(w, actor, t, result):
    with w.store.session() as s:
        assert hashlib.sha256(result).hexdigest() == s.get(Photo, t.photo_id).content_hash
    # Stored without its metadata, the baseline keeps the pixels of the file it was imported from.
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(result)).convert("RGB")),
                          sample_pixels(manifest_rows(t.reference)[0]["photo"]))
    assert last_event(w) == {"action": "photo_view", "actor_id": actor.user_id, "role": actor.role,
                             "patient_id": t.patient_id, "detail": f"photo {t.photo_id}"}


def check_list_notes(w, actor, t, result):
    assert [(n["text"], n["author"]) for n in result] == [(NOTES["demo-ana"], "provider-a")]


def check_list_users(w, actor, t, result):
    users = {u["username"]: u for u in result}
    assert set(users) == set(ACCOUNTS)
    for username, (role, patient) in ACCOUNTS.items():
        u = users[username]
        assert (u["id"], u["role"], u["active"], u["locked"]) == (w.actors[username].user_id, role, True, False)
        assert u["patient_id"] == (w.patients[patient].patient_id if patient else None)
    assert users["provider-a"]["assigned_patients"] == [w.patients["demo-ana"].patient_id]
    assert users["provider-b"]["assigned_patients"] == []
    assert not any("argon2" in str(value) for u in result for value in u.values())


def check_audit_log(w, actor, t, result):
    signed_in = {e["actor_id"] for e in result if e["action"] == "sign_in"}
    assert signed_in == {w.actors[u].user_id for u in ACCOUNTS}
    imported = {e["patient_id"] for e in result if e["action"] == "patient_add" and e["role"] == "system"}
    assert imported == {t.patient_id for t in w.patients.values()}
    assert [e["at"] for e in result] == sorted((e["at"] for e in result), reverse=True)


def assert_deidentified(table: pd.DataFrame) -> None:
    assert len(table) == len(MANIFEST)
    assert list(table.columns) == export.column_order()
    assert table["patient_pseudonym"].nunique() == 2
    cells = table.to_csv(index=False)
    for secret in [*DISPLAY_NAMES, *DISPLAY_NAMES.values(), *NOTES.values(), "demo", "Example"]:
        assert secret not in cells
    # Each pseudonymous course is one demo patient's, figure for figure.
    for _, course in table.groupby("course_pseudonym"):
        (treatment,) = set(course["treatment"])
        ref = next(r for r, t in TREATMENT.items() if t == treatment)
        rows = manifest_rows(ref)
        course = course.sort_values("days_since_treatment")
        assert list(course["days_since_treatment"]) == [photo_day(r) for r in rows]
        assert set(course["skin_type"]) == {rows[0]["skin_type"]} and set(course["course_status"]) == {STATUS[ref]}
        truth = [TRUTH[r["photo"]] for r in rows]
        assert list(course["quality_ok"]) == [t["expected_quality"] == "pass" for t in truth]
        base = course["redness_delta_a"].iloc[0]
        for (_, row), t in zip(course.iterrows(), truth):
            assert row["excess_redness"] == pytest.approx(row["redness_delta_a"] - base, abs=1e-4)
            added = float(t["true_delta_a_added"])
            if t["expected_quality"] == "pass":
                assert abs(row["excess_redness"] - added) <= redness_tolerance(added), t["photo"]


def check_export_table(w, actor, t, result):
    assert_deidentified(result)
    assert last_event(w) == {"action": "export", "actor_id": actor.user_id, "role": actor.role,
                             "patient_id": None, "detail": "17 rows, 0 patients left out without consent"}


def check_research_export(w, actor, t, result):
    check_export_table(w, actor, t, result.table)
    assert result.patients_left_out == 0


def check_consent_status(w, actor, t, result):
    assert (result.consenting, result.text_version, result.withdrawn_at) == (True, CURRENT_CONSENT_VERSION, None)


def check_record_consent(w, actor, t, result):
    assert sv.consent_status(w.store, sv.SYSTEM, t.patient_id).consenting
    assert last_event(w) == {"action": "consent_give", "actor_id": actor.user_id, "role": actor.role,
                             "patient_id": t.patient_id, "detail": f"text {CURRENT_CONSENT_VERSION}"}


def check_withdraw_consent(w, actor, t, result):
    status = sv.consent_status(w.store, sv.SYSTEM, t.patient_id)
    assert not status.consenting and status.withdrawn_at is not None
    assert last_event(w) == {"action": "consent_withdraw", "actor_id": actor.user_id, "role": actor.role,
                             "patient_id": t.patient_id, "detail": f"text {CURRENT_CONSENT_VERSION}"}
    assert export.research_export(w.store, sv.SYSTEM).patients_left_out == 1


def check_grade_photo(w, actor, t, result):
    assert last_event(w) == {"action": "grade_add", "actor_id": actor.user_id, "role": actor.role,
                             "patient_id": t.patient_id, "detail": f"photo {t.photo_id} scale cea"}
    grade = sv.get_patient(w.store, sv.SYSTEM, t.patient_id).courses[0].grades[t.photo_id].grades["cea"]
    assert (grade.score, grade.scale_version, grade.items) == (2.0, "1", {"grade": 2})


def check_answer_questionnaire(w, actor, t, result):
    assert last_event(w) == {"action": "questionnaire_answer", "actor_id": actor.user_id, "role": actor.role,
                             "patient_id": t.patient_id, "detail": f"photo {t.photo_id}"}
    recorded = sv.get_patient(w.store, sv.SYSTEM, t.patient_id).courses[0].grades[t.photo_id]
    assert recorded.answers == {"pain": 3, "usual_activities": True}


def check_erase_patient(w, actor, t, result):
    assert sv.find_patient_id(w.store, sv.SYSTEM, t.reference) is None
    assert (result.photos, result.accounts) == (t.photos, 1)
    with w.store.session() as s:
        left = set(s.scalars(select(Photo.content_hash)))
        assert s.get(Patient, t.patient_id) is None
    assert w.store.photos.hashes() == left
    assert last_event(w) == {"action": "patient_erase", "actor_id": actor.user_id, "role": actor.role,
                             "patient_id": None, "detail": f"{t.photos} photos, 1 accounts"}


def check_write_export(w, actor, t, result):
    rows, dictionary, left_out = result
    assert left_out == 0
    assert rows == len(MANIFEST)
    written = w.scratch / f"{actor.role}.csv"
    table = pd.read_csv(written)
    assert list(pd.read_csv(dictionary)["column"]) == list(table.columns)  # every column written is described
    assert_deidentified(table)
    assert not any(secret in written.read_text() for secret in [*DISPLAY_NAMES, *DISPLAY_NAMES.values()])


def check_find_patient_id(w, actor, t, result):
    assert result == t.patient_id  # read with SQL by _ids_in_store


def check_create_user(w, actor, t, result):
    users = {u["username"]: u for u in sv.list_users(w.store, sv.SYSTEM)}
    assert (users["new-researcher"]["id"], users["new-researcher"]["role"]) == (result, "researcher")
    _, signed_in = sv.sign_in(w.store, "new-researcher", password("new-researcher"))
    assert (signed_in.user_id, signed_in.role) == (result, "researcher")


def check_create_patient(w, actor, t, result):
    detail = sv.get_patient(w.store, sv.SYSTEM, result)
    assert (detail.reference, detail.display_name, detail.skin_type) == ("new-patient", "New Patient", "IV")
    with w.store.session() as s:
        providers = set(s.scalars(select(ProviderAssignment.provider_id)
                                  .where(ProviderAssignment.patient_id == result)))
    assert providers == ({actor.user_id} if actor.role == "provider" else set())
    if actor.role == "provider":  # who registers a patient looks after them
        assert "new-patient" in refs(sv.list_patients(w.store, actor))


def course_of(w, t, course_id):
    detail = sv.get_patient(w.store, sv.SYSTEM, t.patient_id)
    return next(c for c in detail.courses if c.id == course_id)


def check_add_course(w, actor, t, result):
    course = course_of(w, t, result)
    assert (course.treatment, course.area, course.sessions) == ("non_ablative_fractional", "left forearm",
                                                                (date(2026, 5, 4),))
    assert result != t.course_id


def check_add_session(w, actor, t, result):
    assert date(2026, 4, 27) in course_of(w, t, t.course_id).sessions
    assert len(course_of(w, t, t.course_id).sessions) == 2


def check_add_photo(w, actor, t, result):
    assert (result.created, result.is_baseline) == (True, False)
    assert t.reference == "demo-ana"  # every allowed case adds to Ana's course
    # Ana's frame is (163, 0, 1024, 768) of the astronaut enlarged 3 times (sample_images/make_samples.py):
    # astronaut pixel x lands on baseline pixel 3 x + 1 - 163 (pixel centres), y on 3 y + 1.
    truth = np.array([[3.0, 0, 1 - 163], [0, 3.0, 1], [0, 0, 1]])
    points = np.array([[100.0, 50.0], [300.0, 60.0], [200.0, 200.0], [380.0, 240.0]])
    assert result.analysis.ok, result.analysis.error
    error = np.hypot(*(apply_homography(result.analysis.matrix, points) - apply_homography(truth, points)).T)
    assert error.max() < 1.0, error
    # The treated area is 75 baseline pixels wide: 25 in the astronaut, too few for the quality gate.
    assert result.analysis.quality_ok is False
    assert any("25 pixels across" in issue for issue in result.analysis.quality_issues)
    with w.store.session() as s:
        photo = s.get(Photo, result.photo_id)
        assert (photo.course_id, photo.width, photo.height) == (t.course_id, 512, 512)
        assert photo.taken_at == datetime(2026, 4, 20, 9, 0)
    assert last_event(w) == {"action": "photo_add", "actor_id": actor.user_id, "role": actor.role,
                             "patient_id": t.patient_id, "detail": f"photo {result.photo_id}"}


def mean_a_star(rgb: np.ndarray, region: tuple[int, int, int, int]) -> float:
    x, y, width, height = region
    return float(rgb2lab(rgb[y:y + height, x:x + width])[..., 1].mean())


def check_set_regions(w, actor, t, result):
    course = course_of(w, t, t.course_id)
    assert (course.roi, course.control) == (NEW_ROI, NEW_CONTROL)
    assert len(course.progress.points) == t.photos
    # Measured again in the new box: the baseline's mean a* there, by skimage (0.26 a* from the old box's).
    baseline = sample_pixels(manifest_rows(t.reference)[0]["photo"])
    measured = course.progress.points[0].result
    assert measured.metric("redness_a") == pytest.approx(mean_a_star(baseline, NEW_ROI), abs=0.1)
    assert measured.metric("redness_delta_a") == pytest.approx(
        mean_a_star(baseline, NEW_ROI) - mean_a_star(baseline, NEW_CONTROL), abs=0.1)


def check_refresh_analyses(w, actor, t, result):
    assert len(result) == t.photos and all(isinstance(r, AnalysisResult) for r in result.values())
    with w.store.session() as s:
        taken = dict(s.execute(select(Photo.id, Photo.taken_at).where(Photo.course_id == t.course_id)).all())
    assert set(result) == set(taken)
    by_date = {taken[photo_id].date().isoformat(): r for photo_id, r in result.items()}
    rows = manifest_rows(t.reference)
    baseline = by_date[rows[0]["taken_on"]]
    assert baseline.alignment_rmse_px == 0.0 and result[t.photo_id] is baseline  # measured as itself
    for row in rows:
        r, truth = by_date[row["taken_on"]], TRUTH[row["photo"]]
        assert r.ok, (row["photo"], r.error)
        assert r.quality_ok is (truth["expected_quality"] == "pass"), row["photo"]
        if r.quality_ok:  # the simulated redness, recovered from the photo
            added = float(truth["true_delta_a_added"])
            change = r.metric("redness_delta_a") - baseline.metric("redness_delta_a")
            assert abs(change - added) <= redness_tolerance(added), (row["photo"], change, added)


def check_add_note(w, actor, t, result):
    notes = sv.list_notes(w.store, sv.SYSTEM, t.patient_id)
    assert (notes[0]["id"], notes[0]["text"]) == (result, "Healing well, review in two weeks")
    assert notes[0]["author"] == (actor.username if actor.user_id else "-")


def check_assign_patient(w, actor, t, result):
    assert refs(sv.list_patients(w.store, w.actors["provider-b"])) == [t.reference]


def check_unassign_patient(w, actor, t, result):
    assert refs(sv.list_patients(w.store, w.actors["provider-a"])) == []


def check_set_user_active(w, actor, t, result):
    users = {u["id"]: u for u in sv.list_users(w.store, sv.SYSTEM)}
    assert users[t.user_id]["active"] is False
    with pytest.raises(sv.AccessDenied, match="Wrong user name or password"):
        sv.sign_in(w.store, "ana", password("ana"))
    with pytest.raises(sv.AccessDenied):
        sv.actor_from_token(w.store, w.tokens["ana"])


def check_record_photo(w, actor, t, result):
    assert (result.status, result.course_id) == ("imported", t.course_id)
    assert last_event(w) == {"action": "photo_add", "actor_id": None, "role": "system", "patient_id": t.patient_id,
                             "detail": f"photo {result.photo_id} import"}
    course = course_of(w, t, t.course_id)
    assert result.photo_id in {pt.photo_id for pt in course.progress.points}
    assert len(course.progress.points) == t.photos + 1


def photo_ids(w, t) -> list[int]:
    """The target course's photo ids in the order taken, read with SQL (GHOST's photo for GHOST)."""
    with w.store.session() as s:
        ids = s.scalars(select(Photo.id).where(Photo.course_id == t.course_id).order_by(Photo.taken_at, Photo.id))
        return list(ids) or [t.photo_id, t.photo_id]


def second_photo(w, t) -> int:
    """The photo taken after the baseline."""
    return photo_ids(w, t)[1]


def latest_photo(w, t) -> int:
    return photo_ids(w, t)[-1]


def check_set_baseline(w, actor, t, result):
    chosen = second_photo(w, t)
    course = course_of(w, t, t.course_id)
    assert (course.baseline_photo_id, course.baseline_confirmed) == (chosen, True)
    assert [pt.photo_id for pt in course.progress.points][0] == chosen and len(course.progress.points) == t.photos - 1
    with w.store.session() as s:  # every photo measured again against the new baseline
        hashes = set(s.scalars(select(Analysis.baseline_hash).join(Photo, Photo.id == Analysis.photo_id)
                               .where(Photo.course_id == t.course_id, Photo.id != t.photo_id)))
        assert s.get(Photo, chosen).content_hash in hashes
    events = [e for e in sv.audit_log(w.store, sv.SYSTEM) if e["action"] == "baseline_set"]
    assert (events[0]["actor_id"], events[0]["detail"]) == (actor.user_id, f"course {t.course_id} photo {chosen}")


def check_hide_photo(w, actor, t, result):
    hidden = latest_photo(w, t)
    assert last_event(w) == {"action": "photo_hide", "actor_id": actor.user_id, "role": actor.role,
                             "patient_id": t.patient_id, "detail": f"photo {hidden}"}
    course = course_of(w, t, t.course_id)
    assert hidden not in [pt.photo_id for pt in course.progress.points]
    assert {p.id: p.state for p in course.photos}[hidden] == "hidden" and len(course.photos) == t.photos


def check_unhide_photo(w, actor, t, result):
    photo = latest_photo(w, t)
    assert last_event(w) == {"action": "photo_unhide", "actor_id": actor.user_id, "role": actor.role,
                             "patient_id": t.patient_id, "detail": f"photo {photo}"}
    assert photo in [pt.photo_id for pt in course_of(w, t, t.course_id).progress.points]


def check_unlock_user(w, actor, t, result):
    assert {u["id"]: u["locked"] for u in sv.list_users(w.store, sv.SYSTEM)}[t.user_id] is False
    assert last_event(w)["action"] == "user_unlock" and last_event(w)["detail"] == f"user {t.user_id}"
    assert sv.sign_in(w.store, "ana", password("ana"))[1].user_id == t.user_id


def check_reset_password(w, actor, t, result):
    with pytest.raises(sv.AccessDenied):
        sv.sign_in(w.store, "ana", password("ana"))
    with pytest.raises(sv.AccessDenied):
        sv.actor_from_token(w.store, w.tokens["ana"])
    assert sv.sign_in(w.store, "ana", "ana's new passphrase")[1].user_id == t.user_id


def check_change_password(w, actor, t, result):
    with pytest.raises(sv.AccessDenied):
        sv.sign_in(w.store, actor.username, password(actor.username))
    assert sv.sign_in(w.store, actor.username, f"{actor.username}'s new passphrase")[1] == actor


OPERATIONS: dict[str, Operation] = {
    # reads
    "list_patients": Operation(lambda w, a, t: sv.list_patients(w.store, a), check_list_patients, False),
    "get_patient": Operation(lambda w, a, t: sv.get_patient(w.store, a, t.patient_id), check_get_patient, False),
    "photo_bytes": Operation(lambda w, a, t: sv.photo_bytes(w.store, a, t.photo_id), check_photo_bytes, False),
    "list_notes": Operation(lambda w, a, t: sv.list_notes(w.store, a, t.patient_id), check_list_notes, False),
    "find_patient_id": Operation(lambda w, a, t: not_found_if_none(sv.find_patient_id(w.store, a, t.reference)),
                                 check_find_patient_id, False),
    "list_users": Operation(lambda w, a, t: sv.list_users(w.store, a), check_list_users, False),
    "audit_log": Operation(lambda w, a, t: sv.audit_log(w.store, a), check_audit_log, False),
    "export_table": Operation(lambda w, a, t: export.export_table(w.store, a), check_export_table, False),
    "research_export": Operation(lambda w, a, t: export.research_export(w.store, a), check_research_export, False),
    "consent_status": Operation(lambda w, a, t: sv.consent_status(w.store, a, t.patient_id), check_consent_status,
                                False),
    "write_export": Operation(lambda w, a, t: export.write_export(w.store, a, w.scratch / f"{a.role}.csv", "csv"),
                              check_write_export, False),
    "refresh_analyses": Operation(lambda w, a, t: sv.refresh_analyses(w.store, a, t.course_id),
                                  check_refresh_analyses, False),
    # writes
    "create_user": Operation(lambda w, a, t: sv.create_user(w.store, a, "new-researcher",
                                                            password("new-researcher"), "researcher"),
                             check_create_user, True),
    "create_patient": Operation(lambda w, a, t: sv.create_patient(w.store, a, "new-patient", "New Patient", "IV"),
                                check_create_patient, True),
    "add_course": Operation(lambda w, a, t: sv.add_course(w.store, a, t.patient_id, "non_ablative_fractional",
                                                          date(2026, 5, 4), area="left forearm"),
                            check_add_course, True),
    "add_session": Operation(lambda w, a, t: sv.add_session(w.store, a, t.course_id, date(2026, 4, 27)),
                             check_add_session, True),
    "add_photo": Operation(lambda w, a, t: sv.add_photo(w.store, a, t.course_id, astronaut_jpeg(),
                                                        datetime(2026, 4, 20, 9, 0)),
                           check_add_photo, True),
    "set_regions": Operation(lambda w, a, t: sv.set_regions(w.store, a, t.course_id, NEW_ROI, NEW_CONTROL),
                             check_set_regions, True),
    "add_note": Operation(lambda w, a, t: sv.add_note(w.store, a, t.patient_id, "Healing well, review in two weeks"),
                          check_add_note, True),
    "assign_patient": Operation(lambda w, a, t: sv.assign_patient(w.store, a, w.actors["provider-b"].user_id,
                                                                  t.patient_id),
                                check_assign_patient, True),
    "unassign_patient": Operation(lambda w, a, t: sv.unassign_patient(w.store, a, w.actors["provider-a"].user_id,
                                                                      t.patient_id),
                                  check_unassign_patient, True),
    "set_user_active": Operation(lambda w, a, t: sv.set_user_active(w.store, a, t.user_id, False),
                                 check_set_user_active, True),
    "set_baseline": Operation(lambda w, a, t: sv.set_baseline(w.store, a, t.course_id, second_photo(w, t)),
                              check_set_baseline, True),
    "hide_photo": Operation(lambda w, a, t: sv.hide_photo(w.store, a, latest_photo(w, t)), check_hide_photo, True),
    "unhide_photo": Operation(lambda w, a, t: sv.unhide_photo(w.store, a, latest_photo(w, t)),
                              check_unhide_photo, True),
    "unlock_user": Operation(lambda w, a, t: sv.unlock_user(w.store, a, t.user_id), check_unlock_user, True),
    "record_consent": Operation(lambda w, a, t: sv.record_consent(w.store, a, t.patient_id), check_record_consent,
                                True),
    "withdraw_consent": Operation(lambda w, a, t: sv.withdraw_consent(w.store, a, t.patient_id),
                                  check_withdraw_consent, True),
    "grade_photo": Operation(lambda w, a, t: sv.grade_photo(w.store, a, t.photo_id, "cea", {"grade": 2}),
                             check_grade_photo, True),
    "answer_questionnaire": Operation(lambda w, a, t: sv.answer_questionnaire(
        w.store, a, t.photo_id, {"pain": 3, "usual_activities": True}), check_answer_questionnaire, True),
    "erase_patient": Operation(lambda w, a, t: sv.erase_patient(w.store, a, t.patient_id), check_erase_patient, True),
    "reset_password": Operation(lambda w, a, t: sv.reset_password(w.store, a, t.user_id, "ana's new passphrase"),
                                check_reset_password, True),
    "change_password": Operation(lambda w, a, t: sv.change_password(
        w.store, a, password(a.username), f"{a.username}'s new passphrase"), check_change_password, True),
    "record_photo": Operation(lambda w, a, t: sv.record_photo(w.store, a, sv.PhotoRecord(
        patient=t.reference, treatment=TREATMENT.get(t.reference, "fractional_co2"), treated_on=date(2026, 3, 2),
        data=astronaut_jpeg(), taken_at=datetime(2026, 4, 20, 9, 0))),
        check_record_photo, True),
}


# --- the matrix -----------------------------------------------------------------------------------

SUBJECTS = {  # who acts, on whose record
    "patient_own": ("ana", "demo-ana"),
    "patient_other": ("ana", "demo-ben"),
    "provider_assigned": ("provider-a", "demo-ana"),
    "provider_unassigned": ("provider-a", "demo-ben"),
    "provider_no_patients": ("provider-b", "demo-ana"),
    "researcher": ("researcher", "demo-ana"),
    "admin": ("admin", "demo-ana"),
    "system": ("system", "demo-ana"),
}
OK, DENIED, HIDDEN = "allowed", "AccessDenied", "NotFound"
# Functions that name no patient (lists, accounts, exports) ignore the target, so their
# "own" and "other" columns agree.
#                      patient          provider                    researcher admin   system
#                      own     other    assigned unassigned none
MATRIX = {
    "list_patients":    (OK,     OK,     OK,     OK,     OK,     DENIED,  OK,     OK),
    "get_patient":      (OK,     HIDDEN, OK,     HIDDEN, HIDDEN, DENIED,  DENIED, OK),
    "photo_bytes":      (OK,     HIDDEN, OK,     HIDDEN, HIDDEN, DENIED,  DENIED, OK),
    "list_notes":       (DENIED, DENIED, OK,     HIDDEN, HIDDEN, DENIED,  DENIED, OK),
    "find_patient_id":  (OK,     HIDDEN, OK,     HIDDEN, HIDDEN, DENIED,  DENIED, OK),
    "list_users":       (DENIED, DENIED, DENIED, DENIED, DENIED, DENIED,  OK,     OK),
    "audit_log":        (DENIED, DENIED, DENIED, DENIED, DENIED, DENIED,  OK,     OK),
    "export_table":     (DENIED, DENIED, DENIED, DENIED, DENIED, OK,      OK,     OK),
    "write_export":     (DENIED, DENIED, DENIED, DENIED, DENIED, OK,      OK,     OK),
    "research_export":  (DENIED, DENIED, DENIED, DENIED, DENIED, OK,      OK,     OK),
    "consent_status":   (OK,     HIDDEN, OK,     HIDDEN, HIDDEN, DENIED,  OK,     OK),
    "record_consent":   (OK,     HIDDEN, OK,     HIDDEN, HIDDEN, DENIED,  OK,     OK),
    "withdraw_consent": (OK,     HIDDEN, OK,     HIDDEN, HIDDEN, DENIED,  OK,     OK),
    "grade_photo":      (DENIED, DENIED, OK,     HIDDEN, HIDDEN, DENIED,  DENIED, OK),
    "answer_questionnaire": (OK, HIDDEN, OK,     HIDDEN, HIDDEN, DENIED,  DENIED, OK),
    "erase_patient":    (DENIED, DENIED, DENIED, DENIED, DENIED, DENIED,  OK,     OK),
    "create_user":      (DENIED, DENIED, DENIED, DENIED, DENIED, DENIED,  OK,     OK),
    "create_patient":   (DENIED, DENIED, OK,     OK,     OK,     DENIED,  OK,     OK),
    "add_course":       (DENIED, DENIED, OK,     HIDDEN, HIDDEN, DENIED,  DENIED, OK),
    "add_session":      (DENIED, DENIED, OK,     HIDDEN, HIDDEN, DENIED,  DENIED, OK),
    "add_photo":        (OK,     HIDDEN, OK,     HIDDEN, HIDDEN, DENIED,  DENIED, OK),
    "set_regions":      (DENIED, DENIED, OK,     HIDDEN, HIDDEN, DENIED,  DENIED, OK),
    "refresh_analyses": (DENIED, DENIED, OK,     HIDDEN, HIDDEN, DENIED,  DENIED, OK),
    "add_note":         (DENIED, DENIED, OK,     HIDDEN, HIDDEN, DENIED,  DENIED, OK),
    "assign_patient":   (DENIED, DENIED, DENIED, DENIED, DENIED, DENIED,  OK,     OK),
    "unassign_patient": (DENIED, DENIED, DENIED, DENIED, DENIED, DENIED,  OK,     OK),
    "set_user_active":  (DENIED, DENIED, DENIED, DENIED, DENIED, DENIED,  OK,     OK),
    "record_photo":     (DENIED, DENIED, DENIED, DENIED, DENIED, DENIED,  DENIED, OK),
    "set_baseline":     (DENIED, DENIED, OK,     HIDDEN, HIDDEN, DENIED,  DENIED, OK),
    "hide_photo":       (DENIED, DENIED, OK,     HIDDEN, HIDDEN, DENIED,  DENIED, OK),
    "unhide_photo":     (DENIED, DENIED, OK,     HIDDEN, HIDDEN, DENIED,  DENIED, OK),
    "unlock_user":      (DENIED, DENIED, DENIED, DENIED, DENIED, DENIED,  OK,     OK),
    "reset_password":   (DENIED, DENIED, DENIED, DENIED, DENIED, DENIED,  OK,     OK),
    "change_password":  (OK,     OK,     OK,     OK,     OK,     OK,      OK,     DENIED),
}
REFUSALS = {DENIED: sv.AccessDenied, HIDDEN: sv.NotFound}

# Public functions outside the matrix, and why each needs no access case of its own.
NOT_IN_MATRIX = {
    "sign_in": "takes no actor: it makes one (test_accounts.py)",
    "actor_from_token": "takes no actor: it makes one (test_accounts.py)",
    "actor_from_browser": "takes no actor: it makes one from a browser's key (test_accounts.py)",
    "sign_out": "takes no actor: ends the session of the token it is given (test_accounts.py)",
    "record_event": "appends an audit row inside its caller's transaction; reads nothing",
    "parse_region": "parses text; touches no store",
    "drawn_region": "converts a box drawn on the photo as shown to baseline pixels; touches no store",
    "data_dictionary": "describes the export columns; touches no store",
    "column_order": "names the export columns; touches no store",
    "ita_category": "names a skin-tone category of a number; touches no store",
    "neutralise_formulas": "rewrites the cells of a table it is handed; touches no store",
}

CASES = [pytest.param(name, subject, outcome, id=f"{name}-{subject}")
         for name, row in MATRIX.items() for subject, outcome in zip(SUBJECTS, row, strict=True)]


@pytest.mark.parametrize(("name", "subject", "outcome"), CASES)
def test_access(name, subject, outcome, request, shared):
    operation = OPERATIONS[name]
    account, reference = SUBJECTS[subject]
    world = request.getfixturevalue("fresh") if outcome == OK and operation.writes else shared
    actor, target = world.actors[account], world.patients[reference]

    if outcome == OK:
        operation.check(world, actor, target, operation.call(world, actor, target))
        return
    before = snapshot(world)
    with pytest.raises(REFUSALS[outcome]) as refused:
        operation.call(world, actor, target)
    if name == "find_patient_id" and outcome == HIDDEN:  # None, as for an identifier no one has: no refusal
        assert snapshot(world) == before, "a refused call changed something"
    else:
        assert_only_the_refusal_was_recorded(before, snapshot(world), actor, name,
                                             "role" if outcome == DENIED else "not visible")
    # A record that does not exist is refused in the same words: refusals reveal nothing.
    with pytest.raises(REFUSALS[outcome]) as absent:
        operation.call(world, actor, GHOST)
    assert str(absent.value) == str(refused.value)


def _public_functions(module) -> set[str]:
    names = {name for name, value in vars(module).items()
             if inspect.isfunction(value) and value.__module__ == module.__name__ and not name.startswith("_")}
    return names | {name for name in getattr(module, "__all__", []) if inspect.isfunction(getattr(module, name))}


def test_every_public_function_has_an_access_row():
    public = _public_functions(sv) | _public_functions(export)
    missing = public - set(MATRIX) - set(NOT_IN_MATRIX)
    assert not missing, f"add these to the access matrix (or to NOT_IN_MATRIX, with the reason): {sorted(missing)}"
    assert not (set(MATRIX) | set(NOT_IN_MATRIX)) - public, "stale entries"
    assert not set(MATRIX) & set(NOT_IN_MATRIX)
    taking_actor = {n for n in public if "actor" in inspect.signature(getattr(sv, n, None) or getattr(export, n))
                    .parameters}
    assert taking_actor - set(MATRIX) == {"record_event"}
    assert set(OPERATIONS) == set(MATRIX)
    assert {name for name in MATRIX if hasattr(sv, name)} <= set(sv.__all__)
    assert all(len(row) == len(SUBJECTS) for row in MATRIX.values())


def test_demo_accounts_are_the_roles_the_matrix_names(template):
    """The matrix's columns mean what they say: each actor came from sign_in with its role and link."""
    for username, (role, patient) in ACCOUNTS.items():
        actor = template.actors[username]
        assert (actor.role, actor.username) == (role, username)
        assert actor.patient_id == (template.patients[patient].patient_id if patient else None)


def test_a_provider_loses_access_when_unassigned_and_gains_it_when_assigned(fresh):
    store, admin, provider = fresh.store, fresh.actors["admin"], fresh.actors["provider-a"]
    ana, ben = fresh.patients["demo-ana"], fresh.patients["demo-ben"]
    sv.unassign_patient(store, admin, provider.user_id, ana.patient_id)
    sv.assign_patient(store, admin, provider.user_id, ben.patient_id)
    with pytest.raises(sv.NotFound):
        sv.get_patient(store, provider, ana.patient_id)
    with pytest.raises(sv.NotFound):
        sv.photo_bytes(store, provider, ana.photo_id)
    assert sv.get_patient(store, provider, ben.patient_id).reference == "demo-ben"
    assert refs(sv.list_patients(store, provider)) == ["demo-ben"]


def test_an_actor_without_a_role_is_refused_everything(shared):
    nobody = sv.Actor(role="anonymous")
    target = shared.patients["demo-ana"]
    for name, operation in OPERATIONS.items():
        before = snapshot(shared)
        with pytest.raises(sv.AccessDenied):
            operation.call(shared, nobody, target)
        assert_only_the_refusal_was_recorded(before, snapshot(shared), nobody, name, "role")

