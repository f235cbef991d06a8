"""Make the simulated demo patients in this folder, with the truth they were made from.

Every photo is SIMULATED from one public-domain NASA photograph
(``skimage.data.astronaut()``); none shows a patient. Each demo patient is a
different crop, size and light of that portrait, with a treated area and an
untreated control region of its own. Follow-up photos add redness to the
treated area on a known course, then a hand-held camera move, a change of
light, sensor noise and JPEG compression (``tracker.analysis.simulate``).

Run from the repository root::

    uv run python sample_images/make_samples.py

It rewrites ``manifest.csv``, ``truth.csv`` and one folder of JPEGs per
patient next to this file. Every random draw comes from a fixed seed, so a run
reproduces the committed files.
"""

from __future__ import annotations

import argparse
import csv
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
from PIL import Image
from skimage import data

from tracker.analysis import simulate as sim
from tracker.analysis.colour import srgb8_to_lab
from tracker.recovery import RESOLVED_DELTA_A, expected_course

HERE = Path(__file__).resolve().parent

Box = tuple[int, int, int, int]

SENSOR_NOISE = 2.0
"""Grey levels of Gaussian sensor noise in every photo."""

JPEG_QUALITY = 88

MAX_ROTATION_DEG = 8.0
MAX_SCALE_CHANGE = 0.10
MAX_SHIFT = 0.03
"""Largest camera shift, as a fraction of the photo's long side."""
MAX_TILT = 0.00005
"""Largest perspective term per pixel: about ±3 % foreshortening across the frame."""

EXPOSURE_RANGE = (0.80, 1.05)
WHITE_BALANCE_CHANGE = 0.06
GAMMA_CHANGE = 0.10

REDNESS_MOTTLE = 0.2
"""Erythema is patchy: the added a* varies by up to ±20 % across the treated area."""
REDNESS_DARKENING = 0.25
"""L* lost per a* unit gained: red skin also looks slightly darker."""

SOURCE = "skimage.data.astronaut() (NASA, public domain)"
DESCRIPTION = f"SIMULATED demo photo made from {SOURCE}; not a patient."


@dataclass(frozen=True)
class DemoPatient:
    """One simulated patient: how the portrait is framed and lit, and the redness course.

    Regions are given in the 512-px astronaut and mapped into the patient's
    baseline pixels; ``course`` maps days since treatment to the a* added to
    the treated area; ``badly_lit`` replaces the random light change of the
    photos on those days with one the quality gate should refuse.
    """

    key: str
    treatment: str
    treated_on: date
    skin_type: str
    enlarged_side: int
    frame: Box
    roi_source: Box
    control_source: Box
    baseline_lighting: sim.Lighting
    days: tuple[int, ...]
    course: Callable[[np.ndarray], np.ndarray] = field(repr=False)
    course_note: str
    seed: int
    badly_lit: dict[int, sim.Lighting] = field(default_factory=dict)

    @property
    def factor(self) -> float:
        return self.enlarged_side / 512

    def to_baseline(self, box: Box) -> Box:
        x, y, w, h = sim.scale_box(box, self.factor)
        return x - self.frame[0], y - self.frame[1], w, h

    @property
    def roi(self) -> Box:
        return self.to_baseline(self.roi_source)

    @property
    def control(self) -> Box:
        return self.to_baseline(self.control_source)


def typical_fractional_co2(days: np.ndarray) -> np.ndarray:
    """The catalogue's typical course after fractional CO2, from a peak Δa* of 10."""
    return expected_course("fractional_co2", days, peak_delta_a=10.0).typical


SLOW_PEAK_DELTA_A = 8.0
SLOW_RESOLUTION_DAY = 35.0


def slow_non_ablative(days: np.ndarray) -> np.ndarray:
    """Exponential fading from Δa* 8 that reaches the resolved level only on day 35.

    The catalogue expects redness after a non-ablative fractional laser to be
    gone by day 2-4 and calls it prolonged after day 7.
    """
    days = np.asarray(days, float)
    fading = np.power(RESOLVED_DELTA_A / SLOW_PEAK_DELTA_A, np.clip(days, 0, None) / SLOW_RESOLUTION_DAY)
    return np.where(days > 0, SLOW_PEAK_DELTA_A * fading, 0.0)


PATIENTS = (
    DemoPatient(
        key="demo-ana",
        treatment="fractional_co2",
        treated_on=date(2026, 3, 2),
        skin_type="II",
        enlarged_side=1536,
        frame=(163, 0, 1024, 768),
        # Her right cheek; the control is untreated skin of the chin.
        roi_source=sim.ASTRONAUT_CHEEK,
        control_source=(218, 159, 16, 12),
        baseline_lighting=sim.Lighting(exposure=0.94, white_balance=(1.0, 1.0, 0.97), gamma=1.0),
        days=(-1, 1, 3, 7, 10, 14, 21, 28),
        course=typical_fractional_co2,
        course_note="typical: the catalogue's typical fractional CO2 course from a peak Δa* of 10",
        seed=20260302,
    ),
    DemoPatient(
        key="demo-ben",
        treatment="non_ablative_fractional",
        treated_on=date(2026, 2, 9),
        skin_type="III",
        enlarged_side=2304,
        frame=(576, 0, 900, 1200),
        # The other cheek, in a closer portrait; the control is the jaw below the first cheek.
        roi_source=(240, 110, 20, 18),
        control_source=(194, 151, 20, 11),
        baseline_lighting=sim.Lighting(exposure=0.88, white_balance=(0.96, 1.0, 1.05), gamma=1.05),
        days=(-2, 1, 3, 5, 7, 10, 14, 21, 28),
        course=slow_non_ablative,
        course_note=(f"slower than typical: Δa* {SLOW_PEAK_DELTA_A:g} fading to {RESOLVED_DELTA_A:g}"
                     f" only by day {SLOW_RESOLUTION_DAY:g} (catalogue: by day 2-4)"),
        seed=20260209,
        # Day 5 in direct sunlight, twice the baseline's exposure: the quality gate should refuse it.
        badly_lit={5: sim.Lighting(exposure=2.0, white_balance=(1.03, 1.0, 0.97), gamma=0.95)},
    ),
)


def baseline_scene(patient: DemoPatient) -> np.ndarray:
    """The whole enlarged portrait as the patient's baseline camera renders it.

    The baseline photo is the patient's ``frame`` of it; follow-up cameras see
    past that frame into the rest of the scene, as a real camera would.
    """
    big = sim.enlarge(data.astronaut(), patient.enlarged_side, np.random.default_rng(patient.seed))
    return sim.change_lighting(big, patient.baseline_lighting)


def scene_to_photo(patient: DemoPatient, motion: sim.CameraMotion) -> np.ndarray:
    """Homography from scene pixels to a follow-up photo's pixels."""
    x, y, w, h = patient.frame
    to_baseline = np.array([[1, 0, -x], [0, 1, -y], [0, 0, 1]], float)
    return sim.camera_matrix(motion, (h, w)) @ to_baseline


def redness_weight(shape: tuple[int, int], roi: Box, rng: np.random.Generator) -> np.ndarray:
    """Where, and how strongly, redness shows: a feathered, mottled ellipse over the treated area.

    The ellipse reaches a little beyond the region of interest, as real
    erythema does; the weight is scaled so that its mean over the region is 1,
    making the commanded Δa* the mean a* added to the region.
    """
    x, y, w, h = roi
    patch = np.zeros(shape, np.float32)
    cv2.ellipse(patch, (round(x + w / 2), round(y + h / 2)), (round(0.62 * w), round(0.62 * h)), 0, 0, 360, 1.0, -1)
    patch = cv2.GaussianBlur(patch, (0, 0), 0.08 * min(w, h))
    mottle = cv2.GaussianBlur(rng.normal(0.0, 1.0, shape).astype(np.float32), (0, 0), 0.12 * min(w, h))
    mottle = np.clip(1 + REDNESS_MOTTLE * mottle / mottle.std() / 2, 1 - REDNESS_MOTTLE, 1 + REDNESS_MOTTLE)
    weight = patch * mottle
    return weight / weight[y:y + h, x:x + w].mean()


def mean_a(rgb: np.ndarray, box: Box) -> float:
    x, y, w, h = box
    return float(srgb8_to_lab(rgb[y:y + h, x:x + w])[..., 1].mean())


def add_erythema(scene: np.ndarray, weight: np.ndarray, delta_a: float) -> np.ndarray:
    if delta_a <= 0:
        return scene
    return sim.add_redness(scene, weight, delta_a, delta_l=-REDNESS_DARKENING * delta_a)


def write_jpeg(path: Path, rgb: np.ndarray, taken_at: datetime) -> None:
    """Save with the capture time in EXIF, as a camera would, and a note that the photo is simulated."""
    stamp = taken_at.strftime("%Y:%m:%d %H:%M:%S")
    exif = Image.Exif()
    exif[0x010E] = DESCRIPTION  # ImageDescription
    exif[0x0131] = "sample_images/make_samples.py"  # Software
    exif[0x0132] = stamp  # DateTime
    exif.get_ifd(0x8769)[0x9003] = stamp  # Exif IFD: DateTimeOriginal
    Image.fromarray(rgb).save(path, "JPEG", quality=JPEG_QUALITY, optimize=True, exif=exif)


def photo_name(day: int, badly_lit: bool) -> str:
    if day <= 0:
        return f"day{day:+03d}_baseline.jpg"
    return f"day{day:02d}" + ("_too-bright" if badly_lit else "") + ".jpg"


def make_patient(patient: DemoPatient, out: Path) -> tuple[list[dict], list[dict]]:
    """Write one patient's photos; return their manifest and truth rows."""
    folder = out / patient.key
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.jpg"):
        old.unlink()
    rng = np.random.default_rng(patient.seed)
    scene = baseline_scene(patient)
    fx, fy, fw, fh = patient.frame
    roi, control = patient.roi, patient.control
    roi_in_scene = (roi[0] + fx, roi[1] + fy, roi[2], roi[3])
    weight = redness_weight(scene.shape[:2], roi_in_scene, rng)
    scene_a = mean_a(scene, roi_in_scene)
    targets = patient.course(np.asarray(patient.days, float))
    roi_text, control_text = (",".join(map(str, b)) for b in (roi, control))

    manifest, truth = [], []
    for day, target in zip(patient.days, targets):
        # Every draw is made for every photo, so one photo's parameters never depend on another's branch.
        motion = sim.random_motion(rng, max(fw, fh), max_rotation=MAX_ROTATION_DEG,
                                   max_scale=MAX_SCALE_CHANGE, max_shift=MAX_SHIFT,
                                   max_tilt=MAX_TILT * max(fw, fh) / 2048)
        lighting = sim.random_lighting(rng, exposure=EXPOSURE_RANGE, white_balance=WHITE_BALANCE_CHANGE,
                                       gamma=GAMMA_CHANGE)
        taken_on = patient.treated_on + timedelta(days=day)
        taken_at = datetime.combine(taken_on, time(8, 0)) + timedelta(minutes=int(rng.integers(0, 11 * 60)))
        photo_rng = np.random.default_rng(rng.integers(2**32))
        badly_lit = day in patient.badly_lit
        lighting = patient.badly_lit.get(day, lighting)

        if day <= 0:
            motion, lighting, target, added = sim.CameraMotion(), patient.baseline_lighting, 0.0, 0.0
            photo = scene[fy:fy + fh, fx:fx + fw]
        else:
            reddened = add_erythema(scene, weight, float(target))
            added = mean_a(reddened, roi_in_scene) - scene_a
            view = sim.render_view(reddened, scene_to_photo(patient, motion), out_shape=(fh, fw))
            photo = sim.change_lighting(view, lighting)
        photo = sim.add_sensor_noise(photo, SENSOR_NOISE, photo_rng)

        name = f"{patient.key}/{photo_name(day, badly_lit)}"
        write_jpeg(out / name, photo, taken_at)
        manifest.append({
            "patient": patient.key, "treatment": patient.treatment, "treated_on": patient.treated_on.isoformat(),
            "photo": name, "taken_on": taken_on.isoformat(), "roi": roi_text, "control": control_text,
            "skin_type": patient.skin_type,
        })
        truth.append({
            "patient": patient.key, "photo": name, "day": day, "taken_at": taken_at.isoformat(),
            "delta_a_target": f"{float(target):.3f}", "true_delta_a_added": f"{added:.3f}",
            "lighting_relative_to": "source photograph" if day <= 0 else "baseline",
            "exposure": f"{lighting.exposure:.4f}",
            **{f"white_balance_{c}": f"{v:.4f}" for c, v in zip("rgb", lighting.white_balance)},
            "gamma": f"{lighting.gamma:.4f}",
            "rotation_deg": f"{motion.rotation_deg:.3f}", "scale": f"{motion.scale:.4f}",
            "shift_x_px": f"{motion.shift[0]:.2f}", "shift_y_px": f"{motion.shift[1]:.2f}",
            "tilt_x": f"{motion.tilt[0]:.3e}", "tilt_y": f"{motion.tilt[1]:.3e}",
            "noise_sigma": f"{SENSOR_NOISE:g}", "jpeg_quality": JPEG_QUALITY,
            "expected_quality": "fail" if badly_lit else "pass",
        })
    return manifest, truth


def write_csv(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def main(out: Path = HERE) -> None:
    manifest, truth = [], []
    for patient in PATIENTS:
        rows, truths = make_patient(patient, out)
        manifest += rows
        truth += truths
        print(f"{patient.key}: {len(rows)} photos, {patient.course_note}")
    write_csv(out / "manifest.csv", manifest)
    write_csv(out / "truth.csv", truth)
    total = sum(p.stat().st_size for p in out.rglob("*.jpg"))
    print(f"wrote {len(manifest)} photos ({total / 1e6:.2f} MB), manifest.csv and truth.csv to {out}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE, help="folder to write into (default: next to this script)")
    main(parser.parse_args().out)
