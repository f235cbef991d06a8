"""Deterministic simulated follow-up series for the benchmarks.

A baseline "phone photo" is made from ``skimage.data.astronaut()`` enlarged with
fine grain (``tracker.analysis.simulate.enlarge``) and, for a 4:3 frame, cropped to the
top 3/4 of the square (the face stays in view).  Each follow-up photo is the
baseline seen through a random hand-held camera move (±15°, ±20 % scale, ±5 %
shift, mild tilt), with a random light change, a little added redness in the
treated area, Gaussian sensor noise and a JPEG round trip, written as a real
``.jpg`` file so that decoding costs what it costs on real photos.

The true photo -> baseline homography of each follow-up is returned.  Files are
cached in ``benchmarks/_work/`` (git-ignored), keyed by every parameter, so a
second run only re-reads them.  Everything is seeded: same arguments, same
pixels.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from skimage import data

from tracker.analysis import simulate as sim

WORK_DIR = Path(__file__).resolve().parent / "_work"


@dataclass(frozen=True)
class Series:
    """A baseline and follow-up JPEG files with known geometry."""

    baseline_path: Path
    photo_paths: list[Path]
    photo_to_baseline: list[np.ndarray]  # true 3x3 homographies, photo px -> baseline px
    roi: tuple[int, int, int, int]  # treated area, baseline px
    control: tuple[int, int, int, int]  # untreated skin, baseline px
    shape: tuple[int, int]  # baseline (height, width)


def make_baseline(side: int, aspect: float = 4 / 3, seed: int = 2024) -> np.ndarray:
    """The astronaut enlarged to ``side`` px on the long side, cropped to ``aspect`` (w/h)."""
    big = sim.enlarge(data.astronaut(), side, np.random.default_rng(seed))
    height = int(round(side / aspect))
    return np.ascontiguousarray(big[:height, :side])


def _write_jpeg(path: Path, rgb: np.ndarray, quality: int) -> None:
    ok = cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise OSError(f"could not write {path}")


def make_series(side: int, n: int, *, seed: int = 1, aspect: float = 4 / 3, noise: float = 2.5,
                quality: int = 90, max_rotation: float = 15.0, max_scale: float = 0.2,
                verbose: bool = True) -> Series:
    """Build (or re-use) a series of ``n`` follow-ups of a ``side``-px baseline."""
    key = f"s{side}_a{aspect:.4f}_n{noise:g}_q{quality}_r{max_rotation:g}_z{max_scale:g}_seed{seed}"
    folder = WORK_DIR / key
    folder.mkdir(parents=True, exist_ok=True)
    factor = side / 512
    roi = sim.scale_box(sim.ASTRONAUT_CHEEK, factor)
    control = sim.scale_box(sim.ASTRONAUT_CHIN, factor)

    baseline_path = folder / "baseline.jpg"
    truth_path = folder / "truth.json"
    truth: dict[str, list] = json.loads(truth_path.read_text()) if truth_path.exists() else {}
    baseline = None
    if not baseline_path.exists():
        baseline = make_baseline(side, aspect)
        # The baseline itself is stored losslessly close (q 95) as a clinic photo would be.
        _write_jpeg(baseline_path, baseline, 95)

    rng = np.random.default_rng(seed)
    paths, matrices = [], []
    started = time.perf_counter()
    for i in range(n):
        # Draw the random parameters for every photo, cached or not, so photo i
        # is the same whatever n is.
        motion = sim.random_motion(rng, side, max_rotation=max_rotation, max_scale=max_scale)
        lighting = sim.random_lighting(rng)
        delta_a = float(rng.uniform(0.0, 8.0))
        photo_seed = int(rng.integers(2**31))
        path = folder / f"followup_{i:02d}.jpg"
        to_photo = sim.camera_matrix(motion, (int(round(side / aspect)), side))
        if not path.exists() or str(i) not in truth:
            if baseline is None:
                baseline = make_baseline(side, aspect)
            if verbose:
                print(f"  making {path.name} ({side} px) ...", flush=True)
            prng = np.random.default_rng(photo_seed)
            mask = np.zeros(baseline.shape[:2], bool)
            x, y, w, h = roi
            mask[y:y + h, x:x + w] = True
            reddened = sim.add_redness(baseline, mask, delta_a, feather_px=w / 10)
            photo = sim.change_lighting(sim.render_view(reddened, to_photo), lighting)
            photo = sim.add_sensor_noise(photo, noise, prng)
            _write_jpeg(path, photo, quality)
            truth[str(i)] = np.linalg.inv(to_photo).tolist()
            truth_path.write_text(json.dumps(truth))
        paths.append(path)
        matrices.append(np.asarray(truth[str(i)], dtype=np.float64))
    if verbose and time.perf_counter() - started > 1:
        print(f"  series ready in {time.perf_counter() - started:.1f} s ({folder})", flush=True)
    return Series(baseline_path, paths, matrices, roi, control, (int(round(side / aspect)), side))


def grid_errors(estimated: np.ndarray | None, true_photo_to_baseline: np.ndarray,
                baseline_shape: tuple[int, int], photo_shape: tuple[int, int], n: int = 12) -> np.ndarray:
    """Baseline-pixel error of an estimated photo->baseline homography on a grid.

    A 12 x 12 grid over the central 80 % of the baseline is mapped into the
    photo by the truth; the points that land inside the photo are mapped back by
    the estimate and compared with where they came from.  A missing estimate
    gives ``inf`` errors.
    """
    h, w = baseline_shape
    grid = np.stack(np.meshgrid(np.linspace(0.1 * w, 0.9 * w, n), np.linspace(0.1 * h, 0.9 * h, n)),
                    -1).reshape(-1, 2)
    in_photo = _map(np.linalg.inv(true_photo_to_baseline), grid)
    ph, pw = photo_shape
    visible = (in_photo[:, 0] >= 0) & (in_photo[:, 0] < pw) & (in_photo[:, 1] >= 0) & (in_photo[:, 1] < ph)
    if estimated is None:
        return np.full(int(visible.sum()), np.inf)
    return np.linalg.norm(_map(estimated, in_photo[visible]) - grid[visible], axis=1)


def _map(matrix: np.ndarray, pts: np.ndarray) -> np.ndarray:
    pts = np.asarray(pts, np.float64)
    hom = np.c_[pts, np.ones(len(pts))] @ np.asarray(matrix, np.float64).T
    return hom[:, :2] / hom[:, 2:]


def machine() -> str:
    """One line describing where the benchmark ran."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            names = [line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")]
        if names:
            cpu = names[0]
    except OSError:
        pass
    try:
        load = " load %.2f %.2f %.2f" % os.getloadavg()
    except OSError:
        load = ""
    return (f"{cpu}, {os.cpu_count()} cores, OpenCV {cv2.__version__} ({cv2.getNumThreads()} threads), "
            f"Python {platform.python_version()},{load}")


def median_call(fn, runs: int) -> float:
    """Median wall time of ``fn()`` in seconds over ``runs`` calls, after one warm-up call."""
    fn()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)
