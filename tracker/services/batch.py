"""Batch analysis that scales: a work queue in the database, worked by processes or a Dask cluster.

Planning
    :func:`plan_jobs` puts one job in ``analysis_jobs`` for every photo on a course's time line
    that has no result under the course's current cache key (:func:`tracker.services.analyses.
    analysis_key`: baseline, regions, metric version), or for every photo when forced. Jobs of an
    older key, and of photos taken off the time line, are dropped (unless a live worker holds
    them). Planning twice queues nothing twice (one job per photo and key, inserted with ``ON
    CONFLICT DO NOTHING``). Machines of different releases on one store: planning is refused
    while another machine's workers hold jobs of a newer metric version, and a worker that
    claims a newer release's job gives its claim back and stops (:class:`VersionMismatch`,
    :attr:`BatchReport.newer_version`), so an older release never takes a newer one's queue.
    :func:`preview_reanalysis` counts the same photos, and why each is out of date, without
    queuing anything (``tracker reanalyze --dry-run``).

Claiming
    A worker claims a few jobs of one course at a time (:func:`claim_jobs`): it sets them
    ``running`` with its name (``host:pid:token``) and a lease. It stays on its course while
    that has work, then takes a course no other worker is on, so each course's baseline is
    prepared by one worker. On PostgreSQL the rows are chosen with ``SELECT … FOR UPDATE SKIP
    LOCKED``, so any number of processes on any number of machines claim disjoint jobs; on
    SQLite every transaction of the store begins ``IMMEDIATE`` (one writer at a time), which
    makes the select-then-update atomic. A lease that expired is claimed again, and so is, at
    once, one whose owner is a process of this machine that no longer exists (a killed worker);
    a job claimed :data:`MAX_ATTEMPTS` times without finishing (a photo that kills its worker) is
    marked failed instead. Leases compare the machines' clocks: keep them in sync.

Completing
    The worker analyses the photo (:func:`tracker.services.analyses.analyse_stored_photo`, the
    same function the app uses) outside any transaction, then in one transaction marks its job
    done, if its lease is still its own, and stores the result under the job's key (one row per
    key: a forced re-analysis overwrites it). A worker killed before that commit leaves the job
    to be claimed again; after it, the job is done: nothing is lost or stored twice. A photo
    whose file (or baseline's) the store cannot give back as stored (missing on this machine,
    unreadable, damaged) gets no result: its job is marked failed with the reason, and the next
    run's planning queues it again.

Running
    :func:`work_queue` is the one loop every worker runs: in this process, which with
    ``workers`` > 1 works beside ``workers - 1`` processes of a
    :class:`~concurrent.futures.ProcessPoolExecutor` (``spawn``; each opens its own engine), or
    beside a Dask ``LocalCluster`` of ``workers - 1`` (at least one) that starts meanwhile
    (:func:`run_batch` with ``dask="local"``), and in each Dask worker; a Dask cluster at an
    address is left to do the batch alone, once every worker of it is found to run this
    process's versions (:func:`analysis_versions`; else :class:`VersionMismatch`, before any
    work is sent) and to open the store (else :class:`StoreError`); a worker that joins later
    and fails either claims nothing and says why in its tally (:attr:`BatchReport.refused`),
    while the others finish the batch. Workers read photos from the photo store
    (:class:`tracker.store.photostore.PhotoStore`, the one interface to the files) at the
    store's address, so every worker must reach the same data directory (README, Deployment).
    The worker that finishes a course's last job stores the course's summary (its status for
    the app). When the workers are done, any summary still older than its course's results
    (a worker stopped in between) is stored again, and :func:`run_batch` reports what was
    analysed, what was current and what failed, read from the queue (so work by other machines
    on the same batch counts).
"""

from __future__ import annotations

import logging
import os
import resource
import secrets
import signal
import socket
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import datetime, timedelta
import multiprocessing

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from tracker.analysis import AnalysisResult, metrics
from tracker.memory import ALLOCATOR_ENVIRON, keep_photo_buffers
from tracker.services.access import Actor, NotFound, ServiceError, require
from tracker.services.analyses import (
    ANALYSIS_FAILED,
    AnalysisKey,
    PhotoUnavailable,
    analyse_stored_photo,
    analysis_key,
    baseline_photo,
    store_summary,
    timeline_photos,
    write_result,
)
from tracker.store.db import Store, StoreError, open_store
from tracker.store.models import Analysis, AnalysisJob, Course, CourseSummary, Photo
from tracker.store.photostore import _process_exists  # the one liveness check of the store's writers

_log = logging.getLogger(__name__)

__all__ = ["LEASE_SECONDS", "MAX_ATTEMPTS", "WORKER_STOPPED", "StoreAddress", "PlanCounts", "ClaimedJob",
           "WorkerTally", "BatchReport", "plan_jobs", "claim_jobs", "complete_job", "release_dead_claims",
           "work_queue", "work_at", "run_batch", "refresh_summaries", "reanalyse", "Preview",
           "preview_reanalysis", "VersionMismatch", "ClusterError", "analysis_versions"]

#: How long a claim holds before another process may take the job (a 12-MP photo takes about a second).
LEASE_SECONDS = 600
#: Claims of one job before it is given up as failed (each claim's worker died before finishing it).
MAX_ATTEMPTS = 3
#: The reason stored for a job whose workers died every time they analysed it.
WORKER_STOPPED = (f"The process analysing this photo stopped {MAX_ATTEMPTS} times before finishing "
                  "(it may need more memory than a worker has); run tracker reanalyze to try again.")
_CLAIM_SIZE = 2  # jobs per claim: few, so that the last photos spread over the workers
WORKER_WAIT_SECONDS = 30.0  # how long a batch sent to a Dask cluster waits for the cluster's first worker
_POLL_SECONDS = 0.5


@dataclass(frozen=True)
class StoreAddress:
    """Where a worker finds the store: the data directory (photos) and the database URL (None: SQLite there)."""

    data_dir: str
    database_url: str | None = None

    @classmethod
    def of(cls, store: Store) -> StoreAddress:
        url = None if store.dialect == "sqlite" else store.engine.url.render_as_string(hide_password=False)
        return cls(str(store.data_dir), url)


@dataclass(frozen=True)
class PlanCounts:
    """What planning found: photos queued for analysis, photos whose result is current."""

    queued: int
    current: int


@dataclass(frozen=True)
class ClaimedJob:
    """A job this worker holds: the photo, its cache key (None: the course's key changed since), its course.

    ``newer``: the metric version of a job queued by a newer release than this worker's, which is
    what makes its key differ: it is that release's to do, not out of date (None otherwise).
    """

    job_id: int
    photo_id: int
    content_hash: str
    key: AnalysisKey | None
    course_id: int
    newer: str | None = None


@dataclass
class WorkerTally:
    """What one worker did, the most memory its process held (MB, peak resident set) and its CPU time.

    ``cpu_seconds`` is the processor time (user + system) the worker's process spent on the
    batch: a process started for it counts from its start (imports, opening the store), this
    process from the first claim. ``owner`` is the worker's name in the queue (``host:pid:token``).
    """

    analysed: int = 0
    lost_leases: int = 0
    dropped: int = 0
    unavailable: int = 0  # photos whose file could not be read as stored: failed, no result stored
    summaries: int = 0  # courses whose summary this worker stored, having finished their last job
    peak_rss_mb: float = 0.0
    cpu_seconds: float = 0.0
    owner: str = ""
    newer_version: str | None = None  # the metric version of work queued by a newer release, which stopped it
    refused: str | None = None  # why a Dask worker took no part (another version, no store): it claimed nothing

    @property
    def process(self) -> str:
        """The worker's process (``host:pid``): a Dask worker with several threads runs one task a thread."""
        return self.owner.rsplit(":", 1)[0]


@dataclass
class BatchReport:
    """The end of a batch: counts read from the queue, and one-line reasons for failed photos."""

    analysed: int = 0
    current: int = 0
    failed: list[tuple[int, str]] = field(default_factory=list)  # (photo id, reason)
    elsewhere: int = 0  # jobs still held by live processes elsewhere (another machine's run)
    seconds: float = 0.0
    peak_worker_rss_mb: float = 0.0
    workers: list[WorkerTally] = field(default_factory=list)  # what each worker (a Dask worker's thread) did
    newer_version: str | None = None  # a newer release's metric version found in the queue: its work was left to it
    refused: list[str] = field(default_factory=list)  # why Dask workers took no part, one line per reason

    @property
    def worker_processes(self) -> int:
        """The processes that took part: a Dask worker running the batch on several threads counts once."""
        return len({t.process for t in self.workers if not t.refused})

    @property
    def worker_cpu_seconds(self) -> float:
        """Processor time of all workers' processes (:attr:`WorkerTally.cpu_seconds`), each counted once: the
        tasks of one process's threads each measured the whole process over the same time."""
        cpu: dict[str, float] = {}
        for t in self.workers:
            cpu[t.process] = max(cpu.get(t.process, 0.0), t.cpu_seconds)
        return sum(cpu.values())


# --- planning --------------------------------------------------------------------------------

def _key_columns(key: AnalysisKey) -> tuple[str, str, str]:
    return key.baseline_hash, key.metric_version, key.regions


def _course_ids(store: Store, course_ids: Sequence[int] | None) -> list[int]:
    """These courses, or every course (None), in id order."""
    if course_ids is not None:
        return list(course_ids)
    with store.session() as s:
        return list(s.scalars(select(Course.id).order_by(Course.id)))


def _key_and_timeline(s: Session, course_id: int) -> tuple[AnalysisKey, list[int]] | None:
    """The course's current key and the ids of the photos on its time line; None without a baseline."""
    course = s.get(Course, course_id)
    key = None if course is None else analysis_key(s, course)
    if key is None:
        return None
    return key, [p.id for p in timeline_photos(s, course_id, baseline_photo(s, course_id))]


def _insert_job(s: Session, values: dict) -> None:
    dialect = sqlite
    if s.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql as dialect  # imported where used: 0.1-0.2 s a process
    s.execute(dialect.insert(AnalysisJob).values(**values).on_conflict_do_nothing())


def _version_number(version: str) -> tuple[int, ...] | None:
    """``"2.4"`` as ``(2, 4)``, for ordering metric versions; None for one that is not dotted numbers."""
    parts = version.split(".")
    return tuple(int(p) for p in parts) if all(p.isdigit() for p in parts) else None


def _is_newer(version: str) -> bool:
    """Whether ``version`` is a later metric version than this release's (False where either is not numbered)."""
    mine, theirs = _version_number(metrics.METRIC_VERSION), _version_number(version)
    return mine is not None and theirs is not None and theirs > mine


def _refuse_if_a_newer_batch_runs(store: Store, scope: Sequence[int] | None) -> None:
    """Raise :class:`VersionMismatch` while another machine's workers hold jobs of a newer metric version.

    Planning replaces the jobs of other keys with this release's, so an older release planning
    beside a newer one's batch (a rolling upgrade of a clinic group's machines) would take its
    queue away and queue the photos again under the older version. Only live claims count: a
    newer batch that was interrupted, or a release rolled back on purpose, does not stand in the
    way once its leases have run out.
    """
    with store.session() as s:
        held = s.execute(_in_scope(select(AnalysisJob.metric_version, func.count()), scope).where(
            AnalysisJob.state == "running", AnalysisJob.lease_expires_at > _now(),
            AnalysisJob.metric_version != metrics.METRIC_VERSION).group_by(AnalysisJob.metric_version)).all()
    newer = [(version, n) for version, n in held if _is_newer(version)]
    if newer:
        version, n = max(newer, key=lambda item: _version_number(item[0]))
        raise VersionMismatch(
            f"Another machine's batch is analysing photos of this store with metric version {version} ({n} held "
            f"now); this one runs {_versions_text(analysis_versions())}: upgrade it before running batches here.")


def plan_jobs(store: Store, course_ids: Sequence[int] | None = None, *, force: bool = False) -> PlanCounts:
    """Queue the photos of these courses (every course: None) whose result is not current.

    ``force`` queues every photo on the time lines again, current or not. Runs one short
    transaction per course, so planning a large archive does not hold the store. Refused
    (:class:`VersionMismatch`) while another machine's workers analyse under a newer metric
    version.
    """
    _refuse_if_a_newer_batch_runs(store, course_ids)
    queued = current = 0
    now = _now()
    for course_id in _course_ids(store, course_ids):
        with store.session() as s:
            if (found := _key_and_timeline(s, course_id)) is None:
                continue
            key, timeline = found
            have = set(s.scalars(select(Analysis.photo_id).where(
                Analysis.photo_id.in_(timeline), Analysis.baseline_hash == key.baseline_hash,
                Analysis.metric_version == key.metric_version, Analysis.regions_key == key.regions)))
            jobs = {}
            for job in s.scalars(select(AnalysisJob).where(AnalysisJob.course_id == course_id)):
                same_key = (job.baseline_hash, job.metric_version, job.regions_key) == _key_columns(key)
                if same_key and job.photo_id in timeline:
                    jobs[job.photo_id] = job
                elif job.state != "running" or job.lease_expires_at is None or job.lease_expires_at < now:
                    s.delete(job)  # a running one is finished and then dropped by its worker, unless it lapsed
            for photo_id in timeline:
                job = jobs.get(photo_id)
                if photo_id in have and not force and (job is None or job.state not in ("pending", "running")):
                    current += 1
                    continue
                queued += 1
                if job is None:
                    _insert_job(s, dict(photo_id=photo_id, course_id=course_id, baseline_hash=key.baseline_hash,
                                        metric_version=key.metric_version, regions_key=key.regions,
                                        state="pending", attempts=0))
                elif job.state in ("done", "failed"):
                    job.state, job.attempts, job.error = "pending", 0, None
                    job.finished_at = job.finished_by = job.lease_owner = job.lease_expires_at = None
    return PlanCounts(queued, current)


# --- claiming and completing -------------------------------------------------------------------

def _now() -> datetime:
    # The queue's own clock, to the microsecond (the store's time stamps are whole seconds): a course's
    # summary is current when computed after its last job finished (refresh_summaries), and both may
    # fall in one second.
    return datetime.now()


def _owner_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def _in_scope(query, scope: Sequence[int] | None):
    return query if scope is None else query.where(AnalysisJob.course_id.in_(scope))


def release_dead_claims(store: Store, scope: Sequence[int] | None = None) -> int:
    """Let the jobs held by dead processes of this machine be claimed at once; returns how many."""
    host = socket.gethostname()
    with store.session() as s:
        held = s.execute(_in_scope(select(AnalysisJob.id, AnalysisJob.lease_owner).where(
            AnalysisJob.state == "running", AnalysisJob.lease_owner.like(f"{host}:%")), scope)).all()
        dead = [job_id for job_id, owner in held
                if owner.count(":") == 2 and owner.split(":")[1].isdigit()
                and not _process_exists(int(owner.split(":")[1]))]
        if dead:
            s.execute(update(AnalysisJob).where(AnalysisJob.id.in_(dead), AnalysisJob.state == "running")
                      .values(lease_expires_at=_now() - timedelta(seconds=1)))
    return len(dead)


def _expired(now: datetime):
    """Jobs whose worker's lease has run out."""
    return and_(AnalysisJob.state == "running", AnalysisJob.lease_expires_at < now)


def _claimable(now: datetime):
    return and_(or_(AnalysisJob.state == "pending", _expired(now)), AnalysisJob.attempts < MAX_ATTEMPTS)


def _course_to_claim(s: Session, scope: Sequence[int] | None, now: datetime, prefer: int | None) -> int | None:
    """The course to claim from: ``prefer`` while it has work, else one nobody works on, else any.

    A worker that stays on one course prepares its baseline once; two workers on one course
    would each prepare it. Only when every course with work is taken do workers share one.
    """
    claimable = _in_scope(select(AnalysisJob.course_id), scope).where(_claimable(now))
    if prefer is not None and s.scalar(claimable.where(AnalysisJob.course_id == prefer).limit(1)) is not None:
        return prefer
    taken = select(AnalysisJob.course_id).where(AnalysisJob.state == "running", AnalysisJob.lease_expires_at >= now)
    free = s.scalar(claimable.where(AnalysisJob.course_id.not_in(taken)).order_by(AnalysisJob.course_id).limit(1))
    return free if free is not None else s.scalar(claimable.order_by(AnalysisJob.course_id).limit(1))


def claim_jobs(store: Store, owner: str, scope: Sequence[int] | None = None, *, limit: int = _CLAIM_SIZE,
               lease_seconds: float = LEASE_SECONDS, prefer: int | None = None,
               batch_id: str | None = None) -> list[ClaimedJob]:
    """Claim up to ``limit`` jobs of one course for ``owner`` (pending ones, or ones whose lease expired).

    The course is ``prefer`` (the owner's last) while it has jobs, else one no other worker
    holds jobs of, so that each worker prepares a baseline once and keeps it from one photo to
    the next; only at the end of a batch do workers share a course.
    """
    now = _now()
    with store.session() as s:
        s.execute(_in_scope(update(AnalysisJob), scope).where(_expired(now), AnalysisJob.attempts >= MAX_ATTEMPTS)
                  .values(state="failed", error=WORKER_STOPPED, finished_at=now, finished_by=batch_id,
                          lease_owner=None, lease_expires_at=None).execution_options(synchronize_session=False))
        course_id = _course_to_claim(s, scope, now, prefer)
        if course_id is None:
            return []
        claimable = _in_scope(select(AnalysisJob.id), scope).where(_claimable(now))
        ids = list(s.scalars(claimable.where(AnalysisJob.course_id == course_id).order_by(AnalysisJob.photo_id)
                             .limit(limit).with_for_update(skip_locked=True)))
        if not ids:  # another machine's claim holds that course's rows this instant: take any
            ids = list(s.scalars(claimable.order_by(AnalysisJob.course_id, AnalysisJob.photo_id).limit(limit)
                                 .with_for_update(skip_locked=True)))
        if not ids:
            return []
        s.execute(update(AnalysisJob).where(AnalysisJob.id.in_(ids)).values(
            state="running", lease_owner=owner, lease_expires_at=now + timedelta(seconds=lease_seconds),
            attempts=AnalysisJob.attempts + 1).execution_options(synchronize_session=False))
        rows = s.execute(select(AnalysisJob, Photo.content_hash).join(Photo, Photo.id == AnalysisJob.photo_id)
                         .where(AnalysisJob.id.in_(ids)).order_by(AnalysisJob.course_id, AnalysisJob.photo_id)).all()
        keys: dict[int, AnalysisKey | None] = {}
        claimed = []
        for job, content_hash in rows:
            if job.course_id not in keys:
                keys[job.course_id] = analysis_key(s, s.get(Course, job.course_id))
            key = keys[job.course_id]
            current = key is not None and _key_columns(key) == (job.baseline_hash, job.metric_version,
                                                                 job.regions_key)
            claimed.append(ClaimedJob(job.id, job.photo_id, content_hash, key if current else None, job.course_id,
                                      newer=None if current or not _is_newer(job.metric_version)
                                      else job.metric_version))
        return claimed


def _finish(s: Session, job: ClaimedJob, owner: str, batch_id: str | None, **values) -> bool:
    """Mark a job this owner still holds as finished by ``batch_id``; False when its lease was lost to another one."""
    done = s.execute(update(AnalysisJob).where(AnalysisJob.id == job.job_id, AnalysisJob.state == "running",
                                               AnalysisJob.lease_owner == owner)
                     .values(lease_owner=None, lease_expires_at=None, finished_at=_now(), finished_by=batch_id,
                             **values)
                     .execution_options(synchronize_session=False))
    return done.rowcount == 1


def complete_job(store: Store, job: ClaimedJob, owner: str, result: AnalysisResult, *,
                 batch_id: str | None = None) -> bool:
    """Store the job's result and mark it done (by ``batch_id``), in one transaction; False when the lease was lost."""
    with store.session() as s:
        if not _finish(s, job, owner, batch_id, state="done", error=None if result.ok else (result.error or "")[:400]):
            return False
        write_result(s, job.photo_id, job.key, result, replace=True)
    return True


def _fail_job(store: Store, job: ClaimedJob, owner: str, reason: str, batch_id: str | None = None) -> bool:
    """Mark a job failed with ``reason`` and store no result; False when the lease was lost.

    Planning queues a failed job again, so the next run tries the photo again.
    """
    with store.session() as s:
        return _finish(s, job, owner, batch_id, state="failed", error=reason[:400])


def _give_back(store: Store, jobs: Sequence[ClaimedJob], owner: str) -> None:
    """Return jobs this owner holds to the queue as they were before it claimed them."""
    with store.session() as s:
        s.execute(update(AnalysisJob).where(AnalysisJob.id.in_([job.job_id for job in jobs]),
                                            AnalysisJob.state == "running", AnalysisJob.lease_owner == owner)
                  .values(state="pending", lease_owner=None, lease_expires_at=None,
                          attempts=AnalysisJob.attempts - 1).execution_options(synchronize_session=False))


def _give_back_after_error(store: Store, jobs: Sequence[ClaimedJob], owner: str) -> None:
    """Give back the jobs a worker still holds as an error ends its work, if the database lets it.

    What can end a worker's work is the database (a connection lost, a lock waited on too long)
    or an interrupt, never a photo (its analysis's errors are its result): so the photos go back
    as they were, attempts included. Kept, their claims would hold them for the rest of their
    lease (:data:`LEASE_SECONDS`) wherever this process lives on (a Dask worker, whose task Dask
    runs again, or this machine's other batches), not only until the next run. With the
    database out of reach they stay claimed, as before: the lease, or :func:`release_dead_claims`
    once this process has ended, frees them.
    """
    if not jobs:
        return
    try:
        _give_back(store, jobs, owner)
    except Exception as exc:  # noqa: BLE001 - the error that ended the work is the one raised
        _log.debug("%d claimed photos could not be given back (%s); they wait for their lease", len(jobs),
                   type(exc).__name__)


def _drop_job(store: Store, job: ClaimedJob, owner: str) -> None:
    """Remove a job whose course's key changed since it was queued (planning queues the new one)."""
    with store.session() as s:
        s.execute(delete(AnalysisJob).where(AnalysisJob.id == job.job_id, AnalysisJob.lease_owner == owner))


# --- working -----------------------------------------------------------------------------------

def _analysed(store: Store, job: ClaimedJob) -> AnalysisResult:
    """The photo's result; :class:`PhotoUnavailable` when its file (or its baseline's) cannot be read as stored."""
    try:
        return analyse_stored_photo(store.photos, job.key, job.photo_id, job.content_hash)
    except PhotoUnavailable:
        raise
    except Exception as exc:  # noqa: BLE001 - stored as the photo's failed result; the batch goes on
        _log.warning("analysis of photo %d failed: %s", job.photo_id, type(exc).__name__)
        return AnalysisResult.failed(ANALYSIS_FAILED)


def work_queue(store: Store, scope: Sequence[int] | None = None, *,
               lease_seconds: float = LEASE_SECONDS, parent: int | None = None,
               wanted: Callable[[], bool] | None = None, batch_id: str | None = None) -> WorkerTally:
    """Claim, analyse and complete jobs until none is left to claim: what every worker runs.

    ``parent``: the process id of the batch that started this worker. Once this process's
    parent is another (the batch was killed alone, and this process was handed to the
    system), nothing more is claimed: what it holds is finished, the rest is left for the next
    run, instead of working on for a batch nobody is waiting for. ``wanted``, asked before
    each claim, does the same where there is no parent to watch (a Dask task whose batch has
    ended: :func:`_task_still_wanted`).
    """
    cpu_at_start = time.process_time()
    owner = _owner_name()
    tally = WorkerTally(owner=owner)
    course_id = None
    try:
        while True:
            if parent is not None and os.getppid() != parent:
                _log.warning("the batch that started this worker has ended; it stops claiming photos")
                break
            if _STOPPING is not None and _STOPPING.is_set():
                break  # the batch is being stopped (Ctrl-C): what this worker held is done
            if wanted is not None and not wanted():
                _log.warning("the batch that sent this task has ended; it stops claiming photos")
                break
            _IN_QUEUE.set()
            jobs = claim_jobs(store, owner, scope, lease_seconds=lease_seconds, prefer=course_id, batch_id=batch_id)
            if not jobs:
                if release_dead_claims(store, scope):
                    continue
                break
            course_id = jobs[-1].course_id
            if newer := [job.newer for job in jobs if job.newer]:
                # A newer release queued this work (and may be running it): leave all of it to that release.
                _give_back(store, jobs, owner)
                tally.newer_version = max(newer, key=_version_number)
                _log.warning("the queue holds work of a newer release (metric version %s); this worker stops",
                             tally.newer_version)
                break
            for held, job in enumerate(jobs):
                try:
                    if job.key is None:
                        _drop_job(store, job, owner)
                        tally.dropped += 1
                        continue
                    try:
                        result = _analysed(store, job)
                    except PhotoUnavailable as exc:  # the store's state on this machine: no result, tried next run
                        done = _fail_job(store, job, owner, str(exc), batch_id)
                        tally.unavailable += done
                    else:
                        done = complete_job(store, job, owner, result, batch_id=batch_id)
                        tally.analysed += done
                    tally.lost_leases += not done
                except BaseException:
                    _give_back_after_error(store, jobs[held:], owner)
                    raise
            tally.summaries += _store_summary_if_finished(store, course_id)
    finally:
        _IN_QUEUE.clear()
    tally.peak_rss_mb = _peak_rss_mb()
    tally.cpu_seconds = time.process_time() - cpu_at_start
    return tally


def _store_summary_if_finished(store: Store, course_id: int) -> bool:
    """Store the course's summary once none of its jobs is left queued or held; whether it did.

    Called by each worker after the jobs it claimed, so the worker that finishes a course's last
    job stores its summary (should two finish the last two at once, both see every result and
    store the same): the app shows each course's new status as soon as it is done, and the end
    of a batch (:func:`refresh_summaries`) has nothing left to do but check, instead of storing
    every course's summary one after another in one process.
    """
    with store.session() as s:
        if s.scalar(select(func.count()).select_from(AnalysisJob).where(
                AnalysisJob.course_id == course_id, AnalysisJob.state.in_(("pending", "running")))):
            return False
    # Imported outside the transaction: 1.2 s the first time in a process, which on SQLite would hold
    # the store's write lock (every transaction takes it; the app's pages would wait).
    import tracker.recovery  # noqa: F401

    with store.session() as s:
        course = s.get(Course, course_id)
        if course is not None:
            store_summary(s, course)
    return course is not None


_IN_QUEUE = threading.Event()  # set while work_queue holds or claims jobs in this process
_STOPPING = None  # in a pool worker, the batch's event for "stop claiming" (_start_pool_worker)


def _start_pool_worker(parent: int, stopping) -> None:
    """Initializer of the pool's workers: stop with the batch ``parent``, however it stops.

    *Stopped* (Ctrl-C): the batch sets ``stopping``; :func:`work_queue` finishes the photos
    it holds and claims no more. The workers do not take the terminal's interrupt themselves
    (:func:`_run_processes` starts them with it blocked): one still importing would print a
    traceback, and one mid-photo would leave it to wait for its lease.

    *Killed alone*, a batch leaves its workers to the system. One that was between photos, or
    still waiting for its task (which a dead parent never sends: it would wait for ever), ends
    within a second; one in :func:`work_queue` first finishes the photos it holds (they are
    claimed: cutting them short would leave them to wait for their lease to expire).
    """
    global _STOPPING
    _STOPPING = stopping
    keep_photo_buffers()

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent and not _IN_QUEUE.is_set():
                os._exit(0)

    threading.Thread(target=watch, name="tracker-parent-watch", daemon=True).start()


def _peak_rss_mb() -> float:
    """This process's peak resident memory, MB: Linux's ``VmHWM`` (per program image), else ``ru_maxrss``.

    ``ru_maxrss`` of a spawned worker starts at its parent's size when it was forked, before the
    worker's own program replaced it; ``VmHWM`` counts the worker alone.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


_OPENED: dict[StoreAddress, Store] = {}
_WORKED: set[StoreAddress] = set()  # stores this process has worked a batch of


class ClusterError(ServiceError):
    """The Dask cluster a batch was sent to has no worker to do it, or went away during it."""


class VersionMismatch(ServiceError):
    """A worker runs another version of the analysis than the batch that queued its work, or this
    machine an older one than a batch another machine is running on the same store."""


def analysis_versions() -> tuple[str, str]:
    """This process's package and metric versions: what every worker of a batch must share with it.

    A worker of another metric version computes another key for each job it claims: it would
    drop an older release's jobs as out of date, and leave a newer one's (:func:`work_queue`).
    One of the same metric version but another release could store results the serial run
    would not give.
    """
    import tracker

    return tracker.__version__, metrics.METRIC_VERSION


def _versions_text(versions: tuple[str, str]) -> str:
    return f"tracker {versions[0]} with metric version {versions[1]}"


def work_at(address: StoreAddress, scope: Sequence[int] | None = None,
            lease_seconds: float = LEASE_SECONDS, parent: int | None = None,
            versions: tuple[str, str] | None = None, wanted: Callable[[], bool] | None = None,
            batch_id: str | None = None) -> WorkerTally:
    """:func:`work_queue` in a worker process (pool or Dask), with its own engine on the store at ``address``.

    One OpenCV thread per worker: the workers are the parallelism. ``parent`` as in
    :func:`work_queue` (the pool's workers get the batch's process id; a Dask worker's parent
    is its nanny, which Dask looks after; ``wanted`` as in :func:`work_queue`). ``versions``: the
    batch's :func:`analysis_versions`; a worker with others raises :class:`VersionMismatch`
    before claiming anything (a Dask worker can join a cluster after the batch checked its
    workers).
    """
    import cv2

    if versions is not None and tuple(versions) != analysis_versions():
        raise VersionMismatch(f"a worker on {socket.gethostname()} runs {_versions_text(analysis_versions())}, "
                              f"the batch {_versions_text(tuple(versions))}: install the same version on every "
                              "worker")
    cv2.setNumThreads(1)
    started = address not in _WORKED  # the first batch of this process: its start-up is the batch's
    _WORKED.add(address)
    store = _opened(address)
    cpu_before = time.process_time()
    tally = work_queue(store, scope, lease_seconds=lease_seconds, parent=parent, wanted=wanted, batch_id=batch_id)
    if started:
        tally.cpu_seconds += cpu_before
    return tally


def _opened(address: StoreAddress) -> Store:
    """This process's store at ``address``, opened once (:class:`StoreError` where there is none to open)."""
    if address not in _OPENED:
        _OPENED[address] = open_store(address.data_dir, address.database_url, upgrade=False, create=False)
    return _OPENED[address]


def _store_refusal(address: StoreAddress) -> str | None:
    """Why this process cannot open the store at ``address`` (not mounted, database out of reach), or None.

    Run on every worker of a Dask cluster before a batch is sent to it; the store it opens is
    the one the worker's tasks then use.
    """
    try:
        _opened(address)
    except StoreError as exc:
        return str(exc)
    return None


def _dask_task(address: StoreAddress, scope, lease_seconds: float, versions: tuple[str, str],
               batch_id: str | None = None) -> WorkerTally:
    """:func:`work_at` as a Dask task: a worker that cannot take part says why in its tally instead of raising.

    A worker of another version, or one that cannot open the store, claims nothing; raised, its
    error would end the whole command (the first error :meth:`Client.gather` meets) while the
    cluster's other workers were still analysing, and Dask would run the task again (``retries``)
    where it fails the same way. Returned, the other workers finish the batch and its report
    names the worker that took no part.
    """
    try:
        return work_at(address, scope, lease_seconds, None, versions, _task_still_wanted(), batch_id)
    except (VersionMismatch, StoreError) as exc:
        return WorkerTally(owner=socket.gethostname(), refused=str(exc))


def _task_still_wanted() -> Callable[[], bool]:
    """In a Dask task: whether the batch that sent it still waits for it.

    A batch that ends early (Ctrl-C, killed, a worker's error) closes its client, and the
    scheduler then cancels its tasks; but Dask cannot stop a task that is running, and each of
    ours loops over the queue: it would go on analysing the whole archive for a batch nobody
    waits for. The worker marks such a task ``cancelled``; :func:`work_queue` asks before each
    claim, finishes the photos it holds and stops.
    """
    from distributed import get_worker

    worker = get_worker()
    key = worker.get_current_task()

    def wanted() -> bool:
        task = worker.state.tasks.get(key)
        return task is not None and task.state != "cancelled"

    return wanted


# --- running a batch ---------------------------------------------------------------------------

def _remaining(store: Store, scope: Sequence[int] | None) -> int:
    with store.session() as s:
        return s.scalar(_in_scope(select(func.count()).select_from(AnalysisJob), scope)
                        .where(AnalysisJob.state.in_(("pending", "running")))) or 0


def _run_in_pool(store: Store, scope, workers: int, lease_seconds: float, batch_id: str) -> list[WorkerTally]:
    """This process and ``workers - 1`` started processes work the queue.

    This process has its imports done and its store open, so it analyses from the first
    second while the others start (spawn and imports take about 2 s of a core each); it
    would otherwise only wait for them.
    """
    address = StoreAddress.of(store)
    return _work_here_beside(store, scope, lease_seconds, batch_id, lambda done_here, stop: _run_processes(
        address, scope, workers - 1, lease_seconds, batch_id, stop))


def _work_here_beside(store: Store, scope, lease_seconds: float, batch_id: str,
                      others: Callable[[threading.Event, threading.Event], list[WorkerTally]]) -> list[WorkerTally]:
    """This process works the queue while ``others(done_here, stop)`` runs the batch's other workers in a thread.

    ``done_here`` is set once this process has found nothing left to claim, ``stop`` when it is
    being stopped (Ctrl-C, an error): ``others`` then starts nothing more and ends what it
    started. The tallies are this process's and those ``others`` returns; an exception of
    ``others`` is raised here once both are done (a worker that cannot open the store).
    """
    from_others: list[WorkerTally] = []
    failure: list[BaseException] = []
    done_here, stop = threading.Event(), threading.Event()

    def run_others() -> None:
        try:
            from_others.extend(others(done_here, stop))
        except BaseException as exc:  # noqa: BLE001 - raised again in the batch's thread below
            failure.append(exc)

    thread = threading.Thread(target=run_others, name="tracker-batch-workers")
    thread.start()
    try:
        here = _work_here(store, scope, lease_seconds, batch_id)
    except BaseException:
        stop.set()
        raise
    finally:
        done_here.set()
        try:
            thread.join()
        except BaseException:  # Ctrl-C while this process waits for the others: stop them too
            stop.set()
            thread.join()
            raise
    if failure:
        raise failure[0]
    return [here, *from_others]


def _run_processes(address: StoreAddress, scope, processes: int, lease_seconds: float, batch_id: str,
                   stop: threading.Event) -> list[WorkerTally]:
    """``processes`` spawned workers on the queue, run from a thread of their own; stopped with ``stop``."""
    context = multiprocessing.get_context("spawn")
    stopping = context.Event()
    if hasattr(signal, "pthread_sigmask"):
        # Blocked in this thread, the interrupt stays blocked in the processes it starts (as
        # multiprocessing's own resource tracker is started): Ctrl-C reaches this process alone,
        # which stops them through `stopping` (_start_pool_worker).
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    tallies = []
    for _ in range(MAX_ATTEMPTS + 1):  # a killed pool worker breaks the pool: start another on what is left
        try:
            with ProcessPoolExecutor(processes, mp_context=context, initializer=_start_pool_worker,
                                     initargs=(os.getpid(), stopping)) as pool:
                futures = [pool.submit(work_at, address, scope, lease_seconds, os.getpid(), batch_id=batch_id)
                           for _ in range(processes)]
                while wait(futures, timeout=0.2).not_done:
                    if stop.is_set():
                        stopping.set()
                tallies += [f.result() for f in futures]
            return tallies
        except BrokenProcessPool:
            _log.warning("a worker process of the batch stopped; its photos are claimed again")
            if stop.is_set():
                break
    return tallies


def _work_here(store: Store, scope, lease_seconds: float, batch_id: str) -> WorkerTally:
    """:func:`work_queue` in this process with one OpenCV thread, as every started worker has."""
    import cv2

    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        return work_queue(store, scope, lease_seconds=lease_seconds, batch_id=batch_id)
    finally:
        cv2.setNumThreads(threads)


def _local_cluster_settings() -> dict:
    """Dask settings of a ``LocalCluster`` started for a batch, where they cost analysis time.

    Each worker's statistical profiler (a stack sample every 10 ms) is off: no dashboard shows
    it. The ``MALLOC_TRIM_THRESHOLD_`` of 64 kB Dask sets in its workers is replaced by
    :data:`tracker.memory.ALLOCATOR_ENVIRON`, what the process pool's workers set for
    themselves (:func:`tracker.memory.keep_photo_buffers`): with Dask's, every large image array
    is mapped and zeroed afresh. A cluster started elsewhere keeps its own settings (README,
    Deployment).
    """
    import dask

    environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ", {})) | ALLOCATOR_ENVIRON
    return {"distributed.worker.profile.enabled": False, "distributed.nanny.pre-spawn-environ": environ}


def _run_on_dask(store: Store, scope, dask: str, workers: int, lease_seconds: float,
                 batch_id: str) -> list[WorkerTally]:
    """The batch on a Dask cluster: this process beside a ``LocalCluster``, or a running cluster's workers.

    With ``"local"``, as in :func:`_run_in_pool`, this process works the queue from the first
    second while a ``LocalCluster`` of ``workers - 1`` worker processes starts in a thread (a
    scheduler and fresh workers importing ``distributed`` and the analysis: 5-10 s, when
    nothing would otherwise be analysed); its workers join in once it is up. With ``workers``
    1 the cluster still has one worker, so that ``--dask local`` always runs on Dask: up to two
    processes analyse then. Should this process empty the queue before the cluster is up, the
    cluster is closed without work, once its workers have started (closing a half-started one
    waits for them). A cluster at an address does the whole batch and this process only waits:
    the machine a batch is sent from (a login node, say) need not be one meant to analyse.
    """
    address = StoreAddress.of(store)
    if dask != "local":
        from concurrent.futures import CancelledError

        from distributed import Client

        try:
            with Client(dask) as client:
                try:
                    client.wait_for_workers(1, timeout=WORKER_WAIT_SECONDS)
                except TimeoutError:
                    raise ClusterError(f"the Dask cluster {dask} has no worker (none joined in "
                                       f"{WORKER_WAIT_SECONDS:.0f} s): start `dask worker {dask}` on the machines "
                                       "that analyse; the queued photos wait for the next run") from None
                _check_workers(client, address)
                slots = max(1, sum(client.nthreads().values()))
                return _gather_when_done(client, _submit_work(client, address, scope, slots, lease_seconds, batch_id),
                                         threading.Event())
        except CancelledError:  # Dask cancels a client's tasks when it loses the scheduler
            raise ClusterError(f"lost the Dask cluster {dask} during the batch (its scheduler stopped, or the network "
                               "to it failed): what was finished is kept, and running the same command again "
                               "completes the rest") from None
    return _work_here_beside(store, scope, lease_seconds, batch_id, lambda done_here, stop: _run_on_local_cluster(
        address, scope, max(1, workers - 1), lease_seconds, batch_id, done_here, stop))


def _check_workers(client, address: StoreAddress) -> None:
    """Refuse the batch unless every worker of the cluster runs this process's versions and opens the store.

    :class:`VersionMismatch` or :class:`StoreError`, before any work is sent: the queued
    photos wait for the next run.
    """
    mine = analysis_versions()
    found = {worker: tuple(v) for worker, v in client.run(analysis_versions).items()}
    wrong = sorted({v for v in found.values() if v != mine})
    if wrong:
        n = sum(v != mine for v in found.values())
        raise VersionMismatch(
            f"{n} of the cluster's {len(found)} workers run {' or '.join(_versions_text(v) for v in wrong)}, this "
            f"batch {_versions_text(mine)}: install the same version on every worker; the queued photos wait "
            "for the next run.")
    refusals = [r for r in client.run(_store_refusal, address).values() if r is not None]
    if refusals:
        raise StoreError(f"on {len(refusals)} of the cluster's {len(found)} workers, {refusals[0]}; the queued "
                         "photos wait for the next run")


def _submit_work(client, address: StoreAddress, scope, slots: int, lease_seconds: float, batch_id: str) -> list:
    """One :func:`_dask_task` a worker slot (each loops over the queue).

    A task that raises is run again up to :data:`MAX_ATTEMPTS` times (``retries``: a database
    connection lost for a moment), its claimed photos given back as it raised
    (:func:`_give_back_after_error`); one whose worker died Dask gives another worker itself
    (``distributed.scheduler.allowed-failures``), and the queue gives its claimed photo back
    (:func:`release_dead_claims`, leases).
    """
    token = secrets.token_hex(4)
    return [client.submit(_dask_task, address, scope, lease_seconds, analysis_versions(), batch_id,
                          key=f"tracker-analyse-{token}-{i}", pure=False, retries=MAX_ATTEMPTS)
            for i in range(slots)]


def _run_on_local_cluster(address: StoreAddress, scope, processes: int, lease_seconds: float, batch_id: str,
                          done_here: threading.Event, stop: threading.Event) -> list[WorkerTally]:
    """Start a ``LocalCluster`` of ``processes`` workers, work the queue on it, close it; [] if not needed.

    Not needed: the batch's own process finished the queue (``done_here``) before the cluster
    was up, or the batch is being stopped (``stop``: its tasks are cancelled at once).
    """
    from dask import config as dask_config
    from distributed import Client, LocalCluster

    with dask_config.set(_local_cluster_settings()):
        # None does not turn the scheduler's HTTP server off (dask/distributed#8136): bind it to a free
        # port of this machine only, so it neither collides with another cluster's 8787 nor listens outside.
        # Its workers write to the command's terminal: only CRITICAL, as the command's own Dask loggers
        # (cli._quiet_dask). At ERROR, a worker whose heartbeat met the scheduler already closing at the end
        # of a batch printed a 30-line traceback (seen once in `bench_batch.py`); what goes wrong in the work
        # itself comes back through the tasks.
        cluster = LocalCluster(n_workers=processes, threads_per_worker=1, processes=True,
                               dashboard_address="127.0.0.1:0", silence_logs=logging.CRITICAL)
    try:
        if done_here.is_set():
            return []
        with Client(cluster) as client:
            return _gather_when_done(client, _submit_work(client, address, scope, processes, lease_seconds, batch_id),
                                     stop)
    finally:
        cluster.close()


def _gather_when_done(client, futures: list, stop: threading.Event) -> list[WorkerTally]:
    """The tasks' tallies once all are done; [] once ``stop`` is set (the tasks are then cancelled).

    Polled, often (the batch ends when the last task does), rather than waited for in
    :meth:`Client.gather`: interrupted there (Ctrl-C), distributed leaves a task behind whose
    ``AllExit`` asyncio prints as a traceback when the command exits.
    """
    while not stop.wait(0.05):
        if all(future.done() for future in futures):
            return client.gather(futures)
    client.cancel(futures)
    return []


def refresh_summaries(store: Store, scope: Sequence[int] | None = None) -> int:
    """Store again the summary of every course whose results changed since it was computed; returns how many."""
    with store.session() as s:
        finished = dict(s.execute(_in_scope(select(AnalysisJob.course_id, func.max(AnalysisJob.finished_at)), scope)
                                  .where(AnalysisJob.finished_at.is_not(None)).group_by(AnalysisJob.course_id)).all())
        computed = dict(s.execute(select(CourseSummary.course_id, CourseSummary.computed_at)).all())
        courses = list(scope) if scope is not None else list(s.scalars(select(Course.id)))
    stale = [c for c in courses if c not in computed or (c in finished and finished[c] >= computed[c])]
    for course_id in stale:
        with store.session() as s:
            course = s.get(Course, course_id)
            if course is not None:
                store_summary(s, course)
    return len(stale)


def _report(store: Store, scope, batch_id: str, current: int) -> BatchReport:
    """What this batch's workers finished; not what another batch at work on the same store did meanwhile."""
    with store.session() as s:
        rows = s.execute(_in_scope(select(AnalysisJob.photo_id, AnalysisJob.state, AnalysisJob.error), scope)
                         .where(AnalysisJob.finished_by == batch_id, AnalysisJob.state.in_(("done", "failed")))
                         .order_by(AnalysisJob.photo_id)).all()
    return BatchReport(analysed=sum(state == "done" and not error for _, state, error in rows), current=current,
                       failed=[(photo_id, error) for photo_id, _, error in rows if error],
                       elsewhere=_remaining(store, scope))


def run_batch(store: Store, scope: Sequence[int] | None = None, *, workers: int = 1, dask: str | None = None,
              current: int = 0, progress: Callable[[int, int], None] | None = None,
              lease_seconds: float = LEASE_SECONDS) -> BatchReport:
    """Work through the queued jobs of these courses (every course: None) and store the changed summaries.

    Parameters
    ----------
    workers : int
        Processes analysing on this machine: this one and ``workers - 1`` started for the
        batch (no more than there are photos), with ``dask="local"`` the ``LocalCluster``'s
        workers (at least one).
    dask : str, optional
        ``"local"`` to start a Dask ``LocalCluster``, or the address of a running Dask
        scheduler (``tcp://host:8786``) whose workers reach the same store.
    current : int
        Photos planning found current, carried into the report.
    progress : callable, optional
        ``progress(done, total)``, called about twice a second from another thread while
        the workers run, and once at the end.
    """
    if workers < 1:
        raise ValueError("workers must be at least 1")
    keep_photo_buffers()  # this process analyses photos in turn (all of them, or its share), as its workers do
    batch_id = secrets.token_hex(8)  # marks the jobs this batch's workers finish (AnalysisJob.finished_by)
    release_dead_claims(store, scope)
    total = _remaining(store, scope)
    stop = threading.Event()

    def follow() -> None:
        while not stop.wait(_POLL_SECONDS):
            try:
                progress(max(0, total - _remaining(store, scope)), total)
            except SQLAlchemyError:  # the database out of reach for a moment, or gone: the batch itself says so
                continue

    follower = threading.Thread(target=follow, daemon=True) if progress and total else None
    if follower:
        follower.start()
    clock = datetime.now()
    try:
        if total == 0:
            tallies = []
        elif dask is not None:
            tallies = _run_on_dask(store, scope, dask, min(workers, total), lease_seconds, batch_id)
        elif min(workers, total) > 1:  # no more processes than photos
            tallies = _run_in_pool(store, scope, min(workers, total), lease_seconds, batch_id)
        else:
            tallies = [work_queue(store, scope, lease_seconds=lease_seconds, batch_id=batch_id)]
    finally:
        stop.set()
        if follower:
            follower.join()
    seconds = (datetime.now() - clock).total_seconds()
    refresh_summaries(store, scope)
    report = _report(store, scope, batch_id, current)
    report.seconds = seconds
    report.peak_worker_rss_mb = max((t.peak_rss_mb for t in tallies), default=0.0)
    report.workers = tallies
    report.newer_version = max((t.newer_version for t in tallies if t.newer_version), key=_version_number,
                               default=None)
    report.refused = list(dict.fromkeys(t.refused for t in tallies if t.refused))
    if progress and total:
        progress(max(0, total - report.elsewhere), total)
    return report


def reanalyse(store: Store, actor: Actor, patient_id: int | None = None, *, force: bool = False, workers: int = 1,
              dask: str | None = None, progress: Callable[[int, int], None] | None = None) -> BatchReport:
    """Recompute every stored result of a patient (everyone: None) that is out of date, or all with ``force``.

    Out of date: stored under another metric version, regions or baseline than the course's
    now (:func:`tracker.services.analyses.analysis_key`), or missing. Only the command line
    (whoever holds the data directory) may run a batch over every patient.
    """
    require(actor)
    scope = _patient_scope(store, patient_id)
    plan = plan_jobs(store, scope, force=force)
    return run_batch(store, scope, workers=workers, dask=dask, current=plan.current, progress=progress)


def preview_reanalysis(store: Store, actor: Actor, patient_id: int | None = None, *,
                       force: bool = False) -> Preview:
    """What :func:`reanalyse` would recompute now, and why, without queuing or changing anything.

    For ``tracker reanalyze --dry-run``: before re-analysing an archive, how many photos are out
    of date and for which reason. Read-only, one short read per course.
    """
    require(actor)
    scope = _patient_scope(store, patient_id)
    _refuse_if_a_newer_batch_runs(store, scope)
    counts = dict.fromkeys(("current", "new", "failed", "baseline", "regions", "queued"), 0)
    versions: dict[str, int] = {}
    for course_id in _course_ids(store, scope):
        with store.session() as s:
            if (found := _key_and_timeline(s, course_id)) is None:
                continue
            key, timeline = found
            current, newest = set(), {}  # photos with a current result; the newest other result of each
            for row in s.execute(select(Analysis.photo_id, Analysis.baseline_hash, Analysis.regions_key,
                                        Analysis.metric_version)
                                 .where(Analysis.photo_id.in_(timeline)).order_by(Analysis.computed_at, Analysis.id)):
                if (row.baseline_hash, row.metric_version, row.regions_key) == _key_columns(key):
                    current.add(row.photo_id)
                else:
                    newest[row.photo_id] = row
            jobs = {job.photo_id: job.state for job in s.scalars(select(AnalysisJob).where(
                AnalysisJob.course_id == course_id, AnalysisJob.baseline_hash == key.baseline_hash,
                AnalysisJob.metric_version == key.metric_version, AnalysisJob.regions_key == key.regions))}
        for photo_id in timeline:
            result, job = newest.get(photo_id), jobs.get(photo_id)
            if job in ("pending", "running"):
                counts["queued"] += 1  # another batch's work in progress: this one takes its share
            elif photo_id in current:
                counts["current"] += 1
            elif job == "failed":
                counts["failed"] += 1
            elif result is None:
                counts["new"] += 1
            elif result.baseline_hash != key.baseline_hash:
                counts["baseline"] += 1
            elif result.regions_key != key.regions:
                counts["regions"] += 1
            else:
                versions[result.metric_version] = versions.get(result.metric_version, 0) + 1
    return Preview(force=force, metric_version=metrics.METRIC_VERSION, older_versions=dict(sorted(versions.items())),
                   **counts)


@dataclass(frozen=True)
class Preview:
    """What a re-analysis would do (:func:`preview_reanalysis`), in photos on the courses' time lines.

    Each photo is counted once: ``queued`` if a batch already holds a job of it under the current
    key; else ``current`` if it has a result under that key; else by why its newest result is not
    current, in this order: ``failed`` (a batch left it without a result: its workers stopped
    while analysing it, or its file could not be read as stored), ``new`` (no result at all),
    ``baseline`` (measured against another baseline photo), ``regions`` (other treated area,
    control or treated extent), ``older_versions`` (only the metric version differs; counted by
    the version).
    """

    force: bool
    metric_version: str
    current: int
    new: int
    failed: int
    baseline: int
    regions: int
    queued: int
    older_versions: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return self.current + self.out_of_date + self.queued

    @property
    def out_of_date(self) -> int:
        return self.new + self.failed + self.baseline + self.regions + sum(self.older_versions.values())

    @property
    def to_analyse(self) -> int:
        """Photos a re-analysis run now by itself would analyse: the out-of-date and the queued ones, or
        every photo with ``force``."""
        return self.total if self.force else self.out_of_date + self.queued


def _patient_scope(store: Store, patient_id: int | None) -> list[int] | None:
    """The course ids of a patient (None: every course); NotFound for a patient without any."""
    if patient_id is None:
        return None
    with store.session() as s:
        courses = list(s.scalars(select(Course.id).where(Course.patient_id == patient_id).order_by(Course.id)))
    if not courses:
        raise NotFound("There is no such patient, or no treated area of theirs.")
    return courses
