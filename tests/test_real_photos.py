"""The analysis on real photographs (tests/real_photos.md): what the simulated series cannot show.

The photographs ship inside installed wheels; degradations are applied to them with the
library that degrades photos in the field (Pillow's JPEG encoder, OpenCV's resampling), and the
verdict is compared with what a person would say of the photo.
"""

from __future__ import annotations

import numpy as np
import pytest

from real_photos import load
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
    assert other.ok and other.colour.method == "reference_skin"
    assert "colour chart" in other.colour.note and "ΔE" in other.colour.note
