"""The engine on real photographs: the figures of VALIDITY.md, "Real photos".

Real photographs that ship inside installed wheels (``tests/real_photos.md``: two portraits and
three other scenes, public domain or CC0) are degraded the way photos are degraded in the field
and analysed against themselves as the baseline through the real engine
(``prepare_baseline`` / ``analyse_photo``):

1. JPEG re-compression with Pillow at qualities 2-90: blockiness and the verdict;
2. distance: the photo reduced to 1/2 and 2/3 and padded with grey to its size (taken from
   further away), beside the same photo defocused;
3. less light (linear exposure 0.7-0.1), judged against the baseline's exposure, and sensor
   noise judged against the baseline's grain;
4. a photo of another scene or person against each portrait;
5. the skin measured without a region: the chroma box alone and the face with the skin
   connected to it, against hand-drawn boxes of what is not skin;
6. a rendered ColorChecker in a real photograph under a strong cast with flare, sensor noise
   and JPEG 70 (not a real chart photo: none ships in a wheel), and chart-to-chart fits whose
   patches disagree.

Usage: ``uv run python validation/real_photos.py`` (about a minute).
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from wheel_photos import FACE, NOT_SKIN, PHOTOS, PORTRAITS, box_mask, load  # noqa: E402
from tracker.analysis import simulate as sim  # noqa: E402
from tracker.analysis.colour import fit_colour_card_correction, linear_to_srgb, skin_mask, srgb_to_linear  # noqa: E402
from tracker.analysis.colour_card import COLORCHECKER_SRGB, find_colour_card  # noqa: E402
from tracker.analysis.pipeline import analyse_photo, prepare_baseline  # noqa: E402
from tracker.analysis.quality import colourless  # noqa: E402
from tracker.analysis.skin import find_skin  # noqa: E402


def jpeg(rgb: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=quality)
    return np.asarray(Image.open(buffer).convert("RGB"))


def codes(result) -> str:
    return ", ".join(result.quality.codes) or "passes"


def row(*cells) -> None:
    print("| " + " | ".join(str(c) for c in cells) + " |")


def compression(baselines: dict) -> None:
    print("\n### JPEG re-compression (Pillow), verdict against the photo itself as baseline\n")
    qualities = (2, 5, 10, 30, 60, 90)
    row("photo", "baseline blockiness", *(f"q{q}" for q in qualities))
    row(*["---"] * (2 + len(qualities)))
    for name, baseline in baselines.items():
        cells = []
        for q in qualities:
            r = analyse_photo(jpeg(baseline.rgb, q), baseline)
            cells.append(f"{r.quality.measurements.blockiness:.2f}: {codes(r)}")
        row(name, f"{baseline.blockiness:.2f}", *cells)


def distance(baselines: dict) -> None:
    print("\n### Further away (reduced and padded), a reduced copy, and out of focus\n")
    row("photo", "change", "distance_scale", "relative_sharpness", "verdict")
    row(*["---"] * 5)
    for name, baseline in baselines.items():
        rgb = baseline.rgb
        h, w = rgb.shape[:2]
        for f in (1 / 2, 2 / 3):
            sw, sh = round(w * f), round(h * f)
            far = np.full_like(rgb, 128)
            y0, x0 = (h - sh) // 2, (w - sw) // 2
            far[y0:y0 + sh, x0:x0 + sw] = cv2.resize(rgb, (sw, sh), interpolation=cv2.INTER_AREA)
            r = analyse_photo(far, baseline)
            m = r.quality.measurements
            row(name, f"reduced to {f:.2f}", f"{m.distance_scale:.2f}", f"{m.relative_sharpness:.2f}", codes(r))
        for f in (1 / 2, 1 / 4):  # a reduced copy, not padded: fewer pixels, the same framing
            r = analyse_photo(jpeg(cv2.resize(rgb, (round(w * f), round(h * f)), interpolation=cv2.INTER_AREA), 85),
                              baseline)
            m = r.quality.measurements
            shown = (f"{m.distance_scale:.2f}", f"{m.relative_sharpness:.2f}") if r.ok else ("not matched", "")
            row(name, f"a copy reduced to {f:.2f} (JPEG q85)", *shown, codes(r))
        for sigma in (1.5, 2.5):
            r = analyse_photo(cv2.GaussianBlur(rgb, (0, 0), sigma), baseline)
            m = r.quality.measurements
            row(name, f"Gaussian blur σ {sigma}", f"{m.distance_scale:.2f}", f"{m.relative_sharpness:.2f}", codes(r))


def exposure(baselines: dict) -> None:
    print("\n### Less light (linear exposure), judged against the baseline's\n")
    factors = (0.7, 0.5, 0.3, 0.2, 0.1)
    row("baseline", "baseline L*", *(f"× {f}" for f in factors))
    row(*["---"] * (2 + len(factors)))
    cases = dict(baselines)
    dim = sim.change_lighting(load("grace_hopper"), sim.Lighting(exposure=0.12))
    cases["grace_hopper × 0.12 (dim)"] = prepare_baseline(dim)
    for name, baseline in cases.items():
        cells = []
        for f in factors:
            r = analyse_photo(sim.change_lighting(baseline.rgb, sim.Lighting(exposure=f)), baseline)
            cells.append(f"L* {r.quality.measurements.mean_lightness:.1f}: {codes(r)}")
        row(name, f"{baseline.lightness:.1f}", *cells)


def grain(baselines: dict) -> None:
    print("\n### Sensor noise (Gaussian, SD in 8-bit levels), judged against the baseline's grain\n")
    sds = (2, 4, 8, 12, 20)
    row("baseline", "baseline noise level", *(f"SD {sd}" for sd in sds))
    row(*["---"] * (2 + len(sds)))
    for name, baseline in baselines.items():
        rng = np.random.default_rng(12)
        cells = []
        for sd in sds:
            r = analyse_photo(sim.add_sensor_noise(baseline.rgb, float(sd), rng), baseline)
            cells.append(f"{r.quality.measurements.noise_level:.1f}: {codes(r)}")
        row(name, f"{baseline.noise_level:.1f}", *cells)


def other_scenes(baselines: dict) -> None:
    print("\n### A photo of another scene or person\n")
    row("baseline", *PHOTOS)
    row(*["---"] * (1 + len(PHOTOS)))
    for name, baseline in baselines.items():
        cells = []
        for other in PHOTOS:
            if other == name:
                cells.append("(itself)")
                continue
            r = analyse_photo(load(other), baseline)
            cells.append(("aligned: " if r.ok else "refused: ") + codes(r))
        row(name, *cells)


def black_and_white(baselines: dict) -> None:
    print("\n### Black and white (Pillow's one-channel JPEG, q90)\n")
    row("photo", "colour photo: colourless?", "black and white: as a follow-up", "black and white: as the baseline")
    row(*["---"] * 4)
    for name in PHOTOS:
        rgb = load(name)
        mono = np.asarray(Image.open(_mono_jpeg(rgb)).convert("RGB"))
        follow = codes(analyse_photo(mono, baselines[name])) if name in baselines else ""
        try:
            prepare_baseline(mono)
            as_baseline = "accepted"
        except ValueError as exc:
            as_baseline = "refused: " + str(exc).split(" (")[0]
        row(name, "yes" if colourless(rgb) else "no", follow, as_baseline)


def _mono_jpeg(rgb: np.ndarray) -> io.BytesIO:
    buffer = io.BytesIO()
    Image.fromarray(rgb).convert("L").save(buffer, "JPEG", quality=90)
    buffer.seek(0)
    return buffer


def skin() -> None:
    print("\n### Skin measured without a region\n")
    row("photo", "source", "measured, % of photo", "chroma box: % of not-skin boxes taken",
        "face and connected skin: % of not-skin boxes taken", "% of the face box measured")
    row(*["---"] * 6)
    for name in PORTRAITS:
        rgb = load(name)
        background = box_mask(rgb.shape[:2], NOT_SKIN[name])
        region = find_skin(rgb)
        box = skin_mask(rgb)
        x, y, w, h = FACE[name]
        row(name, region.source, f"{100 * region.fraction:.1f}", f"{100 * box[background].mean():.1f}",
            f"{100 * region.mask[background].mean():.1f}", f"{100 * region.mask[y:y + h, x:x + w].mean():.0f}")
    for name in PHOTOS:
        if name not in PORTRAITS:
            region = find_skin(load(name))
            row(name, region.source, f"{100 * region.fraction:.1f}", "", "", "")


def charts() -> None:
    print("\n### A rendered ColorChecker in a real photograph under a cast (not a real chart photo)\n")
    scene = sim.paste_colour_card(sim.enlarge(load("astronaut"), 1800), sim.colour_card_corners(650, 1100, 560, 3.0, 0.05),
                                  border=0.4)
    row("cast (linear gains R, G, B)", "flare", "found", "mean patch error (sRGB 0-1)")
    row(*["---"] * 4)
    for gains in ((1.0, 0.45, 0.2), (1.0, 0.4, 0.15), (0.2, 0.45, 1.0)):
        for flare in (0.0, 0.04, 0.08):
            lit = linear_to_srgb(np.clip(srgb_to_linear(scene / 255.0) * np.asarray(gains) + flare, 0, 1))
            noisy = np.clip(lit * 255 + np.random.default_rng(5).normal(0, 3, lit.shape) + 0.5, 0, 255)
            reading = find_colour_card(sim.jpeg_roundtrip(noisy.astype(np.uint8), 70))
            expected = linear_to_srgb(np.clip(srgb_to_linear(COLORCHECKER_SRGB) * np.asarray(gains) + flare, 0, 1))
            error = "" if reading is None else f"{np.abs(reading.patches_rgb - expected).mean():.4f}"
            row(gains, flare, reading is not None, error)

    print("\nChart-to-chart fit when the follow-up's patches disagree with the baseline's "
          "(random offsets of the 18 colour patches, sRGB SD):\n")
    corners = sim.colour_card_corners(560, 1250, 500, 2.0)
    base_rgb = sim.enlarge(load("astronaut"), 1600)
    baseline = prepare_baseline(sim.paste_colour_card(base_rgb, corners))
    row("patch offset SD", "chart found", "median ΔE of the chart fit", "colour method used")
    row(*["---"] * 4)
    for sd in (0.0, 0.01, 0.02, 0.04, 0.08):
        off = COLORCHECKER_SRGB + np.random.default_rng(3).normal(0, sd, (24, 3)) * (np.arange(24) < 18)[:, None]
        photo = sim.paste_colour_card(base_rgb, corners, colours=np.clip(off, 0, 1))
        card = find_colour_card(photo)
        fit = None if card is None else fit_colour_card_correction(card.patches_rgb, baseline.colour_card.patches_rgb)
        r = analyse_photo(photo, baseline)
        row(sd, card is not None, "" if fit is None else f"{fit.residual_delta_e:.2f}", r.colour.method)


def main() -> None:
    baselines = {name: prepare_baseline(load(name)) for name in PORTRAITS}
    compression(baselines)
    distance(baselines)
    exposure(baselines)
    grain(baselines)
    other_scenes(baselines)
    black_and_white(baselines)
    skin()
    charts()


if __name__ == "__main__":
    main()
