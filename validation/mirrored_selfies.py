"""Mirrored selfies: the same follow-up as taken and stored mirrored, analysed against the baseline.

Twenty simulated follow-ups of the astronaut portrait (``tests/series.py``: a random hand-held
camera move, +6 a* in the treated region, light change, sensor noise, JPEG q85), each analysed as
taken and mirrored left to right, as some front cameras save selfies. Prints how many mirrored
copies were matched, how far their maps put the region's corners from the truth, and how far
their Δa* is from the same photo's as taken. Run from the repository root (about a minute)::

    uv run python validation/mirrored_selfies.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from skimage import data

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from series import CONTROL, ROI, SIDE, make_followup  # noqa: E402
from tracker.analysis import analyse_photo, prepare_baseline  # noqa: E402
from tracker.analysis import simulate as sim  # noqa: E402
from tracker.analysis.align import flip_matrix, map_points  # noqa: E402

PHOTOS = 20


def main() -> None:
    rgb = sim.enlarge(data.astronaut(), SIDE, np.random.default_rng(2024))
    baseline = prepare_baseline(rgb, ROI, CONTROL)
    x, y, w, h = ROI
    corners = np.array([[x, y], [x + w, y], [x, y + h], [x + w, y + h]], float)
    errors, differences, matched = [], [], 0
    for seed in range(PHOTOS):
        follow = make_followup(rgb, np.random.default_rng(100 + seed), delta_a=6.0)
        mirrored = np.ascontiguousarray(follow.rgb[:, ::-1])
        truth = follow.photo_to_baseline @ flip_matrix(mirrored.shape[1])
        as_taken, flipped = analyse_photo(follow.rgb, baseline), analyse_photo(mirrored, baseline)
        if not (as_taken.ok and flipped.ok and flipped.alignment.mirrored):
            print(f"seed {100 + seed}: as taken {as_taken.error or 'ok'}; mirrored {flipped.error or 'ok'}")
            continue
        matched += 1
        seen = map_points(flipped.alignment.matrix, map_points(np.linalg.inv(truth), corners))
        errors.append(float(np.hypot(*(seen - corners).T).max()))
        differences.append(abs(flipped.metrics["redness_delta_a"] - as_taken.metrics["redness_delta_a"]))
    print(f"{matched}/{PHOTOS} mirrored copies matched (flipped back); region corners from the truth: median"
          f" {np.median(errors):.2f} px, largest {max(errors):.2f} px; |Δa* mirrored - Δa* as taken|: median"
          f" {np.median(differences):.3f}, largest {max(differences):.3f} a* units")


if __name__ == "__main__":
    main()
