"""Colour normalisation: redness measured under changed light must match the truth."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from skimage import data

import iec_srgb
import wheel_photos
from series import CONTROL, ROI, make_followup, roi_mask
from tracker.analysis import simulate as sim
from tracker.analysis import analyse_baseline, analyse_photo, prepare_baseline
from tracker.analysis.colour import (
    ColourCorrection,
    clipped_mask,
    correct_region,
    delta_e76,
    fit_colour_card_correction,
    fit_reference_correction,
    identity_correction,
    lab_to_srgb8,
    linear_to_srgb,
    restore_clipped,
    single_clipped,
    skin_mask,
    srgb8_to_lab,
    srgb_to_lab,
    srgb_to_linear,
    uncorrected,
)
from tracker.analysis.colour_card import COLORCHECKER_SRGB


def test_srgb_transfer_round_trips_and_matches_reference_points():
    v = np.linspace(0, 1, 101, dtype=np.float32)
    assert np.allclose(linear_to_srgb(srgb_to_linear(v)), v, atol=1e-5)
    # IEC 61966-2-1: mid-grey 0.5 encoded is 0.2140 linear; 0.04045 is the knee.
    assert srgb_to_linear(np.float32(0.5)) == pytest.approx(0.21404, abs=1e-4)
    assert srgb_to_linear(np.float32(0.04045)) == pytest.approx(0.04045 / 12.92, rel=1e-4)


def test_lab_of_known_colours():
    white = srgb8_to_lab(np.full((1, 1, 3), 255, np.uint8))[0, 0]
    assert white == pytest.approx([100, 0, 0], abs=0.5)
    red = srgb8_to_lab(np.array([[[255, 0, 0]]], np.uint8))[0, 0]
    # CIE values of sRGB red under D65: L* 53.24, a* 80.09, b* 67.20.
    assert red == pytest.approx([53.24, 80.09, 67.20], abs=0.6)
    lab = srgb8_to_lab(np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8))
    assert np.abs(srgb8_to_lab(lab_to_srgb8(lab)) - lab).max() < 1.0


def test_reference_fit_undoes_a_light_change(baseline_rgb):
    rng = np.random.default_rng(11)
    for _ in range(4):
        lighting = sim.random_lighting(rng)
        photo = sim.change_lighting(baseline_rgb, lighting)
        everywhere = np.ones(photo.shape[:2], bool)
        correction = fit_reference_correction(photo, baseline_rgb, everywhere)
        before = np.median(delta_e76(srgb8_to_lab(photo), srgb8_to_lab(baseline_rgb)))
        after = np.median(delta_e76(srgb_to_lab(correction.apply(photo)), srgb8_to_lab(baseline_rgb)))
        assert after < 1.0 and after < before / 2
        assert correction.residual_delta_e < 1.5


def test_reference_fit_ignores_pixels_that_really_changed(baseline_rgb):
    """A reddened patch inside the reference (a treated area missed by the region) barely moves the fit."""
    lighting = sim.Lighting(exposure=0.85, white_balance=(1.05, 0.97, 1.02), gamma=1.05)
    big_patch = roi_mask(baseline_rgb.shape, (600, 300, 700, 500))
    photo = sim.change_lighting(sim.add_redness(baseline_rgb, big_patch, 12.0), lighting)
    clean = fit_reference_correction(sim.change_lighting(baseline_rgb, lighting), baseline_rgb,
                                     np.ones(photo.shape[:2], bool))
    dirty = fit_reference_correction(photo, baseline_rgb, np.ones(photo.shape[:2], bool))
    grey = np.full((1, 1, 3), 150, np.uint8)
    assert np.abs(clean.apply(grey) - dirty.apply(grey)).max() < 0.01


def test_too_small_a_reference_gives_no_fit(baseline_rgb):
    tiny = roi_mask(baseline_rgb.shape, (10, 10, 15, 15))
    assert fit_reference_correction(baseline_rgb, baseline_rgb, tiny) is None


def test_chart_correction_is_the_inverse_of_the_light_change():
    """Exposure 0.8 and a white balance are gains in linear light: the fit must be their exact inverse."""
    gains = 0.8 * np.array([0.93, 1.0, 1.08])
    photo_patches = iec_srgb.encode(iec_srgb.decode(COLORCHECKER_SRGB) * gains)
    correction = fit_colour_card_correction(photo_patches, COLORCHECKER_SRGB)
    assert correction.method == "colorchecker" and correction.residual_delta_e < 0.5
    np.testing.assert_allclose(correction.matrix[:, :3], np.diag(1 / gains), atol=1e-5)
    np.testing.assert_allclose(correction.matrix[:, 3], 0.0, atol=1e-5)  # no flare was added
    # The cyan patch (red 0) is left out of the fit, yet is mapped back as well.
    assert correction.reference_pixels == 23
    corrected = correction.apply(photo_patches.astype(np.float32)[None])[0]
    np.testing.assert_allclose(corrected, COLORCHECKER_SRGB, atol=2e-3)


@pytest.fixture(scope="module")
def baseline(baseline_rgb):
    return prepare_baseline(baseline_rgb, ROI, CONTROL)


def test_added_redness_is_recovered_within_15_percent_under_light_changes(baseline_rgb, baseline):
    """Issue acceptance: exposure −25…+5 %, white balance ±8 %, gamma ±12 %; Δa* within ±15 %."""
    rng = np.random.default_rng(21)
    base = analyse_baseline(baseline).metrics
    corners = [  # the extremes of the stated ranges, then random draws
        sim.Lighting(0.75, (1.08, 0.92, 1.08), 0.88), sim.Lighting(1.05, (0.92, 1.08, 0.92), 1.12),
        sim.Lighting(0.75, (0.92, 0.92, 1.08), 1.12), sim.Lighting(1.05, (1.08, 1.08, 0.92), 0.88),
    ]
    lightings = corners + [sim.random_lighting(rng) for _ in range(6)]
    naive_errors, errors = [], []
    for lighting in lightings:
        delta = float(rng.uniform(4, 12))
        follow = make_followup(baseline_rgb, rng, delta_a=delta, lighting=lighting)
        result = analyse_photo(follow.rgb, baseline)
        assert result.ok and result.colour.method == "reference_skin"
        measured_vs_baseline = result.metrics["redness_a"] - base["redness_a"]
        measured_vs_control = result.metrics["redness_delta_a"] - base["redness_delta_a"]
        for measured in (measured_vs_baseline, measured_vs_control):
            assert measured == pytest.approx(follow.true_delta_a, rel=0.15), lighting
        errors.append(abs(measured_vs_baseline - follow.true_delta_a) / follow.true_delta_a)
        # What the same photo reads without normalisation, to show it matters.
        x, y, w, h = ROI
        crop = baseline_rgb[y:y + h, x:x + w]
        raw = sim.change_lighting(sim.add_redness(crop, np.ones(crop.shape[:2], bool), delta), lighting)
        naive = srgb8_to_lab(raw)[..., 1].mean() - base["redness_a"]
        naive_errors.append(abs(naive - follow.true_delta_a) / follow.true_delta_a)
    assert np.median(errors) < 0.08
    assert max(naive_errors) > 0.15 > max(errors)


def test_chart_in_both_photos_drives_the_correction(baseline_rgb):
    corners = sim.colour_card_corners(1600, 1650, 650, angle_deg=-4)
    with_chart = sim.paste_colour_card(baseline_rgb, corners)
    charted = prepare_baseline(with_chart, ROI, CONTROL)
    assert charted.colour_card is not None
    base = analyse_baseline(charted).metrics
    rng = np.random.default_rng(5)
    lighting = sim.Lighting(exposure=0.8, white_balance=(1.06, 0.95, 0.93), gamma=1.08)
    follow = make_followup(with_chart, rng, delta_a=8.0, lighting=lighting,
                           motion=sim.CameraMotion(rotation_deg=5, scale=0.95, shift=(20, -15)))
    result = analyse_photo(follow.rgb, charted)
    assert result.colour.method == "colorchecker"
    assert result.colour.residual_delta_e < 3.0
    assert result.metrics["redness_a"] - base["redness_a"] == pytest.approx(follow.true_delta_a, rel=0.15)


def test_without_a_region_skin_in_the_overlap_is_measured(baseline_rgb):
    plain = prepare_baseline(baseline_rgb)
    base = analyse_baseline(plain)
    follow = make_followup(baseline_rgb, np.random.default_rng(6),
                           lighting=sim.Lighting(exposure=0.85, white_balance=(1.05, 1.0, 0.95), gamma=1.05))
    result = analyse_photo(follow.rgb, plain)
    # Without a region any skin may be treated: the colour is normalised on what is not skin.
    assert result.ok and result.colour.method == "surroundings" and result.colour.reference == "surroundings"
    assert result.metrics["redness_delta_a"] is None
    # Unchanged skin under changed light reads the same once normalised.
    for key in ("redness_a", "lightness_l", "ita_deg"):
        assert result.metrics[key] == pytest.approx(base.metrics[key], abs=1.0), key


# --- arguments: what each function accepts, and one clear ValueError for the rest -------------

RGB8 = np.random.default_rng(40).integers(0, 256, (20, 20, 3), dtype=np.uint8)
MASK = np.ones((20, 20), bool)
NOT_RGB8 = {  # arrays that are not an H x W x 3 uint8 image
    "float64": RGB8.astype(np.float64),
    "float32 0-1": RGB8.astype(np.float32) / 255,
    "uint16": RGB8.astype(np.uint16),
    "int64": RGB8.astype(np.int64),
    "bool": RGB8 > 127,
    "2-D": RGB8[..., 0],
    "4 channels": np.dstack([RGB8, RGB8[..., :1]]),
    "empty": RGB8[:0],
    "list": RGB8.tolist(),
}
NOT_RGB01 = {  # arrays that are not an H x W x 3 float image
    "uint8": RGB8,
    "int32": RGB8.astype(np.int32),
    "bool": RGB8 > 127,
    "2-D": RGB8[..., 0] / 255,
    "2 channels": RGB8[..., :2] / 255,
    "4-D": (RGB8 / 255)[None],
    "empty": RGB8[:, :0] / 255.0,
}
NOT_MASK = {
    "uint8": MASK.astype(np.uint8),
    "float": MASK.astype(np.float64),
    "transposed shape": np.ones((20, 21), bool),
    "3-D": MASK[..., None],
    "list": MASK.tolist(),
}
REFERENCE_SKIN = ColourCorrection(method="reference_skin", matrix=np.array([[0.15, 1.05], [-0.05, 0.95], [0.02, 1.1]]))
# A correction stored before metric version 2.3, whose powers act on linear light.
REFERENCE_SKIN_LINEAR = replace(REFERENCE_SKIN, tone="linear")
CHART = ColourCorrection(method="colorchecker",
                         matrix=np.array([[1.1, 0.05, -0.02, 0.01], [0.03, 0.95, 0.0, 0.0], [-0.01, 0.02, 1.2, -0.01]]))


def _rgb8_users():
    """Each function whose argument must be an H x W x 3 uint8 image, called with that argument alone changed."""
    return {
        "srgb8_to_lab": ("rgb", lambda a: srgb8_to_lab(a)),
        "skin_mask": ("rgb", lambda a: skin_mask(a)),
        "restore_clipped": ("rgb", lambda a: restore_clipped(a)),
        "correct_region": ("rgb", lambda a: correct_region(identity_correction(), a)),
        "fit_reference_correction photo": ("photo", lambda a: fit_reference_correction(a, RGB8, MASK)),
        "fit_reference_correction baseline": ("baseline", lambda a: fit_reference_correction(RGB8, a, MASK)),
        "fit_reference_correction smoothed_baseline": (
            "smoothed_baseline", lambda a: fit_reference_correction(RGB8, RGB8, MASK, smoothed_baseline=a)),
    }


@pytest.mark.parametrize("bad", NOT_RGB8.values(), ids=NOT_RGB8.keys())
@pytest.mark.parametrize("name,call", _rgb8_users().values(), ids=_rgb8_users().keys())
def test_8bit_image_arguments_refuse_other_arrays(name, call, bad):
    with pytest.raises(ValueError, match=rf"^{name} must be an H x W x 3 uint8 sRGB image; got "):
        call(bad)


def test_a_float_photo_is_refused_by_skin_mask_rather_than_giving_no_skin():
    """OpenCV takes a 0-1 float image and every pixel then falls outside the skin box."""
    with pytest.raises(ValueError, match=r"^rgb must be an H x W x 3 uint8 sRGB image; got a float32 array of "
                                         r"shape \(20, 20, 3\)$"):
        skin_mask(RGB8.astype(np.float32) / 255)


@pytest.mark.parametrize("bad", NOT_MASK.values(), ids=NOT_MASK.keys())
@pytest.mark.parametrize("name,call", [
    ("mask", lambda m: restore_clipped(RGB8, m)),
    ("mask", lambda m: correct_region(identity_correction(), RGB8, m)),
    ("reference", lambda m: fit_reference_correction(RGB8, RGB8, m)),
], ids=["restore_clipped", "correct_region", "fit_reference_correction"])
def test_masks_must_be_boolean_and_of_the_image_shape(name, call, bad):
    with pytest.raises(ValueError, match=rf"^{name} must be a boolean mask of shape \(20, 20\), like the image; "):
        call(bad)


def test_fit_reference_correction_needs_a_reference_and_images_of_one_size():
    with pytest.raises(ValueError, match=r"^reference must be a boolean mask"):
        fit_reference_correction(RGB8, RGB8, None)
    with pytest.raises(ValueError, match=r"^baseline must have the shape of photo, \(20, 20, 3\); got"):
        fit_reference_correction(RGB8, RGB8[:10], MASK)
    with pytest.raises(ValueError, match=r"^smoothed_baseline must have the shape of baseline"):
        fit_reference_correction(RGB8, RGB8, MASK, smoothed_baseline=RGB8[:, :10])
    with pytest.raises(ValueError, match=r"^max_pixels must be an integer at least 1; got"):
        fit_reference_correction(RGB8, RGB8, MASK, max_pixels=0)


@pytest.mark.parametrize("bad", NOT_RGB01.values(), ids=NOT_RGB01.keys())
def test_srgb_to_lab_refuses_what_is_not_a_float_colour_image(bad):
    with pytest.raises(ValueError, match=r"^rgb01 must be an H x W x 3 float sRGB image in 0-1; got "):
        srgb_to_lab(bad)


@pytest.mark.parametrize("bad", [RGB8, RGB8[..., 0].astype(np.float32), RGB8[:0].astype(np.float32)],
                         ids=["uint8 (8-bit Lab)", "2-D", "empty"])
def test_lab_to_srgb8_refuses_what_is_not_a_float_lab_image(bad):
    with pytest.raises(ValueError, match=r"^lab must be an H x W x 3 float CIELAB image; got "):
        lab_to_srgb8(bad)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 1, 3), (20, 20, 3), (1, 500, 3), (256, 256, 3)])
def test_srgb_to_lab_agrees_with_the_cie_formulae(dtype, shape):
    """skimage's rgb2lab implements the CIE formulae (CIE 15, D65) independently."""
    from skimage.color import rgb2lab

    rgb01 = np.random.default_rng(sum(shape)).random(shape).astype(dtype)
    lab = srgb_to_lab(rgb01)
    assert lab.shape == shape and lab.dtype == np.float32
    error = np.linalg.norm(lab - rgb2lab(rgb01.astype(np.float64)), axis=-1)
    assert error.max() <= 0.02  # skimage rounds the sRGB matrix to 6 digits


@pytest.mark.parametrize("shape", [(1, 1, 3), (5, 7, 3), (64, 64, 3)])
def test_srgb8_to_lab_is_srgb_to_lab_of_values_over_255(shape):
    from skimage.color import rgb2lab

    rgb = np.random.default_rng(shape[0]).integers(0, 256, shape, dtype=np.uint8)
    lab = srgb8_to_lab(rgb)
    assert lab.shape == shape
    assert np.linalg.norm(lab - rgb2lab(rgb), axis=-1).max() <= 0.02


@pytest.mark.parametrize("shape", [(1, 1, 3), (64, 64, 3)])
def test_lab_to_srgb8_inverts_srgb8_to_lab(shape):
    rgb = np.random.default_rng(shape[0]).integers(0, 256, shape, dtype=np.uint8)
    assert np.array_equal(lab_to_srgb8(srgb8_to_lab(rgb)), rgb)


def test_srgb_to_lab_accepts_values_above_one():
    """Restored clipped channels (restore_clipped) exceed 1: they are converted, not refused."""
    brighter = np.array([[[1.2, 0.5, 0.4]]], np.float32)
    assert np.all(np.isfinite(srgb_to_lab(brighter)))


def test_red_above_one_reads_redder_than_red_at_one():
    at_one = np.array([[[1.0, 0.5, 0.4]]], np.float32)
    above = np.array([[[1.2, 0.5, 0.4]]], np.float32)
    assert srgb_to_lab(above)[0, 0, 1] > srgb_to_lab(at_one)[0, 0, 1]


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("shape", [(), (7,), (20, 20, 3)])
def test_transfer_functions_follow_iec_61966_2_1_for_any_float_shape(dtype, shape):
    v = np.asarray(np.random.default_rng(len(shape)).random(shape), dtype)
    linear = srgb_to_linear(v)
    assert linear.shape == np.shape(v) and linear.dtype == np.float32
    np.testing.assert_allclose(linear, iec_srgb.decode(v), atol=1e-6)
    np.testing.assert_allclose(linear_to_srgb(v), iec_srgb.encode(v), atol=1e-6)


@pytest.mark.parametrize("bad", [np.arange(4, dtype=np.uint8), np.arange(4), np.array([True, False]), 1,
                                 np.array(["0.5"])], ids=["uint8", "int64", "bool", "int scalar", "strings"])
@pytest.mark.parametrize("fn", [srgb_to_linear, linear_to_srgb])
def test_transfer_functions_refuse_integers_and_other_non_floats(fn, bad):
    with pytest.raises(ValueError, match=r"^v must be float (sRGB values|linear light) in 0-1; got "):
        fn(bad)


def test_transfer_functions_take_an_empty_selection():
    """An empty region (no valid pixel) flows through metrics as no values, not as an error."""
    assert srgb_to_linear(np.empty((0, 2), np.float32)).shape == (0, 2)


def _channel_map_truth(correction: ColourCorrection, encoded: np.ndarray) -> np.ndarray:
    """What ``correction`` does to 0-1 sRGB, computed in float64 from its parameters."""
    lin = iec_srgb.decode(encoded)
    if correction.method == "colorchecker":
        out = lin @ correction.matrix[:, :3].T + correction.matrix[:, 3]
    elif correction.tone == "linear":
        a, b = correction.matrix[:, 0], correction.matrix[:, 1]
        out = np.exp(a + b * np.log(np.maximum(lin, 1e-4)))
    else:
        a, b = correction.matrix[:, 0], correction.matrix[:, 1]
        out = np.exp(a) * np.maximum(iec_srgb.decode(encoded ** b), 1e-4)
    return np.clip(iec_srgb.encode(np.clip(out, 0, 1)), 0, 1)


@pytest.mark.parametrize("correction", [REFERENCE_SKIN, REFERENCE_SKIN_LINEAR, CHART],
                         ids=["reference_skin", "reference_skin, stored linear tone", "colorchecker"])
@pytest.mark.parametrize("form", ["uint8 image", "uint8 pixels", "float32 image", "float64 pixels", "float16 image"])
def test_correction_apply_takes_8bit_or_float_images_and_pixel_lists(correction, form):
    dtype, layout = form.split()
    rgb = RGB8 if layout == "image" else RGB8.reshape(-1, 3)
    given = rgb if dtype == "uint8" else (rgb / 255).astype(dtype)
    out = correction.apply(given)
    assert out.shape == rgb.shape and out.dtype == np.float32
    encoded = given / 255 if dtype == "uint8" else given.astype(np.float64)
    np.testing.assert_allclose(out, _channel_map_truth(correction, encoded), atol=1e-5)


@pytest.mark.parametrize("bad", [RGB8.astype(np.int32), RGB8.astype(np.uint16), RGB8 > 127, RGB8[..., :2],
                                 RGB8[..., 0], RGB8[:0], RGB8.tolist()],
                         ids=["int32", "uint16", "bool", "2 channels", "2-D", "empty", "list"])
@pytest.mark.parametrize("correction", [identity_correction(), REFERENCE_SKIN, CHART],
                         ids=["baseline", "reference_skin", "colorchecker"])
def test_correction_apply_refuses_other_arrays(correction, bad):
    with pytest.raises(ValueError, match=r"^rgb must be uint8 or 0-1 float sRGB values with 3 channels on the "
                                         r"last axis; got "):
        correction.apply(bad)


def test_correct_region_needs_a_correction():
    with pytest.raises(ValueError, match=r"^correction must be a ColourCorrection; got a dict"):
        correct_region({"method": "baseline"}, RGB8)


@pytest.mark.parametrize("rgb", [RGB8, RGB8.reshape(-1, 3), RGB8[:0].reshape(-1, 3)], ids=["image", "pixels", "none"])
def test_clipped_mask_takes_images_and_pixel_lists(rgb):
    expected = (rgb.min(axis=-1) <= 4) | (rgb.max(axis=-1) >= 251)
    np.testing.assert_array_equal(clipped_mask(rgb), expected)


@pytest.mark.parametrize("kwargs,name", [
    (dict(rgb=RGB8 / 255), "rgb"), (dict(rgb=RGB8.astype(np.int16)), "rgb"),
    (dict(rgb=RGB8, low=-1), "low"), (dict(rgb=RGB8, high=256), "high"), (dict(rgb=RGB8, high=250.5), "high"),
], ids=["float", "int16", "low below 0", "high above 255", "fractional high"])
def test_clipped_mask_refuses_non_8bit_values_and_limits(kwargs, name):
    with pytest.raises(ValueError, match=rf"^{name} must be "):
        clipped_mask(**kwargs)


def test_single_clipped_is_what_restore_clipped_restores():
    """A brightened real photo clips its red channel first; the one-pass check finds those pixels exactly."""
    bright = np.clip(data.astronaut().astype(np.float32) * 1.6, 0, 255).astype(np.uint8)
    mask = np.zeros(bright.shape[:2], bool)
    mask[100:400, 150:350] = True
    for m in (None, mask):
        linear, where = restore_clipped(bright, m)
        found = single_clipped(bright, m)
        assert found.any() and np.array_equal(found, where) and linear.shape == (int(found.sum()), 3)
    assert not single_clipped(data.astronaut() // 2).any()  # nothing near the limit


@pytest.mark.parametrize("limit", [0, 256, 250.5, None], ids=["0", "256", "fraction", "None"])
def test_restore_clipped_refuses_a_limit_outside_8bit_levels(limit):
    with pytest.raises(ValueError, match=r"^limit must be an integer at least 1 and at most 255; got "):
        restore_clipped(RGB8, limit=limit)


@pytest.mark.parametrize("first,second", [
    (np.zeros((4, 3)), np.ones((4, 3))),
    (np.zeros((5, 4, 3), np.float32), np.ones((1, 4, 3))),
    ([[50.0, 10.0, 20.0]], [[50.0, 13.0, 24.0]]),
], ids=["same shape", "broadcast", "lists"])
def test_delta_e76_is_the_euclidean_distance(first, second):
    expected = np.sqrt(((np.asarray(second, float) - np.asarray(first, float)) ** 2).sum(axis=-1))
    np.testing.assert_allclose(delta_e76(first, second), expected, rtol=1e-6)


@pytest.mark.parametrize("first,second,name", [
    (np.zeros((4, 2)), np.zeros((4, 2)), "lab1"),
    (np.zeros((4, 3), np.uint8), np.zeros((4, 3)), "lab1"),
    (np.zeros((4, 3)), np.zeros((4, 3), np.int64), "lab2"),
    (np.zeros((4, 3)), np.zeros((5, 3)), "lab1 and lab2"),
], ids=["2 channels", "uint8", "int64", "shapes that do not broadcast"])
def test_delta_e76_refuses_what_is_not_lab(first, second, name):
    with pytest.raises(ValueError, match=rf"^{name} must be "):
        delta_e76(first, second)


@pytest.mark.parametrize("photo,baseline,name", [
    (COLORCHECKER_SRGB * 255, COLORCHECKER_SRGB, "photo_patches"),
    (COLORCHECKER_SRGB, np.where(np.eye(24, 3, dtype=bool), np.nan, COLORCHECKER_SRGB), "baseline_patches"),
    (COLORCHECKER_SRGB[:, :2], COLORCHECKER_SRGB, "photo_patches"),
    (COLORCHECKER_SRGB.reshape(4, 6, 3), COLORCHECKER_SRGB, "photo_patches"),
    ((COLORCHECKER_SRGB * 255).astype(np.uint8), COLORCHECKER_SRGB, "photo_patches"),
    (COLORCHECKER_SRGB, COLORCHECKER_SRGB[:20], "baseline_patches"),
], ids=["0-255", "NaN", "2 channels", "grid", "uint8", "fewer patches"])
def test_chart_correction_refuses_patches_that_are_not_n_by_3_in_0_1(photo, baseline, name):
    with pytest.raises(ValueError, match=rf"^{name} must "):
        fit_colour_card_correction(photo, baseline)


@pytest.mark.parametrize("note", ["", None, 3], ids=["empty", "None", "number"])
def test_uncorrected_needs_a_sentence(note):
    with pytest.raises(ValueError, match=r"^note must be a non-empty string"):
        uncorrected(note)


# --- a tone curve changed between photos, skin far lighter than most of the reference -----------

GH_FOREHEAD, GH_LEFT_CHEEK = (235, 140, 50, 18), (205, 240, 30, 30)  # Grace Hopper, 512-px-wide portrait


@pytest.fixture(scope="module")
def hopper_forehead():
    """Grace Hopper's portrait, its brightly lit forehead reddened by 5 a*: the baseline prepared, both photos."""
    portrait = wheel_photos.load("grace_hopper")
    x, y, w, h = GH_FOREHEAD
    mask = np.zeros(portrait.shape[:2], bool)
    mask[y:y + h, x:x + w] = True
    reddened = sim.add_redness(portrait, mask, 5.0)
    baseline = prepare_baseline(portrait, GH_FOREHEAD, GH_LEFT_CHEEK)
    return portrait, reddened, baseline


def _linear_power(rgb: np.ndarray, power: float) -> np.ndarray:
    """A change of rendering that raises linear light to ``power`` (8-bit sRGB in and out)."""
    lin = iec_srgb.decode(rgb / 255) ** power
    return np.round(np.clip(iec_srgb.encode(lin), 0, 1) * 255).astype(np.uint8)


@pytest.mark.parametrize("change, form", [
    (lambda rgb: sim.change_lighting(rgb, sim.Lighting(gamma=1.09)), "encoded"),
    (lambda rgb: sim.change_lighting(rgb, sim.Lighting(gamma=0.92)), "encoded"),
    (lambda rgb: sim.change_lighting(rgb, sim.Lighting(exposure=0.79, white_balance=(1.03, 0.97, 0.97), gamma=1.09)),
     "encoded"),
    (lambda rgb: _linear_power(rgb, 0.9), "linear"),
    (lambda rgb: _linear_power(rgb, 1.1), "linear"),
], ids=["gamma 1.09", "gamma 0.92", "darker, gamma 1.09", "linear light to the power 0.9", "to the power 1.1"])
def test_a_tone_curve_change_is_undone_on_skin_lighter_than_the_reference(hopper_forehead, change, form):
    """A tone curve is a power of the encoded values or of linear light. Either form fitted to the
    other's change, set by the dark uniform and background that are most of the reference (median
    L* 7), was extrapolated to the forehead (L* 77) and read Δa* about 1 unit off; the form that fits
    the reference better is kept (VALIDITY.md, "A tone curve of either form")."""
    portrait, reddened, baseline = hopper_forehead
    x, y, w, h = GH_FOREHEAD
    true = float(srgb8_to_lab(reddened[y:y + h, x:x + w])[..., 1].mean()
                 - srgb8_to_lab(portrait[y:y + h, x:x + w])[..., 1].mean())
    before = analyse_baseline(baseline).metrics["redness_delta_a"]
    result = analyse_photo(change(reddened), baseline)
    assert result.ok and result.colour.method == "reference_skin"
    assert result.colour.tone == form
    error = result.metrics["redness_delta_a"] - before - true
    assert abs(error) < 0.4, error


def test_a_stored_correction_applies_as_it_was_fitted():
    """A correction keeps its form through the stored result; one stored before metric version 2.3
    (no ``tone``) had its power on linear light, and is still shown so."""
    for correction in (REFERENCE_SKIN, REFERENCE_SKIN_LINEAR):
        back = ColourCorrection.from_dict(correction.to_dict())
        assert back.tone == correction.tone
        np.testing.assert_allclose(back.apply(RGB8), correction.apply(RGB8), atol=1e-6)
    # A chart's or the baseline's own mapping has no tone curve to say.
    assert CHART.to_dict()["tone"] is None and identity_correction().to_dict()["tone"] is None
    old = {k: v for k, v in REFERENCE_SKIN.to_dict().items() if k != "tone"}
    assert ColourCorrection.from_dict(old).tone == "linear"
    assert np.abs(REFERENCE_SKIN_LINEAR.apply(RGB8) - REFERENCE_SKIN.apply(RGB8)).max() > 1 / 255  # the forms differ


@pytest.fixture(scope="module")
def darker_astronaut():
    """The astronaut's facial skin darkened by 40 L* (her cheek at L* 38), the cheek then reddened by 5 a*."""
    portrait = wheel_photos.load("astronaut")
    x, y, w, h = wheel_photos.FACE["astronaut"]
    face = np.zeros(portrait.shape[:2], bool)
    face[y:y + h, x:x + w] = True
    darker = sim.add_redness(portrait, face & skin_mask(portrait), 0.0, feather_px=3, delta_l=-40.0)
    roi, control = (190, 115, 25, 25), (225, 160, 20, 10)
    mask = np.zeros(portrait.shape[:2], bool)
    mask[roi[1]:roi[1] + roi[3], roi[0]:roi[0] + roi[2]] = True
    return darker, sim.add_redness(darker, mask, 5.0), prepare_baseline(darker, roi, control), roi


@pytest.mark.parametrize("change", [
    lambda rgb: sim.change_lighting(rgb, sim.Lighting(exposure=0.8, white_balance=(1.03, 0.97, 0.97), gamma=1.09)),
    lambda rgb: sim.change_lighting(rgb, sim.Lighting(gamma=0.92)),
    lambda rgb: _linear_power(rgb, 1.1),
], ids=["darker, gamma 1.09", "gamma 0.92", "linear light to the power 1.1"])
def test_a_tone_curve_change_is_undone_on_darker_skin(darker_astronaut, change):
    """Skin far darker than the lit parts of the reference is extrapolated to the other way: measured as well."""
    darker, reddened, baseline, (x, y, w, h) = darker_astronaut
    assert srgb8_to_lab(darker[y:y + h, x:x + w])[..., 0].mean() < 45
    true = float(srgb8_to_lab(reddened[y:y + h, x:x + w])[..., 1].mean()
                 - srgb8_to_lab(darker[y:y + h, x:x + w])[..., 1].mean())
    before = analyse_baseline(baseline).metrics["redness_delta_a"]
    result = analyse_photo(change(reddened), baseline)
    assert result.ok and result.colour.method == "reference_skin"
    assert abs(result.metrics["redness_delta_a"] - before - true) < 0.4
