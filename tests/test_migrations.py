"""The schema (Alembic migrations against the SQLAlchemy models) and the analysis cache, on both databases."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, select

from tracker import services as sv
from tracker.services.importer import read_manifest, run_import
from tracker.analysis import metrics
from tracker.analysis.metrics import METRIC_VERSION
from tracker.store.db import open_store
from tracker.store.models import Analysis, Base, Course

TRACKER = shutil.which("tracker", path=str(Path(sys.executable).parent)) or "tracker"
SAMPLES = Path(__file__).resolve().parents[1] / "sample_images"
MIGRATIONS = Path(__file__).resolve().parents[1] / "tracker" / "store" / "migrations"


def head_revision() -> str:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config).get_current_head()


def schema_differences(engine) -> list:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
        return compare_metadata(context, Base.metadata)


def current_revision(engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def schema_snapshot(engine) -> dict:
    inspector = inspect(engine)
    snapshot = {}
    for table in sorted(inspector.get_table_names()):
        snapshot[table] = (
            [(c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)],
            sorted((i["name"], tuple(i["column_names"]), i["unique"]) for i in inspector.get_indexes(table)),
            sorted((tuple(u["column_names"])) for u in inspector.get_unique_constraints(table)),
            sorted((tuple(f["constrained_columns"]), f["referred_table"]) for f in inspector.get_foreign_keys(table)),
        )
    return snapshot


def store_url(store) -> str | None:
    return store.engine.url.render_as_string(hide_password=False) if store.dialect == "postgresql" else None


def test_migrated_schema_is_exactly_the_models(store):
    assert current_revision(store.engine) == head_revision()
    assert schema_differences(store.engine) == []
    assert set(inspect(store.engine).get_table_names()) == set(Base.metadata.tables) | {"alembic_version"}


def test_opening_again_changes_nothing(store):
    before = schema_snapshot(store.engine)
    patient_id = sv.create_patient(store, sv.SYSTEM, "p-1", "Someone", "III")
    again = open_store(store.data_dir, store_url(store))
    try:
        assert schema_snapshot(again.engine) == before
        assert current_revision(again.engine) == head_revision()
        assert again.secret_key == store.secret_key
        assert sv.find_patient_id(again, sv.SYSTEM, "p-1") == patient_id
    finally:
        again.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_processes_opening_a_fresh_store_at_once(backend, tmp_path, request):
    url = request.getfixturevalue("postgres_server").new_database() if backend == "postgresql" else None
    env = {**os.environ, **({"TRACKER_DATABASE_URL": url} if url else {})}
    data_dir = tmp_path / "data"
    starts = [subprocess.Popen([TRACKER, "--data-dir", str(data_dir), "init"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env) for _ in range(3)]
    for p in starts:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        assert out == f"Store ready: {data_dir} ({backend}).\n"
    store = open_store(data_dir, url)
    try:
        assert current_revision(store.engine) == head_revision()
        assert schema_differences(store.engine) == []
        assert len(store.secret_key) == 32
    finally:
        store.close()
    # One key for the installation, and no temporary key file left behind.
    assert sorted(p.name for p in data_dir.iterdir() if "secret" in p.name) == ["secret.key"]


@pytest.mark.parametrize("url, reason", [
    ("nonsense", "ArgumentError: Could not parse SQLAlchemy URL"),
    ("mysql://clinic:s3cret@localhost/tracker", "No module named"),
    ("postgresql+psycopg://clinic:s3cret@127.0.0.1:1/tracker", "OperationalError"),
])
def test_unusable_database_url_is_one_line(tmp_path, url, reason):
    result = subprocess.run([TRACKER, "--data-dir", str(tmp_path / "data"), "init"], capture_output=True, text=True,
                            timeout=120, env={**os.environ, "TRACKER_DATABASE_URL": url})
    assert result.returncode == 2
    assert result.stderr.startswith("tracker: error: cannot open the database: ") and reason in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert "s3cret" not in result.stderr


# --- the analysis cache ---------------------------------------------------------------------------


def _analyses(store) -> list[tuple]:
    with store.session() as s:
        return [tuple(r) for r in s.execute(select(
            Analysis.id, Analysis.photo_id, Analysis.baseline_hash, Analysis.metric_version, Analysis.regions_key,
            Analysis.computed_at).order_by(Analysis.id))]


def test_analyses_are_reused_until_their_inputs_change(store, monkeypatch):
    rows = [r for r in read_manifest(SAMPLES / "manifest.csv") if r.patient == "demo-ana"]
    baseline_row, follow_ups = rows[0], rows[1:]
    assert baseline_row.photo.name == "day-01_baseline.jpg"
    outcomes = run_import(store, follow_ups)  # the day-1 photo is the baseline for now
    course_id = outcomes[0].course_id
    first = _analyses(store)
    assert len(first) == 7 and len({a[2] for a in first}) == 1

    # Nothing changed: every result comes from the cache.
    results = sv.refresh_analyses(store, sv.SYSTEM, course_id)
    assert len(results) == 7
    assert _analyses(store) == first
    assert sv.refresh_analyses(store, sv.SYSTEM, course_id) == results

    # New regions: everything is measured again; the old results stay.
    roi = (400, 350, 70, 70)
    with store.session() as s:
        control = tuple(s.get(Course, course_id).control)
    sv.set_regions(store, sv.SYSTEM, course_id, roi, control)
    moved = _analyses(store)
    assert moved[:7] == first
    added = moved[7:]
    assert len(added) == 7 and {a[4] for a in added} == {"roi=400,350,70,70;control=491,477,48,36;treated=face"}
    assert {a[4] for a in first} == {"roi=407,345,75,75;control=491,477,48,36;treated=face"}
    remeasured = sv.refresh_analyses(store, sv.SYSTEM, course_id)
    assert remeasured.keys() == results.keys()
    assert all(remeasured[p].metric("redness_a") != results[p].metric("redness_a") for p in results
               if results[p].ok)

    # An earlier photo becomes the baseline: every photo is measured against it.
    (baseline,) = run_import(store, [replace(baseline_row, roi=None, control=None)])  # regions as set above
    assert baseline.status == "imported"
    rebased = _analyses(store)
    assert rebased[:14] == moved
    added = rebased[14:]
    assert len(added) == 8 and {a[1] for a in added} == {baseline.photo_id} | set(results)
    assert {a[2] for a in added} != {a[2] for a in first}
    assert len({a[2] for a in added}) == 1

    # A new metric version (a release) measures everything again and keeps the old results.
    monkeypatch.setattr(metrics, "METRIC_VERSION", "test-2")
    sv.refresh_analyses(store, sv.SYSTEM, course_id)
    released = _analyses(store)
    assert released[:22] == rebased
    assert len(released) == 30 and {a[3] for a in released[22:]} == {"test-2"}
    assert {a[3] for a in released[:22]} == {METRIC_VERSION}
    # Back on the old version, its results are still there to reuse.
    monkeypatch.setattr(metrics, "METRIC_VERSION", METRIC_VERSION)
    sv.refresh_analyses(store, sv.SYSTEM, course_id)
    assert _analyses(store) == released


def test_courses_of_a_0003_database_become_full_face(tmp_path):
    """Migration 0004: existing courses read as treated over the whole face, the safe reading."""
    from alembic import command
    from sqlalchemy import create_engine, text

    engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0003")
        conn.execute(text("INSERT INTO patients (id, reference, display_name, created_at) "
                          "VALUES (1, 'p-1', 'Someone', '2026-01-01 00:00:00')"))
        conn.execute(text("INSERT INTO courses (id, patient_id, treatment, area) "
                          "VALUES (1, 1, 'fractional_co2', 'cheek')"))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
        assert conn.execute(text("SELECT treated_extent FROM courses")).scalars().all() == ["face"]
    assert current_revision(engine) == head_revision()
    assert schema_differences(engine) == []
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0003")
        assert "treated_extent" not in {c["name"] for c in inspect(conn).get_columns("courses")}
    engine.dispose()


def test_what_was_treated_is_part_of_the_analysis_key(store):
    rows = [r for r in read_manifest(SAMPLES / "manifest.csv") if r.patient == "demo-ana"][:3]
    course_id = run_import(store, rows)[0].course_id
    first = _analyses(store)
    assert len(first) == 3 and {a[4].rsplit(";", 1)[1] for a in first} == {"treated=face"}
    with store.session() as s:
        course = s.get(Course, course_id)
        roi, control = tuple(course.roi), tuple(course.control)
    sv.set_regions(store, sv.SYSTEM, course_id, roi, control, "region")
    added = _analyses(store)[3:]
    assert len(added) == 3 and {a[4].rsplit(";", 1)[1] for a in added} == {"treated=region"}
    assert sv.get_patient(store, sv.SYSTEM, sv.find_patient_id(store, sv.SYSTEM, "demo-ana")).courses[0] \
        .treated_extent == "region"
    # Back to the whole face: the results measured under it are current again, nothing is re-measured.
    sv.set_regions(store, sv.SYSTEM, course_id, roi, control, "face")
    assert len(_analyses(store)) == 6
    with pytest.raises(sv.InputError, match="'face'.*'region'"):
        sv.set_regions(store, sv.SYSTEM, course_id, roi, control, "cheek")
    x, y, w, h = roi
    touching = (x + w, y, 10, 10)  # shares an edge, no pixel: a control may sit right beside the area
    sv.set_regions(store, sv.SYSTEM, course_id, roi, touching, "face")
    with pytest.raises(sv.InputError, match="control overlaps the treated area"):
        sv.set_regions(store, sv.SYSTEM, course_id, roi, (x + w - 1, y + h - 1, 10, 10), "face")
    assert sv.get_patient(store, sv.SYSTEM, sv.find_patient_id(store, sv.SYSTEM, "demo-ana")).courses[0] \
        .control == touching  # the refused one changed nothing
