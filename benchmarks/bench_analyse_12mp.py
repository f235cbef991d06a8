"""Marginal cost of analysing one more 12-megapixel photo, relative to decoding it.

For each simulated 12-MP follow-up JPEG (4000 x 3000, q 90, sensor noise), in
one run and interleaved photo by photo so that machine load hits both alike:

* ``cv2.imread(path)``: the cost of just decoding the file;
* ``read_photo(path)`` + ``analyse_photo(rgb, baseline)``: what ``tracker
  analyze`` pays per photo once the baseline is prepared (prepared once
  beforehand and reported separately).

The processor time of both (every thread, ``time.process_time``) is reported too: another job's
load inflates it far less than the wall time, though OpenCV's second thread counts in it.

The analysis is split into decode (``read_photo``), alignment
(``align_to_baseline``, timed by wrapping the function ``analyse_photo`` calls,
so nothing runs twice) and the rest (colour normalisation, quality, metrics).

Prints ``ratio analyse/imread = R (target <= 4, aim 2)`` and exits 1 when
R > 4, unless ``--no-check``. ``--keep-buffers`` sets the allocator as ``tracker analyze`` does
(:mod:`tracker.memory`): both ``imread`` and ``read_photo`` then decode into reused memory.

``--reduce F`` measures what analysing at a working resolution would save: the baseline (and its
boxes) and each follow-up are reduced by the whole factor F (``cv2.INTER_AREA``) before the
analysis, the follow-up's reduction inside the timed read + analyse (the baseline's outside, like
its preparation). The analysis itself is unchanged, so its results, alignment figures included,
are those of a photo of 1/F the size, in its pixels.

    uv run python benchmarks/bench_analyse_12mp.py [--photos 6] [--side 4000] [--no-roi] [--reduce 2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import cv2

import tracker.analysis as analysis
import tracker.analysis.pipeline as pipeline
from tracker.analysis.io import read_photo

from common import machine, make_series

TARGET, AIM = 4.0, 2.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=6, help="follow-up photos measured (default 6)")
    parser.add_argument("--side", type=int, default=4000, help="long side in px; 4000 x 3000 = 12 MP (default)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the simulated series")
    parser.add_argument("--noise", type=float, default=2.5, help="sensor noise sigma, grey levels (default 2.5)")
    parser.add_argument("--quality", type=int, default=90, help="JPEG quality of the follow-ups (default 90)")
    parser.add_argument("--no-roi", action="store_true", help="analyse without --roi/--control boxes")
    parser.add_argument("--no-check", action="store_true", help="do not exit 1 when the ratio exceeds 4")
    parser.add_argument("--reduce", type=int, default=1,
                        help="analyse baseline and photos reduced by this whole factor (default 1: as read)")
    parser.add_argument("--keep-buffers", action="store_true",
                        help="set this process's allocator as tracker analyze does (tracker.memory); imread gains too")
    args = parser.parse_args(argv)
    if args.keep_buffers:
        from tracker.memory import keep_photo_buffers

        print(f"photo buffers kept in the heap: {keep_photo_buffers()}")
    if args.reduce < 1:
        parser.error(f"--reduce must be a whole number of at least 1, got {args.reduce}")

    print(f"machine: {machine()}")
    series = make_series(args.side, args.photos + 1, seed=args.seed, noise=args.noise, quality=args.quality)
    h, w = series.shape
    mb = statistics.median(p.stat().st_size for p in series.photo_paths) / 1e6
    print(f"series: {args.photos} follow-ups + 1 warm-up, {w} x {h} px ({w * h / 1e6:.1f} MP), "
          f"noise sigma {args.noise:g}, JPEG q{args.quality}, median file {mb:.2f} MB")

    # Alignment is timed by wrapping the function analyse_photo calls (the name its module imported).
    align_times: list[float] = []
    real_align = pipeline.align_to_baseline

    def timed_align(*a, **k):
        t = time.perf_counter()
        try:
            return real_align(*a, **k)
        finally:
            align_times.append(time.perf_counter() - t)

    pipeline.align_to_baseline = timed_align

    t = time.perf_counter()
    base_rgb = read_photo(series.baseline_path).rgb
    t_read_base = time.perf_counter() - t
    roi, control = (None, None) if args.no_roi else (series.roi, series.control)
    f = args.reduce
    base_rgb, roi, control = _reduced(base_rgb, f), _reduced_box(roi, f), _reduced_box(control, f)
    t = time.perf_counter()
    baseline = analysis.prepare_baseline(base_rgb, roi, control)
    t_prepare = time.perf_counter() - t
    print(f"baseline: read {t_read_base:.3f} s, prepare_baseline {t_prepare:.3f} s (once per patient, "
          f"not in the per-photo time); roi={roi} control={control}")

    def one(path):
        c0, t0 = time.process_time(), time.perf_counter()
        img = cv2.imread(str(path))
        c1, t1 = time.process_time(), time.perf_counter()
        assert img is not None
        del img
        c2, t2 = time.process_time(), time.perf_counter()
        rgb = _reduced(read_photo(path).rgb, f)
        t3 = time.perf_counter()
        result = analysis.analyse_photo(rgb, baseline)
        c4, t4 = time.process_time(), time.perf_counter()
        cpu.append((c1 - c0, c4 - c2))
        return t1 - t0, t3 - t2, t4 - t3, align_times[-1], result

    cpu: list[tuple[float, float]] = []  # processor time of (imread, read_photo + analyse_photo), every thread

    # Warm-up: the last photo of the series, not measured.
    one(series.photo_paths[-1])

    rows = []
    print(f"\n{'photo':<16}{'imread s':>9}{'decode s':>9}{'align s':>9}{'rest s':>9}{'total s':>9}{'ratio':>7}"
          f"  alignment")
    for path in series.photo_paths[:-1]:
        t_imread, t_decode, t_analyse, t_align, result = one(path)
        total = t_decode + t_analyse
        rows.append((t_imread, t_decode, t_align, t_analyse - t_align, total))
        al = result.alignment
        status = (f"ok, {al.inliers} inliers, rmse {al.rmse_px:.2f} px" if al.ok
                  else f"FAILED: {al.reason}")
        print(f"{path.name:<16}{t_imread:>9.3f}{t_decode:>9.3f}{t_align:>9.3f}{t_analyse - t_align:>9.3f}"
              f"{total:>9.3f}{total / t_imread:>7.2f}  {status}")
        if not result.ok:
            print(f"  analysis not ok: {result.error}")

    med = [statistics.median(col) for col in zip(*rows)]
    ratio = med[4] / med[0]
    print(f"{'median':<16}" + "".join(f"{v:>9.3f}" for v in med) + f"{ratio:>7.2f}")
    print(f"\nper photo (median of {len(rows)}): cv2.imread {med[0]:.3f} s; read_photo + analyse_photo {med[4]:.3f} s"
          f" = decode {med[1]:.3f} + align {med[2]:.3f} + rest {med[3]:.3f}")
    if f > 1:
        print(f"photos analysed reduced by {f} ({w // f} x {h // f} px); the reduction is counted in 'decode', "
              "alignment figures are in reduced pixels")
    print(f"ratio analyse/imread = {ratio:.2f} (target <= {TARGET:g}, aim {AIM:g})")
    cpu_imread, cpu_analyse = (statistics.median(col) for col in zip(*cpu[1:]))
    print(f"processor time (all threads; less sensitive to other jobs' load than wall time): imread "
          f"{cpu_imread:.3f} s, read + analyse {cpu_analyse:.3f} s, ratio {cpu_analyse / cpu_imread:.2f}")
    verdict = "PASS" if ratio <= TARGET else "FAIL"
    print(f"{verdict}: ratio {ratio:.2f} {'<=' if ratio <= TARGET else '>'} {TARGET:g}")
    if ratio > TARGET and not args.no_check:
        return 1
    return 0


def _reduced(rgb, f: int):
    """``rgb`` reduced by the whole factor ``f`` by area averaging (edge pixels past a multiple of f dropped)."""
    if f == 1:
        return rgb
    h, w = rgb.shape[0] // f, rgb.shape[1] // f
    return cv2.resize(rgb[: h * f, : w * f], (w, h), interpolation=cv2.INTER_AREA)


def _reduced_box(box, f: int):
    """A box in full-resolution pixels as the box of the pixels of the reduced image it touches."""
    if box is None or f == 1:
        return box
    x, y, w, h = box
    x0, y0 = x // f, y // f
    return x0, y0, -(-(x + w) // f) - x0, -(-(y + h) // f) - y0


if __name__ == "__main__":
    sys.exit(main())
