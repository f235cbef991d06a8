"""Quality gate: ordinary phone photos pass; over-exposed, dark, defocused or badly framed ones do not."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from series import CONTROL, ROI, make_followup
from tracker.analysis import simulate as sim
from tracker.analysis import analyse_baseline, analyse_photo, prepare_baseline
from tracker.analysis.quality import QualityMeasurements, QualityThresholds, judge_quality


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
])
def test_each_rule_fires_with_an_actionable_sentence(changes, code, words):
    report = judge_quality(_ok_measurements(**changes))
    assert not report.ok
    assert code in report.codes
    sentence = report.issues[report.codes.index(code)]
    assert words in sentence and sentence.endswith(".") and "\n" not in sentence


def test_measurements_within_limits_pass():
    assert judge_quality(_ok_measurements(relative_sharpness=0.9, region_px=400.0)).ok


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
