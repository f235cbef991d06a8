"""Registration of the face, not the background: a head that moves and turns in front of a still wall.

The series (``tracker.analysis.simulate.head_series``): the astronaut's head, hair and neck move
as one layer (shift up to 2 % of the frame, roll, and a turn of a head-shaped surface, so the
nose moves more than the cheeks) over a still brick wall, with camera moves, light changes,
noise and JPEG. Truth is the simulation's own: where each baseline point of the head is in the
photo (the head's move, then the camera's homography) and the a* added to the cheek, measured
here with scikit-image's CIELAB.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data
from skimage.color import rgb2lab

from tracker.analysis import analyse_photo, prepare_baseline
from tracker.analysis import simulate as sim
from tracker.analysis.align import baseline_to_photo
from tracker.web import views
import wheel_photos
from truth import apply_homography

SIDE = 1024
FACTOR = SIDE / 512
ROI = sim.scale_box(sim.ASTRONAUT_CHEEK, FACTOR)
CONTROL = sim.scale_box(sim.ASTRONAUT_CHIN, FACTOR)
FACE = sim.scale_box((175, 60, 100, 130), FACTOR)  # the astronaut's face, for the map's edges


@pytest.fixture(scope="module")
def scene():
    portrait = sim.enlarge(data.astronaut(), SIDE, np.random.default_rng(2024))
    return sim.head_scene(portrait, data.brick())


@pytest.fixture(scope="module")
def baseline_rgb(scene):
    return sim.render_head_view(scene, sim.HeadMotion(), np.eye(3))


@pytest.fixture(scope="module")
def baseline(baseline_rgb):
    return prepare_baseline(baseline_rgb, ROI, CONTROL)


@pytest.fixture(scope="module")
def series(scene):
    return sim.head_series(scene, 8, np.random.default_rng(11), treated=ROI)


@pytest.fixture(scope="module")
def results(series, baseline):
    return [analyse_photo(photo.rgb, baseline) for photo in series]


def grid_points(box, n: int = 5) -> np.ndarray:
    x, y, w, h = box
    return np.stack(np.meshgrid(np.linspace(x, x + w - 1, n), np.linspace(y, y + h - 1, n)), -1).reshape(-1, 2)


MEASURED = np.vstack([grid_points(ROI), grid_points(CONTROL)])


def true_photo_points(scene, photo, points) -> np.ndarray:
    """Where baseline points of the head are in the photo: the head's move, then the camera's."""
    return apply_homography(photo.camera, sim.head_displacement(scene, photo.motion, points))


def misregistration_px(scene, photo, points, estimated) -> float:
    """Largest distance between estimated and true photo positions, in baseline pixels."""
    scale = np.sqrt(abs(np.linalg.det(photo.camera[:2, :2])))
    return float(np.linalg.norm(estimated - true_photo_points(scene, photo, points), axis=1).max() / scale)


def test_the_series_moves_the_head_as_the_issue_says(scene, series):
    shifts = [np.hypot(*p.motion.shift) / SIDE for p in series]
    assert max(shifts) <= 0.02 and max(shifts) > 0.015
    assert max(abs(p.motion.yaw_deg) for p in series) > 3
    # The head moves against the background: the camera alone does not say where the cheek is.
    for photo in series:
        by_camera = apply_homography(photo.camera, MEASURED)
        assert np.linalg.norm(by_camera - true_photo_points(scene, photo, MEASURED), axis=1).max() > 2
    # The background is textured, not a plain wall.
    wall = cv2.cvtColor(scene.background[: SIDE // 8, : SIDE // 4], cv2.COLOR_RGB2GRAY)
    assert wall.std() > 15


def test_the_global_homography_alone_is_in_the_wrong_place(scene, series, results):
    """What went wrong before: the homography locks onto the wall, and the cheek is pixels off."""
    errors = [misregistration_px(scene, photo, MEASURED, baseline_to_photo(MEASURED, result.alignment.matrix))
              for photo, result in zip(series, results)]
    assert sum(e > 5 for e in errors) >= 6, np.round(errors, 1)


def test_redness_is_measured_on_the_skin_it_was_added_to(scene, series, results, baseline_rgb, baseline):
    """ROI-minus-control Δa* over the baseline's within 1.5 a* units of the truth on at least 7 of 8 photos."""
    before = analyse_photo(baseline_rgb, baseline).metrics["redness_delta_a"]
    x, y, w, h = ROI
    errors = []
    for photo, result in zip(series, results):
        assert result.ok, result.error
        mask = np.zeros(scene.head.shape[:2], bool)
        mask[y:y + h, x:x + w] = True
        added = float(rgb2lab(sim.add_redness(scene.head, mask, photo.true_delta_a)[y:y + h, x:x + w])[..., 1].mean()
                      - rgb2lab(scene.head[y:y + h, x:x + w])[..., 1].mean()) if photo.true_delta_a else 0.0
        errors.append(result.metrics["redness_delta_a"] - before - added)
    assert sum(abs(e) <= 1.5 for e in errors) >= 7, np.round(errors, 2)


def test_no_photo_is_reported_aligned_while_its_region_is_misregistered(scene, series, results):
    for photo, result in zip(series, results):
        alignment = result.alignment
        if not alignment.ok:
            continue
        estimated = baseline_to_photo(MEASURED, alignment.matrix, alignment.region)
        assert misregistration_px(scene, photo, MEASURED, estimated) <= 2.0


def test_alignment_says_where_region_and_global_fits_disagree(scene, series, results):
    for photo, result in zip(series, results):
        region = result.alignment.region
        assert region is not None and region.ok and region.method in ("keypoints+flow", "global+flow", "global")
        global_error = misregistration_px(scene, photo, MEASURED,
                                          baseline_to_photo(MEASURED, result.alignment.matrix))
        # The global fit is as far from the region's as it is from the truth (within the region's error).
        assert region.disagreement_px == pytest.approx(global_error, abs=max(2.0, 0.25 * global_error))
        assert region.correlation > 0.8 and region.rmse_px < 1.0 and region.inliers >= 8
        assert region.flow_max_px >= region.flow_median_px >= 0


def test_a_face_that_cannot_be_registered_is_refused_in_one_sentence(scene, series, baseline):
    """The head moved and the cheek and chin are hidden (a hand, a towel): refused, not measured on the wall."""
    photo = series[int(np.argmax([np.hypot(*p.motion.shift) for p in series]))]
    hidden = photo.rgb.copy()
    centre = apply_homography(photo.camera, sim.head_displacement(scene, photo.motion, MEASURED)).mean(axis=0)
    cv2.ellipse(hidden, tuple(int(v) for v in centre), (int(60 * FACTOR), int(45 * FACTOR)), 0, 0, 360,
                (196, 150, 130), -1)
    result = analyse_photo(hidden, baseline)
    assert not result.ok and not result.alignment.ok
    assert result.alignment.region is not None and not result.alignment.region.ok
    assert result.error == result.alignment.reason and "\n" not in result.error
    assert "head" in result.error


def test_the_redness_map_does_not_light_up_the_edges_of_the_face(scene, series, results, baseline_rgb):
    """Where a* changes sharply on the face (lips, eyes, hairline), the map drawn through the region's
    registration shows no change; drawn through the global homography, those edges light up."""
    x, y, w, h = FACE
    a_star = rgb2lab(baseline_rgb)[..., 1]
    edges = np.zeros(a_star.shape, bool)
    gradient = np.hypot(*np.gradient(cv2.GaussianBlur(a_star, (0, 0), 2.0)))
    edges[y:y + h, x:x + w] = gradient[y:y + h, x:x + w] > np.percentile(gradient[y:y + h, x:x + w], 90)
    worst = int(np.argmax([np.hypot(*p.motion.shift) for p in series]))
    photo, result = series[worst], results[worst].to_result()
    assert photo.true_delta_a < 8  # the cheek's added redness is inside the box, not on these edges only
    changes = {}
    for name, region in (("global", None), ("region", result.region)):
        base_small, aligned, valid = views.aligned_pair(baseline_rgb, photo.rgb, result.matrix, SIDE, region=region)
        _, delta = views.redness_heatmap(base_small, aligned, valid, result)
        roi = np.zeros_like(valid)
        rx, ry, rw, rh = ROI
        roi[ry - 10: ry + rh + 10, rx - 10: rx + rw + 10] = True  # the treated cheek did change
        changes[name] = float(np.nanmean(np.abs(delta[edges & valid & ~roi])))
    assert changes["region"] < 1.0 < 2.0 < changes["global"], changes


def test_the_region_registration_is_in_the_json_contract_and_reads_back(series, results):
    result = results[0].to_result()
    region = result.alignment["region"]
    assert set(region) == {"ok", "matrix", "window", "displacement_px", "rmse_px", "inliers", "correlation",
                           "flow_median_px", "flow_max_px", "disagreement_px", "method", "reason"}
    rows, cols = np.shape(region["displacement_px"])[:2]
    assert np.shape(region["displacement_px"]) == (rows, cols, 2) and min(rows, cols) >= 2
    read = type(result).from_dict(result.to_dict())
    assert read.region_ok is True and np.allclose(read.region_matrix, region["matrix"])
    # What a script reading the JSON computes is what the analysis measured through.
    typed = results[0].alignment
    assert np.allclose(baseline_to_photo(MEASURED, read.matrix, read.region),
                       baseline_to_photo(MEASURED, typed.matrix, typed.region), atol=0.01)


# --- a second portrait ----------------------------------------------------------------------------

GH_FACTOR = SIDE / 512  # the portrait's 512-px width becomes SIDE
GH_ROI = sim.scale_box(sim.GRACE_HOPPER_CHEEK, GH_FACTOR)
GH_CONTROL = sim.scale_box(sim.GRACE_HOPPER_CHIN, GH_FACTOR)
GH_MEASURED = np.vstack([grid_points(GH_ROI), grid_points(GH_CONTROL)])


@pytest.fixture(scope="module")
def hopper():
    """Grace Hopper's head (matplotlib's sample portrait) in front of a still flag and wall: the scene and its baseline."""
    portrait = wheel_photos.load("grace_hopper")
    height = round(SIDE * portrait.shape[0] / portrait.shape[1])
    scene = sim.head_scene(sim.enlarge(portrait, height, np.random.default_rng(2024)), data.brick(),
                           head=sim.GRACE_HOPPER_HEAD, nose=sim.GRACE_HOPPER_NOSE)
    baseline_rgb = sim.render_head_view(scene, sim.HeadMotion(), np.eye(3))
    baseline = prepare_baseline(baseline_rgb, GH_ROI, GH_CONTROL)
    return scene, baseline, analyse_photo(baseline_rgb, baseline).metrics["redness_delta_a"]


# Photos of validation/head_motion.py's Grace Hopper series whose region's own keypoints agreed on a
# homography 35-61 px off that still passed verification (correlation 0.51-0.54), before the
# better-correlating registration of the two starts was kept: (seed, photo).
HOPPER_HARD = [(1, 6), (2, 3), (3, 3)]


def hopper_photo(hopper, seed: int, index: int):
    """Photo ``index`` of the Grace Hopper series of ``seed``, and its analysis."""
    scene, baseline, _ = hopper
    photo = sim.head_series(scene, index + 1, np.random.default_rng(seed), treated=GH_ROI)[index]
    return photo, analyse_photo(photo.rgb, baseline)


@pytest.mark.parametrize("seed, index", HOPPER_HARD)
def test_a_wrong_keypoint_start_is_not_what_a_second_face_is_measured_through(hopper, seed, index):
    scene, _, before = hopper
    photo, result = hopper_photo(hopper, seed, index)
    assert result.alignment.ok
    estimated = baseline_to_photo(GH_MEASURED, result.alignment.matrix, result.alignment.region)
    assert misregistration_px(scene, photo, GH_MEASURED, estimated) <= 2.0
    assert abs(result.metrics["redness_delta_a"] - before - photo.true_delta_a) <= 1.5


# Photos of the same series registered right on the cheek and 23-28 px off on the chin control,
# which passed on the region's correlation as a whole (0.63-0.66) while the chin read 0.34-0.38:
# each measured box is now verified on its own, and these photos are refused rather than measured.
HOPPER_CHIN_OFF = [(10, 5), (12, 2)]

# Photos of the same series reported aligned with a box misregistered although every figure of the
# region passed: the cheek 18.8 px off (10, 3; its own correlation 0.70, two of its four patches
# found) and the chin 2.5 px off (1, 1; six of its nine patches found). Rightly registered boxes of
# both portraits found at least eight of nine, and all of four: each box must now locate its patches
# as the region must (all of them up to 8), and these photos are refused rather than measured.
HOPPER_BOX_UNLOCATED = [(10, 3), (1, 1)]


@pytest.mark.parametrize("seed, index", HOPPER_CHIN_OFF + HOPPER_BOX_UNLOCATED)
def test_a_registration_right_on_one_box_and_wrong_on_the_other_is_refused(hopper, seed, index):
    _, result = hopper_photo(hopper, seed, index)
    assert not result.ok and result.metrics is None
    assert result.error.startswith("The treated area could not be lined up") and "\n" not in result.error


def test_a_region_that_verifies_stands_in_for_a_whole_photo_fit_off_by_a_few_pixels():
    """Grace Hopper at 2048 px, seed 4 photo 0: her head fills more of the frame than the
    astronaut's, so the homography of the whole photo mixes the head's move with the wall's and
    lines up only to 2.8 px. Without a region the photo is refused on that residual; with the
    cheek and chin to measure, their own registration verifies and they are measured through it."""
    side = 2048
    portrait = wheel_photos.load("grace_hopper")
    scene = sim.head_scene(sim.enlarge(portrait, round(side * portrait.shape[0] / portrait.shape[1]),
                                       np.random.default_rng(2024)), data.brick(),
                           head=sim.GRACE_HOPPER_HEAD, nose=sim.GRACE_HOPPER_NOSE)
    roi, control = (sim.scale_box(box, side / 512) for box in (sim.GRACE_HOPPER_CHEEK, sim.GRACE_HOPPER_CHIN))
    baseline_rgb = sim.render_head_view(scene, sim.HeadMotion(), np.eye(3))
    photo = sim.head_series(scene, 1, np.random.default_rng(4), treated=roi)[0]

    whole = analyse_photo(photo.rgb, prepare_baseline(baseline_rgb))
    assert not whole.ok and whole.alignment.rmse_px > 2.0
    assert whole.error.startswith("The photo lines up with the baseline only to within")

    baseline = prepare_baseline(baseline_rgb, roi, control)
    result = analyse_photo(photo.rgb, baseline)
    assert result.ok and result.alignment.ok and result.alignment.rmse_px > 2.0 and result.alignment.region.ok
    measured = np.vstack([grid_points(roi), grid_points(control)])
    estimated = baseline_to_photo(measured, result.alignment.matrix, result.alignment.region)
    assert misregistration_px(scene, photo, measured, estimated) <= 2.0
    before = analyse_photo(baseline_rgb, baseline).metrics["redness_delta_a"]
    assert abs(result.metrics["redness_delta_a"] - before - photo.true_delta_a) <= 1.5


def test_a_verified_registration_contradicted_by_a_better_correlating_one_is_refused(hopper):
    """Grace Hopper with the treated area on her forehead and the control on her left cheek (seed 6,
    photo 7): the region's keypoint start verified at a correlation of 0.67 with the cheek 3.9 px
    off (the cheek has no textured patch to check it with); the global start correlated at 0.91,
    right, but missed the patch residual's limit by a hundredth of a pixel. Which is right cannot
    be told from the photo, so it is refused rather than measured through the first."""
    scene, _, _ = hopper
    roi, control = sim.scale_box((235, 140, 50, 18), GH_FACTOR), sim.scale_box((205, 240, 30, 30), GH_FACTOR)
    baseline = prepare_baseline(sim.render_head_view(scene, sim.HeadMotion(), np.eye(3)), roi, control)
    photo = sim.head_series(scene, 8, np.random.default_rng(6), treated=roi)[7]
    result = analyse_photo(photo.rgb, baseline)
    assert not result.ok and result.metrics is None
    assert result.error.startswith("The treated area could not be lined up") and "\n" not in result.error
