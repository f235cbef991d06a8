"""How far another camera's colourfulness moves the measured redness rise, after colour normalisation.

Phones render the same scene more or less colourful (their own tone and colour processing, a
"vivid" mode). The colour normalisation (``tracker.analysis.colour.fit_reference_correction``)
fits a gain and a tone curve per channel, and a smooth light field, but not a change of
colourfulness, so such a follow-up reads a redness rise off by a part of it. This measures how
much, for the figure the ``other_camera`` note of the recovery status quotes
(:data:`tracker.recovery.assessment.OTHER_CAMERA_DELTA_A`).

Scene: the astronaut portrait enlarged to a 2048-px phone photo, the cheek as treated area
(+6 a* added), the chin as control. Each draw is a hand-held camera move and a light change
(``tracker.analysis.simulate``), then the follow-up's colourfulness is scaled in linear light
about its luminance (``lin' = Y + k (lin - Y)``, Rec. 709 luminance), then a JPEG round trip.
The error of a draw is the rise measured on the rescaled photos less the rise measured on the
same photos as taken (same move, same light), so only the colourfulness counts.

Run from the repository root (about a minute)::

    uv run python validation/other_camera.py
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from skimage import data

from tracker.analysis import analyse_photo, prepare_baseline
from tracker.analysis import simulate as sim
from tracker.analysis.colour import linear_to_srgb, srgb_to_linear

SIDE = 2048
RISE = 6.0
LUMINANCE = np.array([0.2126, 0.7152, 0.0722], np.float32)
"""Rec. 709 / sRGB luminance weights of linear R, G, B."""


def colourful(rgb: np.ndarray, k: float) -> np.ndarray:
    """The photo with its colourfulness scaled by ``k`` in linear light about its luminance."""
    lin = srgb_to_linear(rgb.astype(np.float32) / 255)
    y = (lin @ LUMINANCE)[..., None]
    return np.round(np.clip(linear_to_srgb(np.clip(y + k * (lin - y), 0, 1)), 0, 1) * 255).astype(np.uint8)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--draws", type=int, default=6)
    parser.add_argument("--seed", type=int, default=8)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    scene = sim.enlarge(data.astronaut(), SIDE, rng)
    roi, control = sim.scale_box(sim.ASTRONAUT_CHEEK, SIDE / 512), sim.scale_box(sim.ASTRONAUT_CHIN, SIDE / 512)
    baseline = prepare_baseline(scene, roi=roi, control=control)
    mask = np.zeros(scene.shape[:2], bool)
    x, y, w, h = roi
    mask[y:y + h, x:x + w] = True
    red = sim.add_redness(scene, mask, RISE)
    gains = (0.6, 0.8, 0.9, 1.1, 1.25)
    errors: dict[float, list[float]] = {k: [] for k in gains}
    refused: dict[float, int] = dict.fromkeys(gains, 0)
    for _ in range(args.draws):
        view = sim.camera_matrix(sim.random_motion(rng, SIDE), scene.shape[:2])
        lighting = sim.random_lighting(rng)

        def rise(k: float) -> float | None:
            values = []
            for source in (red, scene):
                photo = sim.change_lighting(sim.render_view(source, view), lighting)
                result = analyse_photo(sim.jpeg_roundtrip(colourful(photo, k) if k != 1 else photo, 88), baseline)
                if not (result.ok and result.quality.ok):
                    return None
                values.append(result.metrics["redness_delta_a"])
            return values[0] - values[1]

        as_taken = rise(1.0)
        for k in gains:
            measured = rise(k)
            if measured is None or as_taken is None:
                refused[k] += 1
            else:
                errors[k].append(measured - as_taken)
    print(f"Scene: astronaut at {SIDE} px, +{RISE:g} a* on the treated region {roi}, control {control};"
          f" {args.draws} draws, seed {args.seed}.")
    print("| colourfulness of the follow-up | error of the +6 rise: median / worst | photos refused |")
    print("|---|---|---|")
    for k in gains:
        e = np.array(errors[k])
        worst = e[np.argmax(np.abs(e))] if e.size else float("nan")
        print(f"| {k:g} | {np.median(e):+.2f} / {worst:+.2f} | {refused[k]} of {args.draws} |")
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
