"""Quality gate: ordinary phone photos pass; over-exposed, dark, defocused or badly framed ones do not."""

from __future__ import annotations

import inspect
import re

import cv2
import numpy as np
import pytest

from series import CONTROL, ROI, make_followup
from tracker.analysis import quality
from tracker.analysis import simulate as sim
from tracker.analysis import analyse_baseline, analyse_photo, prepare_baseline
from tracker.analysis.quality import QUALITY_CODES, QualityMeasurements, QualityThresholds, judge_quality
from tracker.analysis.quality import blockiness, blur_score, detail_band, exposure_stats, noise_level, sharpness


def _ok_measurements(**changes) -> QualityMeasurements:
    values = dict(overexposed_fraction=0.0, channel_clipped_fraction=0.0, underexposed_fraction=0.0,
                  glare_fraction=0.0, mean_lightness=65.0)
    values.update(changes)
    return QualityMeasurements(**values)


@pytest.mark.parametrize("changes,code,words", [
    (dict(overexposed_fraction=0.34), "overexposed", "34% of the treated area is washed out"),
    (dict(glare_fraction=0.2), "glare", "reflects the light"),
    (dict(channel_clipped_fraction=0.6), "colour_clipped", "beyond what the camera can record"),
    (dict(underexposed_fraction=0.3), "underexposed", "Too dark"),
    (dict(mean_lightness=12.0), "underexposed", "Too dark"),
    (dict(relative_sharpness=0.2), "blurred", "80% less sharp"),
    (dict(blur_effect=0.8), "blurred", "Out of focus"),
    (dict(region_px=30.0), "low_resolution", "move closer"),
    (dict(control_overexposed_fraction=0.5), "control_exposure", "untreated skin"),
    (dict(framing_issue="Only 60% of the treated area is in the photo."), "framing", "60%"),
    (dict(blockiness=3.2, baseline_blockiness=1.1), "compressed", "original photo"),
    (dict(distance_scale=2.0), "too_far", "50% as large"),
    (dict(mean_lightness=30.0, baseline_lightness=60.0), "underexposed", "Too dark"),
    (dict(noise_level=9.0, baseline_noise_level=3.0), "noisy", "3 times as grainy"),
    (dict(mean_lightness=97.0), "too_bright", "Too bright overall"),
    (dict(colour_issue="Colour could not be normalised: add the colour card."), "colour_not_normalised", "card"),
    (dict(colourless=True), "no_colour", "black and white"),
    (dict(distance_scale=2.0, size_ratio=1.8), "downscaled", "send the original"),
])
def test_each_rule_fires_with_an_actionable_sentence(changes, code, words):
    report = judge_quality(_ok_measurements(**changes))
    assert not report.ok
    assert code in report.codes
    sentence = report.issues[report.codes.index(code)]
    assert words in sentence and sentence.endswith(".") and "\n" not in sentence


def test_every_code_the_gate_can_give_is_defined_for_the_data_dictionary():
    cases = test_each_rule_fires_with_an_actionable_sentence.pytestmark[0].args[1]
    emitted = set(re.findall(r'issues\.append\(\("(\w+)"', inspect.getsource(quality)))
    assert {code for _, code, _ in cases} == emitted == set(QUALITY_CODES)


def test_measurements_within_limits_pass():
    assert judge_quality(_ok_measurements(relative_sharpness=0.9, region_px=400.0)).ok


def test_blockiness_finds_steps_on_the_8_pixel_grid_only():
    rng = np.random.default_rng(4)
    smooth = cv2.GaussianBlur(rng.normal(128, 40, (256, 256)).astype(np.float32), (0, 0), 3)
    assert blockiness(np.clip(smooth, 0, 255).astype(np.uint8)) == pytest.approx(1.0, abs=0.05)
    # Flat 8 x 8 blocks (what heavy JPEG leaves): every step is on a block edge.
    blocks = cv2.resize(smooth[::8, ::8], (256, 256), interpolation=cv2.INTER_NEAREST) + rng.normal(0, 0.5, (256, 256))
    assert blockiness(np.clip(blocks, 0, 255).astype(np.uint8)) > 5
    # The same blocks off the grid by 4 pixels are structure, not compression.
    assert blockiness(np.clip(blocks[4:-4, 4:-4], 0, 255).astype(np.uint8)) < 1.5
    assert np.isnan(blockiness(np.zeros((16, 16), np.uint8)))


def test_blockiness_of_a_colour_photo_is_that_of_its_luma():
    from skimage import data

    photo = sim.jpeg_roundtrip(sim.enlarge(data.astronaut(), 1500), 20)
    assert blockiness(photo) == pytest.approx(blockiness(cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)), rel=1e-6)
    assert blockiness(photo) > 1.5


def test_darkness_is_judged_against_the_baselines_exposure():
    # L* 18 is below the absolute limit of 20, but a quarter stop darker than a dim baseline.
    assert judge_quality(_ok_measurements(mean_lightness=18.0, baseline_lightness=22.0)).ok
    assert not judge_quality(_ok_measurements(mean_lightness=18.0)).ok
    assert "underexposed" in judge_quality(_ok_measurements(mean_lightness=6.0, baseline_lightness=22.0)).codes


def test_grain_is_judged_against_the_baselines_and_ordinary_phone_noise_passes():
    assert judge_quality(_ok_measurements(noise_level=5.0, baseline_noise_level=1.0)).ok  # under 6 levels
    assert judge_quality(_ok_measurements(noise_level=9.0, baseline_noise_level=5.0)).ok  # under twice
    assert not judge_quality(_ok_measurements(noise_level=11.0, baseline_noise_level=5.0)).ok


def test_noise_level_reads_the_sd_of_white_noise_on_a_smooth_image():
    rng = np.random.default_rng(9)
    ramp = np.tile(np.linspace(40, 200, 300, dtype=np.float32), (300, 1))
    for sd in (2.0, 5.0, 10.0):
        assert noise_level(ramp + rng.normal(0, sd, ramp.shape).astype(np.float32)) == pytest.approx(sd, rel=0.05)
    mask = np.zeros(ramp.shape, bool)
    mask[:150] = True
    half = ramp + np.where(mask, rng.normal(0, 8, ramp.shape), 0).astype(np.float32)
    assert noise_level(half, mask) == pytest.approx(8, rel=0.05) and noise_level(half, ~mask) < 0.5


def test_a_compressed_photo_is_told_so_not_that_it_is_out_of_focus():
    report = judge_quality(_ok_measurements(blockiness=3.0, relative_sharpness=0.2))
    assert report.codes == ("compressed",)
    # A baseline sent as compressed as the photo is no reason to refuse it.
    assert judge_quality(_ok_measurements(blockiness=3.0, baseline_blockiness=2.8)).ok


def test_a_distant_photo_is_told_to_come_closer_once():
    assert judge_quality(_ok_measurements(distance_scale=2.0, region_px=30.0)).codes == ("low_resolution",)
    assert judge_quality(_ok_measurements(distance_scale=2.0, region_px=300.0)).codes == ("too_far",)


def test_unmeasured_exposure_fires_no_exposure_rule():
    report = judge_quality(QualityMeasurements.without_exposure(framing_issue="Not the same place."))
    assert report.codes == ("framing",)


def test_glare_the_baseline_shares_is_not_blamed_on_the_photo():
    t = QualityThresholds()
    assert judge_quality(_ok_measurements(glare_fraction=0.12, baseline_glare_fraction=0.10), t).ok
    assert not judge_quality(_ok_measurements(glare_fraction=0.20, baseline_glare_fraction=0.10), t).ok


@pytest.fixture(scope="module")
def baseline(baseline_rgb):
    return prepare_baseline(baseline_rgb, ROI, CONTROL)


def test_baseline_itself_passes(baseline):
    report = analyse_baseline(baseline).quality
    assert report.ok, report.issues


def test_ordinary_phone_photos_pass(baseline_rgb, baseline):
    rng = np.random.default_rng(31)
    for _ in range(6):
        follow = make_followup(baseline_rgb, rng, delta_a=rng.uniform(0, 6), noise=rng.uniform(1, 4),
                               jpeg=int(rng.integers(75, 95)),
                               lighting=sim.random_lighting(rng, exposure=(0.8, 1.0), white_balance=0.05, gamma=0.08))
        result = analyse_photo(follow.rgb, baseline)
        assert result.ok and result.quality.ok, result.quality.issues


def test_overexposed_photo_fails(baseline_rgb, baseline):
    follow = make_followup(baseline_rgb, np.random.default_rng(1), lighting=sim.Lighting(exposure=2.5))
    result = analyse_photo(follow.rgb, baseline)
    assert not result.quality.ok
    assert "overexposed" in result.quality.codes
    assert any(issue.startswith("Too bright") for issue in result.quality.issues)


def test_underexposed_photo_fails(baseline_rgb, baseline):
    follow = make_followup(baseline_rgb, np.random.default_rng(2), lighting=sim.Lighting(exposure=0.03))
    result = analyse_photo(follow.rgb, baseline)
    assert not result.quality.ok and "underexposed" in result.quality.codes


@pytest.mark.parametrize("sigma,noise", [(3.0, 0.0), (6.0, 0.0), (4.0, 3.0), (8.0, 4.0)])
def test_defocused_photo_fails(baseline_rgb, baseline, sigma, noise):
    """Defocus happens before the sensor adds its noise: the noise must not pass for detail."""
    rng = np.random.default_rng(3)
    follow = make_followup(baseline_rgb, rng, lighting=sim.Lighting(), noise=0, jpeg=None)
    blurred = cv2.GaussianBlur(follow.rgb, (0, 0), sigma)
    if noise:
        blurred = sim.add_sensor_noise(blurred, noise, rng)
    blurred = sim.jpeg_roundtrip(blurred, 85)
    result = analyse_photo(blurred, baseline)
    assert result.ok, result.error  # still aligned and measured...
    assert not result.quality.ok and "blurred" in result.quality.codes  # ...but flagged


def test_defocused_baseline_is_flagged_without_a_reference(baseline_rgb):
    blurred = cv2.GaussianBlur(baseline_rgb, (0, 0), 8)
    report = analyse_baseline(prepare_baseline(blurred, ROI, CONTROL)).quality
    assert "blurred" in report.codes


def test_photo_of_something_else_fails_with_framing_advice(baseline):
    from skimage import data

    result = analyse_photo(sim.enlarge(data.coffee(), 2048), baseline)
    assert not result.ok and not result.quality.ok
    assert "framing" in result.quality.codes
    assert result.metrics is None and result.error


# --- arguments: what each measurement accepts, and one clear ValueError for the rest -----------

RGB8 = np.random.default_rng(50).integers(20, 230, (32, 32, 3), dtype=np.uint8)
GRAY = RGB8[..., 1]


@pytest.mark.parametrize("bad", [RGB8 / 255, RGB8.astype(np.uint16), RGB8[..., 0], np.dstack([RGB8, GRAY]), RGB8[:0],
                                 RGB8.tolist()], ids=["float", "uint16", "2-D", "4 channels", "empty", "list"])
@pytest.mark.parametrize("fn", [exposure_stats, QualityMeasurements.of_region],
                         ids=["exposure_stats", "QualityMeasurements.of_region"])
def test_exposure_is_measured_only_on_8bit_colour_images(fn, bad):
    """A 0-1 float image would read as entirely crushed black: it must be refused instead."""
    with pytest.raises(ValueError, match=r"^rgb must be an H x W x 3 uint8 sRGB image; got "):
        fn(bad)


@pytest.mark.parametrize("bad", [(GRAY > 100).astype(np.uint8), (GRAY > 100).astype(float), np.ones((32, 31), bool)],
                         ids=["uint8 0/1", "float 0/1", "other shape"])
def test_exposure_mask_must_be_boolean_and_of_the_image_shape(bad):
    """A uint8 0/1 mask would index pixels 0 and 1 instead of selecting: it must not pass."""
    with pytest.raises(ValueError, match=r"^mask must be a boolean mask of shape \(32, 32\), like the image; got "):
        exposure_stats(RGB8, bad)


@pytest.mark.parametrize("masked", [False, True])
def test_exposure_stats_are_shares_of_pixels_counted_by_hand(masked):
    from skimage.color import rgb2lab

    rgb = np.full((20, 20, 3), 128, np.uint8)
    rgb[:2] = 255  # 40 pixels washed out
    rgb[2:4] = (255, 128, 128)  # 40 pixels with one clipped channel
    rgb[4:5] = (2, 128, 128)  # 20 pixels with one crushed channel
    mask = np.zeros((20, 20), bool)
    mask[:10] = True  # the top half holds every one of them
    fractions = np.array([40, 80, 20]) / (200 if masked else 400)
    stats = exposure_stats(rgb, mask if masked else None)
    assert [stats["overexposed_fraction"], stats["channel_clipped_fraction"],
            stats["underexposed_fraction"]] == pytest.approx(fractions)
    assert stats["glare_fraction"] == pytest.approx(fractions[0])  # white is L* 100, the rest below 92
    expected_l = rgb2lab(rgb[mask] if masked else rgb.reshape(-1, 3))[..., 0].mean()
    assert stats["mean_lightness"] == pytest.approx(expected_l, abs=0.3)


GRAY_USERS = {
    "detail_band": detail_band,
    "sharpness": sharpness,
    "blur_score": blur_score,
}


@pytest.mark.parametrize("bad", [RGB8, GRAY > 100, GRAY[:0], GRAY.tolist()],
                         ids=["3 channels", "bool", "empty", "list"])
@pytest.mark.parametrize("fn", GRAY_USERS.values(), ids=GRAY_USERS.keys())
def test_focus_measures_refuse_what_is_not_a_grey_image(fn, bad):
    with pytest.raises(ValueError, match=r"^gray must be an H x W single-channel image of numbers; got "):
        fn(bad)


def test_sharpness_refuses_a_mask_or_band_that_does_not_fit():
    with pytest.raises(ValueError, match=r"^mask must be a boolean mask of shape \(32, 32\)"):
        sharpness(GRAY, (GRAY > 100).astype(np.uint8))
    with pytest.raises(ValueError, match=r"^mask must be a boolean mask of shape \(32, 32\)"):
        sharpness(GRAY, np.ones((32, 30), bool))
    with pytest.raises(ValueError, match=r"^band must have the shape of gray, \(32, 32\); got "):
        sharpness(GRAY, None, detail_band(GRAY[:, :30]))
    with pytest.raises(ValueError, match=r"^band must be an H x W single-channel image"):
        sharpness(GRAY, None, np.dstack([detail_band(GRAY)] * 3))


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.float32, np.float64])
def test_focus_measures_follow_their_definition_for_any_numeric_grey_image(dtype):
    """Truth from scipy's Gaussian filter (4-sigma kernels, mirrored border, as OpenCV's default)."""
    from scipy.ndimage import gaussian_filter

    gray = np.random.default_rng(8).uniform(0, 200, (40, 40)).astype(dtype)
    exact = gray.astype(np.float64)
    band = gaussian_filter(exact, 1.0, mode="mirror", truncate=4.0) - gaussian_filter(exact, 2.0, mode="mirror",
                                                                                      truncate=4.0)
    np.testing.assert_allclose(detail_band(gray), band, atol=1e-3)
    inner = np.s_[6:-6, 6:-6]
    assert sharpness(gray) == pytest.approx(np.mean(band[inner] ** 2) / exact[inner].var(), rel=1e-3)
    assert 0.0 <= blur_score(gray) <= 1.0


@pytest.mark.parametrize("args,name", [
    (({"overexposed_fraction": 0.0},), "m"),
    ((_ok_measurements(), {"max_glare": 0.1}), "t"),
], ids=["measurements as a dict", "thresholds as a dict"])
def test_judge_quality_refuses_anything_but_its_records(args, name):
    with pytest.raises(ValueError, match=rf"^{name} must be Quality"):
        judge_quality(*args)


@pytest.mark.parametrize("relative,withheld", [(1.0, False), (0.92, False), (1.09, False), (0.87, True), (1.15, True),
                                               (None, False)])
def test_texture_is_compared_only_when_focus_matches_the_baseline(relative, withheld):
    report = judge_quality(_ok_measurements(relative_sharpness=relative))
    assert report.ok, "a focus difference alone does not fail the photo"
    assert (report.texture_withheld is not None) is withheld
    assert report.to_dict()["texture_withheld"] == report.texture_withheld
    if withheld:
        assert report.texture_withheld.startswith("Texture not compared: this photo's focus differs")
        assert f"{relative:.2f}" in report.texture_withheld


def test_a_defocused_photo_reports_no_texture_and_says_why(astronaut):
    """GLCM contrast moves -14 % at 0.8 px defocus: the engine withholds it instead."""
    import cv2

    from tracker.analysis import analyse_photo, prepare_baseline
    from tracker.analysis import simulate as sim

    face = sim.enlarge(astronaut, 1536, np.random.default_rng(2))
    roi = sim.scale_box(sim.ASTRONAUT_CHEEK, 3)
    baseline = prepare_baseline(face, roi, sim.scale_box(sim.ASTRONAUT_CHIN, 3))
    sharp = analyse_photo(sim.jpeg_roundtrip(face, 90), baseline)
    assert sharp.quality.texture_withheld is None and sharp.metrics["texture_contrast"] is not None
    blurred = analyse_photo(sim.jpeg_roundtrip(cv2.GaussianBlur(face, (0, 0), 1.0), 90), baseline)
    assert blurred.ok and blurred.metrics["redness_a"] is not None
    assert blurred.quality.texture_withheld and "focus" in blurred.quality.texture_withheld
    assert all(blurred.metrics[k] is None for k in ("texture_contrast", "texture_homogeneity", "texture_energy",
                                                    "texture_entropy", "lbp_uniformity", "hf_energy"))
    assert blurred.to_result().texture_withheld == blurred.quality.texture_withheld


def _jpeg_round_trip(rgb: np.ndarray, quality_level: int = 85) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(rgb[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality_level])
    assert ok
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1]


def _desaturated(rgb: np.ndarray, keep: float) -> np.ndarray:
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)[..., None].astype(np.float64)
    return np.clip(grey + (rgb - grey) * keep, 0, 255).astype(np.uint8)


def test_a_black_and_white_photo_is_colourless_and_a_faint_colour_one_is_not(baseline_rgb):
    """A real face in black and white (also through a colour JPEG's chroma subsampling) has no colour to
    measure; with a tenth of its colour left it still has."""
    assert not quality.colourless(baseline_rgb)
    assert quality.colourless(_desaturated(baseline_rgb, 0.0))
    assert quality.colourless(_jpeg_round_trip(_desaturated(baseline_rgb, 0.0)))
    assert not quality.colourless(_jpeg_round_trip(_desaturated(baseline_rgb, 0.1)))
    # A small face in a grey frame: 2 % of the picture is enough colour.
    frame = np.full((700, 700, 3), 128, np.uint8)
    frame[:100, :100] = cv2.resize(baseline_rgb, (100, 100), interpolation=cv2.INTER_AREA)
    assert not quality.colourless(frame)


def test_a_black_and_white_follow_up_fails_the_gate_and_gives_no_colour_measures(baseline_rgb):
    baseline = prepare_baseline(baseline_rgb, ROI, CONTROL)
    colour = analyse_photo(_jpeg_round_trip(baseline_rgb, 92), baseline)
    assert colour.quality.ok and colour.metrics["redness_a"] is not None
    grey = analyse_photo(_jpeg_round_trip(_desaturated(baseline_rgb, 0.0), 92), baseline)
    assert grey.ok and not grey.quality.ok and grey.quality.codes == ("no_colour",)
    for key in ("redness_a", "redness_delta_a", "erythema_index", "melanin_index", "ita_deg", "melanin_takiwaki",
                "erythema_area_fraction"):
        assert grey.metrics[key] is None, key
    assert grey.metrics["hf_energy"] is not None  # texture is of lightness, which it has


def test_a_black_and_white_baseline_is_refused_with_one_line(baseline_rgb):
    with pytest.raises(ValueError, match=r"^The baseline photo has no colour .* choose a colour photo as the "
                                         r"baseline\.$"):
        prepare_baseline(_desaturated(baseline_rgb, 0.0), ROI, CONTROL)


def test_a_photo_further_away_is_told_to_come_closer_and_a_reduced_copy_to_send_the_original():
    """The same too-small skin: with as many pixels as the baseline it was taken from further away; with as
    many fewer pixels as the skin is smaller, it is a reduced copy."""
    further = judge_quality(_ok_measurements(distance_scale=2.0, size_ratio=1.0))
    assert further.codes == ("too_far",)
    copy = judge_quality(_ok_measurements(distance_scale=2.0, size_ratio=2.0))
    assert copy.codes == ("downscaled",) and "50% as wide in pixels" in copy.issues[0]
    assert judge_quality(_ok_measurements(distance_scale=1.2, size_ratio=2.0)).ok  # fewer pixels, but closer


@pytest.mark.parametrize("side", [1024, 512, 256])
def test_a_reduced_copy_of_a_real_photo_is_told_to_send_the_original(baseline_rgb, side):
    """The baseline face itself reduced, as a messaging app sends it: matched or not, the reason is the copy."""
    baseline = prepare_baseline(baseline_rgb, ROI, CONTROL)
    small = cv2.resize(baseline_rgb, (side, side), interpolation=cv2.INTER_AREA)
    result = analyse_photo(_jpeg_round_trip(small, 85), baseline)
    assert result.quality.codes == ("downscaled",), (result.quality.codes, result.error)
    assert f"{side / baseline_rgb.shape[1]:.0%} as wide in pixels" in result.quality.issues[0]
    if not result.ok:
        assert result.error == result.quality.issues[0]
