"""tracker.analysis.simulate: the simulated photos do what their truth says.

Each check computes its truth by other means: matrices and sRGB formulae written out with
numpy, CIELAB from ``skimage.color.rgb2lab``, centroids from ``scipy.ndimage``, reflection
from ``numpy.pad``, projective maps from ``skimage.transform.ProjectiveTransform``, JPEG
from Pillow.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage
from skimage.color import rgb2lab
from skimage.transform import ProjectiveTransform

from tracker.analysis import simulate as sim
from truth import apply_homography

# The ColorChecker model box in units: 6 x 4 patches of 2.5 on a 2.75 pitch, 0.25 margins.
BOX_UNITS = (0.25 + 5 * 2.75 + 2.5 + 0.25, 0.25 + 3 * 2.75 + 2.5 + 0.25)


def a_star(rgb8: np.ndarray) -> np.ndarray:
    return rgb2lab(rgb8)[..., 1]


def unclipped(rgb8: np.ndarray) -> np.ndarray:
    """Pixels with no channel at 0 or 255 (there, a colour change is cut off by the gamut)."""
    return ((rgb8 > 0) & (rgb8 < 255)).all(axis=-1)


@pytest.fixture(scope="module")
def skin(astronaut) -> np.ndarray:
    """A 120 x 160 crop of the astronaut's face (skin with its own texture)."""
    return np.ascontiguousarray(astronaut[90:210, 150:310])


# --- camera --------------------------------------------------------------------------------

def test_camera_matrix_of_no_motion_is_the_identity():
    assert np.allclose(sim.camera_matrix(sim.CameraMotion(), (480, 640)), np.eye(3))


def test_camera_matrix_of_a_shift_is_a_translation():
    m = sim.camera_matrix(sim.CameraMotion(shift=(12.5, -7.0)), (480, 640))
    assert np.allclose(m, [[1, 0, 12.5], [0, 1, -7.0], [0, 0, 1]])


@pytest.mark.parametrize("shape", [(480, 640), (301, 200)])
def test_camera_matrix_rotates_and_scales_about_the_centre(shape):
    h, w = shape
    cx, cy = (w - 1) / 2, (h - 1) / 2
    t = np.radians(30.0)
    m = sim.camera_matrix(sim.CameraMotion(rotation_deg=30.0, scale=1.5, shift=(4.0, 6.0)), shape)
    points = np.array([[cx, cy], [cx + 100, cy], [cx, cy + 50], [10.0, 20.0]])
    dx, dy = points[:, 0] - cx, points[:, 1] - cy
    # Counter-clockwise as seen in the image, whose y axis points down.
    expected = np.c_[cx + 4 + 1.5 * (np.cos(t) * dx + np.sin(t) * dy),
                     cy + 6 + 1.5 * (-np.sin(t) * dx + np.cos(t) * dy)]
    assert np.allclose(apply_homography(m, points), expected)
    # A point right of the centre goes up (smaller y) when turned counter-clockwise.
    assert apply_homography(m, [[cx + 100, cy]])[0, 1] < cy


def test_camera_matrix_tilt_is_a_perspective_divide_about_the_centre():
    h, w = 400, 600
    cx, cy = (w - 1) / 2, (h - 1) / 2
    tilt = (2e-4, -1e-4)
    m = sim.camera_matrix(sim.CameraMotion(tilt=tilt), (h, w))
    points = np.array([[0.0, 0.0], [599.0, 0.0], [599.0, 399.0], [cx, cy], [100.0, 300.0]])
    dx, dy = points[:, 0] - cx, points[:, 1] - cy
    divide = 1 + tilt[0] * dx + tilt[1] * dy
    assert np.allclose(apply_homography(m, points), np.c_[cx + dx / divide, cy + dy / divide])
    assert m[2, 2] == pytest.approx(1.0)


def test_render_view_moves_a_point_where_the_matrix_says():
    h, w = 200, 300
    yy, xx = np.mgrid[:h, :w]
    spot = (110.0, 80.0)
    blob = 255 * np.exp(-((xx - spot[0]) ** 2 + (yy - spot[1]) ** 2) / (2 * 3.0 ** 2))
    baseline = np.repeat(blob[..., None], 3, axis=2).round().astype(np.uint8)
    m = sim.camera_matrix(sim.CameraMotion(rotation_deg=12.0, scale=1.1, shift=(9.0, -5.0)), (h, w))
    view = sim.render_view(baseline, m)
    assert view.shape == baseline.shape and view.dtype == np.uint8
    found = ndimage.center_of_mass(view[..., 0].astype(float))[::-1]
    assert np.hypot(*(np.array(found) - apply_homography(m, [spot])[0])) < 0.1


def test_render_view_fills_past_the_edge_by_reflection(skin):
    shift = np.array([[1, 0, 7], [0, 1, 5], [0, 0, 1]], float)
    view = sim.render_view(skin, shift, out_shape=(100, 140))
    # Reflection about the edge pixel (numpy's "reflect", OpenCV's BORDER_REFLECT_101).
    expected = np.pad(skin, ((5, 0), (7, 0), (0, 0)), mode="reflect")[:100, :140]
    assert view.shape == (100, 140, 3)
    assert np.array_equal(view, expected)


# --- redness and light ---------------------------------------------------------------------

def test_add_redness_raises_a_star_inside_the_mask_and_leaves_the_rest_untouched(skin):
    mask = np.zeros(skin.shape[:2], bool)
    mask[30:80, 40:110] = True
    red = sim.add_redness(skin, mask, 6.0, delta_l=-1.5)
    assert red.shape == skin.shape and red.dtype == np.uint8
    assert np.array_equal(red[~mask], skin[~mask])
    change = (rgb2lab(red) - rgb2lab(skin))[mask]
    assert change[:, 1].mean() == pytest.approx(6.0, abs=0.15)
    assert change[:, 0].mean() == pytest.approx(-1.5, abs=0.15)
    assert np.abs(change[:, 2]).mean() < 0.3  # b* stays where it was
    # Per pixel, 8-bit rounding moves a* by up to ~0.6; a pixel already at the gamut's edge cannot get redder.
    in_gamut = unclipped(red)[mask]
    assert in_gamut.mean() > 0.95
    assert np.abs(change[in_gamut, 1] - 6.0).max() < 1.0


def test_add_redness_feathered_fades_over_the_edge(skin):
    mask = np.zeros(skin.shape[:2], bool)
    mask[40:80, 50:110] = True
    red = sim.add_redness(skin, mask, 8.0, feather_px=3.0)
    change = a_star(red) - a_star(skin)
    middle = np.zeros(mask.shape, bool)
    middle[55:65, 70:90] = True  # 5 sigma inside the edge: full strength
    assert change[middle & unclipped(red)].mean() == pytest.approx(8.0, abs=0.3)
    edge = change[40:80, 49].mean()  # just outside: about half of the blurred step
    assert 2.0 < edge < 6.0
    assert np.array_equal(red[:20], skin[:20])  # far away (over 6 sigma): untouched


def test_add_redness_with_an_empty_mask_returns_an_equal_copy(skin):
    out = sim.add_redness(skin, np.zeros(skin.shape[:2], bool), 5.0)
    assert np.array_equal(out, skin) and out is not skin


def srgb_table(lighting: sim.Lighting) -> np.ndarray:
    """IEC 61966-2-1 by hand in float64: decode, scale linear light, encode, gamma, to 8 bits; (256, 3)."""
    v = np.arange(256) / 255
    lin = np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)
    lin = np.clip(lin[:, None] * lighting.exposure * np.array(lighting.white_balance), 0, 1)
    enc = np.where(lin <= 0.0031308, lin * 12.92, 1.055 * lin ** (1 / 2.4) - 0.055)
    return np.round(np.clip(enc, 0, 1) ** lighting.gamma * 255)


@pytest.mark.parametrize("lighting", [
    sim.Lighting(),
    sim.Lighting(exposure=0.75),
    sim.Lighting(exposure=1.4, white_balance=(1.05, 1.0, 0.9)),
    sim.Lighting(exposure=0.9, white_balance=(0.95, 1.02, 1.08), gamma=1.12),
])
def test_change_lighting_follows_the_srgb_formula(lighting):
    levels = np.arange(256, dtype=np.uint8)
    rgb = np.stack([levels, levels[::-1], np.roll(levels, 100)], axis=-1).reshape(16, 16, 3)
    out = sim.change_lighting(rgb, lighting)
    table = srgb_table(lighting)
    expected = np.stack([table[rgb[..., c], c] for c in range(3)], axis=-1)
    assert out.dtype == np.uint8 and out.shape == rgb.shape
    assert np.abs(out.astype(int) - expected).max() <= 1  # float32 against float64 at a rounding edge
    if lighting == sim.Lighting():
        assert np.array_equal(out, rgb)


def test_change_lighting_darker_exposure_darkens_linear_light_by_that_factor(skin):
    out = sim.change_lighting(skin, sim.Lighting(exposure=0.5))
    linear = lambda v: np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)  # noqa: E731
    ratio = linear(out / 255).mean() / linear(skin / 255).mean()
    assert ratio == pytest.approx(0.5, abs=0.01)


# --- camera rendering ----------------------------------------------------------------------

def test_jpeg_roundtrip_matches_another_libjpeg_and_loses_more_at_lower_quality(skin):
    errors = []
    for quality in (30, 90):
        out = sim.jpeg_roundtrip(skin, quality)
        buffer = io.BytesIO()
        Image.fromarray(skin).save(buffer, "JPEG", quality=quality)
        pillow = np.asarray(Image.open(buffer).convert("RGB"))
        assert out.shape == skin.shape and out.dtype == np.uint8
        assert np.abs(out.astype(int) - pillow).mean() < 1.0, quality
        errors.append(np.abs(out.astype(int) - skin).mean())
    assert 0 < errors[1] < errors[0] < 6.0


def test_jpeg_roundtrip_keeps_red_red():
    red = np.zeros((32, 32, 3), np.uint8)
    red[..., 0] = 220
    out = sim.jpeg_roundtrip(red, 90)
    assert out[..., 0].mean() > 200 and out[..., 2].mean() < 20


def test_sensor_noise_has_the_requested_sigma_and_is_reproducible():
    grey = np.full((200, 200, 3), 128, np.uint8)
    noisy = sim.add_sensor_noise(grey, 4.0, np.random.default_rng(5))
    diff = noisy.astype(float) - 128
    assert diff.std() == pytest.approx(4.0, rel=0.03)
    assert abs(diff.mean()) < 0.05
    assert np.array_equal(noisy, sim.add_sensor_noise(grey, 4.0, np.random.default_rng(5)))
    dark = sim.add_sensor_noise(np.zeros((50, 50, 3), np.uint8), 10.0, np.random.default_rng(1))
    assert dark.min() == 0 and (dark == 0).mean() == pytest.approx(0.5, abs=0.05)  # clipped, not wrapped


def test_enlarge_reaches_the_side_and_adds_grain_of_the_stated_size(astronaut):
    plain = sim.enlarge(astronaut[:, :384], 1024)
    assert plain.shape == (1024, 768, 3)
    grainy = sim.enlarge(astronaut[:, :384], 1024, np.random.default_rng(3), grain=2.0)
    added = grainy.astype(float) - plain
    assert added.std() == pytest.approx(2.0, abs=0.2)
    # The same grain on every channel: it changes brightness, not colour.
    assert np.abs(added[..., 0] - added[..., 1]).mean() < 0.6


# --- random draws --------------------------------------------------------------------------

def test_random_motion_stays_within_its_limits_and_spans_them():
    rng = np.random.default_rng(11)
    side = 1000
    draws = [sim.random_motion(rng, side, max_rotation=8, max_scale=0.1, max_shift=0.03, max_tilt=1e-4)
             for _ in range(400)]
    rotation = np.array([d.rotation_deg for d in draws])
    scale = np.array([d.scale for d in draws])
    shift = np.array([d.shift for d in draws])
    tilt = np.array([d.tilt for d in draws])
    assert np.abs(rotation).max() <= 8 and np.abs(rotation).max() > 7.5
    assert scale.min() >= 0.9 and scale.max() <= 1.1 and scale.max() - scale.min() > 0.18
    assert np.abs(shift).max() <= 30 and np.abs(shift).max() > 28
    tilt_limit = 1e-4 * 2048 / side  # the tilt is per pixel: a smaller frame tilts more per pixel
    assert np.abs(tilt).max() <= tilt_limit and np.abs(tilt).max() > 0.9 * tilt_limit


def test_random_lighting_stays_within_its_limits_and_spans_them():
    rng = np.random.default_rng(12)
    draws = [sim.random_lighting(rng) for _ in range(400)]
    exposure = np.array([d.exposure for d in draws])
    balance = np.array([d.white_balance for d in draws])
    gamma = np.array([d.gamma for d in draws])
    assert exposure.min() >= 0.75 and exposure.max() <= 1.05
    assert exposure.min() < 0.76 and exposure.max() > 1.04
    assert balance.min() >= 0.92 and balance.max() <= 1.08 and balance.shape == (400, 3)
    assert gamma.min() >= 0.88 and gamma.max() <= 1.12 and gamma.max() - gamma.min() > 0.22
    # Each channel's balance is drawn on its own.
    assert abs(np.corrcoef(balance[:, 0], balance[:, 2])[0, 1]) < 0.2


def test_random_draws_come_only_from_the_generator():
    assert sim.random_motion(np.random.default_rng(9), 800) == sim.random_motion(np.random.default_rng(9), 800)
    assert sim.random_lighting(np.random.default_rng(9)) == sim.random_lighting(np.random.default_rng(9))


# --- the colour card -----------------------------------------------------------------------

def patch_centre(index: int, ppu: float, border: float) -> tuple[float, float]:
    """Pixel (x, y) of a patch's centre in a drawn card: patches 2.5 units on a 2.75 pitch, from 0.25."""
    row, column = divmod(index, 6)
    return ((border + 0.25 + 2.75 * column + 1.25) * ppu - 0.5, (border + 0.25 + 2.75 * row + 1.25) * ppu - 0.5)


@pytest.mark.parametrize("ppu,border", [(20, 0.0), (16, 0.5)])
def test_draw_colour_card_geometry_and_patch_colours(ppu, border):
    colours = np.random.default_rng(4).uniform(0.2, 0.9, (24, 3)).astype(np.float32)
    canvas, box = sim.draw_colour_card(colours, ppu=ppu, border=border)
    assert canvas.shape == (round((BOX_UNITS[1] + 2 * border) * ppu), round((BOX_UNITS[0] + 2 * border) * ppu), 3)
    for i in range(24):
        x, y = patch_centre(i, ppu, border)
        assert np.allclose(canvas[round(y), round(x)], colours[i]), i
    # Between patches and in the margin: the dark card body.
    x, y = patch_centre(0, ppu, border)
    gap_x = round((border + 0.25 + 2.5 + 0.125) * ppu)
    assert np.allclose(canvas[round(y), gap_x], 0.09) and np.allclose(canvas[0, 0], 0.09)
    b0 = border * ppu - 0.5
    assert np.allclose(box, [[b0, b0], [b0 + BOX_UNITS[0] * ppu, b0], [b0 + BOX_UNITS[0] * ppu, b0 + BOX_UNITS[1] * ppu],
                             [b0, b0 + BOX_UNITS[1] * ppu]])


def test_draw_colour_card_rounds_patch_corners():
    square, _ = sim.draw_colour_card(ppu=20)
    rounded, _ = sim.draw_colour_card(ppu=20, radius=0.4)
    x0 = y0 = round(0.25 * 20)  # the first patch's top-left pixel
    assert not np.allclose(square[y0, x0], 0.09)
    assert np.allclose(rounded[y0, x0], 0.09)
    x, y = patch_centre(0, 20, 0.0)
    assert np.array_equal(rounded[round(y), round(x)], square[round(y), round(x)])


def test_colour_card_corners_place_the_box():
    corners = sim.colour_card_corners(300.0, 200.0, 160.0, 0.0)
    height = 160.0 * BOX_UNITS[1] / BOX_UNITS[0]
    assert np.allclose(corners, [[220, 200 - height / 2], [380, 200 - height / 2], [380, 200 + height / 2],
                                 [220, 200 + height / 2]])
    turned = sim.colour_card_corners(300.0, 200.0, 160.0, 90.0)
    assert np.allclose(turned.mean(axis=0), [300, 200])
    top = turned[1] - turned[0]
    assert np.allclose(top, [0, 160])  # the top edge now runs down the image
    tapered = sim.colour_card_corners(300.0, 200.0, 160.0, 0.0, taper=0.1)
    assert np.hypot(*(tapered[1] - tapered[0])) == pytest.approx(144.0)
    assert np.hypot(*(tapered[2] - tapered[3])) == pytest.approx(160.0)


def test_paste_colour_card_lands_patches_where_the_corners_say():
    photo = np.full((400, 600, 3), 150, np.uint8)
    corners = sim.colour_card_corners(300.0, 200.0, 335.0, 10.0, taper=0.05)
    colours = np.random.default_rng(8).uniform(0.1, 0.95, (24, 3))
    ppu = 30
    out = sim.paste_colour_card(photo, corners, colours=colours, ppu=ppu)
    _, box = sim.draw_colour_card(colours, ppu=ppu)
    card_to_photo = ProjectiveTransform.from_estimate(box, corners)
    for i in range(24):
        x, y = card_to_photo(np.array([patch_centre(i, ppu, 0.0)]))[0]
        sample = out[round(y) - 2: round(y) + 3, round(x) - 2: round(x) + 3].reshape(-1, 3).mean(axis=0)
        assert np.allclose(sample, colours[i] * 255, atol=2.0), i
    outside = np.ones(photo.shape[:2], bool)
    xs, ys = np.asarray(corners).T
    outside[int(ys.min()) - 2: int(ys.max()) + 3, int(xs.min()) - 2: int(xs.max()) + 3] = False
    assert np.array_equal(out[outside], photo[outside])


# --- a head that moves against a still background ------------------------------------------

@pytest.fixture(scope="module")
def head(astronaut):
    from skimage import data

    return sim.head_scene(astronaut, data.brick())


def test_the_head_scene_is_a_head_over_a_textured_background(head, astronaut):
    nose = tuple(int(v) for v in sim.ASTRONAUT_NOSE)
    assert head.alpha[nose[1], nose[0]] == pytest.approx(1.0) and head.alpha[5, 5] == 0.0
    assert 0.0 <= head.alpha.min() and head.alpha.max() <= 1.0 + 1e-6
    # The surface is highest at the nose, and flat (0) away from the head.
    assert np.unravel_index(np.argmax(head.depth), head.depth.shape) == pytest.approx((nose[1], nose[0]), abs=3)
    assert head.depth[5, 5] == 0.0
    # The background is the portrait's, textured, and filled (not the face) where the head was.
    assert np.abs(head.background[:60, 300:].astype(float) - astronaut[:60, 300:]).mean() > 5
    face = (slice(100, 140), slice(200, 240))
    assert np.abs(head.background[face].astype(float) - astronaut[face]).mean() > 20


def test_a_head_that_did_not_move_is_the_two_layers_blended(head):
    still = sim.render_head_view(head, sim.HeadMotion(), np.eye(3))
    blend = head.alpha[..., None] * head.head + (1 - head.alpha[..., None]) * head.background
    assert np.abs(still.astype(float) - blend).max() <= 0.5 + 1e-9


def test_a_shifted_head_is_drawn_where_its_points_went(head):
    motion = sim.HeadMotion(shift=(6.0, -4.0))
    points = np.array([(210.0, 100.0), (230.0, 150.0), (190.0, 120.0)])
    np.testing.assert_allclose(sim.head_displacement(head, motion, points), points + (6, -4), atol=1e-4)
    moved = sim.render_head_view(head, motion, np.eye(3))
    # Well inside the head (opacity 1) the moved pixel is the head's own, 6 px right and 4 px up.
    np.testing.assert_array_equal(moved[96:156, 196:236], head.head[100:160, 190:230])
    # Far from the head, the background stays put.
    np.testing.assert_array_equal(moved[400:, 400:], head.background[400:, 400:])


def test_a_turn_moves_the_nose_more_than_the_cheek_by_their_depth(head):
    yaw = 5.0
    nose, cheek = sim.ASTRONAUT_NOSE, (200.0, 125.0)
    moved = sim.head_displacement(head, sim.HeadMotion(yaw_deg=yaw), np.array([nose, cheek]))
    dx = moved[:, 0] - np.array([nose[0], cheek[0]])
    # Orthographic yaw about the head's vertical axis: x moves by z sin(yaw) + (x - cx)(cos(yaw) - 1).
    cx = sim.ASTRONAUT_HEAD[0][0]
    z = [head.depth[int(nose[1]), int(nose[0])], head.depth[int(cheek[1]), int(cheek[0])]]
    expected = [zi * np.sin(np.radians(yaw)) + (xi - cx) * (np.cos(np.radians(yaw)) - 1)
                for zi, xi in zip(z, (nose[0], cheek[0]))]
    np.testing.assert_allclose(dx, expected, atol=0.05)
    assert dx[0] > dx[1] + 0.5


def test_head_followup_adds_redness_that_moves_with_the_skin(head):
    roi = sim.ASTRONAUT_CHEEK
    photo = sim.head_followup(head, sim.CameraMotion(), sim.HeadMotion(shift=(5.0, 0.0)), sim.Lighting(),
                              np.random.default_rng(0), treated=roi, delta_a=6.0, noise=0, jpeg=None)
    x, y, w, h = roi
    before = a_star(head.head[y:y + h, x:x + w])
    truth = float(a_star(sim.add_redness(head.head, np.pad(np.ones((h, w), bool),
                                                          ((y, 512 - y - h), (x, 512 - x - w))), 6.0)
                         [y:y + h, x:x + w]).mean() - before.mean())
    assert photo.true_delta_a == pytest.approx(truth, abs=0.05)
    moved = a_star(photo.rgb[y + 2:y + h - 2, x + 5 + 2:x + w + 5 - 2])
    assert moved.mean() - before[2:-2, 2:-2].mean() == pytest.approx(truth, abs=0.5)


def test_head_series_moves_the_head_within_the_limits(head):
    photos = sim.head_series(head, 6, np.random.default_rng(1), treated=sim.ASTRONAUT_CHEEK)
    assert len(photos) == 6
    for photo in photos:
        assert np.hypot(*photo.motion.shift) <= 0.02 * 512 + 1e-9
        assert abs(photo.motion.yaw_deg) <= 5 and abs(photo.motion.rotation_deg) <= 3
        assert 0 <= photo.true_delta_a <= 8.5
