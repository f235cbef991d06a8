"""Are a speed-up's results the same? A snapshot of analyses to compare between two versions.

``save FILE`` analyses a fixed set of photos and writes, per analysis, its ``to_dict()`` (every
measure, the alignment, the colour fit, the quality verdict) and a digest of its per-pixel change
map. ``compare A B`` lists every value that differs between two snapshots and exits 1 if any does.
The set: 4 follow-ups of the 12-MP series of ``bench_analyse_12mp.py`` without a region, with a
region and control, and with ``treated="region"``; 3 simulated follow-ups (camera move, brighter
light that clips channels, JPEG) of scikit-image's astronaut, coffee and chelsea without a region.
Half of them restore clipped channels, so the colour correction's two routes are both covered.

    uv run python benchmarks/results_snapshot.py save /tmp/after.pkl
    git worktree add /tmp/before HEAD~1
    PYTHONPATH=/tmp/before uv run python benchmarks/results_snapshot.py save /tmp/before.pkl
    uv run python benchmarks/results_snapshot.py compare /tmp/before.pkl /tmp/after.pkl
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pickle
import sys

import numpy as np
from skimage import data

import tracker.analysis as analysis
from tracker.analysis import simulate as sim
from tracker.analysis.io import read_photo
from tracker.analysis.pipeline import AnalysisConfig

from common import make_series


def snapshot() -> dict[str, tuple[str, str | None]]:
    out: dict[str, tuple[str, str | None]] = {}

    def add(name: str, result) -> None:
        change = None if result.change_map is None else hashlib.sha1(
            np.ascontiguousarray(result.change_map).tobytes()).hexdigest()
        out[name] = (json.dumps(result.to_dict(), sort_keys=True, default=str), change)

    series = make_series(4000, 7, seed=1, noise=2.5, quality=90)
    base = read_photo(series.baseline_path).rgb
    followups = [read_photo(p).rgb for p in series.photo_paths[:4]]
    for tag, roi, control, config in (("no-region", None, None, AnalysisConfig()),
                                      ("region", series.roi, series.control, AnalysisConfig()),
                                      ("treated-region", series.roi, series.control, AnalysisConfig(treated="region"))):
        baseline = analysis.prepare_baseline(base, roi, control, config)
        for i, rgb in enumerate(followups):
            add(f"12mp-{tag}-{i}", analysis.analyse_photo(rgb, baseline))
    rng = np.random.default_rng(5)
    for name in ("astronaut", "coffee", "chelsea"):
        image = getattr(data, name)()
        baseline = analysis.prepare_baseline(image)
        for k in range(3):
            view = sim.render_view(image, sim.camera_matrix(sim.random_motion(rng, max(image.shape[:2])), image.shape[:2]))
            view = sim.jpeg_roundtrip(sim.change_lighting(view, sim.random_lighting(rng, exposure=(0.9, 1.4))), 90)
            add(f"{name}-{k}", analysis.analyse_photo(view, baseline))
    return out


def _differences(a, b, path: str = ""):
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            yield from _differences(a.get(key), b.get(key), f"{path}.{key}")
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (u, v) in enumerate(zip(a, b)):
            yield from _differences(u, v, f"{path}[{i}]")
    elif a != b:
        yield path, a, b


def compare(first: dict, second: dict) -> int:
    differing = 0
    for name in sorted(set(first) | set(second)):
        if first.get(name) == second.get(name):
            continue
        differing += 1
        if name not in first or name not in second:
            print(f"{name}: only in one snapshot")
            continue
        for path, a, b in _differences(json.loads(first[name][0]), json.loads(second[name][0])):
            print(f"{name}{path}: {a} -> {b}")
        if first[name][1] != second[name][1]:
            print(f"{name}: the change map differs")
    print(f"{differing} of {len(first)} analyses differ")
    return 1 if differing else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("save").add_argument("file")
    both = sub.add_parser("compare")
    both.add_argument("first")
    both.add_argument("second")
    args = parser.parse_args(argv)
    if args.command == "save":
        shots = snapshot()
        with open(args.file, "wb") as f:
            pickle.dump(shots, f)
        print(f"{len(shots)} analyses saved to {args.file}")
        return 0
    with open(args.first, "rb") as f, open(args.second, "rb") as g:
        return compare(pickle.load(f), pickle.load(g))


if __name__ == "__main__":
    sys.exit(main())
