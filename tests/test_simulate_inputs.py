"""The simulator's functions check their arguments: each wrong one is one ValueError that names it."""

from __future__ import annotations

import numpy as np
import pytest

from tracker.analysis import simulate as sim
from tracker.analysis.colour import srgb8_to_lab
from tracker.analysis.colour_card import COLORCHECKER_SRGB

RGB8 = np.random.default_rng(70).integers(40, 220, (48, 64, 3), dtype=np.uint8)
MASK = np.zeros((48, 64), bool)
MASK[10:30, 20:40] = True
RNG = np.random.default_rng(0)
TEXTURE = RGB8[..., 0]
SCENE = sim.head_scene(RGB8, TEXTURE)
NOT_RGB8 = {"float": RGB8 / 255, "uint16": RGB8.astype(np.uint16), "2-D": RGB8[..., 0],
            "4 channels": np.dstack([RGB8, RGB8[..., :1]]), "empty": RGB8[:0], "list": RGB8.tolist()}
RGB8_USERS = {
    "enlarge": ("rgb", lambda a: sim.enlarge(a, 100)),
    "add_redness": ("rgb", lambda a: sim.add_redness(a, MASK, 5.0)),
    "change_lighting": ("rgb", lambda a: sim.change_lighting(a, sim.Lighting())),
    "jpeg_roundtrip": ("rgb", lambda a: sim.jpeg_roundtrip(a)),
    "add_sensor_noise": ("rgb", lambda a: sim.add_sensor_noise(a, 2.0, RNG)),
    "paste_colour_card": ("photo", lambda a: sim.paste_colour_card(a, sim.colour_card_corners(32, 24, 40, 0))),
    "head_scene": ("portrait", lambda a: sim.head_scene(a, TEXTURE)),
}


@pytest.mark.parametrize("bad", NOT_RGB8.values(), ids=NOT_RGB8.keys())
@pytest.mark.parametrize("name,call", RGB8_USERS.values(), ids=RGB8_USERS.keys())
def test_photo_simulations_take_only_8bit_colour_images(name, call, bad):
    with pytest.raises(ValueError, match=rf"^{name} must be an H x W x 3 uint8 sRGB image; got "):
        call(bad)


@pytest.mark.parametrize("call,match", [
    (lambda: sim.scale_box((1, 2, 3), 2.0), r"^box must be four numbers \(x, y, width, height\)"),
    (lambda: sim.scale_box((1, 2, 3, 4), 0), r"^factor must be a finite number above 0"),
    (lambda: sim.enlarge(RGB8, 0), r"^side must be an integer above 0"),
    (lambda: sim.enlarge(RGB8, 100.5), r"^side must be an integer above 0"),
    (lambda: sim.enlarge(RGB8, 100, rng=0), r"^rng must be a numpy.random.Generator"),
    (lambda: sim.enlarge(RGB8, 100, RNG, grain=float("nan")), r"^grain must be a finite number"),
    (lambda: sim.camera_matrix({"scale": 1.0}, (48, 64)), r"^motion must be a CameraMotion; got a dict"),
    (lambda: sim.camera_matrix(sim.CameraMotion(), (48,)), r"^baseline_shape must be an image shape"),
    (lambda: sim.camera_matrix(sim.CameraMotion(), (48, 0)), r"^baseline_shape sides must be an integer above 0"),
    (lambda: sim.render_view(RGB8 > 0, np.eye(3)), r"^baseline must be an H x W or H x W x C image"),
    (lambda: sim.render_view(RGB8, np.eye(2)), r"^baseline_to_photo must be a 3 x 3 homography of finite numbers"),
    (lambda: sim.render_view(RGB8, np.eye(3), (0, 10)), r"^out_shape sides must be an integer above 0"),
    (lambda: sim.add_redness(RGB8, None, 5.0), r"^mask must be a boolean or 0-1 float mask of shape \(48, 64\)"),
    (lambda: sim.add_redness(RGB8, MASK.astype(np.uint8), 5.0), r"^mask must be a boolean or 0-1 float mask"),
    (lambda: sim.add_redness(RGB8, MASK[:, :10], 5.0), r"^mask must be a boolean or 0-1 float mask"),
    (lambda: sim.add_redness(RGB8, MASK, "5"), r"^delta_a must be a finite number; got a str"),
    (lambda: sim.add_redness(RGB8, MASK, 5.0, feather_px=-1), r"^feather_px must be a finite number at least 0"),
    (lambda: sim.add_redness(RGB8, MASK, 5.0, delta_l=float("inf")), r"^delta_l must be a finite number"),
    (lambda: sim.change_lighting(RGB8, {"exposure": 0.8}), r"^lighting must be a Lighting; got a dict"),
    (lambda: sim.jpeg_roundtrip(RGB8, 101), r"^quality must be an integer at least 0 and at most 100"),
    (lambda: sim.add_sensor_noise(RGB8, -1.0, RNG), r"^sigma must be a finite number at least 0"),
    (lambda: sim.add_sensor_noise(RGB8, 2.0, 7), r"^rng must be a numpy.random.Generator"),
    (lambda: sim.random_motion(None, 100), r"^rng must be a numpy.random.Generator"),
    (lambda: sim.random_motion(RNG, 0), r"^side must be a finite number above 0"),
    (lambda: sim.random_motion(RNG, 100, max_scale=1.0), r"^max_scale must be a finite number at least 0 and below 1"),
    (lambda: sim.random_motion(RNG, 100, max_rotation=-5), r"^max_rotation must be a finite number at least 0"),
    (lambda: sim.random_motion(RNG, 100, max_shift=-0.1), r"^max_shift must be a finite number at least 0"),
    (lambda: sim.random_motion(RNG, 100, max_tilt=float("nan")), r"^max_tilt must be a finite number at least 0"),
    (lambda: sim.random_lighting(None), r"^rng must be a numpy.random.Generator"),
    (lambda: sim.random_lighting(RNG, exposure=0.8), r"^exposure must be a pair \(low, high\); got float 0.8"),
    (lambda: sim.random_lighting(RNG, exposure=(0.0, 1.0)), r"^exposure must be a finite number above 0"),
    (lambda: sim.random_lighting(RNG, white_balance=1.5), r"^white_balance must be a finite number at least 0"),
    (lambda: sim.random_lighting(RNG, gamma=-0.1), r"^gamma must be a finite number at least 0 and below 1"),
    (lambda: sim.draw_colour_card(COLORCHECKER_SRGB * 255), r"^colours must be \(24, 3\) float sRGB values in 0-1"),
    (lambda: sim.draw_colour_card(COLORCHECKER_SRGB[:20]), r"^colours must be \(24, 3\) float sRGB values in 0-1"),
    (lambda: sim.draw_colour_card(ppu=0), r"^ppu must be an integer above 0"),
    (lambda: sim.draw_colour_card(border=-1.0), r"^border must be a finite number at least 0"),
    (lambda: sim.draw_colour_card(radius=-0.1), r"^radius must be a finite number at least 0"),
    (lambda: sim.colour_card_corners(10, None, 40, 0), r"^cy must be a finite number; got None"),
    (lambda: sim.colour_card_corners(10, 10, 0, 0), r"^width must be a finite number above 0"),
    (lambda: sim.colour_card_corners(10, 10, 40, 0, taper=1.0), r"^taper must be a finite number below 1"),
    (lambda: sim.paste_colour_card(RGB8, np.zeros((3, 2))), r"^corners must be \(4, 2\) finite pixel positions"),
    (lambda: sim.paste_colour_card(RGB8, np.full((4, 2), np.nan)), r"^corners must be \(4, 2\) finite pixel positions"),
    (lambda: sim.head_scene(RGB8, RGB8), r"^texture must be an H x W uint8 grey image"),
    (lambda: sim.head_scene(RGB8, TEXTURE, contrast=0.5), r"^contrast must be a finite number at least 0 and below"),
    (lambda: sim.head_scene(RGB8, TEXTURE, head=(1, 2, 3, 4)), r"^head ellipse must be four numbers"),
    (lambda: sim.head_scene(RGB8, TEXTURE, nose=(1, 2, 3)), r"^nose must be a point \(x, y\)"),
    (lambda: sim.head_displacement(None, sim.HeadMotion(), [(0, 0)]), r"^scene must be a HeadScene"),
    (lambda: sim.head_displacement(SCENE, {"shift": (1, 0)}, [(0, 0)]), r"^motion must be a HeadMotion"),
    (lambda: sim.head_displacement(SCENE, sim.HeadMotion(), [(0, 0, 0)]), r"^points must be \(N, 2\) points"),
    (lambda: sim.render_head_view(SCENE, sim.HeadMotion(), np.eye(2)), r"^baseline_to_photo must be a 3 x 3"),
    (lambda: sim.render_head_view(SCENE, sim.HeadMotion(), np.eye(3), head=RGB8[:10]), r"^head must have the shape"),
    (lambda: sim.random_head_motion(None, 100), r"^rng must be a numpy.random.Generator"),
    (lambda: sim.random_head_motion(RNG, 100, max_yaw=-1), r"^max_yaw must be a finite number at least 0"),
    (lambda: sim.head_followup(SCENE, sim.CameraMotion(), sim.HeadMotion(), None, RNG),
     r"^lighting must be a Lighting"),
    (lambda: sim.head_followup(SCENE, sim.CameraMotion(), sim.HeadMotion(), sim.Lighting(), RNG, treated=(0, 0, 0, 5),
                               delta_a=2.0), r"^treated width must be an integer above 0"),
    (lambda: sim.head_series(SCENE, -1, RNG, (0, 0, 5, 5)), r"^n must be an integer at least 0"),
], ids=lambda value: None if callable(value) else value.split(" must")[0].lstrip("^"))
def test_each_wrong_argument_is_named(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("dtype", [bool, np.float32, np.float64])
def test_add_redness_takes_a_boolean_or_a_0_1_float_mask(dtype):
    """The a* added is ``delta_a`` inside the mask and nothing outside it, whatever the mask's type."""
    out = sim.add_redness(RGB8, MASK.astype(dtype), 6.0)
    added = srgb8_to_lab(out)[..., 1] - srgb8_to_lab(RGB8)[..., 1]
    assert np.array_equal(out[~MASK], RGB8[~MASK])
    assert np.median(added[MASK]) == pytest.approx(6.0, abs=0.5)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32, np.float64])
@pytest.mark.parametrize("channels", [None, 3])
def test_render_view_through_a_shift_moves_every_opencv_image(dtype, channels):
    baseline = (RGB8[..., 0] if channels is None else RGB8).astype(dtype)
    shift = np.array([[1.0, 0, -4], [0, 1, -3], [0, 0, 1]])  # baseline (x, y) lands at photo (x - 4, y - 3)
    view = sim.render_view(baseline, shift)
    assert view.shape == baseline.shape and view.dtype == baseline.dtype
    np.testing.assert_allclose(view[:-3, :-4], baseline[3:, 4:], atol=1e-3)


@pytest.mark.parametrize("box,factor,expected", [
    ((190, 115, 25, 25), 4.0, (760, 460, 100, 100)), ((10, 21, 30, 40), 0.5, (5, 10, 15, 20)),
    ((1.5, 2.5, 3, 4), 2, (3, 5, 6, 8)), ([190, 115, 25, 25], 1, (190, 115, 25, 25)),
], ids=["enlarged", "halved (half to even)", "fractions", "list"])
def test_scale_box_scales_every_number_of_a_box(box, factor, expected):
    assert sim.scale_box(box, factor) == expected
