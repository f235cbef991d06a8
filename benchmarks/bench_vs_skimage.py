"""Our registration side by side with a scikit-image-only pipeline on the same series.

Series: 2048 x 1536 px follow-ups of a simulated baseline (random camera move
±15°, ±20 % scale, ±5 % shift, mild tilt; light change; sensor noise σ 2.5;
JPEG q 90) with KNOWN true homographies.

* **A (ours)**: ``tracker.analysis.align.align_to_baseline(rgb, reference)``, the
  baseline's reference prepared once with ``prepare_reference``.
* **B (scikit-image only)**: what a sensible user would write with
  scikit-image alone: ``rgb2gray``, ``rescale`` to 1024 px (anti-aliased),
  ``ORB(n_keypoints=2000)``, ``match_descriptors(cross_check=True,
  max_ratio=0.8)``, keypoints mapped back to full resolution, and
  ``ransac(ProjectiveTransform, min_samples=4, residual_threshold=2 px,
  max_trials=2000, stop_probability=0.999)``.  The baseline's grayscale copy,
  keypoints and descriptors are computed once.

Both start from the decoded RGB arrays (decoding is excluded for both) and are
timed per photo, interleaved (A then B on photo i) so that machine load hits
both alike, after one warm-up photo each.  Accuracy: the error, in baseline
pixels, of each estimated photo->baseline mapping on a 12 x 12 grid of points
visible in the photo, against the truth.

Exits 1 unless ours is at least 3x faster per photo AND more accurate (lower
median and lower max error), unless ``--no-check``.

    uv run python benchmarks/bench_vs_skimage.py [--photos 8] [--side 2048]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings

import numpy as np
from skimage.color import rgb2gray
from skimage.feature import ORB, match_descriptors
from skimage.measure import ransac
from skimage.transform import ProjectiveTransform, rescale

from tracker.analysis.align import align_to_baseline, prepare_reference
from tracker.analysis.io import read_photo

from common import grid_errors, machine, make_series

SPEED_TARGET = 3.0


class SkimagePipeline:
    """Registration with scikit-image alone: ORB + cross-checked ratio matching + RANSAC homography."""

    def __init__(self, baseline_rgb: np.ndarray, work_side: int = 1024, n_keypoints: int = 2000,
                 max_ratio: float = 0.8, residual_threshold: float = 2.0, max_trials: int = 2000):
        self.work_side = work_side
        self.n_keypoints = n_keypoints
        self.max_ratio = max_ratio
        self.residual_threshold = residual_threshold
        self.max_trials = max_trials
        self.base_xy, self.base_desc = self._features(baseline_rgb)

    def _features(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        gray = rgb2gray(rgb)
        s = min(1.0, self.work_side / max(gray.shape))
        small = rescale(gray, s, anti_aliasing=True) if s < 1 else gray
        # Actual per-axis scale after rounding of the output size.
        sy, sx = small.shape[0] / gray.shape[0], small.shape[1] / gray.shape[1]
        orb = ORB(n_keypoints=self.n_keypoints)
        orb.detect_and_extract(small)
        rc = orb.keypoints  # (row, col) in the small copy
        # Pixel centres at integers: x_full = (x_small + 0.5) / s - 0.5.
        xy = np.column_stack([(rc[:, 1] + 0.5) / sx - 0.5, (rc[:, 0] + 0.5) / sy - 0.5])
        return xy, orb.descriptors

    def align(self, rgb: np.ndarray) -> np.ndarray | None:
        """Photo -> baseline homography (3x3), or None when no model was found."""
        xy, desc = self._features(rgb)
        matches = match_descriptors(desc, self.base_desc, cross_check=True, max_ratio=self.max_ratio)
        if len(matches) < 4:
            return None
        src, dst = xy[matches[:, 0]], self.base_xy[matches[:, 1]]
        model, inliers = ransac((src, dst), ProjectiveTransform, min_samples=4,
                                residual_threshold=self.residual_threshold, max_trials=self.max_trials,
                                stop_probability=0.999, rng=0)
        if model is None or inliers is None or inliers.sum() < 4:
            return None
        return model.params / model.params[2, 2]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=8, help="follow-up photos measured (default 8)")
    parser.add_argument("--side", type=int, default=2048, help="long side of the photos in px (default 2048)")
    parser.add_argument("--seed", type=int, default=11, help="seed of the simulated series")
    parser.add_argument("--no-check", action="store_true", help="do not exit 1 when a target is missed")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", FutureWarning)

    print(f"machine: {machine()}")
    series = make_series(args.side, args.photos + 1, seed=args.seed)
    h, w = series.shape
    print(f"series: {args.photos} follow-ups + 1 warm-up, {w} x {h} px, JPEG q90, known homographies")

    baseline = read_photo(series.baseline_path).rgb
    t = time.perf_counter()
    reference = prepare_reference(baseline)
    t_prep_a = time.perf_counter() - t
    t = time.perf_counter()
    skimage_pipeline = SkimagePipeline(baseline)
    t_prep_b = time.perf_counter() - t
    print(f"baseline prepared once (excluded): A {t_prep_a:.3f} s, B {t_prep_b:.3f} s")

    photos = [read_photo(p).rgb for p in series.photo_paths]  # decoding excluded for both

    def run_a(rgb):
        t0 = time.perf_counter()
        result = align_to_baseline(rgb, reference)
        return time.perf_counter() - t0, (result.matrix if result.matrix is not None else None), result.ok

    def run_b(rgb):
        t0 = time.perf_counter()
        matrix = skimage_pipeline.align(rgb)
        return time.perf_counter() - t0, matrix, matrix is not None

    run_a(photos[-1])  # warm-up, not measured
    run_b(photos[-1])

    times_a, times_b, errs_a, errs_b = [], [], [], []
    print(f"\n{'photo':<8}{'A s':>8}{'B s':>8}{'B/A':>7}{'A med px':>10}{'A max px':>10}{'B med px':>10}"
          f"{'B max px':>10}  notes")
    for i, (rgb, truth) in enumerate(zip(photos[:-1], series.photo_to_baseline[:-1])):
        ta, ma, oka = run_a(rgb)
        tb, mb, okb = run_b(rgb)
        ea = grid_errors(ma, truth, series.shape, rgb.shape[:2])
        eb = grid_errors(mb, truth, series.shape, rgb.shape[:2])
        times_a.append(ta)
        times_b.append(tb)
        errs_a.append(ea)
        errs_b.append(eb)
        notes = []
        if not oka:
            notes.append("A not ok")
        if not okb:
            notes.append("B no model")
        print(f"{i:<8}{ta:>8.3f}{tb:>8.3f}{tb / ta:>7.1f}{np.median(ea):>10.3f}{ea.max():>10.3f}"
              f"{np.median(eb):>10.3f}{eb.max():>10.3f}  {', '.join(notes)}")

    med_a, med_b = statistics.median(times_a), statistics.median(times_b)
    all_a, all_b = np.concatenate(errs_a), np.concatenate(errs_b)
    speed = med_b / med_a
    acc_a = (float(np.median(all_a)), float(all_a.max()))
    acc_b = (float(np.median(all_b)), float(all_b.max()))
    print(f"\n{'pipeline':<34}{'s/photo (median)':>17}{'median err px':>15}{'max err px':>12}")
    print(f"{'A ours (OpenCV ORB+MAGSAC+NCC)':<34}{med_a:>17.3f}{acc_a[0]:>15.3f}{acc_a[1]:>12.3f}")
    print(f"{'B scikit-image ORB+RANSAC':<34}{med_b:>17.3f}{acc_b[0]:>15.3f}{acc_b[1]:>12.3f}")
    faster = speed >= SPEED_TARGET
    more_accurate = acc_a[0] < acc_b[0] and acc_a[1] < acc_b[1]
    print(f"speed ratio B/A = {speed:.1f} (target >= {SPEED_TARGET:g}); "
          f"error ratio B/A: median {acc_b[0] / acc_a[0]:.1f}, max {acc_b[1] / acc_a[1]:.1f}")
    if faster and more_accurate:
        print("PASS: ours is >= 3x faster and more accurate")
    else:
        print(f"FAIL: ours is {'' if faster else 'NOT '}>= 3x faster and "
              f"{'' if more_accurate else 'NOT '}more accurate")
    if not (faster and more_accurate) and not args.no_check:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
