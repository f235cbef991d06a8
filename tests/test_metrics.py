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


def test_erythema_area_fraction_counts_pixels_above_reference_plus_threshold():
    lab = _lab(60, 5.0, 15)
    lab[:5, :, 1] = 5.0 + m.ERYTHEMA_THRESHOLD_A + 0.5  # 25 % of rows clearly red
    lab[5:10, :, 1] = 5.0 + m.ERYTHEMA_THRESHOLD_A - 0.5  # just below threshold
    assert m.erythema_area_fraction(lab, reference_a=5.0) == pytest.approx(0.25)


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


def test_every_metric_has_a_complete_definition():
    expected = {"redness_a", "redness_delta_a", "erythema_index", "erythema_area_fraction", "lightness_l",
                "yellowness_b", "ita_deg", "melanin_index", "texture_contrast", "texture_homogeneity",
                "texture_energy", "texture_entropy", "lbp_uniformity", "hf_energy"}
    assert set(m.METRICS) == expected
    for d in m.METRICS.values():
        assert d.units and d.colour_space and d.formula and d.source and d.description and d.label
    # The docstring of each registered function carries its units and source.
    for name, fn in inspect.getmembers(m, inspect.isfunction):
        if hasattr(fn, "metric_name"):
            assert "Units:" in fn.__doc__ and "Source:" in fn.__doc__


def test_metric_version_is_a_string():
    assert isinstance(m.METRIC_VERSION, str) and m.METRIC_VERSION
