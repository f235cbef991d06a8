"""Registration accuracy against known camera motion, and knowing when it failed."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data

from series import ROI, make_followup
from tracker.analysis import simulate as sim
from tracker.analysis.align import align_to_baseline, map_points, prepare_reference, warp_to_baseline


@pytest.fixture(scope="module")
def reference(baseline_rgb):
    return prepare_reference(baseline_rgb)


def _errors(alignment, follow, shape) -> np.ndarray:
    """Distance, in baseline px, between estimated and true positions of a grid visible in the photo."""
    h, w = shape[:2]
    grid = np.stack(np.meshgrid(np.linspace(0.1 * w, 0.9 * w, 12), np.linspace(0.1 * h, 0.9 * h, 12)), -1).reshape(-1, 2)
    in_photo = map_points(np.linalg.inv(follow.photo_to_baseline), grid)
    ph, pw = follow.rgb.shape[:2]
    visible = (in_photo[:, 0] >= 0) & (in_photo[:, 0] < pw) & (in_photo[:, 1] >= 0) & (in_photo[:, 1] < ph)
    return np.linalg.norm(map_points(alignment.matrix, in_photo[visible]) - grid[visible], axis=1)


def test_alignment_is_subpixel_under_motion_light_noise_and_jpeg(baseline_rgb, reference):
    rng = np.random.default_rng(7)
    errors, rotations, scales = [], [], []
    for _ in range(10):
        motion = sim.random_motion(rng, baseline_rgb.shape[1], max_rotation=15, max_scale=0.2, max_tilt=1e-4)
        follow = make_followup(baseline_rgb, rng, delta_a=rng.uniform(0, 8), motion=motion, noise=3.0, jpeg=80)
        result = align_to_baseline(follow.rgb, reference)
        assert result.ok, result.reason
        assert result.inliers >= 50 and result.rmse_px < 1.0
        assert result.rotation_deg == pytest.approx(motion.rotation_deg, abs=0.2)
        assert result.scale == pytest.approx(1 / motion.scale, rel=0.01)
        errors.append(_errors(result, follow, baseline_rgb.shape))
        rotations.append(motion.rotation_deg)
        scales.append(motion.scale)
    all_errors = np.concatenate(errors)
    # The series must really span the required range of motion.
    assert max(np.abs(rotations)) > 10 and (min(scales) < 0.9 or max(scales) > 1.1)
    assert np.median(all_errors) <= 0.5
    assert all_errors.max() <= 2.0


def test_extreme_rotation_and_scale_within_spec(baseline_rgb, reference):
    rng = np.random.default_rng(8)
    for rotation, scale in [(15, 0.8), (-15, 1.2), (14, 1.2), (-14, 0.8)]:
        motion = sim.CameraMotion(rotation_deg=rotation, scale=scale, shift=(30, -20), tilt=(5e-5, -5e-5))
        follow = make_followup(baseline_rgb, rng, motion=motion)
        result = align_to_baseline(follow.rgb, reference)
        assert result.ok, result.reason
        assert np.median(_errors(result, follow, baseline_rgb.shape)) <= 0.5


@pytest.mark.parametrize("name", ["coffee", "chelsea", "rocket", "camera", "immunohistochemistry"])
def test_a_photo_of_something_else_is_refused(reference, name):
    other = getattr(data, name)()
    if other.ndim == 2:
        other = np.stack([other] * 3, axis=-1)
    result = align_to_baseline(sim.enlarge(other, 2048), reference)
    assert not result.ok
    assert "could not be matched" in result.reason
    assert "\n" not in result.reason


def test_too_little_overlap_is_refused(baseline_rgb, reference):
    # A close-up showing only the top-left sixth of the scene, shifted off the rest.
    motion = sim.CameraMotion(scale=1.15, shift=(900, 900))
    follow = make_followup(baseline_rgb, np.random.default_rng(1), motion=motion, lighting=sim.Lighting())
    result = align_to_baseline(follow.rgb, reference)
    assert not result.ok
    assert result.overlap < 0.4
    assert "covers only" in result.reason or "could not be matched" in result.reason


def test_treated_area_out_of_frame_is_refused(baseline_rgb, reference):
    # Camera moved so the cheek falls off the left edge of the photo.
    motion = sim.CameraMotion(shift=(-800, 0))
    follow = make_followup(baseline_rgb, np.random.default_rng(2), motion=motion, lighting=sim.Lighting())
    result = align_to_baseline(follow.rgb, reference, roi=ROI)
    assert result.roi_coverage is not None and result.roi_coverage < 0.95
    assert not result.ok and "treated area" in result.reason
    # The same photo without a region to check is fine: most of the scene overlaps.
    assert align_to_baseline(follow.rgb, reference).ok


def test_matrix_maps_photo_pixels_to_baseline_pixels(baseline_rgb, reference):
    motion = sim.CameraMotion(rotation_deg=10, scale=0.9, shift=(40, 25))
    follow = make_followup(baseline_rgb, np.random.default_rng(3), motion=motion, lighting=sim.Lighting(),
                            noise=0, jpeg=None)
    result = align_to_baseline(follow.rgb, reference)
    warped, valid = warp_to_baseline(follow.rgb, result.matrix, ROI)
    x, y, w, h = ROI
    original = baseline_rgb[y:y + h, x:x + w].astype(float)
    assert valid.all()
    assert np.abs(warped.astype(float) - original).mean() < 3.0


def test_warp_marks_pixels_outside_the_photo_invalid(baseline_rgb):
    shift = np.array([[1, 0, 1000], [0, 1, 0], [0, 0, 1]], float)  # photo starts at baseline x=1000
    _, valid = warp_to_baseline(baseline_rgb[:, :500], shift, (900, 0, 300, 100))
    assert not valid[:, :95].any() and valid[:, 110:590 - 900 + 300 - 1].all()
