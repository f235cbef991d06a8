"""How far cutting the analysis's work would take the 12-MP analyse/decode ratio (issue #14's aim of 2.5).

Not a proposal: each cut lowers the precision or the robustness VALIDITY.md measures. It answers
one question for whoever sets the aim: with the work the analysis does today being fixed-size
(a 1024-px working frame, 2000 keypoints, 200 refinement points, two fitted tone forms), which
ratio would cutting that work reach? The cuts are added one after another:

1. ``refine_points`` 200 -> 100 (``AlignmentConfig``): refinement's precision falls by about
   sqrt(2);
2. ORB keypoints 2000 -> 1000 (``align._MAX_FEATURES``): fewer matches where the head moved
   in front of a background;
3. one tone form instead of two (``colour.TONES``): the wrong form read Δa* 1.0-1.8 off
   (VALIDITY.md, "A tone curve of either form");
4. the keypoints' copy and the working frame at 768 px instead of 1024 (``orb_side``,
   ``work_side``): texture and the grain check on a coarser copy, small boxes refused sooner.

For each, on both paths (with the treated area and control drawn, and without a region), the
median wall time of ``analyse_photo`` per photo over the six follow-ups of the 12-MP series of
``bench_analyse_12mp.py`` and ``--passes`` passes, interleaved pass by pass with the other
configurations; and the ratio (``read_photo`` + ``analyse_photo``) / ``cv2.imread``, from the
medians of the decodes measured in the same passes.

    uv run python benchmarks/bench_cuts.py [--passes 3] [--keep-buffers]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace

import cv2

import tracker.analysis as analysis
import tracker.analysis.align as align
import tracker.analysis.colour as colour
from tracker.analysis.io import read_photo

from common import machine, make_series

AIM = 2.5


def _configs() -> list[tuple[str, analysis.AnalysisConfig, int, tuple[str, ...]]]:
    """(label, config, ORB keypoints, tone forms), each cut added to the ones before it."""
    cfg = analysis.AnalysisConfig()
    fewer_points = replace(cfg, alignment=replace(cfg.alignment, refine_points=100))
    smaller = replace(fewer_points, work_side=768, alignment=replace(fewer_points.alignment, orb_side=768))
    orb, tones = align._MAX_FEATURES["orb"], colour.TONES
    return [
        ("as released", cfg, orb, tones),
        ("1. refinement points 200 -> 100", fewer_points, orb, tones),
        ("2. + ORB keypoints 2000 -> 1000", fewer_points, 1000, tones),
        ("3. + one tone form", fewer_points, 1000, tones[:1]),
        ("4. + 768-px copies", smaller, 1000, tones[:1]),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--passes", type=int, default=3, help="passes over the six photos (default 3)")
    parser.add_argument("--keep-buffers", action="store_true",
                        help="set the allocator as tracker analyze does (tracker.memory); imread gains too")
    args = parser.parse_args(argv)
    if args.keep_buffers:
        from tracker.memory import keep_photo_buffers

        print(f"photo buffers kept in the heap: {keep_photo_buffers()}")
    print(f"machine: {machine()}")
    series = make_series(4000, 7, seed=1, noise=2.5, quality=90)
    base = read_photo(series.baseline_path).rgb
    photos = [read_photo(p).rgb for p in series.photo_paths]
    configs = _configs()
    paths = (("region and control", series.roi, series.control), ("no region", None, None))
    orb, tones = align._MAX_FEATURES["orb"], colour.TONES
    baselines = {}
    times: dict[tuple[int, str], list[float]] = {}
    imread, decode = [], []
    try:
        for p in range(args.passes):
            for path in series.photo_paths[:-1]:
                t = time.perf_counter()
                cv2.imread(str(path))
                imread.append(time.perf_counter() - t)
                t = time.perf_counter()
                read_photo(path)
                decode.append(time.perf_counter() - t)
            for i, (_, cfg, keypoints, forms) in enumerate(configs):
                align._MAX_FEATURES["orb"], colour.TONES = keypoints, forms
                for label, roi, control in paths:
                    if (i, label) not in baselines:
                        baselines[i, label] = analysis.prepare_baseline(base, roi, control, cfg)
                        analysis.analyse_photo(photos[-1], baselines[i, label])  # warm-up, not counted
                    for rgb in photos[:-1]:
                        t = time.perf_counter()
                        analysis.analyse_photo(rgb, baselines[i, label])
                        times.setdefault((i, label), []).append(time.perf_counter() - t)
    finally:
        align._MAX_FEATURES["orb"], colour.TONES = orb, tones
    im, dec = statistics.median(imread), statistics.median(decode)
    print(f"per photo, medians of {len(imread)}: cv2.imread {1000 * im:.1f} ms, read_photo {1000 * dec:.1f} ms")
    print(f"{'configuration':34s} {'path':20s} {'analyse ms':>10s} {'ratio':>6s}")
    for i, (name, *_rest) in enumerate(configs):
        for label, _roi, _control in paths:
            a = statistics.median(times[i, label])
            print(f"{name:34s} {label:20s} {1000 * a:10.1f} {(dec + a) / im:6.2f}")
    print(f"ratio = (read_photo + analyse_photo) / cv2.imread; the aim is <= {AIM}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
