"""Per-pixel change against the baseline: its noise, what untreated skin reads, and area against truth.

The engine measures where the skin changed as a map of Δa* (photo minus baseline, after
registration and colour normalisation, smoothed by a Gaussian of
``tracker.analysis.metrics.CHANGE_MAP_SIGMA_PX``) over the treated region; a pixel counts as
redder than before above ``CHANGE_THRESHOLD_A``. This script measures, with the real engine
(``prepare_baseline`` / ``analyse_photo``) on a real face (``skimage.data.astronaut``):

1. **Noise of the map**: repeat photos of unchanged skin (hand-held camera move, exposure,
   white balance and gamma change, sensor noise, JPEG; ``tracker.analysis.simulate``): the
   spread of the per-pixel map over the treated region and the untreated control, and what
   the area metrics read there (they must read near 0).
2. **Area against truth**: redness added in random blobs covering a known share of the treated
   region; the measured share against the true share (pixels whose added Δa* exceeds the
   threshold).
3. **Focal against uniform**: a course where the whole region fades, against one where a
   patch of a quarter of the region stays red while the rest fades; ``redness_focal_a``
   against ``FOCAL_THRESHOLD_A``.
4. **Takiwaki check**: pure redness (ΔL* = -0.74 Δa*) against a true darkening on the same
   photos: ITA° and ``melanin_takiwaki`` against the baseline.
5. **Texture against focus**: GLCM contrast against the baseline's under defocus and sensor
   noise, with the relative sharpness that decides whether texture is reported
   (``QualityThresholds.texture_sharpness_tolerance``).

What is not simulated: light that changes *across* the face between photos (a window on one
side; ``validation/photo_noise.py`` models it), swelling, hair, make-up. Real repeat photos
will be noisier than these.

Run from the repository root (about 2 minutes)::

    uv run python validation/pixel_change.py
"""

from __future__ import annotations

import argparse
import time

import cv2
import numpy as np
from skimage import data

from tracker.analysis import analyse_photo, prepare_baseline
from tracker.analysis import metrics as m
from tracker.analysis import simulate as sim
from tracker.analysis.align import resample_to_baseline
from tracker.analysis.colour import correct_region, srgb8_to_lab, srgb_to_lab

SIDE = 1536
ROI = sim.scale_box(sim.ASTRONAUT_CHEEK, SIDE / 512)
CONTROL = sim.scale_box(sim.ASTRONAUT_CHIN, SIDE / 512)
SENSOR_NOISE = 2.0
JPEG_QUALITY = 88


def box_mask(shape: tuple[int, ...], box: tuple[int, int, int, int]) -> np.ndarray:
    x, y, w, h = box
    mask = np.zeros(shape[:2], bool)
    mask[y:y + h, x:x + w] = True
    return mask


def repeat(face: np.ndarray, rng: np.random.Generator, changed: np.ndarray | None = None) -> np.ndarray:
    """A hand-held repeat photo of ``changed`` (the face by default)."""
    scene = face if changed is None else changed
    motion = sim.random_motion(rng, SIDE)
    view = sim.render_view(scene, sim.camera_matrix(motion, face.shape))
    lit = sim.change_lighting(view, sim.random_lighting(rng))
    return sim.jpeg_roundtrip(sim.add_sensor_noise(lit, SENSOR_NOISE, rng), JPEG_QUALITY)


def blobs(rng: np.random.Generator, shape: tuple[int, int], share: float) -> np.ndarray:
    """A smooth random pattern over ``shape`` thresholded to cover ``share`` of it."""
    field = cv2.GaussianBlur(rng.normal(size=shape).astype(np.float32), (0, 0), min(shape) / 8)
    return field > np.quantile(field, 1 - share)


def realised_delta_a(face: np.ndarray, reddened: np.ndarray, box) -> np.ndarray:
    x, y, w, h = box
    return srgb8_to_lab(reddened[y:y + h, x:x + w])[..., 1] - srgb8_to_lab(face[y:y + h, x:x + w])[..., 1]


def noise_of_the_map(face, baseline, rng, count):
    control_base = prepare_baseline(face, CONTROL, ROI)
    pooled, control_pooled, rows = [], [], []
    for _ in range(count):
        photo = repeat(face, rng)
        roi = analyse_photo(photo, baseline)
        control = analyse_photo(photo, control_base)
        if not (roi.ok and control.ok):
            continue
        values = roi.change_map[np.isfinite(roi.change_map)]
        pooled.append(values - np.median(values))
        control_pooled.append(control.change_map[np.isfinite(control.change_map)])
        rows.append((roi.metrics["erythema_area_fraction"], roi.metrics["redness_change_p90"],
                     roi.metrics["redness_focal_a"], control.metrics["erythema_area_fraction"]))
    pooled, control_pooled, rows = np.concatenate(pooled), np.concatenate(control_pooled), np.array(rows)
    print(f"1. Repeat photos of unchanged skin: {len(rows)} of {count} measured")
    print(f"   per-pixel smoothed Δa* about each photo's median, treated region: SD {pooled.std():.2f},"
          f" 99th percentile of |Δa*| {np.percentile(np.abs(pooled), 99):.2f},"
          f" 99.9th {np.percentile(np.abs(pooled), 99.9):.2f}")
    every = np.concatenate([control_pooled])
    print(f"   untreated control, per pixel: mean {every.mean():+.2f}, SD {every.std():.2f},"
          f" 99th percentile {np.percentile(every, 99):.2f}")
    print(f"   erythema_area_fraction (threshold {m.CHANGE_THRESHOLD_A:g}): treated region median"
          f" {np.median(rows[:, 0]):.3f}, max {rows[:, 0].max():.3f}; control median {np.median(rows[:, 3]):.3f},"
          f" max {rows[:, 3].max():.3f}")
    print(f"   redness_change_p90: median {np.median(rows[:, 1]):.2f}, max {rows[:, 1].max():.2f};"
          f" redness_focal_a: median {np.median(rows[:, 2]):.2f}, max {rows[:, 2].max():.2f}")


def area_against_truth(face, baseline, rng, count, delta_a):
    x, y, w, h = ROI
    errors = []
    for i in range(count):
        share = (0.1, 0.25, 0.5, 0.75)[i % 4]
        weight = np.zeros(face.shape[:2], np.float32)
        weight[y:y + h, x:x + w] = blobs(rng, (h, w), share)
        reddened = sim.add_redness(face, weight, delta_a, feather_px=1.5)
        truth = float(np.mean(realised_delta_a(face, reddened, ROI) > m.CHANGE_THRESHOLD_A))
        result = analyse_photo(repeat(face, rng, reddened), baseline)
        if result.ok:
            errors.append((share, truth, result.metrics["erythema_area_fraction"]))
    e = np.array(errors)
    diff = e[:, 2] - e[:, 1]
    print(f"2. Area against truth: blobs of Δa* {delta_a:g} covering 10-75 % of the region, {len(e)} photos")
    print(f"   measured minus true share: mean {diff.mean():+.3f}, mean |error| {np.abs(diff).mean():.3f},"
          f" max |error| {np.abs(diff).max():.3f}")
    for share in (0.1, 0.25, 0.5, 0.75):
        sel = e[:, 0] == share
        print(f"   drawn {share:.2f}: true {e[sel, 1].mean():.3f}, measured {e[sel, 2].mean():.3f}")


def focal_against_uniform(face, baseline, rng):
    x, y, w, h = ROI
    patch = np.zeros(face.shape[:2], bool)
    patch[y + h // 4: y + 3 * h // 4, x + w // 4: x + 3 * w // 4] = True  # a quarter of the region
    region = box_mask(face.shape, ROI)
    print("3. Focal against uniform fading (Δa* of the region over four photos)")
    for name, focal in (("uniform", False), ("focal patch", True)):
        line = []
        for fading in (8.0, 6.0, 4.0, 2.0):
            weight = region.astype(np.float32) * fading
            if focal:
                weight[patch] = 8.0
            reddened = sim.add_redness(face, weight / 8.0, 8.0, feather_px=1.5)
            r = analyse_photo(repeat(face, rng, reddened), baseline)
            line.append(f"{fading:g}: focal {r.metrics['redness_focal_a']:.1f}, p90 {r.metrics['redness_change_p90']:.1f}")
        print(f"   {name:12s} " + "; ".join(line))
    print(f"   flagged at redness_focal_a >= {m.FOCAL_THRESHOLD_A:g}")


def takiwaki_check(face, baseline, rng):
    region = box_mask(face.shape, ROI)
    base = analyse_photo(repeat(face, rng), baseline).metrics
    print("4. Redness against darkening (treated region against a repeat photo of the baseline)")
    for label, da, dl in (("pure redness Δa* 10", 10.0, -10.0 * 1.06 / 1.44),
                          ("darkening ΔL* -8", 0.0, -8.0),
                          ("both", 10.0, -10.0 * 1.06 / 1.44 - 8.0)):
        r = analyse_photo(repeat(face, rng, sim.add_redness(face, region, da, delta_l=dl)), baseline).metrics
        print(f"   {label:22s} ΔITA {r['ita_deg'] - base['ita_deg']:+6.1f}°,"
              f" Δmelanin_index {r['melanin_index'] - base['melanin_index']:+5.1f},"
              f" Δmelanin_takiwaki {r['melanin_takiwaki'] - base['melanin_takiwaki']:+5.1f},"
              f" Δhaemoglobin_takiwaki {r['haemoglobin_takiwaki'] - base['haemoglobin_takiwaki']:+5.1f}")


def texture_against_focus(face, baseline, rng):
    """GLCM contrast against the baseline's, and the relative sharpness, under defocus and noise (no motion)."""
    base = analyse_photo(sim.jpeg_roundtrip(face, JPEG_QUALITY), baseline)
    contrast = base.to_result().metric("texture_contrast")
    tolerance = baseline.config.quality.texture_sharpness_tolerance
    print(f"5. Texture against focus and noise (same pose); texture is withheld outside relative sharpness"
          f" 1 ± {tolerance:g}")
    for sigma in (0.0, 0.5, 0.8, 1.2):
        cells = []
        for noise in (0.0, 4.0):
            photo = cv2.GaussianBlur(face, (0, 0), sigma) if sigma else face
            if noise:
                photo = sim.add_sensor_noise(photo, noise, rng)
            photo = sim.jpeg_roundtrip(photo, JPEG_QUALITY)
            r = analyse_photo(photo, baseline)
            relative = r.quality.measurements.relative_sharpness
            # What the texture would read if it were reported: the same grid (the pose is unchanged).
            roi_rgb, valid = resample_to_baseline(photo, np.eye(3), ROI, min(1.0, m.TEXTURE_MAX_SIDE / max(ROI[2:])))
            lab = srgb_to_lab(correct_region(r.colour, roi_rgb, valid))
            change = m.texture_metrics(lab[..., 0], valid)["texture_contrast"] / contrast - 1
            state = "withheld" if r.quality.texture_withheld else "reported"
            cells.append(f"noise {noise:g}: relative sharpness {relative:.2f}, contrast {change:+.0%} ({state})")
        print(f"   defocus {sigma:g} px: " + "; ".join(cells))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=40, help="repeat photos of unchanged skin")
    parser.add_argument("--patchy", type=int, default=16, help="photos with blobs of redness")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    face = sim.enlarge(data.astronaut(), SIDE, rng)
    baseline = prepare_baseline(face, ROI, CONTROL)
    print(f"Engine metric version {m.METRIC_VERSION}; map smoothed by sigma {m.CHANGE_MAP_SIGMA_PX:g} px,"
          f" threshold {m.CHANGE_THRESHOLD_A:g} a* units; seed {args.seed}")
    noise_of_the_map(face, baseline, rng, args.repeats)
    area_against_truth(face, baseline, rng, args.patchy, 6.0)
    focal_against_uniform(face, baseline, rng)
    takiwaki_check(face, baseline, rng)
    texture_against_focus(face, baseline, rng)
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
