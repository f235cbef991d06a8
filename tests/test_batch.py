"""Batch analysis (`tracker reanalyze`, the work queue): real photos, SQLite and PostgreSQL, real processes.

The store is the demo's first patient (8 real photos, 800 px), imported and analysed in this
process first: those results are the serial run every other run must reproduce exactly.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import closing, contextmanager, suppress
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import psutil
import pytest
from sqlalchemy import delete as sqlalchemy_delete, func, select, update

from conftest import tracker_command
from tracker import services as sv
from tracker.analysis import AnalysisResult, metrics
from tracker.cli import INTERRUPTED, INTERRUPTED_ALL
from tracker.services import batch
from tracker.services.importer import read_manifest, run_import
from tracker.store.db import open_store
from tracker.store.models import Analysis, AnalysisJob, Course, CourseSummary, Photo

SAMPLES = Path(__file__).resolve().parents[1] / "sample_images"
PHOTOS = 8


def stored_results(store) -> dict[tuple, dict]:
    """Every stored result by (photo, baseline, metric version, regions)."""
    with store.session() as s:
        rows = s.scalars(select(Analysis)).all()
        keys = [(a.photo_id, a.baseline_hash, a.metric_version, a.regions_key) for a in rows]
        assert len(keys) == len(set(keys))
        return {k: a.result for k, a in zip(keys, rows)}


def job_states(store) -> dict[str, int]:
    with store.session() as s:
        return dict(s.execute(select(AnalysisJob.state, func.count()).group_by(AnalysisJob.state)).all())


def import_ana(store) -> dict[tuple, dict]:
    """Import and analyse (serially, in this process) the demo's first patient; returns the results."""
    rows = [r for r in read_manifest(SAMPLES / "manifest.csv") if r.patient == "demo-ana"]
    outcomes = run_import(store, rows)
    assert [o.status for o in outcomes] == ["imported"] * PHOTOS
    results = stored_results(store)
    assert len(results) == PHOTOS and all(r["ok"] for r in results.values())
    return results


def summary(stdout: str) -> tuple[int, int, int]:
    """(analysed, current, failed) from the summary line of `tracker reanalyze`."""
    match = re.search(r"^(\d+) analysed, (\d+) skipped as current, (\d+) failed \(", stdout, re.M)
    assert match, stdout
    return tuple(int(g) for g in match.groups())


@pytest.fixture(scope="module")
def ana_template(tmp_path_factory) -> tuple[Path, dict[tuple, dict]]:
    """The demo's first patient imported and analysed serially once: (data directory, those results)."""
    data_dir = tmp_path_factory.mktemp("ana-template") / "data"
    with closing(open_store(data_dir)) as store:
        results = import_ana(store)
    return data_dir, results


@pytest.fixture
def ana(ana_template, tmp_path):
    """A copy of the template store (photos copied, not linked: a test may damage one), and its serial results."""
    template, results = ana_template
    store = open_store(shutil.copytree(template, tmp_path / "data"))
    assert stored_results(store) == results
    yield store, results
    store.close()


# --- the queue -------------------------------------------------------------------------------------


def test_planning_queues_only_what_is_out_of_date_and_never_twice(ana, monkeypatch):
    store, serial = ana
    assert batch.plan_jobs(store) == batch.PlanCounts(queued=0, current=PHOTOS)
    assert batch.plan_jobs(store, force=True) == batch.PlanCounts(queued=PHOTOS, current=0)
    assert batch.plan_jobs(store, force=True) == batch.PlanCounts(queued=PHOTOS, current=0)
    assert job_states(store) == {"pending": PHOTOS}
    report = batch.run_batch(store)
    assert (report.analysed, report.failed, report.elsewhere) == (PHOTOS, [], 0)
    assert stored_results(store) == serial  # overwritten in place, the same numbers

    monkeypatch.setattr(metrics, "METRIC_VERSION", "test-2")  # a metric change: every result is out of date
    report = batch.reanalyse(store, sv.SYSTEM)
    assert (report.analysed, report.current, report.failed) == (PHOTOS, 0, [])
    results = stored_results(store)
    assert len(results) == 2 * PHOTOS  # the old version's results stay under their own key
    assert sorted(k[2] for k in results) == sorted([metrics_version := next(iter(serial))[2]] * PHOTOS
                                                   + ["test-2"] * PHOTOS), metrics_version
    again = batch.reanalyse(store, sv.SYSTEM)
    assert (again.analysed, again.current) == (0, PHOTOS)
    assert job_states(store) == {"done": PHOTOS}  # the old version's jobs were dropped


def _all_rows(store) -> tuple[list, list]:
    """Every analysis and job row, as plain tuples: what a dry run must leave as it was."""
    with store.session() as s:
        analyses = s.execute(select(Analysis.id, Analysis.photo_id, Analysis.baseline_hash, Analysis.metric_version,
                                    Analysis.regions_key, Analysis.result).order_by(Analysis.id)).all()
        jobs = s.execute(select(AnalysisJob.id, AnalysisJob.photo_id, AnalysisJob.state, AnalysisJob.attempts)
                         .order_by(AnalysisJob.id)).all()
    return [tuple(r) for r in analyses], [tuple(r) for r in jobs]


def test_a_dry_run_says_what_is_out_of_date_and_why_and_changes_nothing(ana):
    store, _ = ana
    with store.session() as s:
        rows = {a.photo_id: a for a in s.scalars(select(Analysis))}
        photos = sorted(rows)
        key = rows[photos[0]]
        # One photo for each reason a result is not current; photos[0] stays current.
        rows[photos[1]].metric_version = "2.2"
        rows[photos[2]].metric_version = "2.2"
        rows[photos[3]].regions_key = "roi=1,2,3,4;control=-;treated=face"
        rows[photos[4]].baseline_hash = "0" * 64
        s.delete(rows[photos[5]])
        s.delete(rows[photos[6]])
        jobs = {j.photo_id: j for j in s.scalars(select(AnalysisJob).where(
            AnalysisJob.baseline_hash == key.baseline_hash, AnalysisJob.metric_version == key.metric_version,
            AnalysisJob.regions_key == key.regions_key))}
        assert sorted(jobs) == photos  # the import's own jobs, done
        jobs[photos[6]].state, jobs[photos[6]].attempts = "failed", batch.MAX_ATTEMPTS
        jobs[photos[7]].state = "pending"  # a current photo another batch has queued
    before = _all_rows(store)

    preview = batch.preview_reanalysis(store, sv.SYSTEM)
    assert preview == batch.Preview(force=False, metric_version=metrics.METRIC_VERSION, current=1, new=1, failed=1,
                                    baseline=1, regions=1, queued=1, older_versions={"2.2": 2})
    assert (preview.total, preview.out_of_date, preview.to_analyse) == (PHOTOS, 6, 7)
    forced = batch.preview_reanalysis(store, sv.SYSTEM, force=True)
    assert forced.to_analyse == PHOTOS
    with store.session() as s:
        patient_id = s.get(Course, s.get(Photo, photos[0]).course_id).patient_id
    assert batch.preview_reanalysis(store, sv.SYSTEM, patient_id) == preview
    with pytest.raises(sv.AccessDenied):
        batch.preview_reanalysis(store, sv.Actor(user_id=1, role="provider"))
    with pytest.raises(sv.NotFound):
        batch.preview_reanalysis(store, sv.SYSTEM, patient_id=999)

    done = subprocess.run([*tracker_command(), "--data-dir", str(store.data_dir), "reanalyze", "--dry-run"],
                          capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.splitlines() == [
        f"{PHOTOS} photos on the time lines: 1 current, 6 out of date, 1 queued already (by a batch in progress, "
        "or one that was interrupted: this one takes its share).",
        "  1 never analysed",
        "  1 left without a result by an earlier batch (its worker stopped, or the file could not be read from the "
        "photo store)",
        "  1 measured against another baseline photo",
        "  1 measured with other regions (treated area, control or extent)",
        f"  2 under an older metric version (2.2: 2; now {metrics.METRIC_VERSION})",
        "Would recompute 7 photos: the out-of-date and the queued ones. Nothing was changed (--dry-run).",
    ]
    assert _all_rows(store) == before  # neither results nor the queue touched

    # What the dry run announced is what the re-analysis then does.
    report = batch.reanalyse(store, sv.SYSTEM)
    assert (report.analysed, report.current, report.failed) == (preview.to_analyse, preview.current, [])
    after = batch.preview_reanalysis(store, sv.SYSTEM)
    assert (after.current, after.out_of_date, after.queued) == (PHOTOS, 0, 0)


def test_a_refused_patient_and_an_unknown_one(ana):
    store, _ = ana
    with pytest.raises(sv.AccessDenied):
        batch.reanalyse(store, sv.Actor(user_id=1, role="provider"))
    with pytest.raises(sv.NotFound):
        batch.reanalyse(store, sv.SYSTEM, patient_id=999)


def _summaries(store) -> dict[int, tuple[datetime, dict]]:
    """Each course's summary: (when it was computed, what it says)."""
    with store.session() as s:
        return {c.course_id: (c.computed_at, {k: v for k, v in vars(c).items() if k not in ("computed_at",
                                                                                                "_sa_instance_state")})
                for c in s.scalars(select(CourseSummary))}


def test_the_worker_that_finishes_a_course_stores_its_summary(tmp_path):
    # The summaries used to be stored at the end of the batch, every course one after another in the
    # command's process; the app showed a course's new status only then.
    with closing(open_store(tmp_path / "data")) as store:
        run_import(store, read_manifest(SAMPLES / "manifest.csv"))  # two courses, analysed serially
        before = _summaries(store)
        assert len(before) == 2
        first, second = sorted(before)
        batch.plan_jobs(store, force=True)
        tally = batch.work_queue(store, [first])  # a worker's share: the whole of the first course
        assert tally.summaries == 1
        after = _summaries(store)
        assert after[first][0] > before[first][0] and after[second] == before[second]
        tally = batch.work_queue(store)
        assert tally.summaries == 1
        assert batch.refresh_summaries(store) == 0  # nothing left for the end of the batch
        assert {c: said for c, (_, said) in _summaries(store).items()} == {c: said for c, (_, said) in before.items()}


def test_two_claimers_on_postgresql_never_take_the_same_job(postgres_server, tmp_path):
    url = postgres_server.new_database()
    stores = [open_store(tmp_path / "data", url) for _ in range(3)]
    try:
        rows = [r for r in read_manifest(SAMPLES / "manifest.csv")]
        run_import(stores[0], rows, analyse=False)
        assert batch.plan_jobs(stores[0]).queued == 17
        # An expired lease is taken again; the first owner's late completion is refused.
        [job] = batch.claim_jobs(stores[0], "slow", limit=1, lease_seconds=-1)
        [again] = batch.claim_jobs(stores[1], "quick", limit=1)
        assert again.job_id == job.job_id
        assert not batch.complete_job(stores[0], job, "slow", AnalysisResult.failed("late"))
        assert batch.complete_job(stores[1], again, "quick", AnalysisResult.failed("on time"))
        with stores[2].session() as s:
            stored = s.scalars(select(Analysis).where(Analysis.photo_id == job.photo_id)).all()
            assert [a.result["error"] for a in stored] == ["on time"]
            assert s.get(AnalysisJob, job.job_id).attempts == 2

        # Two processes' claims at once, one job each time, until none is left.
        claimed: list[list[int]] = [[], []]
        start = threading.Barrier(2)

        def claim_all(k: int) -> None:
            start.wait()
            while jobs := batch.claim_jobs(stores[k], f"claimer-{k}", limit=1):
                claimed[k] += [j.job_id for j in jobs]

        threads = [threading.Thread(target=claim_all, args=(k,)) for k in (0, 1)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not set(claimed[0]) & set(claimed[1])
        assert sorted(claimed[0] + claimed[1]) == sorted(set(claimed[0] + claimed[1]))
        assert len(claimed[0]) + len(claimed[1]) == 16
        assert claimed[0] and claimed[1], "one claimer took everything: no concurrency was tested"
    finally:
        for store in stores:
            store.close()


def test_a_batch_whose_postgresql_goes_away_says_so_in_one_line_and_the_rerun_completes_it(tmp_path):
    # A server of its own, stopped mid-batch (every connection ended, as an administrator's stop does): the
    # command used to end in some 300 lines of tracebacks, of its work and of its progress bar's thread.
    import pg

    if reason := pg.unavailable_reason() or (os.environ.get("TRACKER_TEST_DATABASE_URL") and "an external server "
                                             "(TRACKER_TEST_DATABASE_URL) cannot be stopped by the tests"):
        pytest.skip(reason)
    server = pg.Server()
    try:
        url = server.new_database()
        env = {**os.environ, "TRACKER_DATABASE_URL": url}
        with closing(open_store(tmp_path / "data", url)) as store:
            serial = import_ana(store)
            run = subprocess.Popen([*tracker_command(), "--data-dir", str(store.data_dir), "reanalyze", "--all",
                                    "--workers", "2"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True, start_new_session=True)
            try:
                _wait_for(run, lambda: _finished_and_left(job_states(store), 1), "finished a photo")
                os.killpg(run.pid, signal.SIGSTOP)  # so that photos are surely left when the server goes
                store.engine.dispose()
                server.halt("fast")
                os.killpg(run.pid, signal.SIGCONT)
                out, err = run.communicate(timeout=120)
            finally:
                with suppress(ProcessLookupError):
                    os.killpg(run.pid, signal.SIGKILL)
            assert run.returncode == 2, (out, err)
            assert re.fullmatch(r"tracker: error: the database stopped answering \([^\n]+\): what was stored before "
                                r"stays; run the command again once it answers\n", err), err
            server.start()
            finished = job_states(store).get("done", 0)
            assert 0 < finished < PHOTOS
            rerun = subprocess.run([*tracker_command(), "--data-dir", str(store.data_dir), "reanalyze", "--workers",
                                    "2"], env=env, capture_output=True, text=True, timeout=300)
            assert rerun.returncode == 0, rerun.stdout + rerun.stderr
            assert summary(rerun.stdout) == (PHOTOS - finished, finished, 0)  # exactly the rest
            assert job_states(store) == {"done": PHOTOS} and stored_results(store) == serial
    finally:
        server.stop()


def test_a_worker_whose_database_connection_ends_gives_its_claimed_photos_back(postgres_server, tmp_path):
    # A worker's connection ended by the server (an administrator's pg_terminate_backend, a fail-over) while it
    # stores a result. Its photos used to stay claimed for the 10-minute lease wherever the process lived on
    # (a Dask worker, whose task Dask runs again): the next run in that time left them out.
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import OperationalError

    url = postgres_server.new_database()
    with closing(open_store(tmp_path / "data", url)) as store:
        serial = import_ana(store)
        assert batch.plan_jobs(store, force=True).queued == PHOTOS
        ended: list[BaseException] = []

        def work() -> None:
            try:
                batch.work_queue(store)
            except BaseException as exc:  # noqa: BLE001 - asserted below
                ended.append(exc)

        admin = create_engine(url)
        try:
            with admin.connect() as holder, admin.connect() as watcher:
                holder.execute(text("LOCK TABLE analyses IN EXCLUSIVE MODE"))  # reads pass; storing a result waits
                worker = threading.Thread(target=work)
                worker.start()
                deadline = time.monotonic() + 120
                while not (waiting := watcher.execute(text(
                        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                        "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()")).scalars().all()):
                    assert time.monotonic() < deadline and worker.is_alive(), "the worker never waited to store"
                    time.sleep(0.05)
                watcher.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": waiting[0]})
                worker.join(120)
                holder.rollback()
        finally:
            admin.dispose()
        assert len(ended) == 1 and isinstance(ended[0], OperationalError), ended
        with store.session() as s:
            jobs = s.execute(select(AnalysisJob.state, AnalysisJob.lease_owner, AnalysisJob.attempts)).all()
        assert sorted(state for state, _, _ in jobs) == ["pending"] * PHOTOS  # given back, none lost
        assert all(owner is None and attempts == 0 for _, owner, attempts in jobs)
        tally = batch.work_queue(store)  # the next run, in the same process: every photo
        assert tally.analysed == PHOTOS
        assert job_states(store) == {"done": PHOTOS} and stored_results(store) == serial


# --- the same numbers on every path -------------------------------------------------------------


def test_a_process_pool_stores_exactly_the_serial_results(ana):
    store, serial = ana
    report = batch.reanalyse(store, sv.SYSTEM, force=True, workers=2)
    assert (report.analysed, report.current, report.failed) == (PHOTOS, 0, [])
    assert 0 < report.peak_worker_rss_mb < 2000
    assert stored_results(store) == serial


def test_a_dask_cluster_with_a_killed_worker_stores_exactly_the_serial_results(ana):
    # A running cluster, reached at its address, does the whole batch: with --dask local this process
    # would analyse too and could empty the queue of 8 small photos before a Dask worker had started.
    from distributed import LocalCluster

    store, serial = ana
    batch.plan_jobs(store, force=True)
    killed: list[int] = []
    stop = threading.Event()

    def kill_a_worker_mid_photo() -> None:
        # Kill the Dask worker process holding a photo's claim once one photo is done.
        while not stop.is_set() and not killed:
            if owner := _a_running_owner_once_one_is_done(store):
                pid = int(owner.split(":")[1])
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            time.sleep(0.02)

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address="127.0.0.1:0") as cluster:
        killer = threading.Thread(target=kill_a_worker_mid_photo)
        killer.start()
        try:
            report = batch.run_batch(store, dask=cluster.scheduler_address, workers=2)
        finally:
            stop.set()
            killer.join()
    assert killed, "no worker was killed: the batch ended first"
    assert killed[0] != os.getpid()
    assert job_states(store) == {"done": PHOTOS}
    assert report.failed == [] and report.elsewhere == 0
    assert all(int(t.owner.split(":")[1]) != os.getpid() for t in report.workers)  # this process only waited
    assert stored_results(store) == serial


def test_a_killed_pool_worker_loses_and_repeats_nothing(ana):
    # A worker of the command's process pool killed mid-photo (the kernel's out-of-memory killer, say) breaks the
    # pool: the batch starts another on what is left and takes back the dead worker's photos at once. The command's
    # own process, which analyses too and would finish the 8 photos before its worker has started, is paused; let
    # go now and then, since the worker's task reaches it through the command's threads.
    store, serial = ana
    run = subprocess.Popen([*tracker_command(), "--data-dir", str(store.data_dir), "reanalyze", "--all",
                            "--workers", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           start_new_session=True)
    try:
        command = psutil.Process(run.pid)

        def pool_workers() -> set[int]:
            found = set()
            for child in command.children():
                with suppress(psutil.Error):  # a child that has just ended (a zombie) has no command line
                    if "spawn_main" in " ".join(child.cmdline()):
                        found.add(child.pid)
            return found

        def a_worker_holds_a_photo() -> int | None:
            with store.session() as s:
                owners = s.scalars(select(AnalysisJob.lease_owner).where(AnalysisJob.state == "running")).all()
            return next((pid for pid in (int(o.split(":")[1]) for o in owners) if pid in workers), None)

        workers = _wait_for(run, pool_workers, "started its pool's worker")
        killed = None
        for _ in range(200):
            _pause_outside_a_transaction(run.pid, store.data_dir / "tracker.db")
            deadline = time.monotonic() + 1
            while not (killed := a_worker_holds_a_photo()) and time.monotonic() < deadline:
                time.sleep(0.01)
            if killed:
                break
            os.kill(run.pid, signal.SIGCONT)
            time.sleep(0.05)
        assert killed, f"the pool's worker never claimed a photo: {job_states(store)}"
        os.kill(killed, signal.SIGKILL)
        os.kill(run.pid, signal.SIGCONT)
        out, err = run.communicate(timeout=300)
    finally:
        with suppress(ProcessLookupError):
            os.killpg(run.pid, signal.SIGKILL)
    assert run.returncode == 0, out + err
    assert "a worker process of the batch stopped; its photos are claimed again" in err
    assert summary(out) == (PHOTOS, 0, 0)
    assert job_states(store) == {"done": PHOTOS} and stored_results(store) == serial


def _pause_outside_a_transaction(pid: int, database: Path, *, group: bool = False) -> None:
    """SIGSTOP the process ``pid`` (its process group with ``group``) at a moment it holds no transaction of the
    SQLite ``database``.

    Every transaction of the store takes the write lock (BEGIN IMMEDIATE): a process paused within one would
    leave the others, and the test's own reads, waiting for it.
    """
    kill = os.killpg if group else os.kill
    for _ in range(1000):
        kill(pid, signal.SIGSTOP)
        with closing(sqlite3.connect(database, timeout=0.05, isolation_level=None)) as db:
            try:
                db.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError:  # locked: paused within a transaction
                pass
            else:
                db.execute("ROLLBACK")
                return
        kill(pid, signal.SIGCONT)
        time.sleep(0.005)
    pytest.fail("the batch held the store's write lock at every pause")


def test_ctrl_c_on_a_batch_sent_to_a_cluster_stops_the_clusters_work(ana):
    # Dask cannot stop a running task, and each of ours loops over the queue: the cluster's workers
    # used to go on analysing every queued photo after the command had been interrupted.
    from distributed import LocalCluster

    store, serial = ana
    batch.plan_jobs(store, force=True)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address="127.0.0.1:0") as cluster:
        command = [*tracker_command(), "--data-dir", str(store.data_dir), "reanalyze", "--dask",
                   cluster.scheduler_address]
        run = subprocess.Popen([*_AS_FROM_A_TERMINAL, *command], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, start_new_session=True)
        try:
            owner = _wait_for(run, lambda: _a_running_owner_once_one_is_done(store), "finished a photo")
            worker = psutil.Process(int(owner.split(":")[1]))
            worker.suspend()  # so that photos are surely left when the command is interrupted
            try:
                assert job_states(store).get("pending", 0) > 0
                os.killpg(run.pid, signal.SIGINT)
                out, err = run.communicate(timeout=60)
            finally:
                worker.resume()
            assert run.returncode == 130, (out, err)
            assert err.strip().splitlines() == [f"tracker: {INTERRUPTED}"]  # no traceback of Dask's
            # The worker finishes the photos it holds, then claims no more.
            deadline = time.monotonic() + 60
            while job_states(store).get("running", 0) and time.monotonic() < deadline:
                time.sleep(0.05)
            left = job_states(store)
            time.sleep(3)  # several photos' time: a worker still at work would finish some
            assert job_states(store) == left
            assert "running" not in left and left.get("pending", 0) > 0, left
        finally:
            with suppress(ProcessLookupError):
                os.killpg(run.pid, signal.SIGKILL)
    _rerun(store.data_dir)
    assert job_states(store) == {"done": PHOTOS} and stored_results(store) == serial


def test_a_batch_whose_dask_scheduler_dies_says_so_in_one_line_and_the_rerun_completes_it(ana, tmp_path):
    # It used to end in some 90 lines of Dask's tracebacks.
    import json

    store, serial = ana
    batch.plan_jobs(store, force=True)
    scheduler_file = tmp_path / "scheduler.json"
    quiet = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path)
    scheduler = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--scheduler-file",
                                  str(scheduler_file), "--port", "0", "--no-dashboard"], **quiet)
    started = [scheduler]
    try:
        deadline = time.monotonic() + 90
        while not scheduler_file.exists() or not scheduler_file.read_text().strip():
            assert scheduler.poll() is None and time.monotonic() < deadline, "the scheduler did not start"
            time.sleep(0.1)
        address = json.loads(scheduler_file.read_text())["address"]
        started.append(subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", address, "--nthreads",
                                         "1", "--no-dashboard"], **quiet))
        run = subprocess.Popen([*tracker_command(), "--data-dir", str(store.data_dir), "reanalyze", "--dask", address],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        owner = _wait_for(run, lambda: _a_running_owner_once_one_is_done(store), "finished a photo")
        worker = psutil.Process(int(owner.split(":")[1]))
        worker.suspend()  # so that photos are surely left when the scheduler dies
        try:
            scheduler.kill()
            out, err = run.communicate(timeout=120)
        finally:
            worker.resume()
    finally:
        for process in started:
            process.kill()
            process.wait(60)
    assert (run.returncode, out) == (2, ""), err
    assert err == (f"tracker: error: lost the Dask cluster {address} during the batch (its scheduler stopped, or the "
                   "network to it failed): what was finished is kept, and running the same command again completes "
                   "the rest\n")
    _, alive = psutil.wait_procs([worker], timeout=60)
    assert not alive, "the worker went on without its scheduler"  # it closes itself within a second or two
    finished = job_states(store).get("done", 0)
    assert summary(_rerun(store.data_dir).stdout) == (PHOTOS - finished, finished, 0)
    assert job_states(store) == {"done": PHOTOS} and stored_results(store) == serial


def test_a_batch_sent_to_a_cluster_without_workers_says_so_instead_of_waiting_for_ever(ana, monkeypatch):
    from distributed import LocalCluster

    store, serial = ana
    batch.plan_jobs(store, force=True)
    monkeypatch.setattr(batch, "WORKER_WAIT_SECONDS", 1.0)
    with LocalCluster(n_workers=0, dashboard_address="127.0.0.1:0") as cluster:
        with pytest.raises(batch.ClusterError, match=rf"^the Dask cluster {re.escape(cluster.scheduler_address)} has "
                                                     r"no worker \(none joined in 1 s\): start `dask worker "):
            batch.run_batch(store, dask=cluster.scheduler_address)
    assert job_states(store) == {"pending": PHOTOS}
    assert stored_results(store) == serial


def _a_running_owner_once_one_is_done(store) -> str | None:
    """The owner (``host:pid:token``) of a running job once a photo of the batch is done, else None."""
    with store.session() as s:
        done = s.scalar(select(func.count()).select_from(AnalysisJob).where(AnalysisJob.state == "done"))
        owners = s.scalars(select(AnalysisJob.lease_owner).where(AnalysisJob.state == "running")).all()
    return owners[0] if done >= 1 and owners else None


def _release_with_metric_version(root: Path, version: str) -> Path:
    """A copy of this package under ``root`` that says another metric version: another release, as a worker
    machine that was not upgraded has it installed. Put first on a worker's PYTHONPATH."""
    shutil.copytree(Path(batch.__file__).parents[1], root / "tracker", ignore=shutil.ignore_patterns("__pycache__"))
    source = root / "tracker" / "analysis" / "metrics.py"
    text = source.read_text()
    assert text.count(f'METRIC_VERSION = "{metrics.METRIC_VERSION}"') == 1
    source.write_text(text.replace(f'METRIC_VERSION = "{metrics.METRIC_VERSION}"', f'METRIC_VERSION = "{version}"'))
    return root


@contextmanager
def _dask_worker(cluster, cwd: Path, *, prefix: tuple[str, ...] = (), env: dict | None = None):
    """A ``dask worker`` process of its own joined to ``cluster`` (``prefix``: the command it runs under);
    yields a client of the cluster once the worker is in. ``cwd`` away from the repository, so that a
    PYTHONPATH given in ``env`` is what the worker imports."""
    from distributed import Client

    before = len(cluster.workers)
    worker = subprocess.Popen(
        [*prefix, sys.executable, "-m", "distributed.cli.dask_worker", cluster.scheduler_address, "--nthreads", "1",
         "--no-dashboard"], env={**os.environ, **(env or {})}, cwd=cwd,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with Client(cluster) as client:
            client.wait_for_workers(before + 1, timeout=90)
            yield client
    finally:
        worker.terminate()
        worker.wait(60)


def test_a_dask_worker_of_another_version_is_refused_and_nothing_is_lost(ana, tmp_path):
    # Before, such a worker computed another key for every job it claimed and dropped them all as out
    # of date: the batch said "0 analysed, 0 failed" and the queue was empty.
    from distributed import LocalCluster

    import tracker

    store, serial = ana
    old = _release_with_metric_version(tmp_path / "old-release", "0.9")
    with (LocalCluster(n_workers=0, dashboard_address="127.0.0.1:0") as cluster,
          _dask_worker(cluster, tmp_path, env={"PYTHONPATH": str(old)}) as client):
        assert list(client.run(batch.analysis_versions).values()) == [(tracker.__version__, "0.9")]
        done = subprocess.run([*tracker_command(), "--data-dir", str(store.data_dir), "reanalyze", "--all",
                               "--dask", cluster.scheduler_address], capture_output=True, text=True, timeout=180)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        f"tracker: error: 1 of the cluster's 1 workers run tracker {tracker.__version__} with metric version 0.9, "
        f"this batch tracker {tracker.__version__} with metric version {metrics.METRIC_VERSION}: install the same "
        "version on every worker; the queued photos wait for the next run.\n")
    assert job_states(store) == {"pending": PHOTOS}  # queued by the command, none claimed or dropped
    assert stored_results(store) == serial

    report = batch.run_batch(store)  # workers of this release complete what was queued
    assert (report.analysed, report.failed) == (PHOTOS, [])
    assert stored_results(store) == serial


def test_a_worker_that_joins_later_with_another_version_leaves_the_batch_to_the_others(ana, tmp_path):
    # The cluster is checked when the batch is sent; a worker can join after that. Its task used to raise:
    # Dask ran it again (retries) and the first error Client.gather met ended the command while the other
    # workers went on analysing. Now it claims nothing, says why, and the others finish the batch.
    import dask
    from distributed import LocalCluster, wait as wait_for_futures

    import tracker

    store, serial = ana
    batch.plan_jobs(store, force=True)
    old = _release_with_metric_version(tmp_path / "old-release", "0.9")
    address = batch.StoreAddress.of(store)
    # One task a worker at a time, so that each of the two workers gets one of the two tasks.
    with (dask.config.set({"distributed.scheduler.worker-saturation": 1.0}),
          LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address="127.0.0.1:0") as cluster,
          _dask_worker(cluster, tmp_path, env={"PYTHONPATH": str(old)}) as client):
        futures = batch._submit_work(client, address, None, 2, batch.LEASE_SECONDS, "a-batch")
        wait_for_futures(futures, timeout=120)
        assert [f.status for f in futures] == ["finished", "finished"]
        tallies = client.gather(futures)
    refused = [t for t in tallies if t.refused]
    assert len(refused) == 1 and refused[0].analysed == 0
    assert re.fullmatch(rf"a worker on \S+ runs tracker {re.escape(tracker.__version__)} with metric version 0\.9, "
                        rf"the batch tracker .* with metric version {re.escape(metrics.METRIC_VERSION)}: install the "
                        "same version on every worker", refused[0].refused)
    assert sum(t.analysed for t in tallies) == PHOTOS
    assert job_states(store) == {"done": PHOTOS}
    assert stored_results(store) == serial


def _unmounted_prefix(data_dir: Path) -> tuple[str, ...]:
    """A command prefix that runs a process where an empty file system is mounted over ``data_dir``: a machine
    that does not mount the store. Skips where this machine cannot make a private mount namespace."""
    prefix = ("unshare", "--map-root-user", "--mount", "sh", "-c", 'mount -t tmpfs none "$0" && exec "$@"',
              str(data_dir))
    probe = subprocess.run([*prefix, "test", "!", "-e", str(data_dir / "secret.key")], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"no private mount namespace here (unshare: {probe.stderr.decode().strip() or probe.returncode})")
    return prefix


def test_a_cluster_with_a_worker_that_does_not_mount_the_store_is_refused_before_any_work(ana, tmp_path):
    # A worker whose machine does not mount the data directory used to be found only by its task,
    # which Dask then retried, while the other workers went on.
    from distributed import LocalCluster

    store, serial = ana
    data_dir = store.data_dir.resolve()
    with (LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address="127.0.0.1:0") as cluster,
          _dask_worker(cluster, tmp_path, prefix=_unmounted_prefix(data_dir))):
        done = subprocess.run([*tracker_command(), "--data-dir", str(data_dir), "reanalyze", "--all",
                               "--dask", cluster.scheduler_address], capture_output=True, text=True, timeout=180)
    assert (done.returncode, done.stdout) == (2, ""), done.stderr
    assert re.fullmatch(
        rf"tracker: error: a worker cannot open the store: on 1 of the cluster's 2 workers, there is no store at "
        rf"{re.escape(str(data_dir))} on \S+ \(no photos, secret\.key, tracker\.db\): mount the data directory at "
        r"the same path on every machine that analyses; the queued photos wait for the next run\n", done.stderr)
    assert job_states(store) == {"pending": PHOTOS}  # queued by the command, none claimed
    assert stored_results(store) == serial


def _queued_by_a_newer_release(store, monkeypatch, holder: str | None = None) -> list[tuple]:
    """Every photo planned as a release of metric version 99.0 would plan it (and two of them claimed by
    ``holder``, that release's worker on another machine); returns the queue's rows as they then are."""
    ours = metrics.METRIC_VERSION
    monkeypatch.setattr(metrics, "METRIC_VERSION", "99.0")
    assert batch.plan_jobs(store).queued == PHOTOS
    if holder is not None:
        assert len(batch.claim_jobs(store, holder)) == 2
    monkeypatch.setattr(metrics, "METRIC_VERSION", ours)
    return _all_rows(store)[1]


def test_an_older_release_does_not_take_the_queue_of_a_newer_ones_batch_in_progress(ana, monkeypatch):
    # Another machine, upgraded first, is re-analysing the store under metric version 99.0: it planned
    # the photos and its worker holds two of them. Planning on an older release would replace its jobs
    # with its own and queue every photo again under the older version.
    store, serial = ana
    queue = _queued_by_a_newer_release(store, monkeypatch, holder="upgraded-host:4242:0a1b2c3d")

    message = (f"Another machine's batch is analysing photos of this store with metric version 99.0 (2 held now); "
               f"this one runs tracker {batch.analysis_versions()[0]} with metric version {metrics.METRIC_VERSION}: "
               "upgrade it before running batches here.")
    for command in (["reanalyze"], ["reanalyze", "--dry-run"]):
        done = subprocess.run([*tracker_command(), "--data-dir", str(store.data_dir), *command],
                              capture_output=True, text=True, timeout=120)
        assert (done.returncode, done.stdout, done.stderr) == (2, "", f"tracker: error: {message}\n"), command
    assert _all_rows(store)[1] == queue  # the newer batch's queue as it was
    assert stored_results(store) == serial

    # Once its claims have run out (that machine stopped, or the release was rolled back on purpose),
    # the older release plans again: the newer jobs are replaced, and the photos are current for it.
    with store.session() as s:
        s.execute(update(AnalysisJob).where(AnalysisJob.state == "running")
                  .values(lease_expires_at=datetime.now() - timedelta(seconds=1)))
    assert batch.plan_jobs(store) == batch.PlanCounts(queued=0, current=PHOTOS)
    assert job_states(store) == {}
    report = batch.run_batch(store)
    assert (report.analysed, report.failed, report.newer_version) == (0, [], None)
    assert stored_results(store) == serial


def test_workers_of_an_older_release_leave_a_newer_ones_queue_to_it(ana, monkeypatch):
    # An older release's batch is running when a machine upgraded first plans its own: the older
    # workers then claim jobs of metric version 99.0. They used to drop each as out of date.
    store, serial = ana
    queue = _queued_by_a_newer_release(store, monkeypatch)

    report = batch.run_batch(store, workers=2)
    assert (report.analysed, report.failed, report.newer_version) == (0, [], "99.0")
    assert report.elsewhere == PHOTOS and all(t.newer_version == "99.0" for t in report.workers)
    assert _all_rows(store)[1] == queue  # every job given back as it was: pending, no attempt counted
    assert stored_results(store) == serial

    done = subprocess.run([*tracker_command(), "--data-dir", str(store.data_dir), "reanalyze", "--patient",
                           "demo-ana", "--workers", "1"], capture_output=True, text=True, timeout=120)
    # Planning finds no live claim of the newer release (nobody runs it here), so it replaces its jobs:
    # that is the release rolled back on purpose, which must stay possible.
    assert done.returncode == 0, done.stdout + done.stderr
    assert summary(done.stdout) == (0, PHOTOS, 0)
    assert "peak memory" not in done.stdout  # no worker ran, so there is none to report
    assert job_states(store) == {}


@pytest.mark.parametrize("mounted", ["nothing there", "an empty mount point"])
def test_a_worker_where_the_store_is_not_mounted_says_so_and_creates_nothing(tmp_path, mounted):
    # A Dask worker on a machine that does not mount the data directory used to start an empty store
    # of its own there (a folder, a new export key, an empty SQLite file) and report every photo missing.
    from tracker.store.db import StoreError

    data_dir = tmp_path / "data"
    if mounted == "an empty mount point":
        data_dir.mkdir()
    with pytest.raises(StoreError, match=rf"^there is no store at {re.escape(str(data_dir))} on \S+ \(no photos, "
                                         r"secret\.key, tracker\.db\): mount the data directory at the same path on "
                                         r"every machine that analyses$"):
        batch.work_at(batch.StoreAddress(str(data_dir)))
    assert sorted(tmp_path.rglob("*")) == ([data_dir] if mounted == "an empty mount point" else [])


def test_with_dask_local_this_process_analyses_while_the_cluster_starts(ana):
    store, serial = ana
    plan = batch.plan_jobs(store, force=True)
    report = batch.run_batch(store, dask="local", workers=2, current=plan.current)
    assert (report.analysed, report.current, report.failed, report.elsewhere) == (PHOTOS, 0, [], 0)
    [here] = [t for t in report.workers if int(t.owner.split(":")[1]) == os.getpid()]
    assert here.analysed > 0
    assert sum(t.analysed for t in report.workers) == PHOTOS and len(report.workers) <= 2
    assert job_states(store) == {"done": PHOTOS}
    assert stored_results(store) == serial
    assert multiprocessing.active_children() == []  # the cluster's processes are gone


# --- failures and interruptions --------------------------------------------------------------------


@pytest.mark.parametrize("damage, reason", [
    ("cut", r"The stored copy of the photo is damaged \(it no longer matches what was stored\): restore it from a "
            r"backup\."),
    ("gone", r"The photo's file is missing from the photo store: check that every machine that analyses mounts the "
             r"whole store; the next run tries it again\."),
])
def test_a_photo_the_store_cannot_give_back_is_reported_stores_nothing_and_the_batch_goes_on(ana, damage, reason):
    # Cut short on disk after it was stored, or missing (a worker that does not mount the whole store):
    # the store's state on that machine, not the photo's result. It used to be stored as a failed
    # result ("upload it again"), which no later run would retry.
    store, serial = ana
    with store.session() as s:
        victim = s.scalars(select(Photo).order_by(Photo.taken_at)).all()[3]
    path = store.photos.path(victim.content_hash)
    whole = path.read_bytes()
    if damage == "cut":
        path.write_bytes(whole[:2000])
    else:
        path.unlink()
    done = subprocess.run([*tracker_command(), "--data-dir", str(store.data_dir), "reanalyze", "--all",
                           "--workers", "1"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stdout + done.stderr
    assert summary(done.stdout) == (PHOTOS - 1, 0, 1)
    [line] = [x for x in done.stdout.splitlines() if x.startswith("failed")]
    assert re.fullmatch(rf"failed   photo {victim.id}: {reason}", line), line
    assert "Traceback" not in done.stderr
    assert stored_results(store) == serial  # the photo keeps the result measured when its file was whole
    assert job_states(store) == {"done": PHOTOS - 1, "failed": 1}

    # The next run queues it again; with the file back (restored from a backup), it is analysed.
    assert batch.preview_reanalysis(store, sv.SYSTEM, force=True).to_analyse == PHOTOS
    path.write_bytes(whole)
    report = batch.reanalyse(store, sv.SYSTEM, force=True)
    assert (report.analysed, report.failed) == (PHOTOS, [])
    assert stored_results(store) == serial


def test_a_photo_the_store_cannot_give_back_is_not_stored_as_a_result_in_the_app_either(ana):
    from tracker.services.analyses import ANALYSIS_FAILED, analyse_course

    store, serial = ana
    with store.session() as s:
        victim = s.scalars(select(Photo).order_by(Photo.taken_at)).all()[3]
        s.execute(sqlalchemy_delete(Analysis).where(Analysis.photo_id == victim.id))
    path = store.photos.path(victim.content_hash)
    whole = path.read_bytes()
    path.write_bytes(whole[:2000])
    results = analyse_course(store, victim.course_id)
    assert results[victim.id].ok is False and results[victim.id].error == ANALYSIS_FAILED  # shown as not analysed
    assert victim.id not in {k[0] for k in stored_results(store)}  # and not stored: the next refresh tries again
    path.write_bytes(whole)
    assert analyse_course(store, victim.course_id)[victim.id].ok
    assert stored_results(store) == serial


def test_many_failures_end_the_batch_counted_by_reason(tmp_path):
    # A re-analysis of an archive can fail thousands of photos for one cause (a photo store not mounted
    # whole): the first are listed one a line, the rest counted by reason.
    from skimage import data
    from tracker.cli import FAILED_LINES

    import cv2

    day = tmp_path / "import" / "P-many" / "fractional_co2"
    face = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)[::2, ::2]
    n = FAILED_LINES + 5
    for i in range(n + 1):  # the baseline and n follow-ups, each shifted by a pixel more: distinct photos
        (day / f"2026-01-{1 + i:02d}").mkdir(parents=True)
        cv2.imwrite(str(day / f"2026-01-{1 + i:02d}" / "face.jpg"), np.roll(face, i, axis=1))
    data_dir = tmp_path / "data"
    done = subprocess.run([*tracker_command(), "--data-dir", str(data_dir), "import", "--workers", "1",
                           str(tmp_path / "import")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    with closing(open_store(data_dir)) as store, store.session() as s:
        photos = s.scalars(select(Photo).order_by(Photo.taken_at)).all()
        assert len(photos) == n + 1
        for photo in photos[1:]:  # every follow-up cut short on disk
            path = store.photos.path(photo.content_hash)
            path.write_bytes(path.read_bytes()[:1500])
    done = subprocess.run([*tracker_command(), "--data-dir", str(data_dir), "reanalyze", "--all", "--workers", "1"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stdout + done.stderr
    assert summary(done.stdout) == (1, 0, n)
    lines = done.stdout.splitlines()
    assert sum(x.startswith("failed   photo ") for x in lines) == FAILED_LINES
    reason = lines[0].split(": ", 1)[1]
    assert reason and "Traceback" not in done.stderr
    at = lines.index(f"... and 5 more failed photos. All {n} by reason:")
    assert lines[at + 1] == f"{n:>8} × {reason}"


# Starts a program with Ctrl-C's SIGINT at its default action (which Python turns into
# KeyboardInterrupt), as from a terminal. A test run started in the background of a shell
# (`pytest &`, `nohup pytest &`) ignores SIGINT, and an ignored signal stays ignored in every
# program it starts: the batch would never see the Ctrl-C these tests send.
_AS_FROM_A_TERMINAL = [sys.executable, "-c", "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL);"
                       " os.execv(sys.argv[1], sys.argv[1:])"]


def _start_batch(store, *, all_option: bool = False) -> subprocess.Popen:
    """`tracker reanalyze --workers 2` of every photo of the store (queued first, or by the command's
    ``--all``), started in a process group of its own and taking Ctrl-C as from a terminal
    (:data:`_AS_FROM_A_TERMINAL`)."""
    if not all_option:
        batch.plan_jobs(store, force=True)
    command = [*tracker_command(), "--data-dir", str(store.data_dir), "reanalyze", "--workers", "2",
               *(["--all"] if all_option else [])]
    return subprocess.Popen([*_AS_FROM_A_TERMINAL, *command], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)


def _rerun(data_dir: Path) -> subprocess.CompletedProcess:
    """`tracker reanalyze --workers 1` after a killed batch; it must succeed."""
    rerun = subprocess.run([*tracker_command(), "--data-dir", str(data_dir), "reanalyze", "--workers", "1"],
                           capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    return rerun


def _wait_for(run: subprocess.Popen, condition, what: str):
    """Poll ``condition`` until it is true while the batch ``run`` goes on; returns its value."""
    deadline = time.monotonic() + 240
    while not (found := condition()):
        assert run.poll() is None, f"the batch ended before it {what}: {run.communicate()}"
        assert time.monotonic() < deadline, f"the batch never {what}"
        time.sleep(0.02)
    return found


def _paused_batch(store, finished: int, *, all_option: bool = False) -> subprocess.Popen:
    """A batch (:func:`_start_batch`) paused (SIGSTOP to its process group, outside any transaction) once
    ``finished`` photos are done and while photos are still left to it.

    Pausing first makes sure photos are left when the tests below send their signal: without it
    a slow test process could look at the queue, be descheduled while the batch finishes every
    photo, and signal a batch that has nothing left to stop. Should the batch have finished them
    all by the pause, it is let go and started again (at most three times).
    """
    for _ in range(3):
        run = _start_batch(store, all_option=all_option)
        try:
            # Photos left to it too: with --all the photos are queued by the command, done until then. A batch
            # that finished them all first is started again below.
            _wait_for(run, lambda: _finished_and_left(job_states(store), finished) or run.poll() is not None,
                      f"finished {finished} photos")
        finally:
            with suppress(ProcessLookupError):  # a batch that ended early: _wait_for says so
                _pause_outside_a_transaction(run.pid, store.data_dir / "tracker.db", group=True)
        states = job_states(store)
        if run.poll() is None and _finished_and_left(states, finished):
            return run
        os.killpg(run.pid, signal.SIGCONT)
        run.communicate(timeout=60)
    pytest.fail(f"the batch finished every photo before it could be paused, three times: {states}")


def _finished_and_left(states: dict[str, int], finished: int) -> bool:
    return states.get("done", 0) >= finished and states.get("pending", 0) + states.get("running", 0) > 0


def test_a_killed_batch_loses_and_repeats_nothing_and_the_rerun_completes_it(ana):
    store, serial = ana
    data_dir = store.data_dir
    run = _paused_batch(store, 2)
    os.killpg(run.pid, signal.SIGKILL)  # the command and its worker processes
    run.communicate(timeout=30)
    with closing(sqlite3.connect(data_dir / "tracker.db")) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    states = job_states(store)
    finished = states.pop("done")
    assert 2 <= finished < PHOTOS and set(states) <= {"pending", "running"}

    rerun = _rerun(data_dir)
    assert summary(rerun.stdout) == (PHOTOS - finished, finished, 0)
    assert job_states(store) == {"done": PHOTOS}
    with store.session() as s:
        assert max(s.scalars(select(AnalysisJob.attempts))) <= 2
    assert stored_results(store) == serial


def test_two_batches_at_work_on_one_store_each_report_what_they_did(ana):
    # Each batch reported every photo finished since it started as analysed, the other batch's too: two batches run
    # side by side on one store (from two machines, say) reported more photos analysed than there were.
    store, serial = ana
    first = _paused_batch(store, 1)
    try:
        second = subprocess.run([*tracker_command(), "--data-dir", str(store.data_dir), "reanalyze", "--workers", "1"],
                                capture_output=True, text=True, timeout=300)
    finally:
        os.killpg(first.pid, signal.SIGCONT)
    out, err = first.communicate(timeout=300)
    assert first.returncode == 0 and second.returncode == 0, (out, err, second.stdout, second.stderr)
    by_first, by_second = summary(out)[0], summary(second.stdout)[0]
    assert by_first >= 1 and by_second >= 1 and by_first + by_second == PHOTOS, (out, second.stdout)
    assert job_states(store) == {"done": PHOTOS} and stored_results(store) == serial


def test_a_worker_whose_batch_has_ended_claims_nothing_more(ana):
    """A pool worker is told its batch's process id: handed to another parent, it leaves the queue alone."""
    store, serial = ana
    batch.plan_jobs(store, force=True)
    orphan = batch.work_queue(store, parent=os.getpid())  # a process is never its own parent
    assert (orphan.analysed, orphan.dropped) == (0, 0) and job_states(store) == {"pending": PHOTOS}
    worker = batch.work_queue(store, parent=os.getppid())
    assert worker.analysed == PHOTOS and job_states(store) == {"done": PHOTOS}
    assert stored_results(store) == serial


def test_workers_of_a_batch_killed_alone_end_and_the_rerun_completes_it(ana):
    """Only the command is killed (not its process group): its pool worker ends by itself, nothing is lost."""
    store, serial = ana
    data_dir = store.data_dir
    run = _start_batch(store)
    try:
        workers = _wait_for(run, lambda: [p for p in psutil.Process(run.pid).children(recursive=True)
                                          if "spawn_main" in " ".join(p.cmdline())], "started a worker process")
        os.kill(run.pid, signal.SIGKILL)  # the command alone; its worker is handed to the system
        run.communicate(timeout=30)
        gone, alive = psutil.wait_procs(workers, timeout=30)
        assert not alive, "a worker of the killed batch is still running"
    finally:
        with suppress(ProcessLookupError):  # nothing of the batch is left when the test passes
            os.killpg(run.pid, signal.SIGKILL)
    states = job_states(store)
    assert set(states) <= {"done", "pending", "running"}
    _rerun(data_dir)
    assert job_states(store) == {"done": PHOTOS} and stored_results(store) == serial


@pytest.mark.parametrize("all_option", [False, True], ids=["queued", "--all"])
def test_ctrl_c_stops_a_batch_with_one_line_and_the_rerun_completes_it(ana, all_option):
    store, serial = ana
    run = _paused_batch(store, 1, all_option=all_option)
    os.killpg(run.pid, signal.SIGINT)  # what Ctrl-C in a terminal sends: the command and its workers
    os.killpg(run.pid, signal.SIGCONT)
    out, err = run.communicate(timeout=60)
    assert run.returncode == 130, (job_states(store), out, err)
    # Run again, `reanalyze --all` would queue every photo again: the line says how to complete the rest.
    assert err.strip().splitlines() == [f"tracker: {INTERRUPTED_ALL if all_option else INTERRUPTED}"]
    finished = job_states(store).get("done", 0)
    assert 0 < finished < PHOTOS
    assert summary(_rerun(store.data_dir).stdout) == (PHOTOS - finished, finished, 0)  # exactly the rest
    assert job_states(store) == {"done": PHOTOS} and stored_results(store) == serial


def test_import_analyses_what_it_adds_with_workers_and_reports_it(tmp_path):
    data_dir = tmp_path / "data"
    shutil.copytree(SAMPLES / "demo-ana", tmp_path / "import" / "demo-ana")
    lines = (SAMPLES / "manifest.csv").read_text().splitlines()
    manifest = tmp_path / "import" / "manifest.csv"
    manifest.write_text("\n".join([lines[0], *(x for x in lines if x.startswith("demo-ana"))]) + "\n")
    done = subprocess.run([*tracker_command(), "--data-dir", str(data_dir), "import", "--workers", "2",
                           str(manifest)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip().splitlines()[-1] == f"{PHOTOS} imported, 0 already in the store, 0 refused, of {PHOTOS}."
    assert summary(done.stdout) == (PHOTOS, 0, 0)
    assert re.search(r"photos/s; 2 workers, peak memory per worker [1-9]\d* MB\)\.$", done.stdout, re.M), done.stdout
    with closing(open_store(data_dir)) as store:
        assert len(stored_results(store)) == PHOTOS
        assert job_states(store) == {"done": PHOTOS}


def _one_core() -> None:
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def test_every_core_by_default_means_the_cores_this_process_may_use(ana):
    # The default was os.cpu_count(), the machine's cores: in a container limited to 2 of a host's 64 cores, 64
    # workers of some 300 MB each took turns on 2. Here the batch may use one core (an affinity, as `taskset -c`).
    store, serial = ana
    done = subprocess.run([*tracker_command(), "--data-dir", str(store.data_dir), "reanalyze", "--all"],
                          capture_output=True, text=True, timeout=300, preexec_fn=_one_core)
    assert done.returncode == 0, done.stdout + done.stderr
    assert summary(done.stdout) == (PHOTOS, 0, 0)
    assert re.search(r"photos/s; 1 worker, peak memory per worker [1-9]\d* MB\)\.$", done.stdout, re.M), done.stdout
    assert "warning" not in done.stderr, done.stderr
    assert stored_results(store) == serial


def test_more_workers_than_the_cores_are_accepted_with_a_warning(ana):
    # 500 workers on 2 cores were accepted without a word, and took 6 times as long as 2 (each imports the analysis).
    store, _ = ana
    done = subprocess.run([*tracker_command(), "--data-dir", str(store.data_dir), "reanalyze", "--workers", "3"],
                          capture_output=True, text=True, timeout=300, preexec_fn=_one_core)
    assert done.returncode == 0, done.stdout + done.stderr
    assert summary(done.stdout) == (0, PHOTOS, 0)  # all current: the warning comes before anything is planned
    assert done.stderr.splitlines() == [
        "tracker: warning: --workers 3 is more than the 1 core this command may use: the workers take turns on them, "
        "each holding its own memory (some 400 MB for 12-MP photos), and finish no sooner than 1 (the default) "
        "unless the photos are read from a slow network store."], done.stderr


def test_a_dask_worker_with_two_threads_counts_once_and_workers_is_not_used_with_an_address(ana):
    # A running cluster's worker started with --nthreads 2 runs two of the batch's tasks: the summary had said
    # "2 workers" of one process. --workers does nothing with a cluster's address, and now says so.
    from distributed import LocalCluster

    store, serial = ana
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=True, dashboard_address="127.0.0.1:0") as cluster:
        address = cluster.scheduler_address
        done = subprocess.run([*tracker_command(), "--data-dir", str(store.data_dir), "reanalyze", "--all",
                               "--workers", "4", "--dask", address], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert summary(done.stdout) == (PHOTOS, 0, 0)
    assert re.search(r"photos/s; 1 worker, peak memory per worker [1-9]\d* MB\)\.$", done.stdout, re.M), done.stdout
    assert f"tracker: warning: --workers 4 is not used with --dask {address}: the batch runs one task on each " \
           "worker thread of that cluster" in done.stderr, done.stderr
    assert stored_results(store) == serial


def test_the_summary_counts_only_the_workers_that_took_part(capsys):
    # A Dask worker that joined late with another release claims nothing; its tally is in the report all the same.
    from tracker.cli import _print_batch_report

    reason = "it runs metric version 1.0"
    _print_batch_report(batch.BatchReport(
        analysed=8, seconds=2.0, peak_worker_rss_mb=300.0, refused=[reason],
        workers=[batch.WorkerTally(analysed=8, peak_rss_mb=300.0), batch.WorkerTally(refused=reason)]))
    assert capsys.readouterr().out.splitlines() == [
        f"A worker of the cluster took no part: {reason}.",
        "8 analysed, 0 skipped as current, 0 failed "
        "(in 2.0 s, 4.00 photos/s; 1 worker, peak memory per worker 300 MB)."]


@pytest.mark.parametrize("arguments, message", [
    (["--workers", "0"], "--workers must be at least 1"),
    (["--patient", "nobody"], "there is no patient 'nobody'"),
])
def test_bad_batch_options_are_one_line_usage_errors(tmp_path, arguments, message):
    done = subprocess.run([*tracker_command(), "--data-dir", str(tmp_path / "data"), "reanalyze", *arguments],
                          capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stderr, done.stdout) == (2, f"tracker: error: {message}\n", "")


@pytest.mark.parametrize("all_option", [False, True], ids=["queued", "--all"])
def test_a_photo_another_batch_holds_is_left_to_it_and_the_report_says_what_to_run(ana, all_option):
    # Another machine's batch holds one photo (a live claim). This batch does the rest and ends; the report used to
    # say "run the same command again", which after --all queues every photo again.
    store, serial = ana
    batch.plan_jobs(store, force=True)
    [held] = batch.claim_jobs(store, "another-machine:4321:0badcafe", limit=1)
    done = subprocess.run([*tracker_command(), "--data-dir", str(store.data_dir), "reanalyze",
                           *(["--all"] if all_option else [])], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert summary(done.stdout)[0] == PHOTOS - 1
    assert done.stdout.splitlines()[-1] == (
        "1 photo is still held or queued by another batch at work on this store, which finishes it; should that "
        "batch have stopped, `tracker reanalyze` (without --all) completes it.")
    assert job_states(store) == {"done": PHOTOS - 1, "running": 1}
    # That batch stopped (its lease ran out): the command the report names completes exactly the rest.
    with store.session() as s:
        s.execute(update(AnalysisJob).where(AnalysisJob.id == held.job_id)
                  .values(lease_expires_at=datetime.now() - timedelta(seconds=1)))
    rerun = subprocess.run([*tracker_command(), "--data-dir", str(store.data_dir), "reanalyze"],
                           capture_output=True, text=True, timeout=300)
    assert summary(rerun.stdout) == (1, PHOTOS - 1, 0), rerun.stdout + rerun.stderr
    assert job_states(store) == {"done": PHOTOS} and stored_results(store) == serial


def _photo_ids(store) -> list[int]:
    with store.session() as s:
        return list(s.scalars(select(Photo.id).order_by(Photo.id)))


@pytest.mark.parametrize("command, address", [
    ("reanalyze", "nonsense"), ("reanalyze", "tcp://127.0.0.1"), ("reanalyze", "foo://host:8786"),
    ("import", "host-without-port"),
])
def test_a_dask_address_dask_cannot_read_is_refused_in_one_line_before_anything_is_queued(ana, command, address):
    # `--dask HOST` without a port used to end in a traceback from deep in Dask's client, after `--all` had queued
    # every photo again.
    store, serial = ana
    before = _all_rows(store), _photo_ids(store)
    arguments = ["reanalyze", "--all"] if command == "reanalyze" else ["import", str(SAMPLES / "manifest.csv")]
    done = subprocess.run([*tracker_command(), "--data-dir", str(store.data_dir), *arguments, "--dask", address],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stdout == "", (done.stdout, done.stderr)
    assert re.fullmatch(rf"tracker: error: --dask must be `local` or a Dask scheduler's address such as "
                        rf"tcp://host:8786, not '{re.escape(address)}' \([^\n]+\)\n", done.stderr), done.stderr
    assert (_all_rows(store), _photo_ids(store)) == before  # no job queued, no photo added
