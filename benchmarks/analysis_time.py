"""Processor and wall time of ``analyse_photo`` alone, per 12-MP photo, on both paths.

The 12-MP ratio (``bench_analyse_12mp.py``) divides by ``cv2.imread``, which on this shared
machine takes 31-58 ms for the same file from one run to the next: it moves the ratio more than
a change of a few milliseconds to the analysis does. To tell whether a change to the analysis
saves time, time the analysis alone, run alternately with the commit before it from a git
worktree::

    git worktree add /tmp/before HEAD~1
    PYTHONPATH=/tmp/before uv run python benchmarks/analysis_time.py
    uv run python benchmarks/analysis_time.py

Each run prepares the baseline once per path (with the treated area and control, then without
a region), analyses one warm-up photo, then the six follow-ups of the 12-MP series three times,
and prints the median processor time (every thread) and wall time per photo, in ms, and the same
for decoding the photo (``read_photo``). ``--threads 1`` gives OpenCV one thread, as each batch
worker has: the per-photo cost a re-analysis of an archive pays per worker; ``--keep-buffers``
sets the process's allocator as those workers do (:mod:`tracker.memory`); ``--noise 5 --quality 95``
gives files nearer a phone's (4.1 MB at 12 MP, against 1.7 MB).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import cv2

import tracker.analysis as analysis
from tracker.analysis.io import read_photo

from common import machine, make_series


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=6, help="follow-up photos (default 6)")
    parser.add_argument("--passes", type=int, default=3, help="times each photo is analysed (default 3)")
    parser.add_argument("--side", type=int, default=4000, help="long side in px (default 4000: 12 MP)")
    parser.add_argument("--noise", type=float, default=2.5, help="sensor noise sigma, grey levels (default 2.5)")
    parser.add_argument("--quality", type=int, default=90, help="JPEG quality of the photos (default 90)")
    parser.add_argument("--threads", type=int, default=None, help="OpenCV threads (default: OpenCV's own choice)")
    parser.add_argument("--keep-buffers", action="store_true",
                        help="tracker.memory.keep_photo_buffers(), as tracker analyze and a batch's workers do")
    args = parser.parse_args(argv)
    if args.threads is not None:
        cv2.setNumThreads(args.threads)
    if args.keep_buffers:
        from tracker.memory import keep_photo_buffers

        print(f"photo buffers kept in the heap: {keep_photo_buffers()}")
    print(f"machine: {machine()}")
    series = make_series(args.side, args.photos + 1, seed=1, noise=args.noise, quality=args.quality)
    base = read_photo(series.baseline_path).rgb
    photos = [read_photo(p).rgb for p in series.photo_paths]
    cpu, wall = [], []
    for _ in range(args.passes):
        for path in series.photo_paths[:-1]:
            c, t = time.process_time(), time.perf_counter()
            read_photo(path)
            cpu.append(time.process_time() - c)
            wall.append(time.perf_counter() - t)
    print(f"decoding: read_photo per photo, median of {len(cpu)}: processor {1000 * statistics.median(cpu):.1f} ms, "
          f"wall {1000 * statistics.median(wall):.1f} ms")
    for label, roi, control in (("region and control", series.roi, series.control), ("no region", None, None)):
        baseline = analysis.prepare_baseline(base, roi, control)
        analysis.analyse_photo(photos[-1], baseline)  # warm-up, not counted
        cpu, wall = [], []
        for _ in range(args.passes):
            for rgb in photos[:-1]:
                c, t = time.process_time(), time.perf_counter()
                analysis.analyse_photo(rgb, baseline)
                cpu.append(time.process_time() - c)
                wall.append(time.perf_counter() - t)
        print(f"{label}: analyse_photo per photo, median of {len(cpu)}: processor {1000 * statistics.median(cpu):.1f} "
              f"ms, wall {1000 * statistics.median(wall):.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
