"""Photo noise of the recovery measures, from simulated repeat photos run through the real engine.

The recovery model (``tracker.recovery``) needs to know how much Δa* (treated region minus
untreated control, CIELAB a* units) and the redness-corrected pigment measure
``melanin_takiwaki`` move between two photos of *unchanged* skin. No public set of repeat
photos of post-laser skin exists, so repeat photos are simulated from a real photograph and
measured with the real engine (``tracker.analysis.prepare_baseline`` / ``analyse_photo``):

1. **Pose and global light** (``tracker.analysis.simulate``): a hand-held camera move
   (``random_motion``: up to ±15° rotation, ±20 % scale, ±5 % shift, tilt), a change of
   exposure, white balance and gamma (``random_lighting``), sensor noise and a JPEG round
   trip. The engine's registration and colour normalisation undo almost all of this, so the
   figure it gives is a floor, not the noise of real photos.
2. **Local light.** Real repeat photos also differ in the direction and colour of the light
   across the face (a window on one side, a lamp on the other, the head turned): a smooth
   random field multiplies linear RGB, one brightness component and one per-channel colour
   component (``--colour-ratio`` of the brightness amplitude), with a length scale at which
   the treated region and the control patch, on differently facing parts of the face, move
   only partly together (correlation ``--region-correlation``). A global colour fit cannot
   undo it, and the region-minus-control difference cancels only its shared part.
3. **Calibration to published reproducibility.** The local-light amplitude is set so that
   the median colour difference ΔE*ab between two repeat measurements of the same untreated
   skin equals the median reproducibility of calibrated clinical photos, 3.43 ΔE (Van Poucke
   et al. 2010, BMC Medical Imaging 10:7, all calibrated images; 2.58 on well-taken patches).

The noise SDs at that amplitude are what ``tracker.recovery.course`` cites. ``melanin_takiwaki``
(Takiwaki 1994 decomposition on the region's mean colour, ``-1.06 a* - 1.44 L*``) is read from
the engine when it reports it, else computed from the region's a* and L*; its SD is also
propagated from the a* and L* SDs and their covariance, as a check.

Run from the repository root (about 3 minutes; ``--sensitivity`` adds a table over the two
modelling choices, about 15 minutes)::

    uv run python validation/photo_noise.py

Every random draw comes from ``--seed``: same arguments, same figures, as long as the engine
is unchanged. Re-run it after a change to registration, colour normalisation or the metrics.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass

import cv2
import numpy as np
from skimage import data

from tracker.analysis import analyse_photo, prepare_baseline
from tracker.analysis import simulate as sim
from tracker.analysis.colour import linear_to_srgb, srgb_to_linear
from tracker.analysis.metrics import FOCAL_THRESHOLD_A

PUBLISHED_REPRODUCIBILITY_DELTA_E = 3.43
"""Median ΔE*ab between two measurements of the same patch in calibrated clinical photos
(Van Poucke et al. 2010, all calibrated images)."""

TAKIWAKI_MELANIN = (-1.06, -1.44)
"""Coefficients of a* and L* in the Takiwaki melanin measure (Takiwaki et al. 1994)."""

SIDE = 2048
"""Long side of the simulated photo: a treated region of about 100 px, as in a phone photo."""

SENSOR_NOISE = 2.0
JPEG_QUALITY = 88


@dataclass(frozen=True)
class Scene:
    """The photographed face: the reference rendering and its regions (baseline pixels)."""

    rgb: np.ndarray
    roi: tuple[int, int, int, int]
    control: tuple[int, int, int, int]

    @property
    def region_distance_px(self) -> float:
        (x0, y0, w0, h0), (x1, y1, w1, h1) = self.roi, self.control
        return math.hypot(x0 + w0 / 2 - x1 - w1 / 2, y0 + h0 / 2 - y1 - h1 / 2)


@dataclass(frozen=True)
class RepeatDraw:
    """Every random choice of one repeat photo, drawn once so that amplitudes can be compared."""

    motion: sim.CameraMotion
    lighting: sim.Lighting
    field_seed: int  # draws the brightness field, then the R, G, B colour fields
    blur_px: float
    noise_seed: int

    def fields(self, shape: tuple[int, int]) -> np.ndarray:
        """The four local-light fields, (4, h, w), each of unit SD; redrawn rather than kept in memory."""
        rng = np.random.default_rng(self.field_seed)
        return np.stack([smooth_field(rng, shape, self.blur_px) for _ in range(4)])


@dataclass(frozen=True)
class Measured:
    """The engine's figures for a set of repeat photos that passed the quality gate."""

    delta_a: np.ndarray
    a: np.ndarray
    l_star: np.ndarray
    b: np.ndarray
    melanin: np.ndarray
    focal: np.ndarray  # redness_focal_a: p90 - median of the per-pixel Δa* map over the region
    passed: int
    total: int

    @property
    def median_delta_e(self) -> float:
        lab = np.stack([self.l_star, self.a, self.b], axis=1)
        first, second = np.triu_indices(len(lab), 1)
        return float(np.median(np.linalg.norm(lab[first] - lab[second], axis=1)))

    def sd(self, values: np.ndarray) -> float:
        return float(np.std(values, ddof=1))

    @property
    def propagated_melanin_sd(self) -> float:
        ca, cl = TAKIWAKI_MELANIN
        cov = np.cov(self.a, self.l_star)
        return float(math.sqrt(ca * ca * cov[0, 0] + cl * cl * cov[1, 1] + 2 * ca * cl * cov[0, 1]))


def make_scene(seed: int) -> Scene:
    """The astronaut portrait enlarged to a phone photo; cheek as treated area, chin as control."""
    rgb = sim.enlarge(data.astronaut(), SIDE, np.random.default_rng(seed))
    factor = SIDE / 512
    return Scene(rgb, sim.scale_box(sim.ASTRONAUT_CHEEK, factor), sim.scale_box(sim.ASTRONAUT_CHIN, factor))


def smooth_field(rng: np.random.Generator, shape: tuple[int, int], blur_px: float) -> np.ndarray:
    """White noise blurred by a Gaussian of ``blur_px``, scaled to unit SD.

    Its correlation between two points ``d`` apart is ``exp(-d**2 / (4 * blur_px**2))``. It is
    drawn on a grid four cells per ``blur_px`` and enlarged, which changes nothing at that scale.
    """
    step = max(blur_px / 4.0, 1.0)
    small = (max(int(shape[0] / step) + 9, 4), max(int(shape[1] / step) + 9, 4))
    noise = cv2.GaussianBlur(rng.normal(size=small).astype(np.float32), (0, 0), blur_px / step)
    noise /= float(noise.std())
    return cv2.resize(noise, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)


def blur_for_correlation(distance_px: float, correlation: float) -> float:
    """The ``smooth_field`` blur at which two points ``distance_px`` apart have this correlation."""
    return distance_px / (2.0 * math.sqrt(-math.log(correlation)))


def draw_repeats(count: int, rng: np.random.Generator, blur_px: float) -> list[RepeatDraw]:
    return [
        RepeatDraw(
            motion=sim.random_motion(rng, SIDE),
            lighting=sim.random_lighting(rng),
            field_seed=int(rng.integers(2**31)),
            blur_px=blur_px,
            noise_seed=int(rng.integers(2**31)),
        )
        for _ in range(count)
    ]


def with_local_light(rgb: np.ndarray, fields: np.ndarray | None, amplitude: float, colour_ratio: float) -> np.ndarray:
    """Multiply linear RGB by ``exp(amplitude * (brightness + colour_ratio * colour_c))``."""
    if amplitude == 0:
        return rgb
    log_gain = amplitude * (fields[0][..., None] + colour_ratio * np.moveaxis(fields[1:], 0, -1))
    linear = srgb_to_linear(rgb.astype(np.float32) / 255.0) * np.exp(log_gain)
    return np.clip(np.round(linear_to_srgb(np.clip(linear, 0.0, 1.0)) * 255.0), 0, 255).astype(np.uint8)


def repeat_photo(scene: Scene, draw: RepeatDraw, amplitude: float, colour_ratio: float) -> np.ndarray:
    """The photo a patient would take of the unchanged face under this draw's pose and light."""
    lit = with_local_light(scene.rgb, draw.fields(scene.rgb.shape[:2]) if amplitude else None, amplitude, colour_ratio)
    moved = sim.render_view(lit, sim.camera_matrix(draw.motion, scene.rgb.shape[:2]))
    photo = sim.change_lighting(moved, draw.lighting)
    photo = sim.add_sensor_noise(photo, SENSOR_NOISE, np.random.default_rng(draw.noise_seed))
    return sim.jpeg_roundtrip(photo, JPEG_QUALITY)


def measure(scene: Scene, draws: list[RepeatDraw], amplitude: float, colour_ratio: float) -> Measured:
    """Run the engine on every repeat photo; keep those that pass the quality gate."""
    baseline = prepare_baseline(scene.rgb, roi=scene.roi, control=scene.control)
    rows = []
    for draw in draws:
        result = analyse_photo(repeat_photo(scene, draw, amplitude, colour_ratio), baseline).to_result()
        if not result.usable:
            continue
        a, l_star = result.metric("redness_a"), result.metric("lightness_l")
        melanin = result.metric("melanin_takiwaki")
        if melanin is None:
            melanin = TAKIWAKI_MELANIN[0] * a + TAKIWAKI_MELANIN[1] * l_star
        focal = result.metric("redness_focal_a")
        rows.append((result.metric("redness_delta_a"), a, l_star, result.metric("yellowness_b"), melanin,
                     np.nan if focal is None else focal))
    values = np.array(rows, dtype=float)
    if len(values) < 10:
        sys.exit(f"Only {len(values)} of {len(draws)} repeat photos passed the quality gate; cannot estimate noise.")
    return Measured(*values.T, passed=len(values), total=len(draws))


def calibrated(scene: Scene, draws: list[RepeatDraw], colour_ratio: float) -> tuple[float, Measured]:
    """The local-light amplitude whose median repeat ΔE matches the published reproducibility.

    With the draws fixed, the median ΔE grows almost in proportion to the amplitude, so a
    proportional step refined twice lands within 2 % of the target.
    """
    amplitude = 0.1
    for _ in range(3):
        result = measure(scene, draws, amplitude, colour_ratio)
        error = result.median_delta_e / PUBLISHED_REPRODUCIBILITY_DELTA_E
        if abs(error - 1.0) < 0.02:
            break
        amplitude /= error
    return amplitude, result


def describe(label: str, result: Measured) -> str:
    return (
        f"| {label} | {result.passed}/{result.total} | {result.median_delta_e:.2f} | {result.sd(result.delta_a):.2f}"
        f" | {result.sd(result.a):.2f} | {result.sd(result.l_star):.2f} | {result.sd(result.b):.2f}"
        f" | {result.sd(result.melanin):.2f} | {result.propagated_melanin_sd:.2f} |"
    )


HEADER = (
    "| repeat photos | passed gate | median ΔE | SD Δa* | SD a* | SD L* | SD b* | SD melanin_takiwaki"
    " | propagated |\n|---|---|---|---|---|---|---|---|---|"
)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=150, help="repeat photos per condition (default 150)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--region-correlation", type=float, default=0.5,
                        help="correlation of the local light between treated region and control (default 0.5)")
    parser.add_argument("--colour-ratio", type=float, default=0.25,
                        help="colour amplitude per channel as a fraction of the brightness amplitude (default 0.25)")
    parser.add_argument("--sensitivity", action="store_true", help="also vary the two modelling choices")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    scene = make_scene(args.seed)
    blur = blur_for_correlation(scene.region_distance_px, args.region_correlation)
    draws = draw_repeats(args.photos, np.random.default_rng(args.seed), blur)
    print(f"Scene: astronaut at {SIDE} px, treated region {scene.roi}, control {scene.control},"
          f" {scene.region_distance_px:.0f} px apart; {args.photos} repeat photos, seed {args.seed}.")
    print(HEADER)
    print(describe("pose, global light, sensor noise, JPEG", measure(scene, draws, 0.0, args.colour_ratio)))
    amplitude, result = calibrated(scene, draws, args.colour_ratio)
    print(describe(
        f"+ local light (amplitude {amplitude:.3f}, region correlation {args.region_correlation:g},"
        f" colour ratio {args.colour_ratio:g})", result))
    if args.sensitivity:
        for correlation in (0.25, 0.5, 0.75):
            for ratio in (0.125, 0.25, 0.5):
                if (correlation, ratio) == (args.region_correlation, args.colour_ratio):
                    continue
                blur = blur_for_correlation(scene.region_distance_px, correlation)
                other = draw_repeats(args.photos, np.random.default_rng(args.seed), blur)
                amp, res = calibrated(scene, other, ratio)
                print(describe(f"+ local light (amplitude {amp:.3f}, region correlation {correlation:g},"
                               f" colour ratio {ratio:g})", res))
    print()
    focal = result.focal[np.isfinite(result.focal)]
    print(f"redness_focal_a of unchanged skin (calibrated local light, {focal.size} photos): median"
          f" {np.median(focal):.2f}, 99th percentile {np.percentile(focal, 99):.2f}, largest {focal.max():.2f};"
          f" at or above FOCAL_THRESHOLD_A ({FOCAL_THRESHOLD_A:g}): {np.mean(focal >= FOCAL_THRESHOLD_A):.1%}")
    print(f"PHOTO_NOISE_SD_DELTA_A (SD of Δa* per photo, calibrated): {result.sd(result.delta_a):.2f}")
    print(f"PHOTO_NOISE_SD_MELANIN_TAKIWAKI (per photo, calibrated): {result.sd(result.melanin):.2f}")
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
