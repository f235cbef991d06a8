"""Simulated follow-up series built from a real photograph with known truth, for the tests."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tracker.analysis import simulate as sim
from tracker.analysis.colour import srgb8_to_lab

SIDE = 2048
FACTOR = SIDE / 512
ROI = sim.scale_box(sim.ASTRONAUT_CHEEK, FACTOR)
CONTROL = sim.scale_box(sim.ASTRONAUT_CHIN, FACTOR)


@dataclass(frozen=True)
class FollowUp:
    """A simulated follow-up photo and the truth it was made from."""

    rgb: np.ndarray
    photo_to_baseline: np.ndarray  # true homography, photo pixels -> baseline pixels
    true_delta_a: float  # a* added inside the ROI, as realised in the baseline frame
    lighting: sim.Lighting


def roi_mask(shape, box=ROI) -> np.ndarray:
    x, y, w, h = box
    mask = np.zeros(shape[:2], bool)
    mask[y:y + h, x:x + w] = True
    return mask


def make_followup(baseline: np.ndarray, rng: np.random.Generator, *, delta_a: float = 0.0,
                  motion: sim.CameraMotion | None = None, lighting: sim.Lighting | None = None,
                  noise: float = 2.0, jpeg: int | None = 85) -> FollowUp:
    """Redden the ROI by ``delta_a``, move the camera, change the light, add noise and JPEG."""
    reddened = baseline
    true = 0.0
    if delta_a:
        mask = roi_mask(baseline.shape)
        reddened = sim.add_redness(baseline, mask, delta_a)
        x, y, w, h = ROI
        true = float(srgb8_to_lab(reddened[y:y + h, x:x + w])[..., 1].mean()
                     - srgb8_to_lab(baseline[y:y + h, x:x + w])[..., 1].mean())
    motion = motion if motion is not None else sim.random_motion(rng, baseline.shape[1])
    lighting = lighting if lighting is not None else sim.random_lighting(rng)
    to_photo = sim.camera_matrix(motion, baseline.shape)
    photo = sim.change_lighting(sim.render_view(reddened, to_photo), lighting)
    if noise:
        photo = sim.add_sensor_noise(photo, noise, rng)
    if jpeg:
        photo = sim.jpeg_roundtrip(photo, jpeg)
    return FollowUp(photo, np.linalg.inv(to_photo), true, lighting)
