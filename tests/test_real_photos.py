"""The analysis on real photographs (tests/real_photos.md): what the simulated series cannot show.

The photographs ship inside installed wheels; degradations are applied to them with the
library that degrades photos in the field (Pillow's JPEG encoder, OpenCV's resampling), and the
verdict is compared with what a person would say of the photo.
"""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from wheel_photos import FACE, NOT_SKIN, PHOTOS, PORTRAITS, box_mask, load
from tracker.analysis import simulate as sim
from tracker.analysis.colour_card import COLORCHECKER_SRGB
from tracker.analysis.pipeline import analyse_photo, prepare_baseline


# --- a colour chart that does not fit the baseline's ---------------------------------------

def test_a_chart_that_fits_the_baselines_poorly_is_not_used(baseline_rgb):
    corners = sim.colour_card_corners(560, 1250, 500, 2.0)
    baseline = prepare_baseline(sim.paste_colour_card(baseline_rgb, corners))
    assert baseline.colour_card is not None
    same = analyse_photo(sim.paste_colour_card(baseline_rgb, corners), baseline)
    assert same.colour.method == "colorchecker" and same.colour.residual_delta_e < 1.0
    # A chart whose colour patches are off by a random 0.04 (sRGB, SD) still reads as a
    # ColorChecker, but fits the baseline's only to about 5 ΔE.
    off = COLORCHECKER_SRGB + np.random.default_rng(3).normal(0, 0.04, (24, 3)) * (np.arange(24) < 18)[:, None]
    other = analyse_photo(sim.paste_colour_card(baseline_rgb, corners, colours=np.clip(off, 0, 1)), baseline)
    assert other.ok and other.colour.method == "surroundings"  # no region: skin never votes (issue #10)
    assert "colour chart" in other.colour.note and "ΔE" in other.colour.note


# --- the quality gate on real degradation --------------------------------------------------

def _pil_jpeg(rgb: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=quality)
    return np.asarray(Image.open(buffer).convert("RGB"))


@pytest.fixture(scope="module", params=PORTRAITS)
def portrait(request):
    rgb = load(request.param)
    return rgb, prepare_baseline(rgb)


@pytest.mark.parametrize("quality", [2, 5])
def test_a_heavily_recompressed_photo_is_told_to_send_the_original(portrait, quality):
    rgb, baseline = portrait
    report = analyse_photo(_pil_jpeg(rgb, quality), baseline).quality
    assert "compressed" in report.codes and "blurred" not in report.codes
    assert "original photo" in report.issues[report.codes.index("compressed")]


def test_an_ordinary_jpeg_of_the_same_photo_passes(portrait):
    rgb, baseline = portrait
    result = analyse_photo(_pil_jpeg(rgb, 90), baseline)
    assert result.ok and result.quality.ok, result.quality.issues


def test_a_photo_from_twice_as_far_is_told_to_come_closer_not_to_focus(portrait):
    rgb, baseline = portrait
    h, w = rgb.shape[:2]
    far = np.full_like(rgb, 128)
    far[h // 4: h // 4 + h // 2, w // 4: w // 4 + w // 2] = cv2.resize(rgb, (w // 2, h // 2),
                                                                        interpolation=cv2.INTER_AREA)
    report = analyse_photo(far, baseline).quality
    assert report.codes == ("too_far",)
    assert "Come closer" in report.issues[0]


def test_a_reduced_copy_of_the_same_photo_is_told_to_send_the_original_not_to_come_closer(portrait):
    rgb, baseline = portrait
    h, w = rgb.shape[:2]
    report = analyse_photo(_pil_jpeg(cv2.resize(rgb, (w // 2, h // 2), interpolation=cv2.INTER_AREA), 85),
                           baseline).quality
    assert report.codes == ("downscaled",)
    assert "If it is a copy (sent by a messaging app, or a screenshot), send the original" in report.issues[0]


def test_the_same_photo_out_of_focus_is_still_called_blurred(portrait):
    rgb, baseline = portrait
    assert "blurred" in analyse_photo(cv2.GaussianBlur(rgb, (0, 0), 2.5), baseline).quality.codes


def test_a_little_less_light_than_a_dim_baseline_passes_and_much_less_does_not():
    # A dim indoor baseline (skin around L* 23): a photo with 30 % less light falls
    # under the absolute limit of L* 20, but is as usable as the baseline.
    dim = sim.change_lighting(load("grace_hopper"), sim.Lighting(exposure=0.12))
    baseline = prepare_baseline(dim)
    assert 20 < baseline.lightness < 25
    slightly = analyse_photo(sim.change_lighting(load("grace_hopper"), sim.Lighting(exposure=0.084)), baseline)
    assert slightly.quality.measurements.mean_lightness < 20
    assert slightly.quality.ok, slightly.quality.issues
    much = analyse_photo(sim.change_lighting(load("grace_hopper"), sim.Lighting(exposure=0.01)), baseline)
    assert "underexposed" in much.quality.codes


def test_a_grainy_photo_is_told_so_and_ordinary_grain_passes(portrait):
    rgb, baseline = portrait
    rng = np.random.default_rng(12)
    assert analyse_photo(sim.add_sensor_noise(rgb, 4.0, rng), baseline).quality.ok
    assert "noisy" in analyse_photo(sim.add_sensor_noise(rgb, 14.0, rng), baseline).quality.codes


@pytest.mark.parametrize("other", ["coffee", "chelsea", "rocket", "grace_hopper"])
def test_a_photo_of_another_scene_or_person_gets_that_reason_only(other):
    baseline = prepare_baseline(load("astronaut"))
    result = analyse_photo(load(other), baseline)
    assert not result.ok
    assert result.quality.codes == ("framing",)
    assert "same area" in result.quality.issues[0]


# --- the skin measured without a region ----------------------------------------------------

@pytest.mark.parametrize("name", PORTRAITS)
def test_without_a_region_the_face_is_measured_and_not_the_background(name):
    from tracker.analysis.colour import skin_mask
    from tracker.analysis.skin import find_skin

    rgb = load(name)
    region = find_skin(rgb)
    assert region.source == "face"
    background = box_mask(rgb.shape[:2], NOT_SKIN[name])
    assert skin_mask(rgb)[background].mean() > 0.05  # the chroma box alone takes a lot of it...
    assert region.mask[background].sum() == 0  # ...the face's skin none
    x, y, w, h = FACE[name]
    assert region.mask[y:y + h, x:x + w].mean() > 0.6


def test_the_result_says_which_pixels_were_measured():
    rgb = load("grace_hopper")
    result = analyse_photo(_pil_jpeg(rgb, 90), prepare_baseline(rgb)).to_dict()
    skin = result["skin"]
    assert skin["source"] == "face" and 0.05 < skin["fraction"] < 0.2
    fx, fy, fw, fh = skin["face"]
    assert fx < 230 < fx + fw and fy < 200 < fy + fh  # the face box is in the baseline's pixels
    assert "face" in skin["note"]
    boxed = analyse_photo(rgb, prepare_baseline(rgb, roi=(220, 250, 60, 40))).to_dict()["skin"]
    assert boxed["source"] == "region"


def test_without_a_face_the_largest_skin_coloured_area_is_measured_and_said_so():
    from tracker.analysis.skin import find_skin

    region = find_skin(load("coffee"))
    assert region.source == "largest_skin_area" and region.face is None and "No face" in region.note


@pytest.mark.parametrize("name", sorted(PHOTOS))
def test_a_black_and_white_photo_is_refused_and_the_colour_one_is_not(name):
    """Pillow's one-channel JPEG of each real photo: no colour to measure; the colour original has colour."""
    from tracker.analysis.quality import colourless

    rgb = load(name)
    buffer = io.BytesIO()
    Image.fromarray(rgb).convert("L").save(buffer, "JPEG", quality=90)
    mono = np.asarray(Image.open(buffer).convert("RGB"))
    assert not colourless(rgb) and colourless(mono)
    with pytest.raises(ValueError, match="^The baseline photo has no colour"):
        prepare_baseline(mono)
    if name in PORTRAITS:
        result = analyse_photo(mono, prepare_baseline(rgb))
        assert result.quality.codes == ("no_colour",) and result.metrics["redness_a"] is None
