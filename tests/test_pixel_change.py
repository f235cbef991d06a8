"""Where the skin changed: the per-pixel Δa* map against the baseline, measured by the engine.

Simulated repeat photos of a real face (hand-held camera move, light change, sensor noise,
JPEG) with known redness added: untreated skin reads near 0, the share of the region that
turned red follows the truth, a patch that stays red while the rest fades is told from
uniform fading, and an area in cm² is given only when a ColorChecker is in the baseline.
"""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data

from tracker.analysis import analyse_baseline, analyse_photo, prepare_baseline
from tracker.analysis import metrics as m
from tracker.analysis import simulate as sim
from tracker.analysis.colour import srgb8_to_lab
from tracker.analysis.colour_card import CARD_BOX_UNITS, COLORCHECKER_PITCH_MM

SIDE = 1536
ROI = sim.scale_box(sim.ASTRONAUT_CHEEK, SIDE / 512)
CONTROL = sim.scale_box(sim.ASTRONAUT_CHIN, SIDE / 512)


@pytest.fixture(scope="module")
def face() -> np.ndarray:
    return sim.enlarge(data.astronaut(), SIDE, np.random.default_rng(4))


@pytest.fixture(scope="module")
def baseline(face):
    return prepare_baseline(face, ROI, CONTROL)


def region(shape, box=ROI) -> np.ndarray:
    x, y, w, h = box
    mask = np.zeros(shape[:2], bool)
    mask[y:y + h, x:x + w] = True
    return mask


def repeat(scene: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    motion = sim.random_motion(rng, SIDE, max_rotation=8, max_scale=0.1, max_shift=0.03)
    view = sim.render_view(scene, sim.camera_matrix(motion, scene.shape))
    lit = sim.change_lighting(view, sim.random_lighting(rng))
    return sim.jpeg_roundtrip(sim.add_sensor_noise(lit, 2.0, rng), 88)


def test_the_baseline_against_itself_reads_no_change(baseline):
    result = analyse_baseline(baseline)
    assert result.metrics["erythema_area_fraction"] == 0.0
    assert abs(result.metrics["redness_change_p90"]) < 0.05
    assert result.metrics["erythema_area_cm2"] is None, "no chart in the photo: no area"


def test_untreated_skin_reads_near_zero_on_repeat_photos(face, baseline):
    """The old definition (a* above the control's median + 3) read 0.14-0.25 here."""
    rng = np.random.default_rng(11)
    control_baseline = prepare_baseline(face, CONTROL, ROI)  # the untreated chin as the measured region
    for _ in range(3):
        photo = repeat(face, rng)
        for result in (analyse_photo(photo, baseline), analyse_photo(photo, control_baseline)):
            assert result.ok
            assert result.metrics["erythema_area_fraction"] < 0.01
            assert result.metrics["redness_change_p90"] < m.CHANGE_THRESHOLD_A / 2
            assert result.metrics["redness_focal_a"] < m.FOCAL_THRESHOLD_A / 2
            assert np.nanstd(result.change_map) < 1.0


def test_the_share_of_the_region_that_turned_red_follows_the_truth(face, baseline):
    rng = np.random.default_rng(12)
    x, y, w, h = ROI
    weight = np.zeros(face.shape[:2], np.float32)
    weight[y:y + h, x:x + w // 3] = 1.0  # the left third
    weight[y + h // 2:y + h, x + w // 3:x + w] = 1.0  # and the lower half of the rest
    reddened = sim.add_redness(face, weight, 6.0)
    truth = float(np.mean((srgb8_to_lab(reddened[y:y + h, x:x + w])[..., 1]
                           - srgb8_to_lab(face[y:y + h, x:x + w])[..., 1]) > m.CHANGE_THRESHOLD_A))
    assert truth == pytest.approx(1 / 3 + 2 / 3 / 2, abs=0.03)
    result = analyse_photo(repeat(reddened, rng), baseline)
    assert result.metrics["erythema_area_fraction"] == pytest.approx(truth, abs=0.05)
    assert result.metrics["redness_change_p90"] == pytest.approx(6.0, abs=1.0)
    assert result.metrics["erythema_area_cm2"] is None


def test_a_patch_that_stays_red_while_the_rest_fades_is_focal_uniform_fading_is_not(face, baseline):
    rng = np.random.default_rng(13)
    x, y, w, h = ROI
    patch = np.zeros(face.shape[:2], bool)
    patch[y + h // 4:y + 3 * h // 4, x + w // 4:x + 3 * w // 4] = True  # a quarter of the region
    whole = region(face.shape)
    focal, uniform = [], []
    for fading in (8.0, 5.0, 2.0):
        level = whole * fading
        uniform.append(analyse_photo(repeat(sim.add_redness(face, level / 8.0, 8.0), rng), baseline).metrics)
        level[patch] = 8.0
        focal.append(analyse_photo(repeat(sim.add_redness(face, level / 8.0, 8.0), rng), baseline).metrics)
    assert all(r["redness_focal_a"] < m.FOCAL_THRESHOLD_A for r in uniform)
    assert focal[0]["redness_focal_a"] < m.FOCAL_THRESHOLD_A, "at the peak the whole region is red"
    assert focal[-1]["redness_focal_a"] >= m.FOCAL_THRESHOLD_A
    assert focal[-1]["redness_change_p90"] > 6.0 and uniform[-1]["redness_change_p90"] < 3.5
    # The region's mean fell in both: the mean alone cannot tell them apart.
    assert focal[-1]["redness_a"] < focal[0]["redness_a"] - 3


def test_area_in_cm2_from_a_colour_chart_in_the_baseline(face):
    width = 560.0  # px across the chart's patch box
    corners = sim.colour_card_corners(1150, 1250, width, 0.0)
    scene = sim.paste_colour_card(face, corners)
    baseline = prepare_baseline(scene, ROI, CONTROL)
    assert baseline.colour_card is not None
    mm_per_px = CARD_BOX_UNITS[0] / 2.75 * COLORCHECKER_PITCH_MM / width
    assert baseline.mm2_per_px == pytest.approx(mm_per_px**2, rel=0.02)
    reddened = sim.add_redness(scene, region(scene.shape), 6.0)
    result = analyse_photo(repeat(reddened, np.random.default_rng(14)), baseline)
    x, y, w, h = ROI
    expected = result.metrics["erythema_area_fraction"] * w * h * mm_per_px**2 / 100
    assert result.metrics["erythema_area_fraction"] > 0.9
    assert result.metrics["erythema_area_cm2"] == pytest.approx(expected, rel=0.05)
