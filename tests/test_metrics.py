"""Each metric against values worked out by hand on small synthetic arrays."""

from __future__ import annotations

import inspect

import cv2
import numpy as np
import pytest

from tracker.analysis import metrics as m
from tracker.analysis.colour import linear_to_srgb, srgb8_to_lab


def _lab(l, a, b, shape=(20, 20)):
    out = np.empty((*shape, 3), np.float32)
    out[...] = (l, a, b)
    return out


def test_redness_and_delta_a_are_means_of_a_star():
    lab = _lab(60, 12.0, 15)
    lab[:10, :, 1] = 4.0  # top half less red
    assert m.redness_a(lab) == pytest.approx(8.0)
    mask = np.zeros(lab.shape[:2], bool)
    mask[10:] = True
    assert m.redness_a(lab, mask) == pytest.approx(12.0)
    assert m.redness_delta_a(lab, _lab(60, 5.0, 15), mask) == pytest.approx(7.0)


def test_erythema_index_is_zero_for_equal_red_and_green_and_grows_with_red():
    grey = np.full((20, 20, 3), 0.5, np.float32)
    assert m.erythema_index(grey) == pytest.approx(0.0, abs=1e-4)
    # Linear R twice linear G: EI = 100 log10(2) = 30.1.
    rgb = linear_to_srgb(np.array([0.4, 0.2, 0.2], np.float32))[None, None].repeat(20, 0).repeat(20, 1)
    assert m.erythema_index(rgb) == pytest.approx(100 * np.log10(2), abs=0.05)


def test_melanin_index_of_known_reflectance():
    # Linear red reflectance 0.1 -> MI = 100 log10(1 / 0.1) = 100.
    rgb = linear_to_srgb(np.array([0.1, 0.1, 0.1], np.float32))[None, None].repeat(5, 0).repeat(5, 1)
    assert m.melanin_index(rgb) == pytest.approx(100.0, abs=0.05)


@pytest.mark.parametrize("l_star,b_star,expected", [(50, 20, 0.0), (70, 20, 45.0), (30, 20, -45.0),
                                                     (50 + 20 * np.sqrt(3), 20, 60.0)])
def test_ita_of_known_colours(l_star, b_star, expected):
    assert m.ita_deg(_lab(l_star, 10, b_star)) == pytest.approx(expected, abs=1e-3)


def test_ita_orders_real_skin_tones_light_to_dark():
    # sRGB skin swatches from light to dark (Fitzpatrick-like progression).
    swatches = np.array([[[243, 214, 196]], [[224, 184, 156]], [[198, 147, 112]], [[150, 100, 70]], [[90, 56, 38]]],
                        np.uint8)
    ita = [m.ita_deg(srgb8_to_lab(s[None])) for s in swatches]
    assert ita == sorted(ita, reverse=True)
    assert ita[0] > 41 and ita[-1] < -30


def test_change_map_is_smoothed_delta_a_against_the_baseline_within_the_mask():
    base = _lab(60, 5.0, 15, shape=(40, 40))
    photo = base.copy()
    photo[:, :20, 1] += 6.0  # left half redder by 6
    mask = np.ones((40, 40), bool)
    mask[:, 36:] = False
    photo[:, 36:, 1] += 50.0  # outside the mask: must not leak in
    change = m.redness_change_map(photo, base, mask)
    assert np.isnan(change[:, 36:]).all()
    assert change[:, :10] == pytest.approx(6.0, abs=1e-3) and change[:, 28:36] == pytest.approx(0.0, abs=1e-3)
    assert 0 < change[5, 20] < 6  # the edge is smoothed by sigma 2 px
    raw = m.redness_change_map(photo, base, mask, sigma_px=0)
    assert raw[:, :20] == pytest.approx(6.0) and raw[:, 20:36] == pytest.approx(0.0)


def test_area_metrics_count_the_share_of_the_map_above_the_threshold():
    change = np.full((20, 20), np.nan, np.float32)
    change[:10] = 0.0
    change[:2] = m.CHANGE_THRESHOLD_A + 0.5  # 20 % of the valid pixels clearly redder
    change[2:4] = m.CHANGE_THRESHOLD_A - 0.5  # just below the threshold
    assert m.erythema_area_fraction(change) == pytest.approx(0.2)
    assert m.erythema_area_cm2(change, None) is None, "no scale, no area: never a guess"
    assert m.erythema_area_cm2(change, 0.25) == pytest.approx(40 * 0.25 / 100)
    assert m.redness_change_p90(change) == pytest.approx(np.percentile(change[:10], 90))
    assert m.redness_focal_a(change) == pytest.approx(np.percentile(change[:10], 90) - np.median(change[:10]))


def test_focal_redness_separates_a_persistent_patch_from_uniform_redness():
    uniform = np.full((40, 40), 5.0, np.float32)
    patch = np.full((40, 40), 1.0, np.float32)
    patch[10:30, 10:30] = 8.0  # a quarter of the region stays red while the rest has faded
    assert m.redness_focal_a(uniform) == pytest.approx(0.0)
    assert m.redness_focal_a(patch) == pytest.approx(7.0) and m.redness_focal_a(patch) >= m.FOCAL_THRESHOLD_A
    assert m.erythema_area_fraction(patch) == pytest.approx(0.25)


def test_texture_separates_smooth_from_rough_skin():
    rng = np.random.default_rng(0)
    # Same overall variation (sd 6 L*), but smooth undulations versus pixel-scale roughness.
    undulating = cv2.GaussianBlur(rng.normal(0, 1, (128, 128)), (0, 0), 4)
    smooth = 60.0 + 6.0 * undulating / undulating.std()
    rough = 60.0 + rng.normal(0, 6.0, (128, 128))
    s, r = m.texture_metrics(smooth), m.texture_metrics(rough)
    assert r["texture_contrast"] > 10 * s["texture_contrast"]
    assert r["texture_homogeneity"] < s["texture_homogeneity"]
    assert r["texture_energy"] < s["texture_energy"]
    assert r["texture_entropy"] > s["texture_entropy"]
    assert r["hf_energy"] > 10 * s["hf_energy"]
    assert r["lbp_uniformity"] < s["lbp_uniformity"]


def test_texture_ignores_pixels_outside_the_mask():
    rng = np.random.default_rng(1)
    img = np.full((64, 64), 50.0) + rng.normal(0, 0.5, (64, 64))
    mask = np.ones(img.shape, bool)
    mask[:, 32:] = False
    noisy = img.copy()
    noisy[:, 40:] += rng.normal(0, 20, (64, 24))  # changes only outside the mask (beyond its border)
    a, b = m.texture_glcm(img, mask), m.texture_glcm(noisy, mask)
    assert a == pytest.approx(b)


def test_takiwaki_axes_are_the_published_combinations_of_a_and_l():
    lab = _lab(60, 12.0, 15)
    assert m.haemoglobin_takiwaki(lab) == pytest.approx(1.68 * 12 + 0.60 * 60)
    assert m.melanin_takiwaki(lab) == pytest.approx(-1.06 * 12 - 1.44 * 60)


def test_redness_moves_ita_and_the_melanin_index_but_not_the_takiwaki_melanin_axis(astronaut):
    """Pure erythema on a real face (ΔL* = -0.74 Δa*) against a true darkening (L* down, a* unchanged)."""
    from tracker.analysis.simulate import ASTRONAUT_CHEEK, add_redness

    x, y, w, h = ASTRONAUT_CHEEK
    mask = np.zeros(astronaut.shape[:2], bool)
    mask[y:y + h, x:x + w] = True

    def measure(rgb):
        patch = rgb[y:y + h, x:x + w]
        lab = srgb8_to_lab(patch)
        return {"ita": m.ita_deg(lab), "mi": m.melanin_index(patch.astype(np.float32) / 255),
                "mel": m.melanin_takiwaki(lab), "hb": m.haemoglobin_takiwaki(lab)}

    before = measure(astronaut)
    red = measure(add_redness(astronaut, mask, 8.0, delta_l=-8.0 * 1.06 / 1.44))
    dark = measure(add_redness(astronaut, mask, 0.0, delta_l=-8.0))
    assert before["ita"] - red["ita"] > 6 and red["mi"] - before["mi"] > 1, "redness alone reads as darker on ITA and MI"
    assert abs(red["mel"] - before["mel"]) < 0.5
    assert red["hb"] - before["hb"] == pytest.approx((1.68 - 0.60 * 1.06 / 1.44) * 8, abs=0.5)
    assert dark["mel"] - before["mel"] == pytest.approx(1.44 * 8, abs=0.5)


def test_every_metric_has_a_complete_definition():
    expected = {"redness_a", "redness_delta_a", "erythema_index", "erythema_area_fraction", "lightness_l",
                "yellowness_b", "ita_deg", "melanin_index", "texture_contrast", "texture_homogeneity",
                "texture_energy", "texture_entropy", "lbp_uniformity", "hf_energy", "haemoglobin_takiwaki",
                "melanin_takiwaki", "erythema_area_cm2", "redness_change_p90", "redness_focal_a"}
    assert set(m.METRICS) == expected
    for d in m.METRICS.values():
        assert d.units and d.colour_space and d.formula and d.source and d.description and d.label
    # The docstring of each registered function carries its units and source.
    for name, fn in inspect.getmembers(m, inspect.isfunction):
        if hasattr(fn, "metric_name"):
            assert "Units:" in fn.__doc__ and "Source:" in fn.__doc__


def test_metric_version_is_a_string():
    assert isinstance(m.METRIC_VERSION, str) and m.METRIC_VERSION


# --- arguments: what each metric accepts, and one clear ValueError for the rest ---------------

LAB = _lab(60, 12.0, 15)
MASK = np.ones((20, 20), bool)
RGB01 = np.full((20, 20, 3), 0.5, np.float32)
LIGHTNESS = np.random.default_rng(3).uniform(30, 70, (40, 40))
NOT_LAB = {
    "uint8 (8-bit Lab)": LAB.astype(np.uint8),
    "int64": LAB.astype(np.int64),
    "2-D": LAB[..., 0],
    "4 channels": np.dstack([LAB, LAB[..., :1]]),
    "list": LAB.tolist(),
}
NOT_MASK = {
    "uint8": MASK.astype(np.uint8),
    "float": MASK.astype(np.float32),
    "other shape": np.ones((20, 19), bool),
    "list": MASK.tolist(),
}
LAB_METRICS = {
    "redness_a": lambda lab, mask=None: m.redness_a(lab, mask),
    "lightness_l": lambda lab, mask=None: m.lightness_l(lab, mask),
    "yellowness_b": lambda lab, mask=None: m.yellowness_b(lab, mask),
    "ita_deg": lambda lab, mask=None: m.ita_deg(lab, mask),
    "haemoglobin_takiwaki": lambda lab, mask=None: m.haemoglobin_takiwaki(lab, mask),
    "melanin_takiwaki": lambda lab, mask=None: m.melanin_takiwaki(lab, mask),
    "redness_change_map": lambda lab, mask=None: m.redness_change_map(lab, LAB, mask),
}
RGB_METRICS = {"erythema_index": m.erythema_index, "melanin_index": m.melanin_index}
TEXTURE = {"texture_glcm": m.texture_glcm, "lbp_uniformity": m.lbp_uniformity, "hf_energy": m.hf_energy,
           "texture_metrics": m.texture_metrics}


@pytest.mark.parametrize("bad", NOT_LAB.values(), ids=NOT_LAB.keys())
@pytest.mark.parametrize("fn", LAB_METRICS.values(), ids=LAB_METRICS.keys())
def test_lab_metrics_refuse_what_is_not_float_lab(fn, bad):
    with pytest.raises(ValueError, match=r"^lab must be float CIELAB values with 3 channels on the last axis; got "):
        fn(bad)


@pytest.mark.parametrize("bad", NOT_MASK.values(), ids=NOT_MASK.keys())
@pytest.mark.parametrize("fn", [*LAB_METRICS.values(),
                                *(lambda lab, mask, f=f: f(RGB01, mask) for f in RGB_METRICS.values())],
                         ids=[*LAB_METRICS, *RGB_METRICS])
def test_colour_metrics_refuse_a_mask_that_is_not_boolean_over_the_region(fn, bad):
    """A uint8 0/1 mask would index pixels 0 and 1 instead of selecting: it must not pass."""
    with pytest.raises(ValueError, match=r"^mask must be a boolean mask of shape \(20, 20\), like the image; got "):
        fn(LAB, bad)


@pytest.mark.parametrize("args,name", [
    ((NOT_LAB["uint8 (8-bit Lab)"], LAB), "lab_roi"),
    ((LAB, NOT_LAB["2-D"]), "lab_control"),
    ((LAB, LAB, NOT_MASK["uint8"]), "roi_mask"),
    ((LAB, LAB, None, NOT_MASK["other shape"]), "control_mask"),
], ids=["lab_roi", "lab_control", "roi_mask", "control_mask"])
def test_redness_delta_a_names_the_argument_that_is_wrong(args, name):
    with pytest.raises(ValueError, match=rf"^{name} must be "):
        m.redness_delta_a(*args)


@pytest.mark.parametrize("bad", [(RGB01 * 255).astype(np.uint8), RGB01.astype(np.int32), RGB01[..., 0],
                                 RGB01[..., :2]], ids=["uint8", "int32", "2-D", "2 channels"])
@pytest.mark.parametrize("fn", RGB_METRICS.values(), ids=RGB_METRICS.keys())
def test_rgb_metrics_refuse_what_is_not_float_srgb(fn, bad):
    with pytest.raises(ValueError, match=r"^rgb01 must be float sRGB values in 0-1 with 3 channels on the last axis"):
        fn(bad)


@pytest.mark.parametrize("bad", [np.dstack([LIGHTNESS] * 3), LIGHTNESS > 50, LIGHTNESS[:0], LIGHTNESS.tolist()],
                         ids=["3 channels", "bool", "empty", "list"])
@pytest.mark.parametrize("fn", TEXTURE.values(), ids=TEXTURE.keys())
def test_texture_metrics_refuse_what_is_not_a_lightness_image(fn, bad):
    with pytest.raises(ValueError, match=r"^lightness must be an H x W single-channel image of numbers; got "):
        fn(bad)


@pytest.mark.parametrize("fn", TEXTURE.values(), ids=TEXTURE.keys())
def test_texture_metrics_refuse_a_mask_of_another_shape(fn):
    with pytest.raises(ValueError, match=r"^mask must be a boolean mask of shape \(40, 40\)"):
        fn(LIGHTNESS, np.ones((40, 39), bool))


@pytest.mark.parametrize("call,name", [
    (lambda: m.redness_change_map(LAB, LAB[:10]), "baseline_lab"),
    (lambda: m.redness_change_map(LAB, LAB[..., 0]), "baseline_lab"),
    (lambda: m.erythema_area_fraction(LAB), "change_map"),
    (lambda: m.erythema_area_cm2(LAB[..., 1], -1.0), "mm2_per_px"),
], ids=["baseline of another shape", "2-D baseline", "Lab instead of a map", "negative scale"])
def test_change_metrics_name_the_argument_that_is_wrong(call, name):
    with pytest.raises(ValueError, match=rf"^{name} must "):
        call()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", ["image", "pixels"])
def test_lab_metrics_are_means_over_the_selected_pixels_of_images_and_pixel_lists(dtype, layout):
    rng = np.random.default_rng(5)
    lab = np.stack([rng.uniform(20, 90, (20, 20)), rng.uniform(-10, 30, (20, 20)), rng.uniform(-5, 40, (20, 20))],
                   axis=-1).astype(dtype)
    mask = rng.random((20, 20)) > 0.3
    if layout == "pixels":
        lab, mask = lab.reshape(-1, 3), mask.ravel()
    chosen = lab[mask].astype(np.float64)
    assert m.redness_a(lab, mask) == pytest.approx(chosen[:, 1].mean(), rel=1e-5)
    assert m.lightness_l(lab, mask) == pytest.approx(chosen[:, 0].mean(), rel=1e-5)
    assert m.yellowness_b(lab, mask) == pytest.approx(chosen[:, 2].mean(), rel=1e-5)
    expected_ita = np.degrees(np.arctan((chosen[:, 0].mean() - 50) / chosen[:, 2].mean()))
    assert m.ita_deg(lab, mask) == pytest.approx(expected_ita, abs=1e-3)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("layout", ["image", "pixels"])
def test_rgb_metrics_follow_their_formulae_for_float_images_and_pixel_lists(dtype, layout):
    import iec_srgb

    rng = np.random.default_rng(6)
    rgb01 = rng.uniform(0.2, 0.9, (20, 20, 3)).astype(dtype)
    mask = rng.random((20, 20)) > 0.5
    if layout == "pixels":
        rgb01, mask = rgb01.reshape(-1, 3), mask.ravel()
    linear = iec_srgb.decode(rgb01[mask])
    assert m.erythema_index(rgb01, mask) == pytest.approx(
        np.mean(100 * np.log10(linear[:, 0] / linear[:, 1])), abs=1e-3)
    assert m.melanin_index(rgb01, mask) == pytest.approx(np.mean(100 * np.log10(1 / linear[:, 0])), abs=1e-3)


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.float32, np.float64])
def test_hf_energy_is_the_energy_above_a_gaussian_of_sigma_2_for_any_numeric_lightness(dtype):
    """Truth from scipy's Gaussian filter (4-sigma kernel, mirrored border, as OpenCV's default)."""
    from scipy.ndimage import gaussian_filter

    lightness = np.random.default_rng(7).uniform(20, 80, (48, 48)).astype(dtype)
    exact = lightness.astype(np.float64)
    expected = np.mean((exact - gaussian_filter(exact, 2.0, mode="mirror", truncate=4.0)) ** 2)
    assert m.hf_energy(lightness) == pytest.approx(expected, rel=1e-3)


@pytest.mark.parametrize("field", ["name", "label", "units", "colour_space", "formula", "source"])
@pytest.mark.parametrize("bad", ["", "  ", None], ids=["empty", "blank", "None"])
def test_a_metric_is_registered_only_with_its_whole_definition(field, bad):
    definition = dict(name="test_metric", label="Test", units="none", colour_space="none", formula="x",
                      source="none")
    definition[field] = bad
    name = definition.pop("name")
    with pytest.raises(ValueError, match=rf"^{field} must be a non-empty string"):
        m.metric(name, **definition)
    assert "test_metric" not in m.METRICS


def test_the_registry_says_what_the_rgb_indices_and_delta_a_are_not():
    from tracker.services.exports import data_dictionary

    rows = data_dictionary().set_index("column")
    for name in ("erythema_index", "melanin_index"):
        assert "RGB analogue" in m.METRICS[name].source and "not comparable" in rows.loc[name, "source"]
    for name in ("redness_delta_a", "erythema_area_fraction", "redness_change_p90"):
        assert "weakly" in rows.loc[name, "source"] and "Logger" in rows.loc[name, "source"]
    for name in ("melanin_takiwaki", "haemoglobin_takiwaki"):
        assert "Takiwaki" in rows.loc[name, "source"] and "-1.06" in m.METRICS["melanin_takiwaki"].formula


@pytest.mark.parametrize("name", ["astronaut", "camera", "coffee", "noise", "near_flat", "tiny"])
def test_uniform_lbp_is_scikit_images_decision_bit_for_bit(name):
    """Our whole-array LBP gives scikit-image's uniform/non-uniform decision on every inner pixel.

    Ties decide it (a neighbour equal to the centre counts as brighter), and an interpolated
    diagonal neighbour equals the centre only if computed with the same operations in the same
    order: near-flat images (three levels) and noise have many such ties.
    """
    from skimage import data
    from skimage.feature import local_binary_pattern

    rng = np.random.default_rng(3)
    image = {
        "astronaut": lambda: data.astronaut()[..., 0],
        "camera": data.camera,
        "coffee": lambda: cv2.cvtColor(data.coffee(), cv2.COLOR_RGB2GRAY),
        "noise": lambda: rng.integers(0, 256, (211, 307)).astype(np.uint8),
        "near_flat": lambda: rng.integers(90, 93, (240, 320)).astype(np.uint8),
        "tiny": lambda: rng.integers(0, 4, (3, 4)).astype(np.uint8),
    }[name]()
    expected = local_binary_pattern(image, P=8, R=1, method="uniform")[1:-1, 1:-1] <= 8
    ours = m.uniform_lbp_inner(image)
    assert ours.shape == expected.shape
    assert np.array_equal(ours, expected), f"{np.sum(ours != expected)} of {ours.size} pixels differ"
    assert 0 < expected.mean() < 1 or name == "tiny"  # both kinds of pattern occur: the comparison means something
