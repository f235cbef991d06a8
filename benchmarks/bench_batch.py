"""Batch analysis throughput: 1 vs N worker processes, and a Dask LocalCluster vs the process pool.

A store of ``--photos`` follow-ups (``--courses`` patients, each with the same simulated series of
``benchmarks/common.py`` at ``--side`` px, so every course has its own baseline preparation and
photos) is imported once without analysis, into ``benchmarks/_work/batch-*``. Then the same
batch is re-analysed (``tracker.services.batch``, forced) by:

- 1 worker: this process, with one OpenCV thread (what each pool worker has);
- N workers: this process and N - 1 processes of a pool (``spawn``; start-up counted);
- N Dask workers: this process and a ``LocalCluster`` of N - 1 workers started meanwhile (start-up counted).

Each configuration runs ``--repeat`` times, interleaved, and the medians are reported. The
machine is shared, so the processor time is reported too: of this process and every process it
started and reaped (workers, Dask nannies), which another job's load does not inflate the way it
inflates the wall time; the parallel runs' extra CPU against the single worker's is the cost of
parallelism itself (start-up, preparing a baseline in two processes, Dask's machinery).

Photos per second are the batch's photos over the wall time of ``run_batch`` (planning excluded);
scaling efficiency is rate(N) / (N x rate(1)); Dask overhead is time(Dask) / time(pool) - 1. The
same two figures are also given "once started": photos per second between the 10th finished photo
and the last (``analysis_jobs.finished_at``), without the workers' start-up. The
peak resident memory of the largest worker process (``VmHWM``, this process's reset before each
run) is reported, and the slowest of
the provider's patient lists read every half second meanwhile from another engine (the app's
responsiveness during a batch). Exits 1 when a target is
missed (efficiency >= 85 %, Dask overhead <= 15 %), unless ``--no-check``.

    uv run python benchmarks/bench_batch.py                       # 200 photos of 12 MP, 2 workers
    uv run python benchmarks/bench_batch.py --side 2000           # of 2000 px: a shorter run (the sets before 2026-12-03)
    uv run python benchmarks/bench_batch.py --photos 60 --courses 6 --repeat 3   # shorter, repeated
    uv run python benchmarks/bench_batch.py --photos 16 --side 4000 --courses 2 --skip-dask   # 12-MP memory
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import shutil
import sys
import threading
import time
from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta

sys.path.insert(0, os.path.dirname(__file__))

# The pool's and the LocalCluster's workers are started with ``spawn``, which imports the main
# module of the program again in each (as ``__mp_main__``) before its first photo. `tracker
# reanalyze`'s main module is `tracker.cli` (0.1 s to import); this script imported OpenCV, the
# simulator, scikit-image's data and the services at its top, about 1.2-1.8 s more per started
# worker than the CLI's workers pay. So it imports them where they are used, as the CLI does.


def build_store(photos: int, courses: int, side: int):
    from common import WORK_DIR, make_series

    from tracker.services.importer import ImportRow, run_import
    from tracker.store.db import open_store

    per_course = -(-photos // courses)
    series = make_series(side, per_course - 1)
    folder = WORK_DIR / f"batch-p{photos}-c{courses}-s{side}"
    store = open_store(folder / "data")
    rows = []
    treated = date(2026, 3, 2)
    for c in range(courses):
        paths = [series.baseline_path, *series.photo_paths][: min(per_course, photos - c * per_course)]
        for i, path in enumerate(paths):
            rows.append(ImportRow(source=path.name, patient=f"bench-{c:03d}", treatment="fractional_co2",
                                  treated_on=treated, photo=path, roi=series.roi, control=series.control,
                                  taken_at=datetime(2026, 3, 1) + timedelta(days=i)))
    outcomes = run_import(store, rows, analyse=False)
    assert all(o.status in ("imported", "already") for o in outcomes), [o.reason for o in outcomes][:3]
    return store, len(rows)


@dataclass(frozen=True)
class Run:
    """One forced re-analysis of the store."""

    seconds: float
    rate: float  # photos/s, start-up included
    steady: float  # photos/s between the 10th finished photo and the last
    peak_rss_mb: float  # largest worker's VmHWM
    slowest_read: float  # slowest patient list read meanwhile, s
    worker_cpu: float  # processor seconds of the workers (started ones from their start)
    parent_cpu: float  # processor seconds of this process during run_batch (its work, progress, reader, scheduler)
    total_cpu: float  # this process and every process it started and reaped (workers, nannies), s


def _reset_peak_memory() -> bool:
    """Start this process's ``VmHWM`` afresh (Linux: ``clear_refs`` 5), so a run's peak is the run's own.

    This process builds the store and then works in every run (as the command's process does);
    without the reset its peak would be the largest of everything before, e.g. making the series.
    """
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")
    except OSError:
        return False
    return True


def _cpu_with_children() -> float:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def timed(store, total: int, **how) -> Run:
    """A forced re-analysis of the store, timed."""
    from sqlalchemy import select

    from tracker.services import SYSTEM, list_patients
    from tracker.services.batch import plan_jobs, run_batch
    from tracker.store.db import open_store
    from tracker.store.models import AnalysisJob

    plan = plan_jobs(store, force=True)
    assert plan.queued == total, plan
    reads = []
    stop = threading.Event()

    def read_like_the_app() -> None:
        # The provider's patient list, from its own engine, as an app replica would read it meanwhile.
        app_store = open_store(store.data_dir, None if store.dialect == "sqlite" else store.engine.url, upgrade=False)
        while not stop.wait(0.5):
            started = time.perf_counter()
            list_patients(app_store, SYSTEM)
            reads.append(time.perf_counter() - started)
        app_store.close()

    reader = threading.Thread(target=read_like_the_app)
    _reset_peak_memory()
    reader.start()
    started, cpu, total_cpu = time.perf_counter(), time.process_time(), _cpu_with_children()
    try:
        report = run_batch(store, **how)
    finally:
        stop.set()
        reader.join()
    seconds, cpu, total_cpu = time.perf_counter() - started, time.process_time() - cpu, _cpu_with_children() - total_cpu
    assert report.analysed + len(report.failed) == total, report
    with store.session() as s:
        finished = sorted(s.scalars(select(AnalysisJob.finished_at)))
    # Once every worker is running: photos per second between the 10th finished photo and the last.
    steady = ((len(finished) - 10) / (finished[-1] - finished[9]).total_seconds() if len(finished) > 10
              else float("nan"))  # too short a batch to tell (the 12-MP memory run)
    return Run(seconds, total / seconds, steady, report.peak_worker_rss_mb, max(reads, default=0.0),
               getattr(report, "worker_cpu_seconds", float("nan")), cpu, total_cpu)


def median_run(runs: list[Run]) -> Run:
    """Each figure's median over the repeats."""
    return Run(*(statistics.median(getattr(r, f.name) for r in runs) for f in fields(Run)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=200)
    parser.add_argument("--courses", type=int, default=10)
    parser.add_argument("--side", type=int, default=4000,
                        help="long side of the photos in px: 4000 (12 MP, a phone's photo) by default")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--skip-dask", action="store_true")
    parser.add_argument("--skip-serial", action="store_true")
    parser.add_argument("--fresh", action="store_true", help="rebuild the store")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each configuration, interleaved; medians")
    parser.add_argument("--no-check", action="store_true")
    args = parser.parse_args(argv)
    import cv2
    from common import WORK_DIR, machine

    if args.fresh:
        shutil.rmtree(WORK_DIR / f"batch-p{args.photos}-c{args.courses}-s{args.side}", ignore_errors=True)
    print(machine())
    print(f"load average before: {os.getloadavg()}")
    store, total = build_store(args.photos, args.courses, args.side)
    from tracker.services.batch import _peak_rss_mb

    print(f"{total} photos in {args.courses} courses, {args.side} px long side; this process's peak memory so far "
          f"(the series made and the store built, here or before): {_peak_rss_mb():.0f} MB")
    if not _reset_peak_memory():
        print("  (this system cannot reset a process's peak memory: each run's figure includes everything before)")
    ok = True
    configs = []
    if not args.skip_serial:
        configs.append(("1 worker (this process)", dict(workers=1)))
    configs.append((f"{args.workers} workers (process pool)", dict(workers=args.workers)))
    if not args.skip_dask:
        configs.append((f"{args.workers} workers (Dask LocalCluster)", dict(workers=args.workers, dask="local")))
    cv2.setNumThreads(1)  # as each worker
    runs: dict[str, list[Run]] = {name: [] for name, _ in configs}
    for repeat in range(args.repeat):
        for name, how in configs:
            runs[name].append(timed(store, total, **how))
            r = runs[name][-1]
            print(f"  repeat {repeat + 1}: {name}: {r.seconds:.1f} s, {r.rate:.2f} photos/s "
                  f"({r.steady:.2f} once started), CPU {r.total_cpu:.1f} s (workers {r.worker_cpu:.1f}, this process "
                  f"{r.parent_cpu:.1f}), "
                  f"load {os.getloadavg()[0]:.1f}", flush=True)
    print(f"\nmedians of {args.repeat} run(s) each:")
    print("| run | s | photos/s | photos/s once started | CPU s, all processes | worker CPU s | this process CPU s "
          "| peak memory per worker MB | slowest patient list meanwhile s |")
    print("|---|---|---|---|---|---|---|---|---|")
    med = {name: median_run(rs) for name, rs in runs.items()}
    for name, r in med.items():
        print(f"| {name} | {r.seconds:.1f} | {r.rate:.2f} | {r.steady:.2f} | {r.total_cpu:.1f} | {r.worker_cpu:.1f} "
              f"| {r.parent_cpu:.1f} "
              f"| {r.peak_rss_mb:.0f} | {r.slowest_read:.2f} |")
    names = [name for name, _ in configs]
    pool = med[names[0 if args.skip_serial else 1]]
    if not args.skip_serial:
        one = med[names[0]]
        efficiency = pool.rate / (args.workers * one.rate)
        print(f"scaling efficiency at {args.workers} workers: {efficiency:.0%} (target >= 85 %); once the "
              f"workers run: {pool.steady / (args.workers * one.steady):.0%}; CPU of all processes against "
              f"one worker's: {pool.total_cpu / one.total_cpu - 1:+.0%}")
        ok &= efficiency >= 0.85
    if not args.skip_dask:
        dask_run = med[names[-1]]
        overhead = dask_run.seconds / pool.seconds - 1
        print(f"Dask LocalCluster overhead against the process pool: {overhead:+.0%} (target <= 15 %); once the "
              f"workers run: {pool.steady / dask_run.steady - 1:+.0%}; CPU of all processes: "
              f"{dask_run.total_cpu / pool.total_cpu - 1:+.0%}")
        ok &= overhead <= 0.15
    print(f"load average after: {os.getloadavg()}")
    store.close()
    return 0 if ok or args.no_check else 1


if __name__ == "__main__":
    sys.exit(main())
